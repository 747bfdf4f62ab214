"""The "add a task" guide of docs/design.md, followed: a toy task is a graph class and a task class (the
manifest's bundle.TASKS reads the graphs), and then fine-tunes, exports, loads and predicts through the
registries alone."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tasks_helpers import NOUNS, SMALL_HEAD

from edge_time import bundle
from edge_time.exporters import export_model
from edge_time.runtime import load_bundle
from edge_time.runtime import tasks as graphs
from edge_time.tasks import data as tasks
from edge_time.tasks.api import evaluate, load_predictor, predict_texts
from edge_time.tasks.config import FinetuneConfig
from edge_time.tasks.train import finetune


class ToyGraph(graphs.ClsGraph):
    """Device side: one label per text from the logits output, like cls."""

    name = "toy"


class ToyTask(tasks.ClsTask):
    """Host side: JSONL texts labelled by their length; reader, head, loss, decoding and scores are cls's."""

    name = "toy"


def write_lengths(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = rng.choices(NOUNS, k=rng.choice([2, 3, 7, 8]))
        rows.append({"text": " ".join(words), "label": "short" if len(words) < 5 else "long"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(graphs.TASK_GRAPHS, "toy", ToyGraph())
    monkeypatch.setitem(tasks.TASK_CLASSES, "toy", ToyTask)
    assert "toy" in bundle.TASKS


def test_a_new_task_is_two_classes(toy_registered, tiny_encoder, tmp_path):
    train, dev = write_lengths(tmp_path / "train.jsonl", 48, 1), write_lengths(tmp_path / "dev.jsonl", 12, 2)
    result = finetune(FinetuneConfig(task="toy", model=tiny_encoder, train=train, dev=dev, out=tmp_path / "model",
                                     epochs=4, batch_size=8, learning_rate=1e-3, head_learning_rate=3e-3,
                                     warmup_ratio=0.0, seed=0, head=dict(SMALL_HEAD), progress=False))
    assert set(result.best_scores) >= {"accuracy", "macro_f1"}

    exported = export_model(result.out, "onnx", tmp_path / "bundle")
    assert exported.parity["passed"] and exported.manifest.task == "toy"
    assert [s.name for s in exported.manifest.outputs] == ["logits"]
    assert exported.manifest.labels == {"labels": ["long", "short"]}

    loaded = load_bundle(tmp_path / "bundle")
    assert loaded.manifest.task == "toy"
    texts = ["cat dog", "cat dog bird house tree car cat dog"]
    from_bundle = [json.loads(line) for line in predict_texts(load_predictor(tmp_path / "bundle"), texts).splitlines()]
    from_model = [json.loads(line) for line in predict_texts(load_predictor(result.out), texts).splitlines()]
    # Labels match exactly; probabilities to fp32 rounding (ONNX Runtime and PyTorch sum in different orders per CPU).
    assert [row["label"] for row in from_bundle] == [row["label"] for row in from_model]
    assert all(row["label"] in ("short", "long") for row in from_bundle)
    for got, want in zip(from_bundle, from_model):
        assert got["scores"].keys() == want["scores"].keys()
        assert got["scores"] == pytest.approx(want["scores"], abs=1e-4)
    assert evaluate(tmp_path / "bundle", dev).scores == evaluate(result.out, dev).scores
