"""Vocabulary trimming: keep the teacher vocabulary entries a target-language corpus uses.

Why it is exact: WordPiece picks the longest vocabulary piece at each position and Unigram the
best-scoring segmentation; both only ever *lose* candidates when entries are removed. So a text
whose teacher segmentation uses kept entries only ("covered" text) is segmented identically by
the trimmed tokenizer (ids renumbered). Kept: special/added tokens, every entry the corpus uses
(or the most frequent ones reaching ``coverage`` of the corpus tokens, at most ``max_size``),
and the single-character pieces of the language's alphabet — both cases of every corpus letter and
every letter of the scripts the corpus writes in — so unseen words of the language still segment
into characters instead of <unk>.

The trimmed ``tokenizer.json`` is the teacher's with the model vocabulary, added tokens and the
post-processor's special ids renumbered; normalizer and pre-tokenizer are untouched. Text the
corpus did not cover falls back to shorter pieces than the teacher's (more tokens per word):
``edge-time finetune`` measures that on the task's text (:mod:`edge_time.tasks.vocab_check`).
BPE tokenizers are not trimmed (their merges need intermediate entries); use ``--no-trim``.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from dataclasses import dataclass

import numpy as np

from edge_time.errors import EdgeTimeError


class VocabError(EdgeTimeError):
    """The vocabulary cannot be trimmed as asked; the message names the fix."""


@dataclass
class TrimmedVocab:
    kept: np.ndarray  # sorted teacher ids; student id i is teacher id kept[i]
    teacher_to_student: np.ndarray  # (teacher vocab,) int64; dropped entries -> student unk id
    tokenizer_json: dict
    token_coverage: float  # share of corpus tokens whose entry was kept

    @property
    def size(self) -> int:
        return len(self.kept)


def model_kind(tokenizer_json: dict) -> str:
    return str(tokenizer_json.get("model", {}).get("type", "unknown")).lower()


def model_vocab_size(tokenizer_json: dict) -> int:
    model = tokenizer_json["model"]
    return len(model["vocab"])


def special_ids(tokenizer_json: dict) -> set[int]:
    return {int(tok["id"]) for tok in tokenizer_json.get("added_tokens", [])}


def script_of(char: str) -> str | None:
    """The Unicode script a letter belongs to, from its name ('LATIN', 'CYRILLIC', ...); None for non-letters."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else None


def language_alphabet(corpus_chars: set[str], candidates: set[str]) -> set[str]:
    """The corpus characters, both cases of each, and every letter among ``candidates`` written in a script
    the corpus uses: a held-out word with a letter the corpus lacks ('Ť') still segments into characters."""
    scripts = {script_of(c) for c in corpus_chars} - {None}
    cased = {variant for c in corpus_chars for variant in (c, c.upper(), c.lower()) if len(variant) == 1}
    return cased | {c for c in candidates if script_of(c) in scripts}


def alphabet_ids(tokenizer_json: dict, chars: set[str]) -> set[int]:
    """Ids of the single-character pieces ('x', '##x', '▁x') of the corpus alphabet (:func:`language_alphabet`)."""
    model = tokenizer_json["model"]
    kind = model_kind(tokenizer_json)
    if kind == "wordpiece":
        prefix = model.get("continuing_subword_prefix", "##")
        vocab = model["vocab"]
        singles = {p[len(prefix):] if p.startswith(prefix) else p for p in vocab
                   if len(p) == 1 or (p.startswith(prefix) and len(p) == len(prefix) + 1)}
        return {vocab[p] for c in language_alphabet(chars, singles) for p in (c, prefix + c) if p in vocab}
    if kind == "unigram":
        pieces = [piece for piece, _ in model["vocab"]]
        singles = {p[-1] for p in pieces if len(p) == 1 or (len(p) == 2 and p[0] == "\u2581")}
        alphabet = language_alphabet(chars, singles)
        wanted = alphabet | {"\u2581" + c for c in alphabet}
        return {i for i, piece in enumerate(pieces) if piece in wanted}
    return set()


