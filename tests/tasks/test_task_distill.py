"""Task distillation (soft targets from a fine-tuned teacher on raw text) and the CPU fine-tuning knobs."""

from __future__ import annotations

import json
import random

import pytest
import torch
from click.testing import CliRunner

from edge_time.cli import main
from edge_time.errors import EdgeTimeError
from edge_time.tasks import train as train_module
from edge_time.tasks.data import get_task, soft_kl
from edge_time.tasks.task_distill import read_unlabeled
from edge_time.tasks.train import FinetuneConfig, finetune, param_groups

from tasks_helpers import DETS, NOUNS, SMALL_HEAD, VERBS, make_encoder


@pytest.fixture(scope="module")
def raw_text(tmp_path_factory):
    """Unlabelled sentences of the toy grammar (no annotation), several per line like a corpus."""
    rng = random.Random(3)
    lines = []
    for _ in range(60):
        sentences = [f"{rng.choice(DETS).capitalize()} {rng.choice(NOUNS)} {rng.choice(VERBS)} {rng.choice(DETS)} "
                     f"{rng.choice(NOUNS)}." for _ in range(rng.randint(1, 3))]
        lines.append(" ".join(sentences))
    path = tmp_path_factory.mktemp("raw") / "raw.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_soft_kl_is_zero_for_equal_outputs_and_positive_otherwise():
    scores = torch.randn(7, 5)
    assert soft_kl(scores, scores).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_kl(torch.zeros(7, 5), scores).item() > 0.01
    assert soft_kl(torch.zeros(0, 5), torch.zeros(0, 5)).item() == 0.0


def test_ud_soft_loss_compares_words_only(trained, task_data):
    """Equal outputs -> 0; outputs that differ only on padding or the root row -> still 0."""
    from edge_time.tasks.checkpoint import load_task_model

    model = load_task_model(trained["ud"].out)
    task = get_task("ud")
    sentences = [s.forms for s in task.read(task_data["ud"][1])[:4]]
    arrays = model.predictor().word_batch(sentences)
    module = model.training_module().eval()
    inputs = {n: torch.from_numpy(arrays[n]) for n in ("input_ids", "attention_mask", "word_pool", "word_mask")}
    with torch.no_grad():
        outputs = [o.float() for o in module.scores(**inputs, **task.head_options())]
    assert task.soft_loss(outputs, outputs, arrays).item() == pytest.approx(0.0, abs=1e-5)
    changed = [o.clone() for o in outputs]
    for tensor in changed[:4]:
        tensor[:, 0] += 5.0  # the root row is no word
    assert task.soft_loss(changed, outputs, arrays).item() == pytest.approx(0.0, abs=1e-5)
    changed[0][:, 1] += torch.randn_like(changed[0][:, 1]) * 3
    assert task.soft_loss(changed, outputs, arrays).item() > 0.01


def test_read_unlabeled_splits_sentences_and_refuses_bad_files(raw_text, tmp_path):
    items = read_unlabeled([raw_text], "ud", max_items=1000)
    assert all(2 <= len(words) <= 60 and words[-1] == "." for words in items)
    assert len(items) > 60  # lines hold several sentences
    assert all(isinstance(text, str) for text in read_unlabeled([raw_text], "cls", max_items=5))
    latin2 = tmp_path / "latin2.txt"
    latin2.write_bytes("Žluťoučký kůň úpěl.".encode("iso-8859-2"))
    with pytest.raises(EdgeTimeError, match="not UTF-8"):
        read_unlabeled([latin2], "ud", 10)


@pytest.mark.parametrize("task", ["ud", "ner", "cls"])
def test_student_learns_the_teachers_soft_outputs(trained, task_data, raw_text, tmp_path, task):
    student = make_encoder(tmp_path / "student", hidden=32, layers=1)  # another shape, its own init
    train, dev = task_data[task]
    unlabeled = raw_text
    if task == "ner":  # NER text: the training sentences' words, unlabelled
        unlabeled = tmp_path / "ner.txt"
        unlabeled.write_text("\n".join(" ".join(s.words) for s in get_task("ner").read(train)) + "\n")
    result = finetune(FinetuneConfig(task=task, model=student, train=train, dev=dev, out=tmp_path / "out",
                                     max_steps=2, batch_size=8, learning_rate=1e-3, head_learning_rate=3e-3,
                                     head=dict(SMALL_HEAD), teacher_model=trained[task].out, unlabeled=[unlabeled],
                                     distill_steps=25, seed=0, progress=False))
    spec = json.loads((result.out / "edge_time_task.json").read_text())
    teacher_spec = json.loads((trained[task].out / "edge_time_task.json").read_text())
    assert spec["labels"] == teacher_spec["labels"]  # the student speaks the teacher's label set
    record = spec["training"]
    assert record["distill_steps"] == 25 and record["teacher_model"] == str(trained[task].out)
    assert record["distill_loss_last"] < 0.7 * record["distill_loss_first"], record


