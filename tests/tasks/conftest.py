"""Fixtures for the tasks tests: a tiny encoder, generated task files, one short run per task."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks_helpers import SMALL_HEAD, make_encoder, write_cls, write_ner, write_squad, write_ud


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return make_encoder(tmp_path_factory.mktemp("encoder") / "tiny-bert")


@pytest.fixture(scope="session")
def task_data(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("data")
    return {
        "ud": (write_ud(root / "train.conllu", 40, 1), write_ud(root / "dev.conllu", 10, 2)),
        "ner": (write_ner(root / "train.conll", 40, 1), write_ner(root / "dev.conll", 10, 2)),
        "cls": (write_cls(root / "train.jsonl", 40, 1), write_cls(root / "dev.jsonl", 10, 2)),
        "qa": (write_squad(root / "train.json", 40, 1), write_squad(root / "dev.json", 10, 2)),
    }


@pytest.fixture(scope="session")
def trained(tiny_encoder, task_data, tmp_path_factory):
    """One short fine-tuning run per task (shared by the tests that need a trained model)."""
    from edge_time.tasks.train import FinetuneConfig, finetune

    root = tmp_path_factory.mktemp("models")
    results = {}
    for task, (train, dev) in task_data.items():
        results[task] = finetune(FinetuneConfig(
            task=task, model=tiny_encoder, train=train, dev=dev, out=root / task, epochs=4, batch_size=8,
            learning_rate=1e-3, head_learning_rate=3e-3, warmup_ratio=0.0, patience=10, seed=0,
            head=dict(SMALL_HEAD), progress=False))
    return results
