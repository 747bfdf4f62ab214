"""Task predictions from scores: build a task's graph inputs, run, decode (numpy + tokenizers only).

One :class:`TaskPredictor` serves both sides: ``TaskPredictor.from_bundle`` runs an exported
bundle (ONNX / LiteRT / ExecuTorch), and ``edge_time.tasks`` wraps a PyTorch task model in the
same class, so bundle and PyTorch predictions go through identical input building and decoding.

    >>> from edge_time.runtime import load_bundle
    >>> from edge_time.runtime.predict import TaskPredictor
    >>> tagger = TaskPredictor.from_bundle(load_bundle("out/cs-ud-onnx"))
    >>> tagger.parse([["Praha", "je", "město", "."]])[0].heads
    [3, 3, 0, 3]
"""

from __future__ import annotations

import functools
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from edge_time.errors import EdgeTimeError
from edge_time.runtime.decode import apply_lemma_rule, best_span, bio_spans, decode_trees, lemma_rule_min_length
from edge_time.runtime.stages import StageClock
from edge_time.runtime.tasks import TASK_GRAPHS
from edge_time.runtime.tokenize import Encoded, TextEncoder

logger = logging.getLogger(__name__)  # the CLI prints edge_time warnings as "warning: ..." lines


def word_inputs(word_ids: list[list[int | None]], n_words: list[int], pooling: str, root_row: bool,
                width: int | None = None) -> dict[str, np.ndarray]:
    """The word-level graph inputs built from a batch's token -> word map.

    ``word_pool`` (batch, words, seq) float32: row w averages the subword vectors of word w
    (``pooling="mean"``) or picks its first subword (``"first"``); with ``root_row`` row 0 is
    the first ([CLS]/<s>) token, the parser's artificial root, and word i sits in row i + 1.
    ``word_mask`` (batch, words) int64 marks real rows (root included). ``width`` pads the
    words axis (fixed-shape buckets use width = seq).
    """
    if pooling not in ("mean", "first"):
        raise ValueError(f"pooling {pooling!r} is not 'mean' or 'first'")
    batch, seq = len(word_ids), len(word_ids[0]) if word_ids else 0
    offset = 1 if root_row else 0
    lengths = np.asarray(n_words, dtype=np.int64).reshape(batch)
    needed = int(max(lengths.max(initial=0) + offset, 1))
    width = needed if width is None else width
    if needed > width:
        raise ValueError(f"{needed - offset} words do not fit a words axis of {width}")
    # None (specials, padding) -> NaN -> -1, in C rather than a Python loop over tokens
    ids = np.nan_to_num(np.array(word_ids, dtype=np.float64).reshape(batch, seq), nan=-1).astype(np.int64)
    rows, tokens = np.nonzero((ids >= 0) & (ids < lengths[:, None]))  # row-major: tokens in order per sentence
    words = ids[rows, tokens] + offset
    if pooling == "first":
        _, first = np.unique(rows * width + words, return_index=True)
        rows, tokens, words = rows[first], tokens[first], words[first]
    pool = np.zeros((batch, width, seq), dtype=np.float32)
    pool[rows, words, tokens] = 1.0
    if root_row:
        pool[:, 0, 0] = 1.0
    if pooling == "mean":
        counts = pool.sum(axis=2, keepdims=True)
        np.divide(pool, counts, out=pool, where=counts > 0)
    mask = (np.arange(width)[None, :] < (lengths + offset)[:, None]).astype(np.int64)
    return {"word_pool": pool, "word_mask": mask}


