"""Fixtures for the Android tests (builders live in android_builders.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from android_builders import build_tiny_bert


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))
