"""Teacher-initialised task heads: the fine-tuned teacher's head cut to a student's kept layers and units."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edge_time.cli import main
from edge_time.errors import EdgeTimeError
from edge_time.tasks.checkpoint import load_task_model
from edge_time.tasks.data import get_task
from edge_time.tasks.head_init import init_head_from_teacher
from edge_time.tasks.heads import build_head, task_model, HFStack
from edge_time.tasks.train import FinetuneConfig, finetune

from tasks_helpers import SMALL_HEAD


def cut_student(teacher_dir, out, layers, hidden, heads, ffn):
    """A student folder as `edge-time distill --init teacher` leaves it: cut weights + the selection record."""
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    from edge_time.distill.selection import Selection, student_state_dict

    teacher = AutoModel.from_pretrained(teacher_dir)
    selection = Selection(layers=layers, hidden=hidden, heads=heads, ffn=ffn)
    head_dim = teacher.config.hidden_size // teacher.config.num_attention_heads
    config = BertConfig(vocab_size=teacher.config.vocab_size, hidden_size=len(hidden), num_hidden_layers=len(layers),
                        num_attention_heads=len(hidden) // head_dim, intermediate_size=len(ffn[0]),
                        max_position_embeddings=teacher.config.max_position_embeddings, pad_token_id=0)
    student = BertModel(config, add_pooling_layer=False)
    state = student_state_dict(teacher, selection, np.arange(teacher.config.vocab_size), config.max_position_embeddings)
    student.load_state_dict(state, strict=False)
    student.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(teacher_dir).save_pretrained(out)
    (out / "distill_config.json").write_text(json.dumps({"init": "teacher", "selection": selection.to_json()}))
    return out


def student_head(student_dir, teacher):
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(student_dir)
    head = build_head("ud", encoder.config.hidden_size, encoder.config.num_hidden_layers + 1, teacher.spec.labels,
                      teacher.spec.head)
    return encoder, head


def assert_same_outputs(teacher, encoder, head, task_data):
    """The student task model (encoder + head) computes the teacher's UD outputs on four dev sentences."""
    sentences = [s.forms for s in get_task("ud").read(task_data["ud"][1])[:4]]
    arrays = teacher.predictor().word_batch(sentences)
    inputs = [torch.from_numpy(arrays[n]) for n in ("input_ids", "attention_mask", "word_pool", "word_mask")]
    with torch.no_grad():
        want = teacher.training_module().eval()(*inputs)
        got = task_model("ud", HFStack(encoder), head).eval()(*inputs)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


def test_whole_selection_reproduces_the_teacher(trained, task_data, tmp_path):
    """Nothing removed: the student task model computes exactly the teacher's outputs."""
    teacher = load_task_model(trained["ud"].out)
    student_dir = cut_student(trained["ud"].out, tmp_path / "student", layers=[0, 1], hidden=list(range(32)),
                              heads=[[0, 1], [0, 1]], ffn=[list(range(64))] * 2)
    encoder, head = student_head(student_dir, teacher)
    assert init_head_from_teacher("teacher", head, teacher, student_dir, 32, log=lambda m: None) == "teacher"
    assert_same_outputs(teacher, encoder, head, task_data)


def test_cut_head_takes_the_kept_layers_and_units(trained, tmp_path):
    teacher = load_task_model(trained["ud"].out)
    units = list(range(0, 32, 2))
    student_dir = cut_student(trained["ud"].out, tmp_path / "student", layers=[1], hidden=units, heads=[[1]],
                              ffn=[list(range(0, 64, 2))])
    _, head = student_head(student_dir, teacher)
    init_head_from_teacher("auto", head, teacher, student_dir, 16, log=lambda m: None)
    for name in ("upos", "feats", "parse"):
        torch.testing.assert_close(head.mix[name].weights, teacher.head.mix[name].weights[[0, 2]])
    torch.testing.assert_close(head.tag["upos"].gate_up.weight, teacher.head.tag["upos"].gate_up.weight[:, units])
    torch.testing.assert_close(head.arc_dep.gate_up.weight, teacher.head.arc_dep.gate_up.weight[:, units])
    torch.testing.assert_close(head.arc_bilinear, teacher.head.arc_bilinear)  # inside the head: copied
    torch.testing.assert_close(head.rel_linear.bias, teacher.head.rel_linear.bias)


