"""The export-friendly encoder forms compute the Hugging Face function, and XNNPACK takes them whole.

Pins two things the ExecuTorch speed depends on: ``EdgeEncoder`` (and its ``xnnpack_form``)
equal the HF model on every real token, and a lowered tiny encoder leaves only the embedding
lookups and mask/position bookkeeping outside the XNNPACK delegate. If a change to the form
brings back ops XNNPACK rejects (reshapes with symbolic dims, 3-D ``mean``, 4-D matmuls), the
delegate splits and the second test fails.
"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from edge_time.modeling.encoder import EdgeEncoder, LayerNorm, onnx_form, xnnpack_form

TEXTS = ["the quick brown fox jumps over the lazy dog while a man is playing guitar",
         "die katze schläft auf dem warmen sofa", "choose format cells", "edge"]


@pytest.fixture(params=["bert", "xlmr"])
def tiny(request, tiny_bert, tiny_xlmr):
    """(kind, HF model, tokenizer) of the shared tiny encoders (tests/builders.py)."""
    folder = tiny_bert if request.param == "bert" else tiny_xlmr
    return request.param, AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def right_padded(tokenizer, texts=TEXTS) -> tuple[torch.Tensor, torch.Tensor]:
    """Real tokens of ``texts``, right-padded to the longest, as the runtime pads them."""
    enc = tokenizer(list(texts), padding=True, return_tensors="pt")
    assert enc["attention_mask"].sum(1).unique().numel() == len(texts)  # lengths differ: padding is exercised
    return enc["input_ids"], enc["attention_mask"]


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_edge_encoder_equals_hf_on_real_tokens(tiny, attn):
    kind, model, tokenizer = tiny
    model.config._attn_implementation = attn
    ids, mask = right_padded(tokenizer)
    real = mask.bool()
    with torch.no_grad():
        hf = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        edge = EdgeEncoder(model)(ids, mask)
        stack = EdgeEncoder(model, all_layers=True)(ids, mask)
        offset = model.config.pad_token_id + 1 if kind == "xlmr" else 0
        positions = (torch.arange(ids.shape[1]) + offset).expand_as(ids)
        explicit = EdgeEncoder(model, explicit_positions=True)(ids, mask, positions)
        native_norm = EdgeEncoder(model, decompose_norm=False)(ids, mask)
    torch.testing.assert_close(edge[real], hf.last_hidden_state[real], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(explicit[real], hf.last_hidden_state[real], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(native_norm[real], hf.last_hidden_state[real], rtol=1e-4, atol=1e-4)
    assert stack.shape == (model.config.num_hidden_layers + 1, *ids.shape, model.config.hidden_size)
    for layer, expected in enumerate(hf.hidden_states):
        torch.testing.assert_close(stack[layer][real], expected[real], rtol=1e-4, atol=1e-4)


def test_xnnpack_form_computes_the_same_function(tiny):
    _, model, tokenizer = tiny
    ids, mask = right_padded(tokenizer)
    real = mask.bool()
    plain = EdgeEncoder(model, all_layers=True).eval()
    wrapped = torch.nn.Sequential(plain)  # the rewrite must find encoders inside task models too
    rewritten = xnnpack_form(wrapped)[0]
    assert rewritten.split_heads and not plain.split_heads  # a copy: the original is untouched
    assert len(rewritten.layers[0].query) == model.config.num_attention_heads
    with torch.no_grad():
        expected, got = plain(ids, mask), rewritten(ids, mask)
    for layer in range(expected.shape[0]):
        torch.testing.assert_close(got[layer][real], expected[layer][real], rtol=1e-4, atol=1e-4)


def test_onnx_form_has_native_layer_norms_and_computes_the_same_function(tiny):
    _, model, tokenizer = tiny
    ids, mask = right_padded(tokenizer)
    real = mask.bool()
    plain = EdgeEncoder(model, all_layers=True).eval()
    rewritten = onnx_form(torch.nn.Sequential(plain))[0]
    assert not any(isinstance(m, LayerNorm) for m in rewritten.modules())
    assert sum(isinstance(m, torch.nn.LayerNorm) for m in rewritten.modules()) == 2 * model.config.num_hidden_layers + 1
    assert any(isinstance(m, LayerNorm) for m in plain.modules())  # a copy: the original is untouched
    with torch.no_grad():
        expected, got = plain(ids, mask), rewritten(ids, mask)
    for layer in range(expected.shape[0]):
        torch.testing.assert_close(got[layer][real], expected[layer][real], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("quantize", ["none", "int8-dynamic"])
def test_onnx_bundle_keeps_layer_norms_out_of_skip_layer_normalization(tiny_bert, tmp_path, quantize):
    """The ONNX graph holds native LayerNormalizations, and onnxruntime's optimizer (run by the exporter
    and again by every session) leaves them unfused: its SkipLayerNormalization ran 5-10x slower."""
    import collections

    import onnx
    import onnxruntime as ort

    from edge_time.exporters import export_model

    result = export_model(tiny_bert, "onnx", tmp_path / "bundle", quantize=quantize)
    assert result.parity["passed"]
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")  # what a session runs
    ort.InferenceSession(str(result.bundle_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
    ops = collections.Counter(node.op_type for node in onnx.load(str(tmp_path / "optimized.onnx")).graph.node)
    layers = json.loads((tiny_bert / "config.json").read_text())["num_hidden_layers"]
    assert ops["LayerNormalization"] == 2 * layers + 1  # two per layer, plus the embeddings' norm
    assert ops["SkipLayerNormalization"] == 0 and ops["ReduceMean"] == 0


# Ops allowed outside the delegate: the two embedding lookups, position ids (arange, unsqueeze,
# offset add) and the mask's rank change and int -> float cast. Everything else must be inside.
OUTSIDE_OK = {"aten.embedding.default", "quantized_decomposed.embedding_byte.default", "aten.arange.start_step",
              "aten.unsqueeze_copy.default", "aten.add.Tensor", "dim_order_ops._to_dim_order_copy.default"}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("quantize", ["none", "int8-dynamic"])
def test_xnnpack_takes_the_whole_encoder(quantize, tiny_bert):
    from executorch.runtime import Runtime

    from edge_time.exporters.executorch import _quantizer, delegation_report, int8_word_embeddings, lower
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    model, tokenizer = AutoModel.from_pretrained(tiny_bert).eval(), AutoTokenizer.from_pretrained(tiny_bert)
    reference = EdgeEncoder(model).eval()
    module = xnnpack_form(reference).eval()
    ids, mask = right_padded(tokenizer, TEXTS[1:3])
    batch, seq = torch.export.Dim("batch", min=1, max=8), torch.export.Dim("seq", min=2, max=64)
    dynamic = ({0: batch, 1: seq}, {0: batch, 1: seq})
    if quantize == "int8-dynamic":
        import executorch.kernels.quantized  # noqa: F401  embedding_byte kernel for the run below

        graph = torch.export.export(int8_word_embeddings(module), (ids, mask), dynamic_shapes=dynamic).module()
        prepared = prepare_pt2e(graph, _quantizer(dynamic=True))
        prepared(ids, mask)
        module = convert_pt2e(prepared)
        # int8 weights for the per-head q/k/v, attention-out and FFN linears; LayerNorm means stay fp32
        int8_weights = [n for n in module.graph.nodes if "dequantize_per_channel" in str(n.target)]
        cfg = model.config
        assert len(int8_weights) == cfg.num_hidden_layers * (3 * cfg.num_attention_heads + 3)
    edge = lower(torch.export.export(module, (ids, mask), dynamic_shapes=dynamic))
    report = delegation_report(edge)
    assert set(report["outside_ops"]) <= OUTSIDE_OK, report
    assert sum(report["outside_ops"].values()) <= 8, report
    # fp32: one call. int8: the partitioner splits the embedding sum and the mask arithmetic
    # off into two small calls of their own (measured on MiniLM too); the body stays one call.
    assert report["delegate_calls"] <= (1 if quantize == "none" else 3), report

    program = edge.to_executorch().buffer  # keep a reference: the loaded program does not copy it
    method = Runtime.get().load_program(program).load_method("forward")
    other_ids, other_mask = right_padded(tokenizer)  # another batch and length: dynamic shapes
    with torch.no_grad():
        expected = reference(other_ids, other_mask)
    got = method.execute([other_ids, other_mask])[0]
    real = other_mask.bool()
    cosine = torch.nn.functional.cosine_similarity(got[real].flatten(), expected[real].flatten(), dim=0)
    assert cosine > (0.9999 if quantize == "none" else 0.99), cosine


@pytest.mark.timeout(600)
def test_batch_one_form_is_one_delegate_call_with_dynamic_sequence(tiny_bert):
    from executorch.runtime import Runtime

    from edge_time.exporters.executorch import delegation_report, lower

    model, tokenizer = AutoModel.from_pretrained(tiny_bert).eval(), AutoTokenizer.from_pretrained(tiny_bert)
    reference = EdgeEncoder(model).eval()
    module = xnnpack_form(reference, batch_one=True).eval()
    assert not isinstance(module.layers[0].query, torch.nn.ModuleList), "full-width q/k/v, not per head"
    ids, mask = right_padded(tokenizer, TEXTS[1:2])
    seq = torch.export.Dim("seq", min=2, max=64)
    edge = lower(torch.export.export(module, (ids, mask), dynamic_shapes=({1: seq}, {1: seq})))
    report = delegation_report(edge)
    assert set(report["outside_ops"]) <= OUTSIDE_OK and report["delegate_calls"] == 1, report

    program = edge.to_executorch().buffer
    method = Runtime.get().load_program(program).load_method("forward")
    for text in TEXTS[:3]:  # other lengths, one row at a time
        row_ids, row_mask = right_padded(tokenizer, [text])
        with torch.no_grad():
            expected = reference(row_ids, row_mask)
        torch.testing.assert_close(method.execute([row_ids, row_mask])[0], expected, rtol=1e-4, atol=1e-4)
