"""Export-time folding of the heads' layer mixes into one MatMul, and of the UD deprel projection into a linear
with constant weights: same outputs in fp32, fewer graph ops."""

from __future__ import annotations

import copy

import pytest
import torch

from edge_time.tasks.heads import (ClsHead, FoldedMixes, NERHead, QAHead, UDHead, fold_layer_mixes,
                                   freeze_rel_projections)

STATES, BATCH, SEQ, WORDS, HIDDEN = 5, 3, 9, 6, 16
UD_SIZES = {"upos": 4, "xpos": 5, "feats": 6, "lemma_rule": 7, "deprel": 3}


def _inputs(task: str):
    torch.manual_seed(1)
    stack = torch.randn(STATES, BATCH, SEQ, HIDDEN)
    if task in ("ud", "ner"):
        pool = torch.rand(BATCH, WORDS, SEQ)
        mask = torch.ones(BATCH, WORDS, dtype=torch.int64)
        mask[0, 4:] = 0
        return stack, pool, mask
    mask = torch.ones(BATCH, SEQ, dtype=torch.int64)
    mask[1, 5:] = 0
    return stack, mask


def _head(task: str) -> torch.nn.Module:
    torch.manual_seed(0)
    head = {"ud": lambda: UDHead(HIDDEN, STATES, UD_SIZES, mlp=8, arc=8, rel=4),
            "ner": lambda: NERHead(HIDDEN, STATES, 5), "cls": lambda: ClsHead(HIDDEN, STATES, 3),
            "qa": lambda: QAHead(HIDDEN, STATES)}[task]()
    with torch.no_grad():  # trained mixes are far from uniform
        for name, param in head.named_parameters():
            if name.endswith("weights") and name.startswith("mix"):
                param.copy_(torch.randn_like(param) * 2)
    return head.eval()


def _ops(module: torch.nn.Module, inputs) -> int:
    graph = torch.export.export(module, inputs).graph
    return sum(node.op == "call_function" for node in graph.nodes)


@pytest.mark.parametrize("task", ["ud", "ner", "cls", "qa"])
def test_folded_mixes_give_the_same_outputs_with_fewer_ops(task):
    head, inputs = _head(task), _inputs(task)
    folded = fold_layer_mixes(copy.deepcopy(head))
    assert any(isinstance(m, FoldedMixes) for m in folded.modules())
    assert not any(name.startswith("mix.") for name, _ in folded.named_parameters())
    with torch.no_grad():
        for want, got in zip(head(*inputs), folded(*inputs), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    assert _ops(folded, inputs) < _ops(head, inputs)


def test_ud_folds_its_five_mixes_into_one_matmul():
    folded = fold_layer_mixes(_head("ud"))
    assert isinstance(folded.mix, FoldedMixes) and folded.mix.weights.shape == (5, STATES)
    torch.testing.assert_close(folded.mix.weights.sum(dim=1), torch.ones(5))


def test_frozen_deprel_projection_gives_the_same_outputs_from_constant_weights():
    head, inputs = _head("ud"), _inputs("ud")
    frozen = freeze_rel_projections(copy.deepcopy(head))
    assert head.rel_projection is None and not frozen.rel_projection.weight.requires_grad
    with torch.no_grad():
        for want, got in zip(head(*inputs), frozen(*inputs), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    # the weight is no longer computed in the graph (XNNPACK delegates only linears with constant weights)
    assert _ops(frozen, inputs) < _ops(head, inputs)
