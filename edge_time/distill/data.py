"""Corpus reading, tokenization into max-length chunks, and the deterministic sample order.

Sources: plain text (one document per non-empty line), JSONL (a text field per line), Parquet
(a text column; needs the ``parquet`` extra), CoNLL-U (each sentence's text: a task's training file
as distillation text, so the trimmed vocabulary covers the task's words), each optionally ``.gz``;
and ``hf:NAME[:CONFIG[:SPLIT]]`` for a Hugging Face dataset streamed when online (needs
``datasets``; ``max_documents`` bounds it).

The corpus is tokenized once with the teacher tokenizer into a flat token array plus chunk
offsets (``tokens.npy``/``offsets.npy``, memory-mapped on reuse), so any step's batch is a pure
function of (seed, step): the data position in a checkpoint is just the number of samples seen,
and resume neither replays nor skips text. Documents longer than ``max_length`` are split into
consecutive chunks, each wrapped in the tokenizer's own CLS/SEP ids.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from edge_time.errors import EdgeTimeError
from edge_time.textfiles import TextFileError, undecodable_bytes


class CorpusError(EdgeTimeError):
    """The corpus cannot be read or is empty; the message names the fix."""


def _open_text(path: Path, encoding: str):
    """Undecodable bytes become U+FFFD: :func:`check_corpus` has refused files with many of them."""
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding=encoding, errors="replace")


def check_corpus(sources: list[str], encoding: str = "utf-8", log=None) -> None:
    """Before any work: every local source exists and is text in ``encoding`` (see edge_time.textfiles)."""
    for source in sources:
        if source.startswith("hf:"):
            continue
        path = Path(source)
        if not path.is_file():
            raise CorpusError(f"corpus file {source} does not exist; pass existing text/JSONL/Parquet/CoNLL-U files")
        if _base_suffix(path) == ".parquet":
            continue
        try:
            bad = undecodable_bytes(path, encoding)
        except TextFileError as exc:
            raise CorpusError(str(exc)) from None
        if bad and log is not None:
            log(f"warning: {path}: {bad} byte(s) are not {encoding}; they are read as U+FFFD")


def _base_suffix(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    return suffixes[-1].lower() if suffixes else ""


def read_documents(source: str, text_field: str = "text", max_documents: int | None = None,
                   encoding: str = "utf-8") -> Iterator[str]:
    """Yield non-empty documents of one source (a file path or ``hf:NAME[:CONFIG[:SPLIT]]``)."""
    count = 0
    for doc in _read_source(source, text_field, encoding):
        doc = doc.strip()
        if doc:
            yield doc
            count += 1
            if max_documents is not None and count >= max_documents:
                return


def _read_source(source: str, text_field: str, encoding: str) -> Iterable[str]:
    if source.startswith("hf:"):
        yield from _read_hf(source[3:], text_field)
        return
    path = Path(source)
    if not path.is_file():
        raise CorpusError(f"corpus file {source} does not exist; pass existing text/JSONL/Parquet/CoNLL-U files")
    kind = _base_suffix(path)
    if kind in (".jsonl", ".json"):
        with _open_text(path, encoding) as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(f"{path}:{number} is not valid JSON ({exc.msg}); JSONL needs one object "
                                      f"per line") from exc
                if not isinstance(record, dict) or text_field not in record:
                    raise CorpusError(f"{path}:{number} has no {text_field!r} field; pass --text-field NAME")
                yield str(record[text_field])
    elif kind == ".conllu":
        with _open_text(path, encoding) as handle:
            yield from conllu_texts(handle, path)
    elif kind == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise CorpusError("reading Parquet needs pyarrow; pip install 'edge-time[parquet]'") from exc
        table = pq.ParquetFile(path)
        if text_field not in table.schema_arrow.names:
            raise CorpusError(f"{path} has no column {text_field!r} (columns: {table.schema_arrow.names}); "
                              f"pass --text-field NAME")
        for batch in table.iter_batches(columns=[text_field]):
            yield from (str(x) for x in batch.column(0).to_pylist() if x is not None)
    else:
        with _open_text(path, encoding) as handle:
            yield from handle


def conllu_texts(handle, path: Path) -> Iterator[str]:
    """Each sentence's ``# text``, or its surface tokens joined as ``SpaceAfter=No`` says when it has none."""
    import conllu

    try:
        for sentence in conllu.parse_incr(handle):
            text = sentence.metadata.get("text")
            if text is None:
                covered: set[int] = set()
                parts = []
                for token in sentence:
                    token_id = token["id"]
                    if isinstance(token_id, tuple) and token_id[1] == "-":  # a multi-word token: its surface form
                        covered.update(range(token_id[0], token_id[2] + 1))
                    elif not isinstance(token_id, int) or token_id in covered:
                        continue  # an empty node, or a part of a multi-word token
                    space = (token["misc"] or {}).get("SpaceAfter") != "No"
                    parts.append(token["form"] + (" " if space else ""))
                text = "".join(parts)
            yield text
    except (conllu.exceptions.ParseException, ValueError, KeyError) as exc:
        why = "a word line has too few columns" if isinstance(exc, KeyError) else str(exc)
        raise CorpusError(f"{path} is not valid CoNLL-U ({why}; word lines have 10 tab-separated columns); "
                          f"fix the file or pass plain text") from exc


