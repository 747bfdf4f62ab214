"""Training-speed paths: length-bucketed batches and UD label scores at one head per word."""

from __future__ import annotations

import random

import pytest
import torch

from edge_time.tasks.batching import bucketed_batches, text_length
from edge_time.tasks.data import get_task
from edge_time.tasks.heads import UDHead, pool_words


def test_bucketed_batches_cover_every_example_once_and_pad_less():
    rng = random.Random(0)
    lengths = [rng.randint(3, 120) for _ in range(1000)]
    batches = bucketed_batches(lengths, 32, random.Random(1))
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    assert sum(len(batch) < 32 for batch in batches) == 1  # only the tail of the last pool is short
    padded = sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)
    order = list(range(1000))
    random.Random(1).shuffle(order)
    unsorted = sum(max(lengths[i] for i in order[s:s + 32]) * len(order[s:s + 32]) for s in range(0, 1000, 32))
    assert padded < 0.6 * unsorted
    assert bucketed_batches(lengths, 32, random.Random(1)) == batches  # same seed, same epoch
    assert bucketed_batches(lengths, 32, random.Random(2)) != batches
    with pytest.raises(ValueError, match="at least 1"):
        bucketed_batches(lengths, 0, rng)


def test_text_length_counts_characters_and_gaps():
    assert text_length(["Ahoj", "světe", "."]) == 13
    assert text_length([]) == 0


@pytest.fixture()
def ud_head_inputs():
    torch.manual_seed(0)
    head = UDHead(hidden=24, num_states=3, sizes={"upos": 5, "xpos": 6, "feats": 7, "lemma_rule": 8, "deprel": 9},
                  mlp=16, arc=16, rel=8, dropout=0.0).eval()
    with torch.no_grad():
        head.arc_bilinear.normal_()  # zeros at init: make the arc scores (and their argmax) non-trivial
    batch, seq, words = 3, 10, 6
    stack = torch.randn(3, batch, seq, 24)
    word_pool = torch.softmax(torch.randn(batch, words, seq), dim=-1)
    word_mask = torch.ones(batch, words, dtype=torch.long)
    word_mask[1, 4:] = 0  # a shorter sentence
    return head, stack, word_pool, word_mask


def test_label_scores_at_heads_equal_the_all_pairs_scores(ud_head_inputs):
    head, stack, word_pool, word_mask = ud_head_inputs
    heads = torch.randint(0, 4, (3, 6))
    with torch.no_grad():
        full = head(stack, word_pool, word_mask)
        at = head(stack, word_pool, word_mask, label_heads=heads)
        predicted = head(stack, word_pool, word_mask, label_heads="predicted")
    for a, b in zip(full[:5], at[:5]):
        assert torch.equal(a, b)
    expected = full[5].gather(2, heads[:, :, None, None].expand(-1, -1, 1, 9)).squeeze(2)
    assert at[5].shape == (3, 6, 9)
    torch.testing.assert_close(at[5], expected, rtol=1e-5, atol=1e-5)
    best = full[4].argmax(dim=-1)
    torch.testing.assert_close(predicted[5], full[5].gather(2, best[:, :, None, None].expand(-1, -1, 1, 9)).squeeze(2),
                               rtol=1e-5, atol=1e-5)


def test_all_pairs_label_scores_are_the_biaffine_definition(ud_head_inputs):
    """deprel[b, d, h, l] = dep W_l head + w_dep . dep + w_head . head + bias, masked by the head's word."""
    head, stack, word_pool, word_mask = ud_head_inputs
    with torch.no_grad():
        deprel = head(stack, word_pool, word_mask)[5]
        words = pool_words(head.mix["parse"](stack), word_pool)
        dep, hd = head.rel_dep(words), head.rel_head(words)
        rel = dep.shape[-1]
        expected = (torch.einsum("bdi,lij,bhj->bdhl", dep, head.rel_bilinear, hd)
                    + (dep @ head.rel_linear.weight[:, :rel].t())[:, :, None]
                    + (hd @ head.rel_linear.weight[:, rel:].t())[:, None] + head.rel_linear.bias)
        expected = expected * word_mask[:, None, :, None]
    torch.testing.assert_close(deprel, expected, rtol=1e-5, atol=1e-5)


def test_ud_head_options_pick_gold_teacher_or_own_heads(ud_head_inputs):
    head, stack, word_pool, word_mask = ud_head_inputs
    task = get_task("ud")
    gold = torch.tensor([[-100, 0, 1, 1, 2, 3]] * 3)
    assert torch.equal(task.head_options(targets={"head": gold})["label_heads"], gold.clamp(min=0))
    with torch.no_grad():
        teacher = head(stack, word_pool, word_mask, **task.head_options())
    assert torch.equal(task.head_options(teacher=teacher)["label_heads"], teacher[4].argmax(dim=-1))
    assert get_task("ner").head_options(targets={}) == {}
