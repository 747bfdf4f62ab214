"""Teacher-initialised students: layer picking, unit selection, exact copies, init resolution, presets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge_time.compute import resolve_precision
from edge_time.distill import DistillConfig, distill
from edge_time.distill import defaults
from edge_time.distill.selection import (SelectionError, init_from_teacher, measure_importance, pick_layers,
                                         resolve_init, select)
from edge_time.distill.student import StudentSize, build_student
from edge_time.distill.teachers import load_teacher
from edge_time.errors import EdgeTimeError


def tokens(teacher_dir, lines):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(teacher_dir)
    enc = tok(lines, padding=True, truncation=True, max_length=48, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def cut_student(teacher, size: StudentSize, batches, max_positions: int = 64):
    selection = select(measure_importance(teacher, batches), size, teacher.config)
    vocab = teacher.config.vocab_size
    student = build_student(size, vocab, teacher.config.pad_token_id, max_positions, seed=0, dropout=0.0,
                            layer_norm_eps=teacher.config.layer_norm_eps, hidden_act=teacher.config.hidden_act)
    init_from_teacher(student, teacher, selection, np.arange(vocab))
    return student.eval(), selection


@pytest.mark.parametrize("teacher_layers, student_layers, expected", [
    (12, 6, [1, 3, 5, 7, 9, 11]), (12, 4, [2, 5, 8, 11]), (3, 3, [0, 1, 2]), (6, 1, [5])])
def test_pick_layers_is_evenly_spaced_and_ends_at_the_top(teacher_layers, student_layers, expected):
    assert pick_layers(teacher_layers, student_layers) == expected


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_full_selection_reproduces_the_teacher_exactly(teachers, texts, kind):
    """Same width and depth: every unit kept, so the student is the teacher (RoBERTa positions shifted)."""
    teacher, _ = load_teacher(teachers[kind], None)
    batch = tokens(teachers[kind], texts["train_a"][:6])
    config = teacher.config
    size = StudentSize(config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
                       config.intermediate_size)
    student, selection = cut_student(teacher, size, [batch])
    assert selection.layers == [0, 1, 2] and selection.hidden == list(range(config.hidden_size))
    single = {k: v[:1, : int(v[0].ne(config.pad_token_id).sum()) if k == "input_ids" else None] for k, v in batch.items()}
    single["attention_mask"] = single["attention_mask"][:, : single["input_ids"].shape[1]]
    with torch.no_grad():
        for inputs in (single, batch) if kind == "bert" else (single,):  # RoBERTa pads get the pad position
            expected = teacher(**inputs).last_hidden_state
            got = student(**inputs).last_hidden_state
            mask = inputs["attention_mask"].bool()
            torch.testing.assert_close(got[mask], expected[mask], rtol=1e-5, atol=1e-5)


def test_smaller_selection_is_consistent_and_keeps_the_important_parts(teachers, texts):
    teacher, _ = load_teacher(teachers["bert"], None)
    block = teacher.encoder.layer[2]
    with torch.no_grad():  # silence head 1 and FFN neurons 0..63 of the top block: they must not be picked
        block.attention.output.dense.weight[:, 16:32] = 0.0
        block.output.dense.weight[:, :64] = 0.0
    batch = tokens(teachers["bert"], texts["train_a"][:8])
    size = StudentSize(hidden=32, layers=2, heads=2, ffn=48)
    student, selection = cut_student(teacher, size, [batch])
    assert selection.layers == [1, 2]
    assert len(selection.hidden) == 32 and selection.hidden == sorted(set(selection.hidden))
    assert all(len(h) == 2 for h in selection.heads) and 1 not in selection.heads[1]
    assert all(len(f) == 48 for f in selection.ffn) and min(selection.ffn[1]) >= 64
    h = torch.tensor(selection.hidden)
    copied = student.encoder.layer[1].attention.self.query.weight
    head_rows = torch.cat([torch.arange(i * 16, (i + 1) * 16) for i in selection.heads[1]])
    torch.testing.assert_close(copied, block.attention.self.query.weight[head_rows][:, h])
    with torch.no_grad():
        out = student(**tokens(teachers["bert"], texts["heldout_a"][:4])).last_hidden_state
    assert out.shape[-1] == 32 and torch.isfinite(out).all()


def test_init_resolution(teachers):
    from transformers import AutoConfig

    bert, deberta = AutoConfig.from_pretrained(teachers["bert"]), AutoConfig.from_pretrained(teachers["deberta"])
    fits = StudentSize(hidden=32, layers=2, heads=4, ffn=64)  # preset-style heads of 8: teacher heads are 16 wide
    init, size, _ = resolve_init("auto", bert, fits, 3, heads_given=False)
    assert init == "teacher" and size.heads == 2
    with pytest.raises(SelectionError, match="--heads 2"):
        resolve_init("teacher", bert, fits, 3, heads_given=True)
    assert resolve_init("auto", deberta, fits, 3, heads_given=False)[0] == "random"
    with pytest.raises(SelectionError, match="no absolute positions"):
        resolve_init("teacher", deberta, fits, 3, heads_given=False)
    wide = StudentSize(hidden=128, layers=2, heads=8, ffn=256)
    init, _, why = resolve_init("auto", bert, wide, 3, heads_given=False)
    assert init == "random" and "larger than the teacher" in why
    assert resolve_init("random", bert, fits, 3, heads_given=False)[0] == "random"


def test_cpu_defaults_are_chosen_on_cpu(monkeypatch):
    config = DistillConfig(teacher="t", corpus=["c"], out="o")
    filled = defaults.with_defaults(config, "teacher")
    cpu = defaults.TRAINING_PRESETS["cpu"]
    assert (filled.batch_size, filled.max_length, filled.max_steps, filled.lr) == \
        (cpu.batch_size, cpu.max_length, cpu.max_steps, cpu.lr_teacher)
    assert defaults.with_defaults(config, "random").lr == cpu.lr_random
    explicit = defaults.with_defaults(DistillConfig(teacher="t", corpus=["c"], out="o", batch_size=8, lr=1e-3), "teacher")
    assert (explicit.batch_size, explicit.lr) == (8, 1e-3)
    monkeypatch.setattr(defaults, "device_kind", lambda: "gpu")
    assert defaults.with_defaults(config, "random").batch_size == defaults.TRAINING_PRESETS["gpu"].batch_size


def test_bf16_falls_back_cleanly_where_unsupported(monkeypatch):
    import edge_time.compute as compute

    monkeypatch.setattr(compute, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    with pytest.raises(EdgeTimeError, match="no native bf16"):
        resolve_precision("bf16", "cpu")
    monkeypatch.setattr(compute, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("auto", "gpu") == "bf16" and resolve_precision("fp32", "gpu") == "fp32"


TINY_TEACHER_INIT = dict(size=None, hidden=32, layers=2, max_length=64, batch_size=8, max_steps=12, save_every=6,
                         log_every=1, warmup_steps=2, valid_fraction=0.04, precision="fp32", progress=False)


def test_teacher_init_starts_closer_and_the_card_says_so(teachers, corpus_file, tmp_path):
    """The teacher's own shape: a teacher-initialised student starts at zero relation loss."""
    runs = {}
    for init in ("teacher", "random"):
        out = tmp_path / init
        distill(DistillConfig(teacher=str(teachers["bert"]), corpus=[str(corpus_file)], out=str(out), init=init,
                              **{**TINY_TEACHER_INIT, "hidden": 64, "layers": 3, "heads": 4, "ffn": 128}))
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        runs[init] = [r["valid_loss"] for r in records if "valid_loss" in r]
        info = json.loads((out / "distill_config.json").read_text())
        assert info["init"] == init and (info["selection"] is not None) == (init == "teacher")
        assert f"| init | {init}" in (out / "README.md").read_text()
    assert runs["teacher"][0] < 1e-4 < 0.1 < runs["random"][0], runs
    assert runs["teacher"][-1] < runs["random"][-1], runs


def test_hidden_state_loss_trains_the_top_block(teachers, corpus_file, tmp_path):
    out = tmp_path / "hidden"
    distill(DistillConfig(teacher=str(teachers["xlmr"]), corpus=[str(corpus_file)], out=str(out), init="teacher",
                          hidden_loss=1.0, heads=2, **TINY_TEACHER_INIT))
    info = json.loads((out / "distill_config.json").read_text())
    assert not any(name.startswith("encoder.layer.1.output") for name in info["frozen_top_parameters"])
    valid = [json.loads(line)["valid_loss"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if "valid_loss" in line]
    assert valid[-1] < valid[0], valid
    with pytest.raises(EdgeTimeError, match="--hidden-loss needs a teacher-initialised"):
        distill(DistillConfig(teacher=str(teachers["xlmr"]), corpus=[str(corpus_file)], out=str(tmp_path / "x"),
                              init="random", hidden_loss=1.0, heads=2, **TINY_TEACHER_INIT))
