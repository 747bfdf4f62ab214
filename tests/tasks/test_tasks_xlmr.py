"""XLM-R-style encoders (Unigram tokenizer, pad id 1, positions from pad + 1): the export form
of a task model computes what the trained PyTorch model computes, through the shared input builder."""

import numpy as np
import torch

from builders import build_xlmr
from edge_time.tasks.checkpoint import load_task_model
from edge_time.tasks.export import task_export_spec
from edge_time.tasks.train import FinetuneConfig, finetune
from tasks_helpers import SMALL_HEAD


def test_ud_on_xlmr_export_form_equals_training_form(tmp_path, task_data):
    encoder = build_xlmr(tmp_path / "xlmr")
    train, dev = task_data["ud"]
    out = tmp_path / "ud"
    finetune(FinetuneConfig(task="ud", model=encoder, train=train, dev=dev, out=out, max_steps=3, batch_size=8,
                            head=dict(SMALL_HEAD), progress=False))
    spec = task_export_spec(out, tmp_path / "work")
    assert spec.tokenizer_info.position_style == "roberta" and spec.tokenizer_info.pad_id == 1
    texts = ["The cats sees a dog .", "A bird likes the house ."]
    inputs = spec.make_inputs(texts, None)
    with torch.inference_mode():
        exported = dict(zip(spec.output_names, spec.module(*(inputs[n] for n in spec.input_names))))
    trained = load_task_model(out).predictor().scores([t.split() for t in texts])
    mask = inputs["word_mask"].numpy().astype(bool)
    for name in ("upos", "lemma_rule", "arc", "deprel"):
        np.testing.assert_allclose(exported[name].numpy()[mask], trained[name][mask], atol=1e-4)
