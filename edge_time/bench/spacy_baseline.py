"""spaCy baseline for UD: a spaCy pipeline on gold words, timed and scored like edge-time's models.

Each sentence becomes ``Doc(nlp.vocab, words=..., spaces=...)`` built from the gold syntactic
words (spaces from MISC ``SpaceAfter``; multi-word token parts join), its boundary fixed to one
sentence per Doc (edge-time parses one sentence at a time too), and only the components whose
output is scored run (NER, text classification and sentence splitters are disabled). Outputs map
to edge-time's UD predictions (:class:`edge_time.runtime.predict.UDParse`): UPOS = ``pos_``,
XPOS = ``tag_``, UFeats = ``str(morph)``, lemma = ``lemma_``, head 0 for the root, deprel
``ROOT`` -> ``root``. They are scored by the same ``UDTask.score`` (CoNLL 2018 definitions) as
edge-time's predictions. A metric whose annotation the pipeline never produces (XPOS without a
tagger) is n/a, not 0.

The baseline gets fast matrix products on every CPU: thinc multiplies with blis, and blis 1.3 does not
recognise every CPU (on AMD Zen 5, family 26, and Zen 4, family 25 model 17, it selects its ``generic``
reference kernels, and cs_core_news_sm parsed PUD dev at 7,300 words/s on Zen 5 instead of
10,200-12,100 with numpy's BLAS, the same LAS). ``gemm="auto"`` asks blis which kernels it picked and,
on ``generic``, builds the pipeline on thinc's ``NumpyOps(use_blis=False)``; the row's notes say which
ran and why.

spaCy is optional (``pip install 'edge-time[spacy]'``) and imported only when a pipeline loads.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from edge_time.bench.models import System
from edge_time.errors import EdgeTimeError
from edge_time.runtime.predict import UDParse
from edge_time.tasks.formats import UDSentence

# components whose output is not scored here (entities, categories; sentence splits are fixed)
UNSCORED_FACTORIES = frozenset({"ner", "entity_ruler", "entity_linker", "span_ruler", "spancat",
                                "spancat_singlelabel", "span_finder", "textcat", "textcat_multilabel", "senter",
                                "sentencizer"})
# the annotation each reported metric needs the pipeline to produce
NEEDS = {"UPOS": {"upos"}, "XPOS": {"xpos"}, "UFeats": {"feats"}, "AllTags": {"upos", "xpos", "feats"},
         "Lemmas": {"lemma"}, "UAS": {"dep"}, "LAS": {"dep"}, "CLAS": {"dep"}, "MLAS": {"dep", "upos", "feats"},
         "BLEX": {"dep", "lemma"}, "LAS+tags": {"upos", "xpos", "feats", "lemma", "dep"}}


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


def make_doc(vocab, words: list[str], spaces: list[bool]):
    """A Doc of the gold words that the parser may not split into several sentences."""
    from spacy.tokens import Doc

    doc = Doc(vocab, words=words, spaces=spaces)
    for token in doc[1:]:
        token.is_sent_start = False
    return doc


def doc_to_parse(doc) -> UDParse:
    """spaCy annotation -> edge-time's UD prediction; '_' where the pipeline annotated nothing."""
    parsed = doc.has_annotation("DEP")
    return UDParse(words=[t.text for t in doc], lemmas=[t.lemma_ or "_" for t in doc],
                   upos=[t.pos_ or "_" for t in doc], xpos=[t.tag_ or "_" for t in doc],
                   feats=[str(t.morph) or "_" for t in doc],
                   heads=[(0 if t.head.i == t.i else t.head.i + 1) if parsed else 0 for t in doc],
                   deprels=[("root" if t.dep_ == "ROOT" else t.dep_ or "dep") if parsed else "_" for t in doc])


def produced(parses: list[UDParse]) -> set[str]:
    """Which annotation layers the pipeline filled in anywhere."""
    layers = {"upos": "upos", "xpos": "xpos", "feats": "feats", "lemma": "lemmas", "dep": "deprels"}
    return {layer for layer, attr in layers.items() if any(v != "_" for p in parses for v in getattr(p, attr))}


_BLIS_PROBE = "import numpy, blis.py; a = numpy.ones((8, 8), dtype='float32'); blis.py.gemm(a, a)"