def _read_hf(spec: str, text_field: str) -> Iterable[str]:
    name, config, split = (spec.split(":") + [None, None])[:3]
    try:
        import datasets
    except ImportError as exc:
        raise CorpusError("hf: corpora need the datasets package; pip install datasets, or pass files") from exc
    try:
        stream = datasets.load_dataset(name, config, split=split or "train", streaming=True)
        for record in stream:
            yield str(record[text_field])
    except Exception as exc:  # offline, unknown dataset, missing field
        raise CorpusError(f"cannot stream Hugging Face dataset {spec!r} ({type(exc).__name__}: {exc}); "
                          f"check the name and network, or pass local files") from exc


@dataclass
class Chunks:
    """Token chunks (teacher ids, CLS/SEP included): chunk i is tokens[offsets[i]:offsets[i+1]]."""

    tokens: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def chunk(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def subset(self, indices: np.ndarray) -> "Chunks":
        parts = [self.chunk(int(i)) for i in indices]
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(p) for p in parts])
        tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=self.tokens.dtype)
        return Chunks(tokens, offsets)


@dataclass
class TokenizedCorpus:
    chunks: Chunks
    counts: np.ndarray  # per teacher id, over the corpus text (special tokens excluded)
    chars: set[str]
    documents: int


def corpus_fingerprint(sources: list[str], tokenizer_json: str, max_length: int, text_field: str,
                       max_documents: int | None) -> str:
    digest = hashlib.sha256()
    for source in sources:
        path = Path(source)
        stat = path.stat() if path.is_file() else None
        digest.update(f"{source}|{stat.st_size if stat else ''}|{stat.st_mtime_ns if stat else ''}\n".encode())
    digest.update(f"{max_length}|{text_field}|{max_documents}\n".encode())
    digest.update(tokenizer_json.encode())
    return digest.hexdigest()[:16]


