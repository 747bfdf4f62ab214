"""Text -> model inputs with the `tokenizers` library alone (numpy arrays, no torch).

The same code serves the host runtime, the Raspberry Pi runner, the exporters' parity and
calibration inputs, and the Android test vectors, so every side tokenizes identically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from edge_time.bundle import TokenizerInfo


@dataclass
class Encoded:
    """Padded batch. ``word_ids[i][t]`` is the word index of token t (None for specials/padding)."""

    input_ids: np.ndarray  # (batch, seq) int64
    attention_mask: np.ndarray  # (batch, seq) int64
    position_ids: np.ndarray  # (batch, seq) int64
    word_ids: list[list[int | None]]
    offsets: list[list[tuple[int, int]]]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                "position_ids": self.position_ids}


def describe_tokenizer(tokenizer_file: str | Path, pad_id: int, cls_id: int | None, sep_id: int | None,
                       unk_id: int | None, position_style: str) -> TokenizerInfo:
    """Fill a TokenizerInfo from tokenizer.json (model kind, lowercasing) and the special ids."""
    data = json.loads(Path(tokenizer_file).read_text(encoding="utf-8"))
    kind = {"WordPiece": "wordpiece", "Unigram": "unigram", "BPE": "bpe"}.get(data["model"]["type"], "other")
    normalizer = json.dumps(data.get("normalizer") or {})
    lowercase = '"Lowercase"' in normalizer or '"lowercase": true' in normalizer
    return TokenizerInfo(file=Path(tokenizer_file).name, kind=kind, lowercase=lowercase, pad_id=pad_id,
                         cls_id=cls_id, sep_id=sep_id, unk_id=unk_id, position_style=position_style)


def cap_tokenizer_threads(threads: int) -> None:
    """Make ``encode_batch`` honour a thread count: tokenizers parallelises it over a Rust (rayon) pool
    of all cores, configured only through the environment. ``TOKENIZERS_PARALLELISM`` is read at every
    call (1 thread: serial); the pool's size (``RAYON_NUM_THREADS``) only before its first parallel use."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false" if threads == 1 else "true"
    os.environ["RAYON_NUM_THREADS"] = str(threads)


class TextEncoder:
    """Tokenize with the bundle's tokenizer.json, truncate to ``max_length``, right-pad."""

    def __init__(self, tokenizer_file: str | Path, info: TokenizerInfo, max_length: int):
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        # truncation happens before the post-processor adds [CLS]/[SEP], so specials survive
        self.tokenizer.enable_truncation(max_length)
        self.info = info
        self.max_length = max_length
        self.position_offset = info.position_offset

    def pad(self, encodings: list, seq_len: int | None = None) -> Encoded:
        """One right-padded batch of ``tokenizers`` encodings (to ``seq_len``, or to the longest)."""
        longest = max((len(e.ids) for e in encodings), default=1)
        width = seq_len if seq_len is not None else longest
        if longest > width:
            raise ValueError(f"{longest} tokens do not fit a sequence length of {width}")
        ids = np.full((len(encodings), width), self.info.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        positions = np.broadcast_to(np.arange(width, dtype=np.int64) + self.position_offset, ids.shape).copy()
        word_ids = [list(e.word_ids) + [None] * (width - len(e.ids)) for e in encodings]
        offsets = [list(e.offsets) for e in encodings]
        return Encoded(ids, mask, positions, word_ids, offsets)

    def encode(self, texts: list[str], seq_len: int | None = None) -> Encoded:
        """Encode raw texts; ``seq_len`` pads to a fixed length (for fixed-shape buckets)."""
        if isinstance(texts, str):
            texts = [texts]
        return self.pad(self.tokenizer.encode_batch(list(texts)), seq_len)

    def encode_words(self, sentences: list[list[str]], seq_len: int | None = None) -> Encoded:
        """Encode pre-tokenized sentences; ``word_ids`` map tokens back to the given words."""
        return self.pad(self.tokenize_words(sentences), seq_len)

    def tokenize_words(self, sentences: list[list[str]]) -> list:
        """The ``tokenizers`` encodings of pre-tokenized sentences, unpadded (:meth:`pad` batches them): a
        caller that sorts by token count tokenizes once and pads each batch from these."""
        return self.tokenizer.encode_batch([list(s) for s in sentences], is_pretokenized=True)

    def piece_starts(self, words: list[str], max_words: int) -> list[int]:
        """Where to cut pre-tokenized ``words`` into consecutive pieces that each fit ``max_length``
        tokens (specials included) and ``max_words`` words, measured word by word; ``[0]`` when the
        sentence fits whole. Called only for sentences already known not to fit (``TaskPredictor._pieces``).
        """
        budget = self.max_length - self.tokenizer.num_special_tokens_to_add(False)
        counts = [len(e.ids) for e in self.tokenizer.encode_batch([[w] for w in words], is_pretokenized=True,
                                                                   add_special_tokens=False)]
        starts, used = [0], 0
        for index, count in enumerate(counts):
            if index > starts[-1] and (used + count > budget or index - starts[-1] >= max_words):
                starts.append(index)
                used = 0
            used += count
        return starts

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)
