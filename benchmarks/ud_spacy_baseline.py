"""spaCy baseline for UD: a spaCy pipeline scored with edge-time's own CoNLL 2018 metrics.

The pipeline (default ``cs_core_news_sm``, the community Czech spaCy 3.8 pipeline on PyPI,
licence CC BY-NC-SA 3.0) runs on the GOLD tokenization of a CoNLL-U file: each sentence becomes
``spacy.tokens.Doc(nlp.vocab, words=..., spaces=...)`` with its sentence boundary fixed (one
sentence per Doc, as edge-time parses it), and only the pipeline components run over it. So the
scores are like-for-like with ``edge-time evaluate`` (also gold tokenization, same scorer:
``edge_time.tasks.metrics.ud_scores``).

Mapping: UPOS = ``token.pos_``; UFeats = ``str(token.morph)`` (the scorer keeps the universal
features, sorted); lemma = ``token.lemma_``; head = 0 for the sentence root, else the head's
1-based index; deprel = ``token.dep_`` with ``ROOT`` -> ``root``. XPOS is left empty when the
pipeline does not produce it (reported as n/a).

Speed: words/s over the whole file, one process, one thread; one untimed warm-up pass, then
the median of ``--repeats`` passes. Each timed pass builds the Docs from the word lists and
runs ``nlp.pipe`` over them (NER and other components that produce nothing scored are
disabled, see ``--keep``).

    python benchmarks/ud_spacy_baseline.py --dev cs_pud-dev.conllu
    python benchmarks/ud_spacy_baseline.py --dev cs_pud-dev.conllu --out spacy_cs.md
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/blis load: one thread, as documented

import argparse
import importlib.metadata
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import spacy
from spacy.tokens import Doc

from edge_time.errors import EdgeTimeError
from edge_time.tasks.formats import UDSentence, UDWord, read_conllu
from edge_time.tasks.metrics import UD_METRICS, ud_report, ud_scores

SCORED_COMPONENTS = ("tok2vec", "transformer", "tagger", "morphologizer", "parser", "lemmatizer",
                     "trainable_lemmatizer", "senter")


def _space_after(misc) -> bool:
    return not (misc and misc.get("SpaceAfter") == "No")


def gold_words_and_spaces(sentence: UDSentence) -> tuple[list[str], list[bool]]:
    """Syntactic words and whether a space follows each (from MISC SpaceAfter; MWT parts join)."""
    words = sentence.forms
    if sentence.tokens is None:
        return words, [True] * len(words)
    spaces: list[bool] = []
    range_end, range_space = 0, True
    for token in sentence.tokens:
        ident = token["id"]
        if isinstance(ident, tuple) and len(ident) == 3 and ident[1] == "-":
            range_end, range_space = ident[2], _space_after(token["misc"])
        elif isinstance(ident, int):
            spaces.append(range_space if ident == range_end else
                          False if ident < range_end else _space_after(token["misc"]))
    if len(spaces) != len(words):  # unusual ID layout: fall back to plain spacing
        spaces = [True] * len(words)
    return words, spaces


def make_docs(nlp, sentences: list[tuple[list[str], list[bool]]]) -> list[Doc]:
    docs = []
    for words, spaces in sentences:
        doc = Doc(nlp.vocab, words=words, spaces=spaces)
        for token in doc[1:]:
            token.is_sent_start = False  # one sentence per Doc: the parser may not split it
        docs.append(doc)
    return docs


def doc_to_sentence(doc: Doc) -> UDSentence:
    words = []
    for token in doc:
        head = 0 if token.head.i == token.i else token.head.i + 1
        deprel = "root" if token.dep_ == "ROOT" else (token.dep_ or "dep")
        feats = str(token.morph) or "_"
        words.append(UDWord(form=token.text, lemma=token.lemma_ or "_", upos=token.pos_ or "_",
                            xpos=token.tag_ or "_", feats=feats, head=head, deprel=deprel))
    return UDSentence(words=words)


def run(dev: Path, package: str, repeats: int, batch_size: int, keep: tuple[str, ...]) -> dict:
    gold = read_conllu(dev)
    inputs = [gold_words_and_spaces(s) for s in gold]
    n_words = sum(len(w) for w, _ in inputs)
    nlp = spacy.load(package)
    disabled = [name for name in nlp.pipe_names if name not in keep]
    for name in disabled:
        nlp.disable_pipe(name)

    system = [doc_to_sentence(d) for d in nlp.pipe(make_docs(nlp, inputs), batch_size=batch_size)]  # warm-up too
    report = ud_report(ud_scores(gold, system))
    xpos_produced = any(w.xpos != "_" for s in system for w in s.words)

    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _doc in nlp.pipe(make_docs(nlp, inputs), batch_size=batch_size):
            pass
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return {
        "package": package,
        "package_version": nlp.meta.get("version"),
        "license": nlp.meta.get("license"),
        "components": [n for n in nlp.pipe_names],
        "disabled": disabled,
        "sentences": len(gold),
        "words": n_words,
        "scores": {m: (report[m] if (xpos_produced or m not in ("XPOS", "AllTags")) else None)
                   for m in UD_METRICS},
        "seconds": seconds,
        "words_per_second": n_words / median,
        "words_per_second_range": (n_words / max(seconds), n_words / min(seconds)),
    }


def markdown(result: dict, command: str) -> str:
    def cell(value):
        return "n/a" if value is None else f"{value:.2f}"

    scores = result["scores"]
    lo, hi = result["words_per_second_range"]
    lines = [
        f"### spaCy `{result['package']}` {result['package_version']} on gold tokenization",
        "",
        f"`{command}`",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, spaCy {importlib.metadata.version('spacy')}, 1 thread; "
        f"components run: {', '.join(result['components'])} (disabled: {', '.join(result['disabled']) or 'none'}); "
        f"licence of the pipeline: {result['license']}.",
        "",
        "| " + " | ".join(UD_METRICS) + " | words/s (median [range]) |",
        "| " + " | ".join("---:" for _ in UD_METRICS) + " | ---: |",
        "| " + " | ".join(cell(scores[m]) for m in UD_METRICS)
        + f" | {result['words_per_second']:,.0f} [{lo:,.0f}–{hi:,.0f}] |",
        "",
        f"{result['sentences']} sentences, {result['words']} words; median of {len(result['seconds'])} passes "
        f"after one warm-up.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, required=True, help="CoNLL-U file with gold annotation")
    parser.add_argument("--package", default="cs_core_news_sm", help="installed spaCy pipeline to load")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (median reported)")
    parser.add_argument("--batch-size", type=int, default=32, help="nlp.pipe batch size (edge-time's default)")
    parser.add_argument("--keep", nargs="+", default=list(SCORED_COMPONENTS),
                        help="components to run; the others (e.g. ner) are disabled")
    args = parser.parse_args(argv)
    if not args.dev.is_file():
        parser.error(f"--dev {args.dev}: no such file; pass a CoNLL-U file")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    try:
        result = run(args.dev, args.package, args.repeats, args.batch_size, tuple(args.keep))
    except EdgeTimeError as exc:  # malformed CoNLL-U: one line naming file and line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot load spaCy pipeline {args.package!r} ({exc}); "
              f"install it, e.g. pip install 'edge-time[spacy]'", file=sys.stderr)
        return 2
    text = markdown(result, "python " + " ".join(sys.argv))
    print(text)
    if args.out:
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