def tokenize_corpus(sources: list[str], tokenizer, cls_id: int, sep_id: int, max_length: int,
                    text_field: str = "text", max_documents: int | None = None, pack: bool = False,
                    batch_docs: int = 512, progress=None, encoding: str = "utf-8") -> TokenizedCorpus:
    """Tokenize every document (no truncation) and split it into chunks of <= max_length tokens.

    ``pack``: concatenate consecutive documents and cut full-length chunks (no padding wasted on
    corpora of short paragraphs, as BERT pre-training does); otherwise each document starts a chunk.
    """
    tokenizer.no_truncation()
    tokenizer.no_padding()
    body = max_length - 2
    if body < 1:
        raise CorpusError(f"--max-length {max_length} leaves no room for text between CLS and SEP")
    pieces: list[np.ndarray] = []
    lengths: list[int] = []
    counts = Counter()
    chars: set[str] = set()
    documents = 0
    cls, sep = np.array([cls_id], np.int32), np.array([sep_id], np.int32)
    pending = np.zeros(0, np.int32)  # packing: tokens not yet in a chunk

    def emit(part: np.ndarray) -> None:
        pieces.extend((cls, part, sep))
        lengths.append(len(part) + 2)

    def flush(batch: list[str]) -> None:
        nonlocal pending
        for enc in tokenizer.encode_batch(batch, add_special_tokens=False):
            ids = np.asarray(enc.ids, dtype=np.int32)
            counts.update(ids.tolist())
            if pack:
                pending = np.concatenate([pending, ids])
                while len(pending) >= body:
                    emit(pending[:body])
                    pending = pending[body:]
            else:
                for start in range(0, len(ids), body):
                    emit(ids[start:start + body])

    batch: list[str] = []
    for source in sources:
        for doc in read_documents(source, text_field, max_documents, encoding):
            chars.update(doc)
            batch.append(doc)
            documents += 1
            if len(batch) >= batch_docs:
                flush(batch)
                if progress is not None:
                    progress(len(batch))
                batch = []
    if batch:
        flush(batch)
        if progress is not None:
            progress(len(batch))
    if len(pending):
        emit(pending)
    if not lengths:
        raise CorpusError(f"the corpus {', '.join(sources)} has no text (no non-empty documents); "
                          f"check the files and --text-field")
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    size = max(counts) + 1
    count_array = np.zeros(size, dtype=np.int64)
    count_array[list(counts.keys())] = list(counts.values())
    return TokenizedCorpus(Chunks(np.concatenate(pieces), offsets), count_array, chars, documents)


def split_validation(n: int, fraction: float, max_valid: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): a seeded random ``fraction`` (at most ``max_valid``) held out."""
    n_valid = min(max_valid, int(round(n * fraction))) if fraction > 0 else 0
    if n_valid and n - n_valid < 1:
        n_valid = 0
    order = np.random.default_rng([seed, 0xDA7A]).permutation(n)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


class SampleOrder:
    """Sample ``p`` of the endless stream is chunk ``perm(epoch)[p % n]``; each epoch has its own seeded permutation."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed = n, seed
        self._cache: dict[int, np.ndarray] = {}

    def indices(self, start: int, count: int) -> np.ndarray:
        out = np.empty(count, dtype=np.int64)
        for j, p in enumerate(range(start, start + count)):
            epoch, pos = divmod(p, self.n)
            if epoch not in self._cache:
                self._cache = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
            out[j] = self._cache[epoch][pos]
        return out


def collate(chunks: Chunks, indices: np.ndarray, pad_id: int, to_student: np.ndarray | None = None
            ) -> dict[str, torch.Tensor]:
    """Right-padded teacher ids, student ids (remapped) and the attention mask of some chunks."""
    parts = [chunks.chunk(int(i)) for i in indices]
    width = max(len(p) for p in parts)
    teacher = np.full((len(parts), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(parts), width), dtype=np.int64)
    for row, part in enumerate(parts):
        teacher[row, :len(part)] = part
        mask[row, :len(part)] = 1
    student = teacher if to_student is None else to_student[teacher]
    return {"teacher_ids": torch.from_numpy(teacher), "student_ids": torch.from_numpy(student),
            "attention_mask": torch.from_numpy(mask)}


def save_chunks(chunks: Chunks, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (("tokens", chunks.tokens), ("offsets", chunks.offsets)):
        tmp = folder / f".{name}.npy.tmp"
        with open(tmp, "wb") as handle:
            np.save(handle, array)
        tmp.replace(folder / f"{name}.npy")


def load_chunks(folder: Path) -> Chunks:
    return Chunks(np.load(folder / "tokens.npy", mmap_mode="r"), np.load(folder / "offsets.npy"))
