"""Session fixtures: tiny models and a calibration file."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import build_bert, build_xlmr, corpus


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_xlmr(tmp_path_factory) -> Path:
    return build_xlmr(tmp_path_factory.mktemp("tiny_xlmr"))


@pytest.fixture(scope="session")
def calibration_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("calib") / "calibration.txt"
    path.write_text("\n".join(corpus(40)), encoding="utf-8")
    return path
