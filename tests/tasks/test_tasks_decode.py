"""Decoding outside the graph: trees, lemma rules, BIO spans, QA spans (edge_time.runtime.decode)."""

import itertools
import subprocess
import sys

import numpy as np
import pytest
from seqeval.metrics.sequence_labeling import get_entities

from edge_time.runtime.decode import apply_lemma_rule, best_span, bio_spans, decode_tree, decode_trees, lemma_rule


def _is_single_root_tree(heads: np.ndarray) -> bool:
    n = len(heads) - 1
    if heads[0] != 0 or sum(1 for h in heads[1:] if h == 0) != 1:
        return False
    for word in range(1, n + 1):
        seen, node = set(), word
        while node != 0:
            if node in seen or not 0 <= heads[node] <= n or heads[node] == node:
                return False
            seen.add(node)
            node = heads[node]
    return True


def _find_cycle(heads: np.ndarray) -> list[int] | None:
    """A cycle of ``heads`` (node 0 is the root and has no head), or None when it is a tree."""
    n = len(heads)
    state = np.zeros(n, dtype=np.int8)  # 0 unvisited, 1 on current path, 2 done
    state[0] = 2
    for start in range(1, n):
        path = []
        node = start
        while state[node] == 0:
            state[node] = 1
            path.append(node)
            node = int(heads[node])
        if state[node] == 1:  # walked back onto the current path: a cycle
            return path[path.index(node):]
        for visited in path:
            state[visited] = 2
    return None


def _chu_liu_edmonds(scores: np.ndarray) -> np.ndarray:
    """Reference: maximum spanning arborescence rooted at node 0 in numpy (the decoder before the
    compiled one). ``scores[d, h]``: dependent d, head h."""
    n = scores.shape[0]
    scores = scores.copy()
    np.fill_diagonal(scores, -np.inf)
    scores[0, :] = -np.inf
    heads = scores.argmax(axis=1)
    heads[0] = 0
    cycle = _find_cycle(heads)
    if cycle is None:
        return heads
    cycle_arr = np.array(cycle)
    in_cycle = np.zeros(n, dtype=bool)
    in_cycle[cycle_arr] = True
    rest = np.flatnonzero(~in_cycle)  # includes the root (never part of a cycle)
    m = len(rest) + 1  # contracted graph: the other nodes plus one node for the cycle
    contracted = np.full((m, m), -np.inf)
    contracted[: m - 1, : m - 1] = scores[np.ix_(rest, rest)]
    # an arc h -> cycle replaces one cycle arc: gain = s[c, h] - s[c, heads[c]]
    enter = scores[np.ix_(cycle_arr, rest)] - scores[cycle_arr, heads[cycle_arr]][:, None]
    best_enter = enter.argmax(axis=0)
    contracted[m - 1, : m - 1] = enter.max(axis=0)
    leave = scores[np.ix_(rest, cycle_arr)]
    best_leave = leave.argmax(axis=1)
    contracted[: m - 1, m - 1] = leave.max(axis=1)
    sub = _chu_liu_edmonds(contracted)
    result = heads.copy()
    for i in range(1, m - 1):
        h = sub[i]
        result[rest[i]] = cycle_arr[best_leave[i]] if h == m - 1 else rest[h]
    head_of_cycle = sub[m - 1]
    result[cycle_arr[best_enter[head_of_cycle]]] = rest[head_of_cycle]
    return result


def _tree_score(scores, heads):
    return sum(scores[d, heads[d]] for d in range(1, len(heads)))


