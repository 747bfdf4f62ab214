"""Lemma edit rules (edge_time.runtime.decode) and their decoding from scores (edge_time.runtime.predict)."""

import random

import numpy as np
import pytest

from edge_time.runtime.decode import apply_lemma_rule, lemma_rule, lemma_rule_min_length
from edge_time.runtime.predict import TaskPredictor
from edge_time.tasks.data import UDTask
from edge_time.tasks.formats import UDSentence, UDWord


@pytest.mark.parametrize("form,lemma", [
    ("Ťukal", "ťukat"),            # Czech diacritics, sentence-initial capital
    ("ŤUKAL", "ťukat"),            # all caps form, lowercase lemma
    ("NASA", "NASA"),              # all caps lemma
    ("ČEZu", "ČEZ"),               # inflected acronym
    ("iPhone", "iPhone"),          # mixed case
    ("IPHONES", "iPhone"),
    ("McDonaldovi", "McDonald"),
    ("Went", "go"),                # no character in common: absolute lemma
    ("šlo", "jít"),
    ("Straße", "Straße"),          # "ß".upper() is "SS"
    ("STRASSE", "Straße"),
    ("İstanbul", "İstanbul"),      # "İ".lower() has two characters
    ("ǅemal", "ǅemal"),            # titlecase digraph: no casing script restores it
    ("b", "¦b"),                   # the rule separator as an inserted character
    ("x;y", "x;¦+-→"),             # rule syntax characters in the lemma
    ("x", ""),
])
def test_rules_round_trip(form, lemma):
    rule = lemma_rule(form, lemma)
    assert isinstance(rule, str) and apply_lemma_rule(form, rule) == lemma


def test_rules_round_trip_on_random_words():
    rng = random.Random(0)
    alphabet = "abcdeěščřžýáíéůúťňAĚŠČŘŽÝÁÍÉŮÚŤŇßİǅ¦;+-→"
    for _ in range(2000):
        form = "".join(rng.choices(alphabet, k=rng.randint(1, 8)))
        lemma = "".join(rng.choices(alphabet, k=rng.randint(0, 8)))
        assert apply_lemma_rule(form, lemma_rule(form, lemma)) == lemma, (form, lemma)


def test_form_casing_does_not_split_a_rule():
    """Casing is read off the lemma alone, so one change of ending is one label whatever the form's case."""
    assert lemma_rule("ženou", "žena") == lemma_rule("Ženou", "žena") == lemma_rule("MATKOU", "matka")
    assert lemma_rule("Prahou", "Praha") == lemma_rule("PRAHOU", "Praha")


def test_rules_that_do_not_fit_keep_the_form():
    praha = lemma_rule("Praze", "Praha")              # consumes two characters
    assert lemma_rule_min_length(praha) == 2 and lemma_rule_min_length(lemma_rule("Went", "go")) == 0
    assert apply_lemma_rule("x", praha) == "X"         # too long: the form, under the rule's casing
    assert apply_lemma_rule("šlo", lemma_rule("přišlo", "přijít")) == "jít"   # consuming the whole form fits
    for malformed in ("garbage", "↓0;d+", "↓x;d¦", "↓0;q¦"):
        assert lemma_rule_min_length(malformed) == np.inf and apply_lemma_rule("abc", malformed) == "abc"


def _oracle_coverage(train: list[tuple[str, str]], dev: list[tuple[str, str]]) -> float:
    inventory = {lemma_rule(form, lemma) for form, lemma in train}
    return sum(lemma_rule(form, lemma) in inventory for form, lemma in dev) / len(dev)


def test_oracle_coverage_of_a_small_inventory():
    train = [("ženou", "žena"), ("Prahou", "Praha"), ("hrady", "hrad"), ("Na", "na"), ("městě", "město"),
             ("NATO", "NATO")]
    dev = [("MATKOU", "matka"), ("Kávou", "káva"), ("Ostravou", "Ostrava"), ("domy", "dům"), ("stromy", "strom"),
           ("Do", "do"), ("OSN", "OSN"), ("šlo", "jít")]
    # uncovered: dům (vowel change) and jít (suppletive); all casing variants are covered
    assert _oracle_coverage(train, dev) == 6 / 8


def _predictor(rules: list[str]) -> TaskPredictor:
    labels = {"upos": ["X"], "xpos": ["_"], "feats": ["_"], "lemma_rule": rules, "deprel": ["root", "dep"]}
    return TaskPredictor("ud", labels, {"pooling": "first", "root_row": True}, None, run=lambda arrays: {})


