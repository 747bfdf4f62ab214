"""Data formats: CoNLL-U with multi-word tokens and empty nodes, CoNLL NER, JSONL, SQuAD; one-line errors."""

import json

import pytest

from edge_time.tasks.data import get_task
from edge_time.tasks.formats import (DataError, conllu_text, read_conll_ner, read_conllu, read_jsonl_cls,
                                     read_squad, sentence_from_words)

MWT = """# sent_id = 1
# text = Chtěl abychom šli.
1\tChtěl\tchtít\tVERB\tVpYS\tGender=Masc\t0\troot\t_\t_
2-3\tabychom\t_\t_\t_\t_\t_\t_\t_\t_
2\taby\taby\tSCONJ\tJ,\t_\t4\tmark\t_\t_
3\tbychom\tbýt\tAUX\tVc\tMood=Cnd\t4\taux\t_\t_
3.1\tšli\tjít\tVERB\t_\t_\t_\t_\t1:conj\t_
4\tšli\tjít\tVERB\tVpMP\t_\t1\tccomp\t_\tSpaceAfter=No
5\t.\t.\tPUNCT\tZ:\t_\t1\tpunct\t_\t_

"""


def test_conllu_trains_on_syntactic_words_and_keeps_mwt_lines(tmp_path):
    path = tmp_path / "mwt.conllu"
    path.write_text(MWT, encoding="utf-8")
    (sentence,) = read_conllu(path)
    assert sentence.forms == ["Chtěl", "aby", "bychom", "šli", "."]
    assert [w.head for w in sentence.words] == [0, 4, 4, 1, 1]
    assert sentence.word_lines == [3, 5, 6, 8, 9]
    sentence.words[1].upos = "ADV"  # a prediction replaces the word's fields ...
    written = conllu_text([sentence])
    assert "2-3\tabychom\t_" in written and "3.1\tšli\tjít" in written  # ... range and empty node stay
    assert "2\taby\taby\tADV\t" in written and "SpaceAfter=No" in written
    assert read_conllu(_write(tmp_path / "again.conllu", written))[0].forms == sentence.forms


def test_predicted_sentence_from_raw_words():
    text = conllu_text([sentence_from_words(["Hi", "!"])])
    assert text.splitlines()[:3] == ["# text = Hi !", "1\tHi\t_\t_\t_\t_\t_\t_\t_\t_", "2\t!\t_\t_\t_\t_\t_\t_\t_\t_"]


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _one_line_error(call, match):
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    assert match in message, message
    return message


GOOD_ROW = "1\tcats\tcat\tNOUN\tNNS\t_\t0\troot\t_\t_"


@pytest.mark.parametrize("text,where,match", [
    (GOOD_ROW + "\n2\tsleep\tsleep\tVERB\n\n", ":2:", "4 tab-separated columns"),
    ("# sent_id = 1\n" + GOOD_ROW + "\n\n# sent_id = 2\n# text = nothing\n\n", ":4:", "empty sentence"),
    ("1\ta\ta\tDET\t_\t_\t2\tdet\t_\t_\n2\tb\tb\tNOUN\t_\t_\t1\tnsubj\t_\t_\n\n", ":1:", "cycle"),
    ("1\ta\ta\tDET\t_\t_\t5\tdet\t_\t_\n\n", ":1:", "points past the last word"),
    ("1\ta\ta\tFOO\t_\t_\t0\troot\t_\t_\n\n", ":1:", "UPOS 'FOO'"),
    ("1\ta\ta\tDET\t_\t_\t0\troot\t_\t_\n3\tb\tb\tNOUN\t_\t_\t1\tnsubj\t_\t_\n\n", ":2:", "where 2 was expected"),
])
def test_malformed_conllu_names_file_and_line(tmp_path, text, where, match):
    path = _write(tmp_path / "bad.conllu", text)
    message = _one_line_error(lambda: read_conllu(path), match)
    assert f"{path}{where}" in message


def test_conll_ner_two_and_four_columns(tmp_path):
    two = read_conll_ner(_write(tmp_path / "two.conll", "-DOCSTART- O\n\nAnna\tB-PER\nsings\tO\n\nRome B-LOC\n"))
    assert [(s.words, s.tags) for s in two] == [(["Anna", "sings"], ["B-PER", "O"]), (["Rome"], ["B-LOC"])]
    four = read_conll_ner(_write(tmp_path / "four.conll", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"))
    assert four[0].tags == ["B-ORG", "O"] and four[0].lines == [1, 2]


@pytest.mark.parametrize("text,line,match", [
    ("Anna\tB-PER\nsings\n", 2, "1 columns"),
    ("Anna\tB-PER\nsings\tSING\n", 2, "not BIO"),
    ("Anna\tB-PER\n\nEU NNP B-NP B-ORG\n", 3, "use one layout"),
])
def test_malformed_conll_ner_names_file_and_line(tmp_path, text, line, match):
    path = _write(tmp_path / "bad.conll", text)
    assert f"{path}:{line}:" in _one_line_error(lambda: read_conll_ner(path), match)


def test_unknown_ner_label_at_eval_names_file_and_line(tmp_path):
    task = get_task("ner")
    labels = task.build_labels(read_conll_ner(_write(tmp_path / "train.conll", "Anna\tB-PER\nsings\tO\n")))
    dev = _write(tmp_path / "dev.conll", "Anna\tB-PER\n\nin\tO\nRome\tB-LOC\n")
    message = _one_line_error(lambda: task.check_eval(dev, read_conll_ner(dev), labels), "'B-LOC' was not in the training")
    assert f"{dev}:4:" in message


def test_jsonl_and_unknown_class_label(tmp_path):
    good = _write(tmp_path / "train.jsonl", '{"text": "good film", "label": "pos"}\n\n{"text": "bad", "label": "neg"}\n')
    assert [(e.text, e.label, e.line) for e in read_jsonl_cls(good)] == [("good film", "pos", 1), ("bad", "neg", 3)]
    bad = _write(tmp_path / "bad.jsonl", '{"text": "ok", "label": "pos"}\n{"text": 3}\n')
    assert f"{bad}:2:" in _one_line_error(lambda: read_jsonl_cls(bad), "string 'text'")
    broken = _write(tmp_path / "broken.jsonl", '{"text": "ok"\n')
    assert f"{broken}:1:" in _one_line_error(lambda: read_jsonl_cls(broken), "invalid JSON")
    task = get_task("cls")
    dev = _write(tmp_path / "dev.jsonl", '{"text": "meh", "label": "neutral"}\n')
    assert f"{dev}:1:" in _one_line_error(lambda: task.check_eval(dev, read_jsonl_cls(dev), {"labels": ["neg", "pos"]}),
                                          "'neutral'")


def test_squad_reads_answers_and_rejects_misplaced_ones(tmp_path):
    data = {"data": [{"paragraphs": [{"context": "Anna lives in Rome.",
                                      "qas": [{"id": "q1", "question": "Where?",
                                               "answers": [{"text": "Rome", "answer_start": 14}]}]}]}]}
    (example,) = read_squad(_write(tmp_path / "ok.json", json.dumps(data)))
    assert example.answers == [("Rome", 14)]
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 3
    bad = _write(tmp_path / "bad.json", json.dumps(data))
    _one_line_error(lambda: read_squad(bad), "question id q1: answer 'Rome' is not at answer_start 3")