def blis_kernels() -> str | None:
    """The kernel set ("sub-configuration") blis selects on this CPU: 'skx', 'zen3', ..., or 'generic' (its
    unoptimised reference code); None when blis is missing or does not say. blis prints its choice once, at
    its first call, when BLIS_ARCH_DEBUG is set, so a child process makes that call."""
    try:
        probe = subprocess.run([sys.executable, "-c", _BLIS_PROBE], env={**os.environ, "BLIS_ARCH_DEBUG": "1"},
                               capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_blis_kernels(probe.stdout + probe.stderr)


def parse_blis_kernels(text: str) -> str | None:
    """The sub-configuration in blis's BLIS_ARCH_DEBUG line ("libblis: selecting sub-configuration 'zen3'.")."""
    match = re.search(r"selecting sub-configuration '([\w-]+)'", text)
    return match.group(1) if match else None


def spacy_gemm_choice(gemm: str, kernels: str | None) -> tuple[str, str]:
    """('blis' | 'numpy', the note that says why) for ``--spacy-gemm`` and the kernels blis picked."""
    if gemm == "blis":
        return "blis", f"matrix products: blis (--spacy-gemm blis; blis kernels: {kernels or 'unknown'})"
    if gemm == "numpy":
        return "numpy", "matrix products: numpy's BLAS (--spacy-gemm numpy)"
    if kernels == "generic":
        return "numpy", ("matrix products: numpy's BLAS, because blis selects its generic, unoptimised kernels on "
                         "this CPU (--spacy-gemm blis times spaCy's unchanged default)")
    return "blis", f"matrix products: blis, spaCy's default (blis kernels: {kernels or 'unknown'})"


def load_pipeline(name: str, gemm: str = "blis"):
    """``spacy.load`` a package name or saved pipeline folder, with the unscored components disabled;
    ``gemm="numpy"`` builds its models on thinc's NumpyOps without blis (numpy's BLAS)."""
    try:
        import spacy
        from thinc.api import use_ops
    except ImportError as exc:
        raise EdgeTimeError(f"--spacy needs spaCy, which is not installed ({exc}); "
                            f"pip install 'edge-time[spacy]'") from exc
    try:
        if gemm == "numpy":
            with use_ops("numpy", use_blis=False):  # thinc models keep the ops current when they were built
                nlp = spacy.load(name)
        else:
            nlp = spacy.load(name)
    except OSError as exc:
        raise EdgeTimeError(f"--spacy {name}: cannot load the pipeline ({' '.join(str(exc).split())}); install its "
                            f"package (pip install 'edge-time[spacy]' brings cs_core_news_sm) or pass the folder of "
                            f"a saved pipeline") from exc
    for pipe in nlp.pipe_names:
        if nlp.get_pipe_meta(pipe).factory in UNSCORED_FACTORIES:
            nlp.disable_pipe(pipe)
    return nlp


def _parameters(nlp) -> int:
    """Weights of the components that run (shared sublayers counted once)."""
    from thinc.api import Model

    seen, total = set(), 0
    for name in nlp.pipe_names:
        model = getattr(nlp.get_pipe(name), "model", None)
        if not isinstance(model, Model):
            continue  # rule-based components (attribute_ruler) have no weights
        for node in model.walk():
            if id(node) not in seen:
                seen.add(id(node))
                total += sum(node.get_param(p).size for p in node.param_names if node.has_param(p))
    return total


def _size_mb(nlp) -> float | None:
    """On-disk size of the components that run (their folders in the installed pipeline)."""
    if nlp.path is None:
        return None
    files = [f for name in nlp.pipe_names for f in (Path(nlp.path) / name).rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files) / 1e6


class SpacySystem(System):
    """A spaCy pipeline as a bench contender for UD data."""

    def __init__(self, spec: str, threads: int, gemm: str = "auto"):
        self.gemm, gemm_note = spacy_gemm_choice(gemm, blis_kernels() if gemm != "numpy" else None)
        nlp = load_pipeline(spec, self.gemm)
        import spacy  # importable: load_pipeline checked it

        label = Path(spec).name if Path(spec).exists() else spec
        super().__init__(name=f"{label} {nlp.meta.get('version', '')}".strip(), path=spec, family="spaCy",
                         kind=f"spaCy {spacy.__version__}", task="ud", size_mb=_size_mb(nlp),
                         parameters=_parameters(nlp))
        self.nlp = nlp
        self.notes.append(f"components run: {', '.join(nlp.pipe_names)}"
                          + (f" (disabled: {', '.join(nlp.disabled)})" if nlp.disabled else ""))
        self.notes.append(gemm_note)
        if nlp.meta.get("license"):
            self.notes.append(f"pipeline licence: {nlp.meta['license']}")
        if threads > 1:
            self.notes.append("spaCy's CPU pipeline computes on one thread; --threads only caps it")

    def prepare(self, examples: list[UDSentence]) -> list[tuple[list[str], list[bool]]]:
        return [gold_words_and_spaces(s) for s in examples]

    def predict(self, batch: list[tuple[list[str], list[bool]]]) -> list[UDParse]:
        docs = [make_doc(self.nlp.vocab, words, spaces) for words, spaces in batch]
        return [doc_to_parse(doc) for doc in self.nlp.pipe(docs, batch_size=len(docs))]

    def score(self, examples: list[UDSentence], predictions: list[UDParse]) -> dict[str, float | None]:
        from edge_time.tasks.data import get_task

        scores = get_task("ud").score(examples, predictions)
        have = produced(predictions)
        return {metric: (value if NEEDS.get(metric, set()) <= have else None) for metric, value in scores.items()}
