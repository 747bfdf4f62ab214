"""The chunked fp32 relation loss equals the definition, in value and in gradients."""

import math

import pytest
import torch

from edge_time.distill.loss import DEFAULT_RELATIONS, Relation, reference_relation_loss, relation_loss


def looped_loss(student, teacher, mask, heads, relations):
    """The reference definition as plain loops over examples, heads, queries (tiny sizes only)."""
    student = {k: v.detach() for k, v in student.items()}
    total = 0.0
    batch = mask.shape[0]
    for rel in relations:
        rel_total = 0.0
        for b in range(batch):
            n = int(mask[b].sum())
            example = 0.0
            for a in range(heads):
                def rows(proj):
                    x, y = proj[rel.first][b, :n].double(), proj[rel.second][b, :n].double()
                    d = x.shape[-1] // heads
                    xa, ya = x[:, a * d:(a + 1) * d], y[:, a * d:(a + 1) * d]
                    return torch.softmax(xa @ ya.T / math.sqrt(d), dim=-1)
                t, s = rows(teacher), rows(student)
                example += float((t * (t.log() - s.log())).sum())
            rel_total += example / (heads * n)
        total += rel.weight * rel_total / batch
    return total


def random_case(seed=0, batch=3, seq=11, ds=24, dt=40):
    g = torch.Generator().manual_seed(seed)
    student = {k: torch.randn(batch, seq, ds, generator=g, requires_grad=True) for k in "qkv"}
    teacher = {k: torch.randn(batch, seq, dt, generator=g) * 2 for k in "qkv"}
    mask = torch.ones(batch, seq, dtype=torch.long)
    mask[1, seq - 4:] = 0
    mask[-1, 3:] = 0
    return student, teacher, mask


@pytest.mark.parametrize("block_elements", [1, 50, 10_000])
def test_chunked_equals_reference_value_and_gradients(block_elements):
    relations = (Relation("q", "q"), Relation("k", "v", 0.5), Relation("v", "v", 2.0))
    student, teacher, mask = random_case()
    chunked = relation_loss(student, teacher, mask, 4, relations, block_elements=block_elements)
    grads = torch.autograd.grad(chunked, list(student.values()))
    reference = reference_relation_loss(student, teacher, mask, 4, relations)
    ref_grads = torch.autograd.grad(reference, list(student.values()))
    assert torch.allclose(chunked, reference, rtol=1e-5, atol=1e-6)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, rtol=1e-4, atol=1e-7)


def test_reference_equals_looped_definition():
    student, teacher, mask = random_case(seed=1, batch=2, seq=6, ds=8, dt=12)
    value = relation_loss(student, teacher, mask, 2, DEFAULT_RELATIONS)
    assert value.item() == pytest.approx(looped_loss(student, teacher, mask, 2, DEFAULT_RELATIONS), rel=1e-5)


def test_padding_is_ignored_and_identical_relations_give_zero():
    student, teacher, mask = random_case(seed=2)
    padded = {k: v.detach().clone() for k, v in student.items()}
    for v in padded.values():
        v[2, 3:] = 1e3  # garbage in padded positions must not matter
    base = relation_loss(student, teacher, mask, 4)
    assert relation_loss(padded, teacher, mask, 4).item() == pytest.approx(base.item(), rel=1e-6)
    same = relation_loss({k: v[..., :24] for k, v in teacher.items()}, {k: v[..., :24] for k, v in teacher.items()},
                         mask, 4)
    assert abs(same.item()) < 1e-6


def test_bf16_inputs_are_computed_in_fp32():
    student, teacher, mask = random_case(seed=3)
    low = relation_loss({k: v.bfloat16() for k, v in student.items()}, {k: v.bfloat16() for k, v in teacher.items()},
                        mask, 4)
    assert low.dtype == torch.float32
    exact = reference_relation_loss({k: v.bfloat16().float() for k, v in student.items()},
                                    {k: v.bfloat16().float() for k, v in teacher.items()}, mask, 4)
    assert low.item() == pytest.approx(exact.item(), rel=1e-5)


def test_relation_parse():
    assert Relation.parse("KV:0.5") == Relation("k", "v", 0.5)
    with pytest.raises(ValueError):
        Relation.parse("qx")
