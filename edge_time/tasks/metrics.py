"""Task metrics: the CoNLL 2018 UD scorer's definitions (gold tokenization), seqeval, SQuAD.

UD scores follow ``conll18_ud_eval.py``: DEPREL compared without subtypes, FEATS reduced to
the universal features, lemmas counted correct where the gold lemma is "_", CLAS/MLAS/BLEX
restricted to content words, MLAS also matching the functional children. With gold
tokenization every word is aligned, so precision = recall = F1 for UPOS..LAS; CLAS, MLAS and
BLEX can still differ (the system may call a content word's relation functional).
"""

from __future__ import annotations

import collections
import re
import string
from dataclasses import dataclass

from edge_time.tasks.formats import DataError, UDSentence

CONTENT_DEPRELS = {"nsubj", "obj", "iobj", "csubj", "ccomp", "xcomp", "obl", "vocative", "expl", "dislocated",
                   "advcl", "advmod", "discourse", "nmod", "appos", "nummod", "acl", "amod", "conj", "fixed",
                   "flat", "compound", "list", "parataxis", "orphan", "goeswith", "reparandum", "root", "dep"}
FUNCTIONAL_DEPRELS = {"aux", "cop", "mark", "det", "clf", "case", "cc"}
UNIVERSAL_FEATURES = {"PronType", "NumType", "Poss", "Reflex", "Foreign", "Abbr", "Gender", "Animacy", "Number",
                      "Case", "Definite", "Degree", "VerbForm", "Mood", "Tense", "Aspect", "Voice", "Evident",
                      "Polarity", "Person", "Polite"}
UD_METRICS = ("UPOS", "XPOS", "UFeats", "AllTags", "Lemmas", "UAS", "LAS", "CLAS", "MLAS", "BLEX")


@dataclass
class Score:
    gold: int
    system: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.system if self.system else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.correct / (self.system + self.gold) if self.system + self.gold else 0.0


class _Word:
    """A word as the CoNLL 2018 scorer sees it."""

    def __init__(self, word, index: int):
        self.index = index
        self.upos, self.xpos, self.lemma, self.head = word.upos, word.xpos, word.lemma, word.head
        self.feats = "|".join(sorted(f for f in word.feats.split("|") if f.split("=", 1)[0] in UNIVERSAL_FEATURES))
        self.deprel = word.deprel.split(":")[0]
        self.content = self.deprel in CONTENT_DEPRELS
        self.functional = self.deprel in FUNCTIONAL_DEPRELS
        self.functional_children: list[_Word] = []


def _words(sentence: UDSentence) -> list[_Word]:
    words = [_Word(w, i) for i, w in enumerate(sentence.words, start=1)]
    for word in words:
        if word.head and word.functional:
            words[word.head - 1].functional_children.append(word)
    return words


def ud_scores(gold: list[UDSentence], system: list[UDSentence]) -> dict[str, Score]:
    """CoNLL 2018 scores of ``system`` against ``gold`` (same sentences and words)."""
    if len(gold) != len(system):
        raise DataError(f"gold has {len(gold)} sentences, system {len(system)}; score predictions of the same file")
    counts = {name: [0, 0, 0] for name in UD_METRICS}  # gold, system, correct

    def add(name: str, gold_word: _Word, system_word: _Word, match: bool, filtered: bool) -> None:
        entry = counts[name]
        entry[0] += gold_word.content if filtered else 1
        entry[1] += system_word.content if filtered else 1
        entry[2] += bool(match and (gold_word.content or not filtered))

    for g_sentence, s_sentence in zip(gold, system):
        if len(g_sentence.words) != len(s_sentence.words):
            raise DataError(f"sentence at line {g_sentence.line}: gold has {len(g_sentence.words)} words, system "
                            f"{len(s_sentence.words)}; these scores need gold tokenization")
        for g, s in zip(_words(g_sentence), _words(s_sentence)):
            lemma_ok = g.lemma == "_" or g.lemma == s.lemma
            head_ok = g.head == s.head
            label_ok = head_ok and g.deprel == s.deprel
            children_ok = ([(c.index, c.deprel, c.upos, c.feats) for c in g.functional_children]
                           == [(c.index, c.deprel, c.upos, c.feats) for c in s.functional_children])
            add("UPOS", g, s, g.upos == s.upos, False)
            add("XPOS", g, s, g.xpos == s.xpos, False)
            add("UFeats", g, s, g.feats == s.feats, False)
            add("AllTags", g, s, (g.upos, g.xpos, g.feats) == (s.upos, s.xpos, s.feats), False)
            add("Lemmas", g, s, lemma_ok, False)
            add("UAS", g, s, head_ok, False)
            add("LAS", g, s, label_ok, False)
            add("CLAS", g, s, label_ok, True)
            add("MLAS", g, s, label_ok and g.upos == s.upos and g.feats == s.feats and children_ok, True)
            add("BLEX", g, s, label_ok and lemma_ok, True)
    return {name: Score(*values) for name, values in counts.items()}


def ud_report(scores: dict[str, Score]) -> dict[str, float]:
    """F1 x 100 per metric, the number the CoNLL 2018 shared task ranks by."""
    return {name: round(100 * score.f1, 2) for name, score in scores.items()}


def ner_scores(gold_tags: list[list[str]], system_tags: list[list[str]]) -> dict[str, float]:
    """Entity-level precision/recall/F1 x 100 (seqeval, conlleval chunking)."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    return {"precision": round(100 * float(precision_score(gold_tags, system_tags)), 2),
            "recall": round(100 * float(recall_score(gold_tags, system_tags)), 2),
            "f1": round(100 * float(f1_score(gold_tags, system_tags)), 2)}


def cls_scores(gold: list[str], system: list[str]) -> dict[str, float]:
    """Accuracy and macro F1 over the gold labels, x 100."""
    accuracy = sum(g == s for g, s in zip(gold, system)) / len(gold) if gold else 0.0
    f1s = []
    for label in sorted(set(gold)):
        tp = sum(g == s == label for g, s in zip(gold, system))
        fp = sum(s == label != g for g, s in zip(gold, system))
        fn = sum(g == label != s for g, s in zip(gold, system))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": round(100 * accuracy, 2), "macro_f1": round(100 * sum(f1s) / len(f1s), 2) if f1s else 0.0}


def _normalize_answer(text: str) -> str:
    """The official SQuAD v1.1 normalisation: lowercase, no punctuation/articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _token_f1(prediction: str, truth: str) -> float:
    pred, gold = _normalize_answer(prediction).split(), _normalize_answer(truth).split()
    common = collections.Counter(pred) & collections.Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_scores(answers: list[list[str]], predictions: list[str]) -> dict[str, float]:
    """SQuAD v1.1 exact match and token F1 x 100 (max over the gold answers of each question)."""
    exact = f1 = 0.0
    for truths, prediction in zip(answers, predictions):
        exact += max(float(_normalize_answer(prediction) == _normalize_answer(t)) for t in truths)
        f1 += max(_token_f1(prediction, t) for t in truths)
    n = max(len(predictions), 1)
    return {"exact_match": round(100 * exact / n, 2), "f1": round(100 * f1 / n, 2)}