def choose_ids(counts: np.ndarray, always: set[int], coverage: float = 1.0, max_size: int | None = None,
               min_count: int = 1) -> np.ndarray:
    """Sorted ids: ``always`` plus the most frequent used ids up to ``coverage`` / ``max_size``."""
    if not 0.0 < coverage <= 1.0:
        raise VocabError(f"vocabulary coverage {coverage} must be in (0, 1]; 1.0 keeps every used entry")
    used = np.flatnonzero(counts >= max(1, min_count))
    order = used[np.argsort(-counts[used], kind="stable")]
    cumulative = np.cumsum(counts[order]) / max(1, counts.sum())
    keep_n = int(np.searchsorted(cumulative, coverage - 1e-12) + 1) if len(order) else 0
    chosen = list(always)
    budget = None if max_size is None else max_size - len(always)
    if budget is not None and budget < 0:
        raise VocabError(f"--max-vocab {max_size} is smaller than the {len(always)} special and alphabet "
                         f"entries that are always kept; raise it")
    picked = [int(i) for i in order[:keep_n] if int(i) not in always]
    chosen += picked[:budget] if budget is not None else picked
    return np.array(sorted(set(chosen)), dtype=np.int64)


def _remap_post_processor(proc: dict | None, new_id: dict[int, int]) -> None:
    if not proc:
        return
    kind = proc.get("type")
    if kind == "Sequence":
        for inner in proc.get("processors", []):
            _remap_post_processor(inner, new_id)
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            token, old = proc[key]
            proc[key] = [token, new_id[int(old)]]
    elif kind == "TemplateProcessing":
        for spec in proc.get("special_tokens", {}).values():
            spec["ids"] = [new_id[int(i)] for i in spec["ids"]]


def trim_tokenizer(tokenizer_json: dict, counts: np.ndarray, corpus_chars: set[str], coverage: float = 1.0,
                   max_size: int | None = None, min_count: int = 1) -> TrimmedVocab:
    """Trim a WordPiece or Unigram ``tokenizer.json`` to the entries ``counts`` (teacher ids) shows used."""
    kind = model_kind(tokenizer_json)
    if kind not in ("wordpiece", "unigram"):
        raise VocabError(f"vocabulary trimming supports WordPiece and Unigram tokenizers, not {kind}; "
                         f"pass --no-trim to keep the teacher vocabulary")
    specials = special_ids(tokenizer_json)
    unk_token = tokenizer_json["model"].get("unk_token")
    always = specials | alphabet_ids(tokenizer_json, corpus_chars)
    kept = choose_ids(counts, always, coverage, max_size, min_count)
    new_id = {int(old): new for new, old in enumerate(kept)}

    out = copy.deepcopy(tokenizer_json)
    model = out["model"]
    n_model = model_vocab_size(tokenizer_json)
    if kind == "wordpiece":
        by_id = {i: tok for tok, i in tokenizer_json["model"]["vocab"].items()}
        model["vocab"] = {by_id[int(i)]: new_id[int(i)] for i in kept if int(i) < n_model}
        unk_id = model["vocab"].get(unk_token)
    else:
        vocab = tokenizer_json["model"]["vocab"]
        model["vocab"] = [vocab[int(i)] for i in kept if int(i) < n_model]
        old_unk = tokenizer_json["model"].get("unk_id")
        unk_id = new_id.get(int(old_unk)) if old_unk is not None else None
        model["unk_id"] = unk_id
    for tok in out.get("added_tokens", []):
        tok["id"] = new_id[int(tok["id"])]
    _remap_post_processor(out.get("post_processor"), new_id)

    teacher_size = max(n_model, max(specials, default=-1) + 1, len(counts))
    table = np.full(teacher_size, unk_id if unk_id is not None else 0, dtype=np.int64)
    table[kept] = np.arange(len(kept))
    covered = counts[kept[kept < len(counts)]].sum() / max(1, counts.sum())
    return TrimmedVocab(kept=kept, teacher_to_student=table, tokenizer_json=out, token_coverage=float(covered))


def identity_vocab(tokenizer_json: dict, vocab_size: int) -> TrimmedVocab:
    """No trimming: student ids are the teacher's."""
    ids = np.arange(vocab_size, dtype=np.int64)
    return TrimmedVocab(kept=ids, teacher_to_student=ids, tokenizer_json=tokenizer_json, token_coverage=1.0)


def tokenizer_from_json(tokenizer_json: dict):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(json.dumps(tokenizer_json))
