"""The built-in corpus: prose of the Python documentation topics that ship with every CPython.

``pydoc_data.topics.topics`` (what ``help("if")`` prints) is ~460k characters of English in the
standard library, so a quickstart distils on real text with no download. Grammar rules,
interpreter sessions and code listings are left out: the teacher is an English sentence encoder
and the student should learn sentence-level attention, not token soup.
"""

from __future__ import annotations

import re
from pathlib import Path

from edge_time.atomic import write_text_atomic
from edge_time.errors import EdgeTimeError

MIN_WORDS = 8  # shorter paragraphs are headings, signatures and "Summarizing:"-style stubs
MIN_LETTER_SHARE = 0.8  # of non-space characters; code and tables fall below it


class CorpusError(EdgeTimeError):
    """The built-in corpus cannot be made on this Python install."""


def builtin_documents() -> list[str]:
    """Prose paragraphs of the documentation topics, one document each, whitespace collapsed,
    duplicates dropped, in a stable order (sorted topics, then text order)."""
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:
        raise CorpusError("this Python has no pydoc_data (the standard library's documentation topics), which "
                          "holds the built-in corpus; install the full standard library (e.g. the distribution's "
                          "python3 stdlib package) or run the steps alone with your own `edge-time distill --corpus`"
                          ) from exc
    documents: dict[str, None] = {}
    for name in sorted(topics):
        for paragraph in re.split(r"\n\s*\n", topics[name]):
            text = " ".join(paragraph.split())
            if ">>>" in text or "::=" in text or len(text.split()) < MIN_WORDS:
                continue
            letters = sum(c.isalpha() for c in text)
            if letters >= MIN_LETTER_SHARE * sum(not c.isspace() for c in text):
                documents[text] = None
    return list(documents)


def write_corpus(path: Path, documents: list[str]) -> None:
    """Write ``documents`` to ``path``, one per line (the format `edge-time distill --corpus`
    reads), atomically."""
    write_text_atomic(path, "\n".join(documents) + "\n")
