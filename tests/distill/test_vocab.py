"""Trimmed tokenizers segment covered text exactly like the teacher's, with renumbered ids."""

import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from edge_time.distill.data import tokenize_corpus
from edge_time.distill.prepare import save_student_tokenizer
from edge_time.distill.vocab import VocabError, choose_ids, language_alphabet, trim_tokenizer


@pytest.mark.parametrize("kind", ["bert", "xlmr"])  # WordPiece, Unigram
def test_trimmed_tokenizer_segments_heldout_text_like_teacher(teachers, corpus_file, texts, tmp_path, kind):
    teacher = AutoTokenizer.from_pretrained(teachers[kind])
    corpus = tokenize_corpus([str(corpus_file)], teacher.backend_tokenizer, teacher.cls_token_id,
                             teacher.sep_token_id, max_length=512)
    trimmed = trim_tokenizer(json.loads(teacher.backend_tokenizer.to_str()), corpus.counts, corpus.chars)
    assert trimmed.size < 0.7 * len(teacher)  # the other language's pieces are gone
    save_student_tokenizer(trimmed.tokenizer_json, teacher, 512, tmp_path)
    student = AutoTokenizer.from_pretrained(tmp_path)  # loads as a normal HF tokenizer
    assert student.pad_token_id == int(trimmed.teacher_to_student[teacher.pad_token_id])
    if kind == "xlmr":
        assert student.pad_token_id == 1 and student.cls_token_id == 0
    kept = set(trimmed.kept.tolist())
    covered = 0
    for line in texts["heldout_a"]:
        t_ids = teacher(line)["input_ids"]
        s_ids = student(line)["input_ids"]
        if set(t_ids) <= kept:
            covered += 1
            assert s_ids == trimmed.teacher_to_student[t_ids].tolist()
            assert student.convert_ids_to_tokens(s_ids) == teacher.convert_ids_to_tokens(t_ids)
    assert covered >= 0.9 * len(texts["heldout_a"])


def test_coverage_and_size_knobs():
    counts = np.array([0, 0, 50, 30, 10, 5, 5, 0])
    assert choose_ids(counts, {0, 1}).tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert choose_ids(counts, {0, 1}, coverage=0.8).tolist() == [0, 1, 2, 3]
    assert choose_ids(counts, {0, 1}, max_size=3).tolist() == [0, 1, 2]
    with pytest.raises(VocabError):
        choose_ids(counts, {0, 1}, max_size=1)


def test_bpe_is_refused_with_a_fix():
    with pytest.raises(VocabError, match="--no-trim"):
        trim_tokenizer({"model": {"type": "BPE", "vocab": {}}}, np.zeros(3, dtype=np.int64), set())


def test_language_alphabet_adds_both_cases_and_the_scripts_letters():
    assert language_alphabet({"a", "ť", "!"}, {"Ť", "ж", "b", "1", "ß"}) == {"a", "A", "ť", "Ť", "!", "b", "ß"}


@pytest.mark.parametrize("kind", ["bert", "xlmr"])  # WordPiece, Unigram
def test_trimming_keeps_letters_the_corpus_lacks(teachers, corpus_file, tmp_path, kind):
    """Language B's letters (ť, ň, ...) never occur in the corpus, but they are Latin like the corpus."""
    teacher = AutoTokenizer.from_pretrained(teachers[kind])
    corpus = tokenize_corpus([str(corpus_file)], teacher.backend_tokenizer, teacher.cls_token_id,
                             teacher.sep_token_id, max_length=512)
    assert not set("ťňžšřčď") & corpus.chars
    trimmed = trim_tokenizer(json.loads(teacher.backend_tokenizer.to_str()), corpus.counts, corpus.chars)
    save_student_tokenizer(trimmed.tokenizer_json, teacher, 512, tmp_path)
    student = AutoTokenizer.from_pretrained(tmp_path)
    for word in ("ťuňka", "Ťuňka kope"):
        assert teacher.unk_token_id not in teacher(word)["input_ids"]
        assert student.unk_token_id not in student(word)["input_ids"], student.tokenize(word)