@pytest.mark.parametrize("seed", range(300))
def test_decoding_always_yields_a_single_root_tree(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    scores = rng.normal(size=(n + 1, n + 1)) * rng.choice([0.1, 1.0, 10.0])
    if seed % 3 == 0:  # make the root the best head of every word: the hardest case for one root
        scores[:, 0] += 50.0
    if seed % 5 == 0:  # masked (padding-like) entries and ties
        scores[rng.random(scores.shape) < 0.2] = -1e4
        scores = np.round(scores)
    heads = decode_tree(scores)
    assert _is_single_root_tree(heads), heads


@pytest.mark.parametrize("seed", range(25))
def test_decoded_tree_is_the_best_single_root_tree(seed):
    """Against brute force over every head assignment for up to 5 words."""
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(1, 6))
    scores = rng.normal(size=(n + 1, n + 1))
    if seed % 2:
        scores[:, 0] += 2.0
    best = max((np.array((0,) + h) for h in itertools.product(range(n + 1), repeat=n)
                if _is_single_root_tree(np.array((0,) + h))), key=lambda t: _tree_score(scores, t))
    heads = decode_tree(scores)
    assert _tree_score(scores, heads) == pytest.approx(_tree_score(scores, best))


@pytest.mark.parametrize("seed", range(200))
def test_compiled_decoder_gives_the_reference_trees(seed):
    """Same trees as a numpy Chu-Liu-Edmonds given the same root penalty: single words, greedy trees, cycles."""
    rng = np.random.default_rng(5000 + seed)
    n = 1 if seed % 10 == 0 else int(rng.integers(2, 60))
    scores = rng.normal(size=(n + 1, n + 1)) * 3.0
    if seed % 4 == 1:  # a planted tree with a few cycles on top
        scores[np.arange(1, n + 1), rng.integers(0, n + 1, size=n)] += 6.0
    penalised = scores.copy()
    penalised[1:, 0] -= (float(scores[1:].max() - scores[1:].min()) + 1.0) * (n + 1)
    assert decode_tree(scores).tolist() == _chu_liu_edmonds(penalised).tolist()


def test_random_scores_exercise_cycle_contraction():
    """Most of the matrices above have greedy heads with cycles, so contraction is compared too."""
    with_cycles = 0
    for seed in range(200):
        rng = np.random.default_rng(5000 + seed)
        n = 1 if seed % 10 == 0 else int(rng.integers(2, 60))
        greedy = rng.normal(size=(n + 1, n + 1))
        np.fill_diagonal(greedy, -np.inf)
        heads = greedy.argmax(1)
        heads[0] = 0
        with_cycles += _find_cycle(heads) is not None
    assert with_cycles > 100


