"""Decoding that lives outside the exported graph: trees, lemma rules, BIO spans, QA spans.

numpy / Python plus UDPipe 2's compiled Chu-Liu-Edmonds (PyPI ``ufal.chu_liu_edmonds``, wheels
for x86-64 and aarch64; 9x faster than a numpy/Python one on 20-word sentences), so a board that
runs a bundle decodes exactly as the training side does (the training side imports these same
functions; there is one implementation of each).
"""

from __future__ import annotations

import functools

import numpy as np
from ufal.chu_liu_edmonds import chu_liu_edmonds

# ---------------------------------------------------------------------------------------------
# Dependency trees: Chu-Liu-Edmonds maximum spanning arborescence with exactly one root child
# ---------------------------------------------------------------------------------------------


def decode_tree(scores: np.ndarray) -> np.ndarray:
    """Best dependency tree with exactly one word attached to the root.

    ``scores``: (n + 1, n + 1) arc scores, ``scores[d, h]`` for dependent d and head h, node 0
    the artificial root (row 0 is ignored). Returns heads (n + 1,) with ``heads[0] == 0``.
    Exactly one root child is enforced exactly (not heuristically): every root arc pays a
    penalty larger than any possible score difference, so the best tree has one root arc and
    is the best among the single-root trees.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.shape[0]
    if scores.ndim != 2 or scores.shape[1] != n or n < 2:
        raise ValueError(f"arc scores must be square (n + 1, n + 1) with n >= 1, got {scores.shape}")
    finite = np.isfinite(scores)
    if not finite.all():
        low = scores[finite].min() if finite.any() else 0.0
        scores = np.where(finite, scores, low - 1.0)
    span = float(scores[1:].max() - scores[1:].min()) if n > 1 else 0.0
    penalty = (span + 1.0) * n
    scores = scores.copy()
    scores[1:, 0] -= penalty
    heads, _ = chu_liu_edmonds(scores)
    heads = np.asarray(heads, dtype=np.int64)
    heads[0] = 0
    return heads


def decode_trees(scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """:func:`decode_tree` for a batch: ``scores`` (batch, w, w) with sentence b in
    ``scores[b, : lengths[b] + 1, : lengths[b] + 1]``; returns heads (batch, w), 0 past each sentence.

    Each word's best head (greedy, one argmax for the whole batch) is already the best tree when
    those heads form a tree with one root child: no tree scores more than the best head of every word.
    Only the other sentences (a cycle, several or no root children) go to Chu-Liu-Edmonds.
    """
    scores = np.asarray(scores)
    lengths = np.asarray(lengths, dtype=np.int64)
    batch, width = scores.shape[0], scores.shape[1]
    nodes = np.arange(width)
    real = nodes[None, :] <= lengths[:, None]  # root + words
    allowed = real[:, None, :] & (nodes[:, None] != nodes[None, :])[None]  # no padding heads, no self-loops
    heads = np.where(allowed, scores, -np.inf).argmax(axis=-1)
    words = real & (nodes > 0)[None]
    heads[~words] = 0
    ancestors = heads
    for _ in range(max(1, int(np.ceil(np.log2(width))))):  # 2^k >= width steps up: every word of a tree reaches 0
        ancestors = np.take_along_axis(ancestors, ancestors, axis=1)
    tree = (ancestors == 0).all(axis=1) & (((heads == 0) & words).sum(axis=1) == 1)
    tree &= np.isfinite(np.where(allowed, scores, 0.0)).all(axis=(1, 2))
    for b in np.flatnonzero(~tree):
        n = int(lengths[b]) + 1
        heads[b, :n] = decode_tree(scores[b, :n, :n])
    return heads


# ---------------------------------------------------------------------------------------------
# Lemmas: UDPipe-2 edit rules (casing script ; prefix/suffix edit scripts or absolute lemma)
# ---------------------------------------------------------------------------------------------


def _lower(text: str) -> str:
    """Lowercase that keeps the length ("İ".lower() has two characters), so casing offsets stay valid."""
    lower = text.lower()
    return lower if len(lower) == len(text) else "".join(low if len(low := c.lower()) == 1 else c for c in text)


def _upper(text: str) -> str:
    """Uppercase that keeps the length ("ß".upper() is "SS"), so casing offsets stay valid."""
    upper = text.upper()
    return upper if len(upper) == len(text) else "".join(up if len(up := c.upper()) == 1 else c for c in text)


def _edit_script(source: str, target: str) -> str:
    """The minimal script turning source into target: insert every target char, delete every source char.

    Without a copy operation every script costs len(source) + len(target); UDPipe 2 breaks the tie
    this way. Deleted characters are not named, so one script serves all stems.
    """
    return "".join("+" + char for char in target) + "-" * len(source)


def lemma_rule(form: str, lemma: str) -> str:
    """The UDPipe-2 rule turning ``form`` into ``lemma``: ``casing;d<prefix>¦<suffix>`` or ``casing;a<lemma>``.

    Casing marks where the lemma switches case (offsets from the end in its second half);
    the longest common substring of lowercased form and lemma is kept, the prefix and suffix
    around it are rewritten by edit scripts; with nothing in common the lemma is stored whole.
    A lemma whose case no casing script restores (titlecase digraphs such as "ǅ") is stored
    verbatim with an empty casing, so every rule gives back its lemma.
    """
    casing, previous = "", None
    for i, char in enumerate(lemma):
        case = "↑" if char.lower() != char else "↓"
        if case != previous:
            offset = i if i <= len(lemma) // 2 else i - len(lemma)
            casing += ("¦" if casing else "") + f"{case}{offset}"
        previous = case
    lower_form, lower_lemma = _lower(form), _lower(lemma)
    best = best_form = best_lemma = 0
    for start_lemma in range(len(lower_lemma)):
        for start_form in range(len(lower_form)):
            length = 0
            while (start_form + length < len(lower_form) and start_lemma + length < len(lower_lemma)
                   and lower_form[start_form + length] == lower_lemma[start_lemma + length]):
                length += 1
            if length > best:
                best, best_form, best_lemma = length, start_form, start_lemma
    if not best:
        rule = f"{casing};a{lower_lemma}"
    else:
        prefix = _edit_script(lower_form[:best_form], lower_lemma[:best_lemma])
        suffix = _edit_script(lower_form[best_form + best:], lower_lemma[best_lemma + best:])
        rule = f"{casing};d{prefix}¦{suffix}"
    return rule if apply_lemma_rule(form, rule) == lemma else f";a{lemma}"


def _consumed(script: str) -> int | None:
    """Form characters an edit script consumes ("-" and "→" one, "+c" none); None when malformed."""
    count, i = 0, 0
    while i < len(script):
        if script[i] == "+":
            if i + 1 == len(script):
                return None
            i += 2
        elif script[i] in "-→":
            count += 1
            i += 1
        else:
            return None
    return count


def _apply_script(script: str, source: str) -> str:
    out, pos, i = [], 0, 0
    while i < len(script):
        op = script[i]
        if op == "+":
            out.append(script[i + 1])
            i += 2
            continue
        if op == "→":
            out.append(source[pos])
        pos += 1
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=4096)  # a model has a few hundred rules; parsing was a third of lemma decoding
def _parse_lemma_rule(rule: str) -> tuple[tuple[tuple[bool, int], ...], str | tuple[str, str, int, int]] | None:
    """Casing steps (to upper, offset) and either the absolute lemma or (prefix, suffix, their cuts).

    None when the rule is malformed. The separator "¦" is found by walking the prefix script,
    because "+¦" inserts a "¦".
    """
    casing, _, edit = rule.partition(";")
    steps = []
    for part in filter(None, casing.split("¦")):
        if part[0] not in "↑↓":
            return None
        try:
            steps.append((part[0] == "↑", int(part[1:])))
        except ValueError:
            return None
    steps = tuple(steps)  # cached: shared by every caller
    if edit.startswith("a"):
        return steps, edit[1:]
    if not edit.startswith("d"):
        return None
    i = 1
    while i < len(edit):
        if edit[i] == "¦":
            prefix, suffix = edit[1:i], edit[i + 1:]
            cuts = _consumed(prefix), _consumed(suffix)
            return None if None in cuts else (steps, (prefix, suffix, *cuts))
        i += 2 if edit[i] == "+" else 1
    return None


def lemma_rule_min_length(rule: str) -> float:
    """The shortest form ``rule`` fits: the characters its scripts consume, 0 for an absolute lemma, inf if malformed.

    A rule that consumes the whole form still fits: learnt on "přišlo" -> "přijít", it rightly
    turns "šlo" into "jít"; one that needs more characters than the form has cannot apply.
    """
    parsed = _parse_lemma_rule(rule)
    if parsed is None:
        return np.inf
    edit = parsed[1]
    return 0 if isinstance(edit, str) else edit[2] + edit[3]


@functools.lru_cache(maxsize=65536)  # word forms repeat (Zipf): most (form, rule) pairs are seen before
def apply_lemma_rule(form: str, rule: str) -> str:
    """Apply a rule from :func:`lemma_rule`.

    A rule too long for the form (see :func:`lemma_rule_min_length`) keeps the form's letters
    under the rule's casing; a malformed rule yields the form.
    """
    parsed = _parse_lemma_rule(rule)
    if parsed is None:
        return form
    steps, edit = parsed
    if isinstance(edit, str):
        lemma = edit
    else:
        lemma = _lower(form)
        prefix, suffix, cut_front, cut_back = edit
        if cut_front + cut_back <= len(lemma):
            lemma = (_apply_script(prefix, lemma[:cut_front]) + lemma[cut_front: len(lemma) - cut_back]
                     + _apply_script(suffix, lemma[len(lemma) - cut_back:]))
    for to_upper, offset in steps:
        lemma = lemma[:offset] + (_upper(lemma[offset:]) if to_upper else _lower(lemma[offset:]))
    return lemma


# ---------------------------------------------------------------------------------------------
# BIO spans (conlleval / seqeval default semantics) and extractive QA spans
# ---------------------------------------------------------------------------------------------


def bio_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """Entities ``(type, first, last)`` (inclusive word indices) from BIO/IOBES tags.

    The chunking of seqeval's default (conlleval) mode, so decoded spans are exactly the ones
    seqeval scores: an I- that does not continue an entity of its type starts a new one.
    """
    spans: list[tuple[str, int, int]] = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, chunk in enumerate(list(tags) + ["O"]):
        tag = chunk[0] if chunk else "O"
        kind = chunk[1:].split("-", maxsplit=1)[-1] or "_"
        if _chunk_ends(prev_tag, tag, prev_type, kind):
            spans.append((prev_type, begin, i - 1))
        if _chunk_starts(prev_tag, tag, prev_type, kind):
            begin = i
        prev_tag, prev_type = tag, kind
    return spans


def _chunk_ends(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != kind


def _chunk_starts(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != kind


def best_span(start_scores: np.ndarray, end_scores: np.ndarray, allowed: np.ndarray,
              max_answer_tokens: int = 30) -> tuple[int, int, float]:
    """Token span (start, end, score) maximising start + end score with start <= end, both allowed."""
    start_scores = np.where(allowed, start_scores, -np.inf)
    end_scores = np.where(allowed, end_scores, -np.inf)
    total = start_scores[:, None] + end_scores[None, :]
    n = len(start_scores)
    upper = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=max_answer_tokens)
    total = np.where(upper, total, -np.inf)
    flat = int(np.argmax(total))
    start, end = divmod(flat, n)
    return start, end, float(total[start, end])
