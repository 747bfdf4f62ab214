"""Decoding that lives outside the exported graph: trees, lemma rules, BIO spans, QA spans.

Pure numpy / Python, so a board that runs a bundle decodes exactly as the training side does
(the training side imports these same functions; there is one implementation of each).
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------------------------------------
# Dependency trees: Chu-Liu-Edmonds maximum spanning arborescence with exactly one root child
# ---------------------------------------------------------------------------------------------


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
    """Maximum spanning arborescence rooted at node 0. ``scores[d, h]``: dependent d, head h."""
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
    return _chu_liu_edmonds(scores)


# ---------------------------------------------------------------------------------------------
# Lemmas: UDPipe-2 edit rules (casing script ; prefix/suffix edit scripts or absolute lemma)
# ---------------------------------------------------------------------------------------------


def _edit_script(source: str, target: str) -> str:
    """Shortest script of "-" (delete a source char) and "+c" (insert c) turning source into target."""
    rows, cols = len(source) + 1, len(target) + 1
    cost = [[0] * cols for _ in range(rows)]
    script = [[""] * cols for _ in range(rows)]
    for i in range(rows):
        for j in range(cols):
            if i == 0 and j == 0:
                continue
            best = None
            if i and (best is None or cost[i - 1][j] + 1 < best):
                best, path = cost[i - 1][j] + 1, script[i - 1][j] + "-"
            if j and (best is None or cost[i][j - 1] + 1 < best):
                best, path = cost[i][j - 1] + 1, script[i][j - 1] + "+" + target[j - 1]
            cost[i][j], script[i][j] = best, path
    return script[-1][-1]


def lemma_rule(form: str, lemma: str) -> str:
    """The UDPipe-2 rule turning ``form`` into ``lemma``: ``casing;d<prefix>¦<suffix>`` or ``casing;a<lemma>``.

    Casing marks where the lemma switches case (offsets from the end in its second half);
    the longest common substring of lowercased form and lemma is kept, the prefix and suffix
    around it are rewritten by edit scripts; with nothing in common the lemma is stored whole.
    """
    casing, previous = "", None
    for i, char in enumerate(lemma):
        case = "↑" if char.lower() != char else "↓"
        if case != previous:
            offset = i if i <= len(lemma) // 2 else i - len(lemma)
            casing += ("¦" if casing else "") + f"{case}{offset}"
        previous = case
    form, lemma = form.lower(), lemma.lower()
    best = best_form = best_lemma = 0
    for start_lemma in range(len(lemma)):
        for start_form in range(len(form)):
            length = 0
            while (start_form + length < len(form) and start_lemma + length < len(lemma)
                   and form[start_form + length] == lemma[start_lemma + length]):
                length += 1
            if length > best:
                best, best_form, best_lemma = length, start_form, start_lemma
    if not best:
        return f"{casing};a{lemma}"
    prefix = _edit_script(form[:best_form], lemma[:best_lemma])
    suffix = _edit_script(form[best_form + best:], lemma[best_lemma + best:])
    return f"{casing};d{prefix}¦{suffix}"


def _consumed(script: str) -> int:
    """Source characters an edit script consumes ("-" consumes one, "+c" none)."""
    count, i = 0, 0
    while i < len(script):
        if script[i] == "+":
            i += 2
        else:
            count += script[i] in "-→"
            i += 1
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


def apply_lemma_rule(form: str, rule: str) -> str:
    """Apply a rule from :func:`lemma_rule`; a rule that does not fit the form yields the form."""
    casing, _, edit = rule.partition(";")
    if edit.startswith("a"):
        lemma = edit[1:]
    elif edit.startswith("d") and "¦" in edit:
        prefix, _, suffix = edit[1:].partition("¦")
        lower = form.lower()
        cut_front, cut_back = _consumed(prefix), _consumed(suffix)
        if cut_front + cut_back > len(lower):
            lemma = lower
        else:
            middle = lower[cut_front: len(lower) - cut_back]
            lemma = (_apply_script(prefix, lower[:cut_front]) + middle
                     + _apply_script(suffix, lower[len(lower) - cut_back:]))
    else:
        return form
    for part in casing.split("¦"):
        if not part or part == "↓0":  # lemmas start lowercased
            continue
        try:
            offset = int(part[1:])
        except ValueError:
            return form
        lemma = lemma[:offset] + (lemma[offset:].upper() if part[0] == "↑" else lemma[offset:].lower())
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
