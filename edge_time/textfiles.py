"""Reading the user's text files: UTF-8 (or the encoding they name), refused with one line naming
the file, the line and the fix when the bytes are not that encoding.

Corpora are the exception: a web crawl with a few broken bytes is normal, so a corpus is only
refused when a high share of its bytes does not decode (a Latin-2 file read as UTF-8, random
bytes); a few are replaced and reported. Standard library only, so every room can use it.
"""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path

from edge_time.errors import EdgeTimeError

CORPUS_SAMPLE_BYTES = 16 << 20  # the encoding check of a corpus reads this much of each file
MAX_UNDECODABLE_SHARE = 0.01  # above this share of undecodable bytes a corpus is refused


class TextFileError(EdgeTimeError):
    """A text input is missing, empty or not in the expected encoding; the message names the fix."""


def _check_encoding(encoding: str) -> str:
    """The codec's canonical name, UTF-8 spelled as users know it."""
    try:
        name = codecs.lookup(encoding).name
        return "UTF-8" if name == "utf-8" else name
    except LookupError:
        raise TextFileError(f"unknown text encoding {encoding!r}; use a Python codec name such as utf-8, "
                            f"iso-8859-2 or cp1250") from None


def _fix(encoding: str) -> str:
    if encoding == "UTF-8":
        return "convert it to UTF-8 (e.g. `iconv -f iso-8859-2 -t utf-8`)"
    return f"check that the file really is {encoding}"


def read_text(path: str | Path, what: str = "input", encoding: str = "utf-8") -> str:
    """The whole file as text; a decoding error names the line and column of the first bad byte."""
    path = Path(path)
    encoding = _check_encoding(encoding)
    if not path.is_file():
        raise TextFileError(f"{what} file {path} not found; check the path")
    raw = path.read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TextFileError(f"{path}:{line}: {what} file is not {encoding} text (byte 0x{raw[exc.start]:02x} at "
                            f"column {column}); {_fix(encoding)}") from None


def read_lines(path: str | Path, what: str = "input", encoding: str = "utf-8") -> list[str]:
    """Non-empty, stripped lines; an empty file is an error."""
    lines = [line.strip() for line in read_text(path, what, encoding).splitlines() if line.strip()]
    if not lines:
        raise TextFileError(f"{what} file {path} has no non-empty lines; add one text per line")
    return lines


def _raw_prefix(path: Path, size: int) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            return handle.read(size)
    except (OSError, EOFError) as exc:
        raise TextFileError(f"{path}: cannot read ({exc}); pass a readable text file") from exc


def undecodable_bytes(path: str | Path, encoding: str = "utf-8", sample: int = CORPUS_SAMPLE_BYTES) -> int:
    """Bytes of the first ``sample`` bytes of ``path`` (gzip read through) that do not decode.

    Refuses the file when more than 1% of them do not: that is another encoding or not text.
    """
    path = Path(path)
    encoding = _check_encoding(encoding)
    raw = _raw_prefix(path, sample)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    bad, position = 0, 0
    while position < len(raw):
        try:
            decoder.decode(raw[position:], final=True)
            break
        except UnicodeDecodeError as exc:
            bad += exc.end - exc.start
            position += exc.end
            decoder.reset()
    if raw and bad / len(raw) > MAX_UNDECODABLE_SHARE:
        hint = ("pass --encoding with the file's encoding (e.g. --encoding iso-8859-2 for Latin-2 Czech) or "
                "convert it to UTF-8" if encoding == "UTF-8" else f"check that the file really is {encoding}")
        raise TextFileError(f"{path}: {bad / len(raw):.0%} of the bytes read are not {encoding} (a text corpus in "
                            f"another encoding, or not text); {hint}")
    return bad