def _batch_of_scores(seed: int, batch: int = 16, width: int = 41):
    """Sentences of 1-40 words padded to one width (padding holds high junk scores); about half have
    greedy heads that already form a single-root tree, the others cycles or several root children."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, width, size=batch)
    lengths[:2] = 1
    scores = rng.normal(size=(batch, width, width)) * 3.0 + 20.0 * (rng.random((batch, width, width)) < 0.01)
    for b, n in enumerate(lengths):
        if b % 2:  # a planted tree: word i hangs on an earlier word, word 1 on the root
            heads = [0] + [int(rng.integers(1, d)) for d in range(2, n + 1)]
            scores[b, np.arange(1, n + 1), heads] += 30.0
        scores[b, n + 1:, :] = 50.0
        scores[b, :, n + 1:] = 50.0
    return scores, lengths


def _reference_trees(scores, lengths):
    trees = []
    for block, n in zip(scores, lengths):
        block = block[: n + 1, : n + 1]
        penalised = block.copy()
        penalised[1:, 0] -= (float(block[1:].max() - block[1:].min()) + 1.0) * (n + 1)
        trees.append(_chu_liu_edmonds(penalised))
    return trees


@pytest.mark.parametrize("seed", range(20))
def test_batched_decoder_gives_the_reference_trees(seed):
    """Greedy heads where they form a tree, Chu-Liu-Edmonds elsewhere: the numpy reference's trees,
    0 past each sentence."""
    scores, lengths = _batch_of_scores(seed)
    heads = decode_trees(scores.astype(np.float32), lengths)
    for b, (tree, n) in enumerate(zip(_reference_trees(scores.astype(np.float32), lengths), lengths)):
        assert heads[b, : n + 1].tolist() == tree.tolist()
        assert not heads[b, n + 1:].any()


def test_batched_decoder_takes_both_paths():
    """The matrices above hold greedy trees, cycles and several root children, and single words."""
    greedy_trees = cycles = several_roots = 0
    for seed in range(20):
        scores, lengths = _batch_of_scores(seed)
        for block, n in zip(scores, lengths):
            block = block[: n + 1, : n + 1].copy()
            np.fill_diagonal(block, -np.inf)
            greedy = block.argmax(1)
            greedy[0] = 0
            cycle, roots = _find_cycle(greedy), int((greedy[1:] == 0).sum())
            greedy_trees += cycle is None and roots == 1
            cycles += cycle is not None
            several_roots += roots > 1
    assert min(greedy_trees, cycles, several_roots) > 10


def test_decoding_breaks_a_cycle():
    # 1 and 2 prefer each other (a cycle); 1 is the better root child
    scores = np.full((3, 3), -5.0)
    scores[1, 2], scores[2, 1] = 10.0, 10.0
    scores[1, 0], scores[2, 0] = 3.0, 1.0
    assert decode_tree(scores).tolist() == [0, 0, 1]


def test_decoding_rejects_non_square_scores():
    with pytest.raises(ValueError, match="square"):
        decode_tree(np.zeros((3, 4)))


@pytest.mark.parametrize("form,lemma,rule", [
    ("cats", "cat", "↓0;d¦-"),
    ("Went", "go", "↓0;ago"),                 # nothing in common: absolute lemma
    ("NASA", "NASA", "↑0;d¦"),
    ("Praze", "Praha", "↑0¦↓1;d¦+h+a--"),     # Czech locative -> nominative, capitalised
    ("unhappy", "happy", "↓0;d--¦"),          # prefix script
    ("iPhone", "iPhone", "↓0¦↑1¦↓2;d¦"),      # casing script with several switches
])
def test_lemma_rules_match_udpipe2_form(form, lemma, rule):
    assert lemma_rule(form, lemma) == rule
    assert apply_lemma_rule(form, rule) == lemma


def test_lemma_rules_generalise_and_fail_safe():
    assert apply_lemma_rule("dogs", lemma_rule("cats", "cat")) == "dog"
    assert apply_lemma_rule("Domy", lemma_rule("hrady", "hrad")) == "dom"
    # a rule that removes more than the form has yields the (re-cased) form, never an exception
    assert apply_lemma_rule("x", lemma_rule("Praze", "Praha")) == "X"
    assert apply_lemma_rule("abc", "garbage") == "abc"


@pytest.mark.parametrize("seed", range(50))
def test_bio_spans_equal_seqeval_chunks(seed):
    rng = np.random.default_rng(seed)
    tags = [str(rng.choice(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG"])) for _ in range(int(rng.integers(1, 15)))]
    assert bio_spans(tags) == get_entities(tags)


def test_bio_spans_hand_case():
    assert bio_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-PER"]) == [
        ("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4), ("PER", 5, 5)]


def test_best_span_respects_order_allowed_tokens_and_length():
    start = np.array([9.0, 0.0, 5.0, 1.0, 0.0])
    end = np.array([9.0, 4.0, 0.0, -1.0, 3.0])
    allowed = np.array([False, True, True, True, True])  # token 0 is the question
    assert best_span(start, end, allowed)[:2] == (2, 4)  # 5 + 3; (2, 1) would be 9 but ends before it starts
    assert best_span(start, end, allowed, max_answer_tokens=2)[:2] == (2, 2)  # (2, 4) spans 3 tokens; 5 + 0 wins


def test_runtime_never_imports_torch():
    code = ("import sys, edge_time.runtime.predict, edge_time.runtime.decode; "
            "bad = [m for m in ('torch', 'transformers', 'edge_time.tasks') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