def encode_pairs(text_encoder: TextEncoder, questions: list[str], contexts: list[str],
                 seq_len: int | None = None) -> tuple[Encoded, list[list[int | None]]]:
    """Encode (question, context) pairs, truncating the context; also returns each token's sequence id."""
    encodings = text_encoder.tokenizer.encode_batch(list(zip(questions, contexts)))
    longest = max(len(e.ids) for e in encodings)
    width = longest if seq_len is None else seq_len
    if longest > width:
        raise ValueError(f"{longest} tokens do not fit a sequence length of {width}")
    info = text_encoder.info
    ids = np.full((len(encodings), width), info.pad_id, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, enc in enumerate(encodings):
        ids[row, : len(enc.ids)] = enc.ids
        mask[row, : len(enc.ids)] = 1
    positions = np.broadcast_to(np.arange(width, dtype=np.int64) + text_encoder.position_offset, ids.shape).copy()
    pad = lambda values, fill: list(values) + [fill] * (width - len(values))  # noqa: E731
    encoded = Encoded(ids, mask, positions, [pad(e.word_ids, None) for e in encodings],
                      [pad(e.offsets, (0, 0)) for e in encodings])
    return encoded, [pad(e.sequence_ids, None) for e in encodings]


@dataclass
class UDParse:
    words: list[str]
    lemmas: list[str]
    upos: list[str]
    xpos: list[str]
    feats: list[str]
    heads: list[int]
    deprels: list[str]


@dataclass
class Entity:
    type: str
    start: int  # first word
    end: int  # last word (inclusive)
    text: str


@dataclass
class NERResult:
    words: list[str]
    tags: list[str]
    entities: list[Entity]


@dataclass
class ClassResult:
    label: str
    scores: dict[str, float]


@dataclass
class Answer:
    text: str
    start: int  # character offset in the context
    end: int
    score: float


def to_jsonable(result: Any) -> dict[str, Any]:
    return asdict(result)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _join_parses(parts: list[UDParse]) -> UDParse:
    """One tree from the parses of consecutive pieces of a sentence (see :meth:`TaskPredictor.parse`)."""
    joined = UDParse([], [], [], [], [], [], [])
    root = None
    for part in parts:
        offset = len(joined.words)
        for name in ("words", "lemmas", "upos", "xpos", "feats"):
            getattr(joined, name).extend(getattr(part, name))
        for head, deprel in zip(part.heads, part.deprels):
            if head == 0 and root is None:
                root = offset + part.heads.index(0) + 1
                joined.heads.append(0)
                joined.deprels.append(deprel)
            elif head == 0:
                joined.heads.append(root)
                joined.deprels.append("parataxis")
            else:
                joined.heads.append(head + offset)
                joined.deprels.append(deprel)
    return joined


BATCH_SIZE = 32  # texts per graph run when predicting or evaluating (the API's and the CLI's --batch-size)
# UD/NER: padded tokens per graph run at most (the API's and CLI's --batch-tokens): batches of short
# sentences stay large, long ones shrink, so activations stay in cache (xs on PUD dev: +4% over the best
# fixed batch size, +25% over batch 32; docs/benchmarks.md)
BATCH_TOKENS: int | None = 256


class TaskPredictor:
    """Inputs -> scores -> predictions for one task model, whatever runs the graph.

    ``run`` maps named numpy inputs to named numpy outputs; ``bucket_for(seq_len)`` returns the
    fixed length a graph needs (None when shapes are dynamic).
    """

    def __init__(self, task: str, labels: dict[str, list[str]], task_config: dict[str, Any],
                 text_encoder: TextEncoder, run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
                 bucket_for: Callable[[int], int | None] = lambda n: None, batch_size: int = BATCH_SIZE,
                 max_words: int | None = None, batch_workers: int = 1, batch_tokens: int | None = None):
        self.task, self.labels, self.config = task, labels, task_config
        self.text_encoder, self._run, self.bucket_for = text_encoder, run, bucket_for
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens  # word tasks: padded tokens per batch at most (None: no bound)
        self.batch_workers = batch_workers  # batches in flight at once (a bundle loaded with parallel="batches")
        self._words_bound = max_words
        self.stages = StageClock()  # seconds in inputs / graph / decode, summed over calls until popped

    @property
    def max_words(self) -> int:
        """Words per sentence the graph takes: a bundle's words axis (or max_length, as every word has
        a token) less the root row."""
        limit = self.text_encoder.max_length
        root = 1 if self.config.get("root_row") else 0
        return min(self._words_bound or limit, limit - 2) - root

    @classmethod
    def from_bundle(cls, bundle, batch_size: int = BATCH_SIZE) -> "TaskPredictor":
        manifest = bundle.manifest
        if manifest.task not in TASK_GRAPHS:
            raise EdgeTimeError(f"bundle task is {manifest.task!r}; predictions need a {'/'.join(TASK_GRAPHS)} task "
                                f"bundle (export a folder written by `edge-time finetune`)")
        batch_bound = manifest.axes.get("batch")
        if batch_bound:
            batch_size = min(batch_size, batch_bound[1])
        words_bound = manifest.axes.get("words")
        return cls(manifest.task, manifest.labels, manifest.task_config, bundle.text_encoder, bundle.run,
                   bundle.bucket_for, batch_size, max_words=words_bound[1] if words_bound else None,
                   batch_workers=getattr(bundle, "batch_workers", 1))

    # -- input building (shared with the exporters' make_inputs through edge_time.tasks.export) --

    def _fit(self, encode: Callable[[int | None], Encoded]) -> Encoded:
        encoded = encode(None)
        bucket = self.bucket_for(encoded.input_ids.shape[1])
        return encoded if bucket is None or bucket == encoded.input_ids.shape[1] else encode(bucket)

    def word_batch(self, sentences: list[list[str]], seq_len: int | None = None,
                   encodings: list | None = None) -> dict[str, np.ndarray]:
        """Graph inputs of pre-tokenized sentences; ``encodings`` (their :meth:`TextEncoder.tokenize_words`)
        spares tokenizing them again."""
        for words in sentences:
            if not words or any(not w.strip() for w in words):  # UD allows spaces inside a word ("12 000")
                raise EdgeTimeError(f"sentence {' '.join(words)!r}: needs at least one word and no empty words")
        if encodings is None:
            encodings = self.text_encoder.tokenize_words(sentences)
        if seq_len is None:
            encoded = self._fit(lambda n: self.text_encoder.pad(encodings, n))
        else:
            encoded = self.text_encoder.pad(encodings, seq_len)
        fixed = seq_len is not None or self.bucket_for(encoded.input_ids.shape[1]) is not None
        arrays = encoded.arrays()
        arrays.update(word_inputs(encoded.word_ids, [len(s) for s in sentences], self.config["pooling"],
                                  bool(self.config.get("root_row")),
                                  width=encoded.input_ids.shape[1] if fixed else None))
        return arrays

    def text_batch(self, texts: list[str], seq_len: int | None = None) -> dict[str, np.ndarray]:
        if seq_len is not None:
            return self.text_encoder.encode(texts, seq_len).arrays()
        return self._fit(lambda n: self.text_encoder.encode(texts, n)).arrays()

    def pair_batch(self, questions: list[str], contexts: list[str], seq_len: int | None = None):
        if seq_len is not None:
            return encode_pairs(self.text_encoder, questions, contexts, seq_len)
        first, sequence_ids = encode_pairs(self.text_encoder, questions, contexts)
        bucket = self.bucket_for(first.input_ids.shape[1])
        if bucket is None or bucket == first.input_ids.shape[1]:
            return first, sequence_ids
        return encode_pairs(self.text_encoder, questions, contexts, bucket)

    def _batches(self, items: list, key: Callable[[Any], int], max_tokens: int | None = None
                 ) -> list[tuple[list[int], list]]:
        """Length-sorted batches (less padding): (original indices, items) each, at most ``batch_size``
        items; with ``max_tokens``, a batch also ends before its padded size (items x the longest
        ``key``) would pass it, so short items share large batches and long ones run in small ones."""
        order = sorted(range(len(items)), key=lambda i: key(items[i]))
        chunks: list[list[int]] = []
        for index in order:  # ascending: the item being added is the batch's longest
            if not chunks or len(chunks[-1]) == self.batch_size or (
                    max_tokens and (len(chunks[-1]) + 1) * key(items[index]) > max_tokens):
                chunks.append([])
            chunks[-1].append(index)
        return [(chunk, [items[i] for i in chunk]) for chunk in chunks]

    def _map_batches(self, items: list, key: Callable[[Any], int], work: Callable[[list], list],
                     max_tokens: int | None = None) -> list:
        """``work(batch)`` (one result per item) over length-sorted batches, results in ``items`` order;
        with ``batch_workers`` > 1 that many batches run at once (the runtime releases the GIL)."""
        batches = self._batches(items, key, max_tokens)
        if self.batch_workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(min(self.batch_workers, len(batches))) as pool:
                outputs = list(pool.map(lambda batch: work(batch[1]), batches))
        else:
            outputs = [work(batch) for _, batch in batches]
        results: list = [None] * len(items)
        for (indices, _), batch_results in zip(batches, outputs):
            for index, result in zip(indices, batch_results):
                results[index] = result
        return results

    def _map_word_batches(self, sentences: list[list[str]], encodings: list,
                          decode: Callable[[dict, list], list]) -> list:
        """``decode(outputs, batch)`` over batches of pre-tokenized sentences (``encodings``: their
        :meth:`TextEncoder.tokenize_words`) sorted by token count: the graph's cost follows tokens, and
        batches sorted by words left 18% of the tokens of 8-sentence Czech PUD batches as padding (5%
        sorted by tokens; docs/benchmarks.md)."""

        def work(batch: list[tuple[list[str], Any]]) -> list:
            words = [w for w, _ in batch]
            with self.stages.measure("inputs"):
                arrays = self.word_batch(words, encodings=[e for _, e in batch])
            with self.stages.measure("graph"):
                outputs = self._run(arrays)
            with self.stages.measure("decode"):
                return decode(outputs, words)

        return self._map_batches(list(zip(sentences, encodings)), lambda item: len(item[1].ids), work,
                                 self.batch_tokens)

    # -- tasks --

    def scores(self, sentences: list[list[str]]) -> dict[str, np.ndarray]:
        """Raw graph outputs of one batch of pre-tokenized sentences (for parity checks)."""
        return self._run(self.word_batch(sentences))

    def _pieces(self, sentences: list[list[str]]) -> tuple[list[list[str]], list, list[list[int]]]:
        """Sentences longer than the graph's bounds, cut into consecutive pieces that fit (with one
        warning): never an unbounded input to the runtime. Returns the pieces, their tokenizer encodings
        and, per sentence, the indices of its pieces.

        Every sentence is tokenized once, which also tells whether it fits (its encoding did not
        overflow ``max_length``); only the rare ones that do not are measured word by word and their
        pieces tokenized again (tokenizing all sentences twice was 3% of an xs parse).
        """
        with self.stages.measure("inputs"):
            encodings = self.text_encoder.tokenize_words(sentences)
        pieces: list[list[str]] = []
        piece_encodings: list = []
        owned: list[list[int]] = []
        retokenize: list[int] = []
        for words, encoding in zip(sentences, encodings):
            fits = len(words) <= self.max_words and not encoding.overflowing
            starts = [0] if fits else self.text_encoder.piece_starts(words, self.max_words)
            owned.append(list(range(len(pieces), len(pieces) + len(starts))))
            if fits:
                pieces.append(words)
                piece_encodings.append(encoding)
                continue
            for a, b in zip(starts, starts[1:] + [len(words)]):
                retokenize.append(len(pieces))
                pieces.append(words[a:b])
                piece_encodings.append(None)
        if retokenize:
            with self.stages.measure("inputs"):
                encoded = self.text_encoder.tokenize_words([pieces[i] for i in retokenize])
            for index, encoding in zip(retokenize, encoded):
                piece_encodings[index] = encoding
            logger.warning(f"{sum(len(ids) > 1 for ids in owned)} sentence(s) exceed the model's "
                           f"{self.text_encoder.max_length} tokens / {self.max_words} words; each is processed "
                           f"in consecutive pieces that fit")
        return pieces, piece_encodings, owned

    def parse(self, sentences: list[list[str]]) -> list[UDParse]:
        """UD analyses; a sentence over the model's bounds is parsed in pieces, and the root of every later
        piece is attached to the first piece's root as ``parataxis``, so each sentence stays one tree."""
        self._expect("ud")
        pieces, encodings, owned = self._pieces(sentences)
        parsed = self._map_word_batches(pieces, encodings, self.decode_ud)
        return [parsed[ids[0]] if len(ids) == 1 else _join_parses([parsed[i] for i in ids]) for ids in owned]

    def decode_ud(self, outputs: dict[str, np.ndarray], sentences: list[list[str]]) -> list[UDParse]:
        """The parses of a batch's outputs (row b: ``sentences[b]``): trees, labels and tags for the whole
        batch at once; only lemma rules are applied word by word."""
        lengths = np.array([len(words) for words in sentences])
        width = outputs["arc"].shape[1]
        real = (np.arange(1, width) <= lengths[:, None])  # (batch, words) rows 1..width-1
        heads = decode_trees(outputs["arc"], lengths)[:, 1:]
        batch_rows = np.arange(len(sentences))[:, None]
        label_scores = outputs["deprel"][batch_rows, np.arange(1, width)[None, :], heads].astype(np.float64)
        deprel_labels = self.labels["deprel"]
        if "root" in deprel_labels:  # the root's child is `root`, no other word is
            root_id = deprel_labels.index("root")
            if len(deprel_labels) > 1:
                label_scores[..., root_id] = -np.inf
            best = label_scores.argmax(-1)
            best[heads == 0] = root_id
        else:
            best = label_scores.argmax(-1)
        label_arrays = self._label_arrays
        tags = {name: label_arrays[name][outputs[name][:, 1:].argmax(-1)] for name in ("upos", "xpos", "feats")}
        deprels = label_arrays["deprel"][best]
        words = [w for sentence in sentences for w in sentence]
        lemmas = self._lemmas(words, outputs["lemma_rule"][:, 1:][real])
        results, start = [], 0
        for b, sentence in enumerate(sentences):  # label strings picked per batch above: rows are only sliced here
            n = len(sentence)
            results.append(UDParse(words=list(sentence), lemmas=lemmas[start:start + n],
                                   **{name: labels[b, :n].tolist() for name, labels in tags.items()},
                                   heads=heads[b, :n].tolist(), deprels=deprels[b, :n].tolist()))
            start += n
        return results

    @functools.cached_property
    def _label_arrays(self) -> dict[str, np.ndarray]:
        """Each label list as an object array, so a whole batch's ids map to strings in one indexing."""
        return {name: np.array(labels, dtype=object) for name, labels in self.labels.items()}

    @functools.cached_property
    def _lemma_rule_min_lengths(self) -> np.ndarray:
        return np.array([lemma_rule_min_length(rule) for rule in self.labels["lemma_rule"]])

    def _lemmas(self, words: list[str], scores: np.ndarray) -> list[str]:
        """Each word's best lemma rule, or its best rule that fits when the top one does not;
        a form of the training data (``lemma_lexicon`` in the task config) picks among its seen rules.

        A rule too long for the form was learnt on longer words and would only give back the form,
        while a lower-scoring rule that fits is a real guess (short words, abbreviations).
        """
        rules = self.labels["lemma_rule"]
        min_lengths = self._lemma_rule_min_lengths
        lengths = np.array([len(w) for w in words])
        best = scores.argmax(-1)
        misfits = np.flatnonzero(min_lengths[best] > lengths)
        if misfits.size:
            fitting = min_lengths[None, :] <= lengths[misfits, None]
            best[misfits] = np.where(fitting, scores[misfits], -np.inf).argmax(-1)
        lexicon = self.config.get("lemma_lexicon") or {}
        known = [(i, seen) for i, seen in ((i, lexicon.get(w)) for i, w in enumerate(words)) if seen]
        if known:  # a training form: its best-scoring rule among those seen with it (first on ties, as argmax)
            rows = np.repeat([i for i, _ in known], [len(seen) for _, seen in known])
            candidates = np.concatenate([seen for _, seen in known])
            order = np.lexsort((-scores[rows, candidates], rows))  # per row, best first; stable on ties
            first = np.unique(rows[order], return_index=True)[1]
            best[rows[order][first]] = candidates[order][first]
        return [apply_lemma_rule(word, rules[i]) for word, i in zip(words, best.tolist())]

    def tag(self, sentences: list[list[str]]) -> list[NERResult]:
        self._expect("ner")
        pieces, encodings, owned = self._pieces(sentences)
        tagged = self._map_word_batches(pieces, encodings, self.decode_ner)
        return [tagged[ids[0]] if len(ids) == 1 else self._join_tags([tagged[i] for i in ids]) for ids in owned]

    def _join_tags(self, parts: list[NERResult]) -> NERResult:
        words = [w for part in parts for w in part.words]
        tags = [t for part in parts for t in part.tags]
        return NERResult(words, tags, [Entity(kind, s, e, " ".join(words[s:e + 1])) for kind, s, e in bio_spans(tags)])

    def decode_ner(self, outputs: dict[str, np.ndarray], sentences: list[list[str]]) -> list[NERResult]:
        best = outputs["tags"].argmax(-1)  # the whole batch at once
        results = []
        for b, words in enumerate(sentences):
            tags = [self.labels["tags"][i] for i in best[b, : len(words)]]
            entities = [Entity(kind, s, e, " ".join(words[s:e + 1])) for kind, s, e in bio_spans(tags)]
            results.append(NERResult(list(words), tags, entities))
        return results

    def classify(self, texts: list[str]) -> list[ClassResult]:
        self._expect("cls")
        names = self.labels["labels"]

        def classify_batch(batch: list[str]) -> list[ClassResult]:
            with self.stages.measure("inputs"):
                arrays = self.text_batch(batch)
            with self.stages.measure("graph"):
                outputs = self._run(arrays)
            with self.stages.measure("decode"):
                probs = _softmax(outputs["logits"].astype(np.float64))
                return [ClassResult(names[int(row.argmax())], {n: round(float(p), 6) for n, p in zip(names, row)})
                        for row in probs]

        return self._map_batches(texts, len, classify_batch)

    def answer(self, questions: list[str], contexts: list[str]) -> list[Answer]:
        self._expect("qa")
        max_tokens = int(self.config.get("max_answer_tokens", 30))
        pairs = list(zip(questions, contexts))

        def answer_batch(batch: list[tuple[str, str]]) -> list[Answer]:
            with self.stages.measure("inputs"):
                encoded, sequence_ids = self.pair_batch([q for q, _ in batch], [c for _, c in batch])
                arrays = encoded.arrays()
            with self.stages.measure("graph"):
                outputs = self._run(arrays)
            answers = []
            with self.stages.measure("decode"):
                for row, (_, context) in enumerate(batch):
                    allowed = np.array([s == 1 for s in sequence_ids[row]])
                    if not allowed.any():
                        answers.append(Answer("", 0, 0, -math.inf))
                        continue
                    start, end, score = best_span(outputs["start_logits"][row].astype(np.float64),
                                                  outputs["end_logits"][row].astype(np.float64), allowed, max_tokens)
                    begin, finish = encoded.offsets[row][start][0], encoded.offsets[row][end][1]
                    answers.append(Answer(context[begin:finish], int(begin), int(finish), score))
            return answers

        return self._map_batches(pairs, lambda p: len(p[0]) + len(p[1]), answer_batch)

    def _expect(self, task: str) -> None:
        """A decoding method reads ``task``'s outputs: any task whose graph has those outputs decodes alike."""
        if TASK_GRAPHS[self.task].outputs != TASK_GRAPHS[task].outputs:
            raise EdgeTimeError(f"this is a {self.task!r} model; it cannot run {task!r} predictions")
