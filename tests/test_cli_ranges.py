"""Numeric options reject out-of-range values in click, before any work: one line naming option and range."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edge_time.cli import main


@pytest.mark.parametrize("args,option", [
    (["finetune", "--task", "ud", "--model", "m", "--train", "{f}", "--dev", "{f}", "--out", "o", "--batch-size", "0"],
     "--batch-size"),
    (["finetune", "--task", "ud", "--model", "m", "--train", "{f}", "--dev", "{f}", "--out", "o", "--max-steps", "-3"],
     "--max-steps"),
    (["finetune", "--task", "ud", "--model", "m", "--train", "{f}", "--dev", "{f}", "--out", "o", "--epochs", "0"],
     "--epochs"),
    (["finetune", "--task", "ud", "--model", "m", "--train", "{f}", "--dev", "{f}", "--out", "o", "--layer-decay", "0"],
     "--layer-decay"),
    (["distill", "--teacher", "t", "--corpus", "{f}", "--out", "o", "--lr", "0"], "--lr"),
    (["distill", "--teacher", "t", "--corpus", "{f}", "--out", "o", "--dropout", "1.5"], "--dropout"),
    (["distill", "--teacher", "t", "--corpus", "{f}", "--out", "o", "--vocab-coverage", "0"], "--vocab-coverage"),
    (["export", "--target", "onnx", "--max-length", "0"], "--max-length"),
    (["profile", "b", "--runs", "0"], "--runs"),
    (["profile", "b", "--timeout", "-1"], "--timeout"),
    (["quickstart", "--steps", "0"], "--steps"),
    (["evaluate", "--model", "m", "--data", "{f}", "--threads", "0"], "--threads"),
])
def test_out_of_range_numbers_are_refused_before_any_work(tmp_path, args, option):
    data = tmp_path / "data.txt"
    data.write_text("x\n", encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(main, [a.format(f=data) for a in args])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith(f"error: Invalid value for '{option}'") and "range" in lines[0]
    assert "--help" in lines[0] and "Traceback" not in result.output and sorted(p.name for p in tmp_path.iterdir()) == before