def _outputs(lemma_scores: list[list[float]]) -> dict[str, np.ndarray]:
    rows = len(lemma_scores) + 1
    lemma = np.zeros((1, rows, len(lemma_scores[0])), dtype=np.float32)
    lemma[0, 1:] = lemma_scores
    return {"upos": np.zeros((1, rows, 1)), "xpos": np.zeros((1, rows, 1)), "feats": np.zeros((1, rows, 1)),
            "lemma_rule": lemma, "arc": np.zeros((1, rows, rows)), "deprel": np.zeros((1, rows, rows, 2))}


def test_decoding_falls_back_to_the_best_rule_that_fits():
    rules = [lemma_rule("městech", "město"), lemma_rule("ke", "k"), lemma_rule("a", "a"), lemma_rule("Went", "go")]
    predictor = _predictor(rules)
    scores = [[5.0, 3.0, 1.0, 0.0],    # "ke": the top rule needs three characters, the next one fits
              [5.0, 1.0, 3.0, 0.0],    # "se": of the rules that fit, identity scores highest
              [5.0, 3.0, 1.0, 0.0],    # "oknech": the top rule fits
              [0.0, 1.0, 2.0, 3.0]]    # "V": an absolute lemma fits any form
    parse = predictor.decode_ud(_outputs(scores), [["ke", "se", "oknech", "V"]])[0]
    assert parse.lemmas == ["k", "se", "okno", "go"]


def test_decoding_with_no_rule_that_fits_keeps_the_form_letters():
    predictor = _predictor([lemma_rule("městech", "město")])
    assert predictor.decode_ud(_outputs([[1.0]]), [["Ke"]])[0].lemmas == ["ke"]


def test_lemma_lexicon_holds_the_rules_seen_with_each_form():
    words = [UDWord("Praze", "Praha", "PROPN", head=0, deprel="root"), UDWord("ženou", "žena", "NOUN", head=1,
             deprel="obl"), UDWord("ženou", "hnát", "VERB", head=1, deprel="conj"), UDWord("je", "_", "AUX", head=1,
             deprel="cop")]
    sentences = [UDSentence(words[:2]), UDSentence(words[2:])]
    task = UDTask()
    labels = task.build_labels(sentences)
    lexicon = task.decoding_config(sentences, labels)["lemma_lexicon"]
    rules = labels["lemma_rule"]
    assert {form: sorted(rules[i] for i in ids) for form, ids in lexicon.items()} == {
        "Praze": [lemma_rule("Praze", "Praha")],
        "ženou": sorted([lemma_rule("ženou", "žena"), lemma_rule("ženou", "hnát")])}  # no entry for lemma "_"
    assert "lemma_lexicon" not in task.decoding_config(sentences, labels, lemma_lexicon=False)


def test_decoding_picks_a_known_forms_lemma_among_its_seen_rules():
    rules = [lemma_rule("městech", "město"), lemma_rule("ženou", "žena"), lemma_rule("ženou", "hnát"),
             lemma_rule("a", "a")]
    predictor = _predictor(rules)
    predictor.config["lemma_lexicon"] = {"ženou": [1, 2]}
    scores = [[9.0, 1.0, 3.0, 0.0],    # known form: the classifier's top rule (0) was never seen with it
              [9.0, 1.0, 3.0, 0.0]]    # unknown form: the classifier decides alone
    assert predictor.decode_ud(_outputs(scores), [["ženou", "oknech"]])[0].lemmas == ["hnát", "okno"]


def test_known_forms_pick_their_best_seen_rule_like_a_per_word_argmax():
    """The batched choice among seen rules equals np.argmax over each form's seen rules (first on ties)."""
    rng = np.random.default_rng(0)
    rules = [f";ar{i}" for i in range(12)]  # absolute lemmas "r0".."r11": fit every form, name their rule
    assert apply_lemma_rule("w", rules[3]) == "r3"
    predictor = _predictor(rules)
    forms = [f"w{i}" for i in range(40)]
    lexicon = {form: sorted(rng.choice(12, size=rng.integers(1, 6), replace=False).tolist())
               for form in forms[:30]}
    predictor.config["lemma_lexicon"] = lexicon
    scores = rng.integers(0, 3, size=(200, 12)).astype(np.float32)  # small integers: many ties
    words = [forms[i] for i in rng.integers(0, 40, size=200)]
    expected = [seen[int(np.argmax(scores[i, seen]))] if (seen := lexicon.get(w)) else int(np.argmax(scores[i]))
                for i, w in enumerate(words)]
    assert predictor._lemmas(words, scores) == [f"r{i}" for i in expected]
