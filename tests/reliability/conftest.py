"""Fixtures for the reliability table: a tiny encoder, a UD task model, its ONNX bundle, and
good data files, all built once per session from configs (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import build_bert
from reliability_data import UD_SENTENCE



@pytest.fixture(scope="session")
def encoder(tmp_path_factory) -> Path:
    return build_bert(tmp_path_factory.mktemp("reliability") / "encoder", hidden=32, layers=1)


@pytest.fixture(scope="session")
def ud_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("reliability-data") / "train.conllu"
    path.write_text(UD_SENTENCE * 8, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def ud_model(encoder, ud_file, tmp_path_factory) -> Path:
    from edge_time.tasks.train import FinetuneConfig, finetune

    out = tmp_path_factory.mktemp("reliability-models") / "ud"
    finetune(FinetuneConfig(task="ud", model=encoder, train=ud_file, dev=ud_file, out=out, max_steps=2,
                            batch_size=4, max_length=32, head=dict(mlp=16, arc=16, rel=16), progress=False))
    return out


@pytest.fixture(scope="session")
def ud_bundle(ud_model, tmp_path_factory) -> Path:
    from edge_time.exporters.api import export_model

    out = tmp_path_factory.mktemp("reliability-bundles") / "ud_onnx"
    return export_model(ud_model, "onnx", out, max_length=32).bundle_dir
