"""Teacher adapters capture the Q/K/V projections (with biases) of the chosen layer."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, DistilBertConfig, DistilBertModel

from edge_time.distill.teachers import ProjectionCapture, TeacherError, load_teacher, qkv_modules


@pytest.mark.parametrize("kind", ["bert", "xlmr", "deberta"])
def test_capture_equals_projection_of_previous_hidden_state(teachers, kind):
    full = AutoModel.from_pretrained(teachers[kind]).eval()
    cut, layer = load_teacher(teachers[kind], layer=2)
    assert layer == 2 and len(cut.encoder.layer) == 2
    ids = torch.tensor([[0, 5, 9, 17, 2, 1], [0, 7, 8, 2, 1, 1]])
    mask = (torch.arange(6) < torch.tensor([[5], [4]])).long()
    capture = ProjectionCapture(qkv_modules(cut, 2))
    with torch.no_grad():
        cut(input_ids=ids, attention_mask=mask)
        hidden = full(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[1]
    got = capture.take()
    expected = qkv_modules(full, 2)
    for name in "qkv":
        assert got[name].shape == (2, 6, 64)  # the content projection, not DeBERTa's relative embeddings
        torch.testing.assert_close(got[name], expected[name](hidden), rtol=1e-5, atol=1e-5)


def test_default_layer_is_min_12_and_last_for_small_teachers(teachers):
    _, layer = load_teacher(teachers["bert"], layer=None)
    assert layer == 3


def test_layer_out_of_range(teachers):
    with pytest.raises(TeacherError, match=r"layers 1\.\.3"):
        load_teacher(teachers["xlmr"], layer=4)


def test_unsupported_teacher_names_supported_architectures(tmp_path):
    DistilBertModel(DistilBertConfig(vocab_size=50, dim=32, n_layers=1, n_heads=2, hidden_dim=64)).save_pretrained(tmp_path)
    with pytest.raises(TeacherError, match="deberta-v2.*xlm-roberta") as info:
        load_teacher(tmp_path, layer=1)
    assert "\n" not in str(info.value)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "distilbert"


def test_electra_discriminator_projections_are_found():
    from transformers import ElectraConfig, ElectraModel

    model = ElectraModel(ElectraConfig(vocab_size=50, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, intermediate_size=64)).eval()
    capture = ProjectionCapture(qkv_modules(model, 2))
    ids = torch.tensor([[1, 5, 7, 2]])
    with torch.no_grad():
        hidden = model(ids, output_hidden_states=True).hidden_states[1]
    got = capture.take()
    torch.testing.assert_close(got["v"], model.encoder.layer[1].attention.self.value(hidden))