def test_narrower_head_keeps_the_teachers_strongest_units(trained, task_data, tmp_path):
    """--head-mlp below the teacher's: units whose output weights are zero go first, so the cut head is exact."""
    teacher = load_task_model(trained["ud"].out)
    inner = teacher.spec.head["mlp"]
    keep = torch.arange(1, inner, 2)  # the odd units carry the head; the even ones get zero output weights
    with torch.no_grad():
        for mlp in [*teacher.head.tag.values(), teacher.head.arc_dep, teacher.head.arc_head, teacher.head.rel_dep,
                    teacher.head.rel_head]:
            mlp.out.weight[:, ::2] = 0.0
    student_dir = cut_student(trained["ud"].out, tmp_path / "student", layers=[0, 1], hidden=list(range(32)),
                              heads=[[0, 1], [0, 1]], ffn=[list(range(64))] * 2)
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(student_dir)
    head = build_head("ud", 32, 3, teacher.spec.labels, {**teacher.spec.head, "mlp": inner // 2})
    notes = []
    assert init_head_from_teacher("teacher", head, teacher, student_dir, 32, log=notes.append) == "teacher"
    assert notes[0].endswith(f"classifiers cut from {inner} to {inner // 2} inner units"), notes
    torch.testing.assert_close(head.tag["xpos"].out.weight, teacher.head.tag["xpos"].out.weight[:, keep])
    torch.testing.assert_close(head.rel_dep.gate_up.weight,
                               teacher.head.rel_dep.gate_up.weight[torch.cat([keep, keep + inner])])
    assert_same_outputs(teacher, encoder, head, task_data)


def test_finetune_starts_task_distillation_from_the_teachers_head(trained, task_data, tmp_path):
    """Same student, same seed: the teacher's head starts far closer to the teacher than a random head."""
    train, dev = task_data["ud"]
    unlabeled = tmp_path / "raw.txt"
    unlabeled.write_text("\n".join(" ".join(s.forms) for s in get_task("ud").read(train)) + "\n", encoding="utf-8")
    student_dir = cut_student(trained["ud"].out, tmp_path / "student", layers=[0, 1], hidden=list(range(32)),
                              heads=[[0, 1], [0, 1]], ffn=[list(range(64))] * 2)
    first = {}
    for init in ("auto", "random"):
        result = finetune(FinetuneConfig(task="ud", model=student_dir, train=train, dev=dev, out=tmp_path / init,
                                         max_steps=1, batch_size=8, head=dict(SMALL_HEAD), head_init=init,
                                         teacher_model=trained["ud"].out, unlabeled=[unlabeled], distill_steps=2,
                                         seed=0, progress=False))
        record = json.loads((result.out / "edge_time_task.json").read_text())["training"]
        first[record["head_init"]] = record["distill_loss_first"]
    assert set(first) == {"teacher", "random"}
    assert first["teacher"] < 0.5 * first["random"], first


def test_head_init_falls_back_or_refuses_without_a_cut_student(trained, task_data, tiny_encoder, tmp_path):
    teacher = load_task_model(trained["ud"].out)
    _, head = student_head(tiny_encoder, teacher)
    notes = []
    assert init_head_from_teacher("auto", head, teacher, tiny_encoder, 32, log=notes.append) == "random"
    assert "not a teacher-initialised student" in notes[0]
    assert init_head_from_teacher("auto", head, None, tiny_encoder, 32, log=notes.append) == "random"
    with pytest.raises(EdgeTimeError, match="--head-init teacher: .* use --head-init random"):
        init_head_from_teacher("teacher", head, teacher, tiny_encoder, 32, log=notes.append)
    wrong_head = tmp_path / "student"
    cut_student(trained["ud"].out, wrong_head, layers=[1], hidden=list(range(16)), heads=[[0]], ffn=[list(range(32))])
    _, head = student_head(wrong_head, teacher)
    bigger = build_head("ud", 16, 2, teacher.spec.labels, {**teacher.spec.head, "mlp": 48})
    with pytest.raises(EdgeTimeError, match="does not fit"):
        init_head_from_teacher("teacher", bigger, teacher, wrong_head, 16, log=notes.append)
    train, dev = task_data["ud"]
    result = CliRunner().invoke(main, ["finetune", "--task", "ud", "--model", str(tiny_encoder), "--train", str(train),
                                       "--dev", str(dev), "--out", str(tmp_path / "x"), "--head-init", "teacher",
                                       "--max-steps", "1"])
    assert result.exit_code == 2 and "--head-init teacher: no --teacher-model" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
