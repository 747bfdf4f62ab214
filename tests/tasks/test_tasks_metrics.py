"""Metrics against hand-computed values (CoNLL 2018 scorer definitions, seqeval, SQuAD)."""

import copy

import pytest

from edge_time.tasks.formats import UDSentence, UDWord
from edge_time.tasks.metrics import cls_scores, ner_scores, squad_scores, ud_report, ud_scores

GOLD = [("The", "the", "DET", "DT", "Definite=Def|Foo=Bar", 2, "det"),
        ("cats", "cat", "NOUN", "NNS", "Number=Plur", 3, "nsubj"),
        ("sleep", "sleep", "VERB", "VBP", "Mood=Ind", 0, "root"),
        ("on", "on", "ADP", "IN", "_", 5, "case"),
        ("mats", "mat", "NOUN", "NNS", "Number=Plur", 3, "obl:arg")]
SYSTEM = [("The", "the", "DET", "DT", "Definite=Def", 2, "det"),   # Foo is not a universal feature: still right
          ("cats", "cats", "NOUN", "NN", "Number=Plur", 3, "nsubj"),  # wrong lemma and XPOS
          ("sleep", "sleep", "VERB", "VBP", "Mood=Ind", 0, "root"),
          ("on", "on", "ADP", "IN", "_", 5, "mark"),                  # wrong (functional) relation
          ("mats", "mat", "NOUN", "NNS", "Number=Plur", 3, "obl")]    # subtypes are not compared


def _sentence(rows):
    return UDSentence([UDWord(*row) for row in rows])


def test_ud_scores_hand_checked():
    report = ud_report(ud_scores([_sentence(GOLD)], [_sentence(SYSTEM)]))
    assert report == {"UPOS": 100.0, "XPOS": 80.0, "UFeats": 100.0, "AllTags": 80.0, "Lemmas": 80.0,
                      "UAS": 100.0, "LAS": 80.0,
                      "CLAS": 100.0,   # content words cats, sleep, mats all right
                      "MLAS": 66.67,   # mats' functional child 'on' has the wrong relation
                      "BLEX": 66.67}   # cats has the wrong lemma


def test_clas_is_an_f1_when_the_system_calls_a_content_word_functional():
    system = copy.deepcopy(SYSTEM)
    system[1] = system[1][:6] + ("det",)  # cats: content in gold, functional in the system
    scores = ud_scores([_sentence(GOLD)], [_sentence(system)])
    clas = scores["CLAS"]
    assert (clas.gold, clas.system, clas.correct) == (3, 2, 2)
    assert clas.precision == 1.0 and clas.recall == pytest.approx(2 / 3) and clas.f1 == pytest.approx(0.8)
    assert ud_report(scores)["LAS"] == 60.0


def test_gold_underscore_lemma_counts_as_correct():
    gold = copy.deepcopy(GOLD)
    gold[1] = ("cats", "_") + gold[1][2:]
    assert ud_report(ud_scores([_sentence(gold)], [_sentence(SYSTEM)]))["Lemmas"] == 100.0


def test_ner_scores_are_entity_level():
    scores = ner_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]])
    assert scores == {"precision": 100.0, "recall": 50.0, "f1": 66.67}
    # a partly matched entity counts as wrong
    assert ner_scores([["B-PER", "I-PER"]], [["B-PER", "O"]])["f1"] == 0.0


def test_squad_normalisation_and_token_f1():
    assert squad_scores([["Eiffel tower"]], ["The Eiffel Tower!"]) == {"exact_match": 100.0, "f1": 100.0}
    assert squad_scores([["the cat", "a dog"]], ["big cat"]) == {"exact_match": 0.0, "f1": 66.67}


def test_classification_accuracy_and_macro_f1():
    scores = cls_scores(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    # a: tp1 fn1 -> F1 2/3; b: tp2 fp1 -> F1 4/5
    assert scores == {"accuracy": 75.0, "macro_f1": round(100 * (2 / 3 + 4 / 5) / 2, 2)}
