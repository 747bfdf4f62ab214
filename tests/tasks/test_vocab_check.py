"""A student's trimmed vocabulary against its teacher's on the task's text: measured, recorded, warned about."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from edge_time.cli import main
from edge_time.distill.prepare import save_student_tokenizer
from edge_time.distill.vocab import trim_tokenizer
from edge_time.tasks.train import RESULT_NAME, FinetuneConfig, finetune
from edge_time.tasks.vocab_check import check_segmentation, segmentation_cost, teacher_tokenizer_file

from tasks_helpers import SMALL_HEAD


def trimmed_student(teacher_dir, out, corpus_words: list[str]):
    """``teacher_dir``'s encoder with a tokenizer trimmed to ``corpus_words`` (as `edge-time distill` trims it)."""
    teacher = AutoTokenizer.from_pretrained(teacher_dir)
    counts = np.zeros(len(teacher), dtype=np.int64)
    for token_id in teacher(" ".join(corpus_words), add_special_tokens=False)["input_ids"]:
        counts[token_id] += 1
    trimmed = trim_tokenizer(json.loads(teacher.backend_tokenizer.to_str()), counts, set("".join(corpus_words)))
    shutil.copytree(teacher_dir, out)
    save_student_tokenizer(trimmed.tokenizer_json, teacher, 128, out)
    (out / "distill_config.json").write_text(json.dumps({"teacher_dir": str(teacher_dir), "init": "random"}))
    return out


def test_uncovered_words_cost_their_letters(tiny_encoder, tmp_path):
    student = trimmed_student(tiny_encoder, tmp_path / "student", ["the", "cat", "sees"])
    cost = segmentation_cost(Tokenizer.from_file(str(student / "tokenizer.json")),
                             Tokenizer.from_file(str(tiny_encoder / "tokenizer.json")), [["the", "cat"], ["boris"]])
    # the teacher has every word whole; the student spells 'boris' b ##o ##r ##i ##s
    assert (cost.words, cost.teacher_pieces, cost.pieces) == (3, 3, 7)
    assert cost.extra_pieces == pytest.approx(7 / 3 - 1)
    covered = segmentation_cost(Tokenizer.from_file(str(student / "tokenizer.json")),
                                Tokenizer.from_file(str(tiny_encoder / "tokenizer.json")), [["the", "cat", "sees"]])
    assert covered.extra_pieces == 0.0


def test_the_teacher_model_is_preferred_then_the_distillation_teacher(tiny_encoder, tmp_path):
    student = trimmed_student(tiny_encoder, tmp_path / "student", ["the", "cat"])
    assert teacher_tokenizer_file(student, None) == tiny_encoder / "tokenizer.json"
    other = tmp_path / "task-teacher"
    other.mkdir()
    shutil.copy(tiny_encoder / "tokenizer.json", other / "tokenizer.json")
    assert teacher_tokenizer_file(student, other) == other / "tokenizer.json"
    assert teacher_tokenizer_file(tiny_encoder, None) is None  # not a student: nothing to compare with
    (student / "distill_config.json").write_text(json.dumps({"teacher_dir": str(tmp_path / "gone")}))
    assert teacher_tokenizer_file(student, None) is None  # the teacher folder moved: no check, no error


def test_check_warns_only_when_the_task_text_splits_further(tiny_encoder, tmp_path, caplog):
    student = trimmed_student(tiny_encoder, tmp_path / "student", ["the", "cat", "sees"])
    tokenizer = AutoTokenizer.from_pretrained(student)
    with caplog.at_level(logging.WARNING, logger="edge_time"):
        assert check_segmentation(tokenizer, student, None, [["the", "cat", "sees", "the", "cat"]])["extra_pieces"] == 0
        assert not caplog.records
        record = check_segmentation(tokenizer, student, None, [["boris", "sees", "clara"]])
    assert record["extra_pieces"] > 1 and record["teacher_tokenizer"] == str(tiny_encoder / "tokenizer.json")
    assert "more pieces than its teacher's" in caplog.text and "--corpus" in caplog.text
    assert check_segmentation(AutoTokenizer.from_pretrained(tiny_encoder), tiny_encoder, None, [["boris"]]) is None


def test_finetune_records_the_students_segmentation(tiny_encoder, task_data, tmp_path):
    student = trimmed_student(tiny_encoder, tmp_path / "student", ["the", "a", "cat", "sees", "."])
    train, dev = task_data["ud"]
    result = finetune(FinetuneConfig(task="ud", model=student, train=train, dev=dev, out=tmp_path / "ud", max_steps=2,
                                     batch_size=8, head=dict(SMALL_HEAD), progress=False))
    written = json.loads((tmp_path / "ud" / RESULT_NAME).read_text())["segmentation"]
    assert written == result.segmentation and written["extra_pieces"] > 0.05
    assert json.loads((tmp_path / "ud" / "edge_time_task.json").read_text())["training"]["segmentation"] == written


def test_finetune_cli_prints_the_warning_and_the_figures(tiny_encoder, task_data, tmp_path):
    student = trimmed_student(tiny_encoder, tmp_path / "student", ["the", "a", "cat", "sees", "."])
    train, dev = task_data["ud"]
    result = CliRunner().invoke(main, ["finetune", "--task", "ud", "--model", str(student), "--train", str(train),
                                       "--dev", str(dev), "--out", str(tmp_path / "ud"), "--max-steps", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: the student's vocabulary")]
    assert len(warnings) == 1 and "--corpus" in warnings[0]
    summary = json.loads(result.stdout[result.stdout.index("{\n"):])  # after the dev-score lines
    assert summary["segmentation"]["extra_pieces"] > 0.05