def test_task_distillation_errors(trained, task_data, raw_text, tmp_path):
    train, dev = task_data["ud"]
    base = dict(task="ud", model=trained["ud"].out, train=train, dev=dev, max_steps=1, head=dict(SMALL_HEAD),
                progress=False)
    with pytest.raises(EdgeTimeError, match="--unlabeled needs --teacher-model"):
        finetune(FinetuneConfig(out=tmp_path / "a", unlabeled=[raw_text], **base))
    with pytest.raises(EdgeTimeError, match="is a ner model"):
        finetune(FinetuneConfig(out=tmp_path / "b", teacher_model=trained["ner"].out, unlabeled=[raw_text], **base))
    with pytest.raises(EdgeTimeError, match="needs --unlabeled"):
        finetune(FinetuneConfig(out=tmp_path / "c", teacher_model=trained["ud"].out, **base))
    qa_train, qa_dev = task_data["qa"]
    with pytest.raises(EdgeTimeError, match="supports ud, ner, cls"):
        finetune(FinetuneConfig(task="qa", model=trained["qa"].out, train=qa_train, dev=qa_dev, out=tmp_path / "d",
                                max_steps=1, teacher_model=trained["qa"].out, unlabeled=[raw_text], progress=False))
    result = CliRunner().invoke(main, ["finetune", "--task", "ud", "--model", str(trained["ud"].out), "--train",
                                       str(train), "--dev", str(dev), "--out", str(tmp_path / "e"), "--unlabeled",
                                       str(raw_text)])
    assert result.exit_code != 0 and "--unlabeled needs --teacher-model" in result.output


def test_large_vocabularies_are_frozen_by_default(tiny_encoder, task_data, tmp_path, monkeypatch):
    train, dev = task_data["cls"]
    runs = {}
    for name, rows in (("small", 10**9), ("large", 1)):
        monkeypatch.setattr(train_module, "FREEZE_EMBEDDINGS_ROWS", rows)
        finetune(FinetuneConfig(task="cls", model=tiny_encoder, train=train, dev=dev, out=tmp_path / name,
                                max_steps=2, batch_size=8, learning_rate=1e-2, head=dict(SMALL_HEAD), progress=False))
        runs[name] = json.loads((tmp_path / name / "edge_time_task.json").read_text())["training"]["freeze_embeddings"]
    assert runs == {"small": False, "large": True}


def test_layer_decay_scales_lower_layers_down(tiny_encoder, tmp_path):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_encoder)
    head = torch.nn.Linear(2, 2)
    config = FinetuneConfig(task="cls", model=tiny_encoder, train=None, dev=None, out=None, learning_rate=1.0,
                            head_learning_rate=3.0, layer_decay=0.5)
    groups = param_groups(model, head, config)
    layers = model.config.num_hidden_layers  # 2: embeddings 0.25, block 1 0.5, block 2 1, pooler 1, head 3
    assert [g["lr"] for g in groups] == [0.5 ** layers, 0.5, 1.0, 1.0, 3.0]
    assert sum(len(g["params"]) for g in groups[:-1]) == len(list(model.parameters()))
    flat = param_groups(model, head, FinetuneConfig(task="cls", model=tiny_encoder, train=None, dev=None, out=None))
    assert {g["lr"] for g in flat[:-1]} == {5e-5}
    with pytest.raises(EdgeTimeError, match="--layer-decay"):
        finetune(FinetuneConfig(task="cls", model=tiny_encoder, train=None, dev=None, out=tmp_path / "x",
                                layer_decay=0.0))
