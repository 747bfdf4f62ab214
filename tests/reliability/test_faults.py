"""SIGKILL at several points of export, distill and finetune, then the run again: a killed run
leaves nothing that passes for a result, and the next run (plain, --resume or --overwrite) works.

Each command runs as a real `python -m edge_time.cli` process, killed when the file that marks the
point appears.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from edge_time.bundle import INCOMPLETE_NAME, BundleError, read_manifest
from edge_time.cli import main


def kill_when(argv: list[str], reached: Callable[[], bool], timeout: float = 300) -> None:
    """Start `edge-time ARGV`, SIGKILL it as soon as ``reached()``; fail if it ends first."""
    process = subprocess.Popen([sys.executable, "-m", "edge_time.cli", *argv], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if reached():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return
        time.sleep(0.005)
    stderr = process.communicate(timeout=60)[1].decode(errors="replace") if process.poll() is not None else ""
    process.kill()
    pytest.fail(f"`edge-time {' '.join(argv)}` ended before the kill point (rc {process.returncode}): {stderr[-500:]}")


def run_cli(argv: list[str]):
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    return result


def _staging(parent: Path, name: str) -> list[Path]:
    return sorted(parent.glob(f".{name}.*.tmp"))


@pytest.mark.parametrize("point", ["staging-created", "manifest-written"])
def test_export_killed_leaves_nothing_valid_and_the_next_export_cleans_up(point, ud_model, tmp_path):
    out = tmp_path / "bundle"
    argv = ["export", "--model", str(ud_model), "--target", "onnx", "--max-length", "32", "--out", str(out)]
    if point == "staging-created":
        reached = lambda: any((s / INCOMPLETE_NAME).exists() for s in _staging(tmp_path, "bundle"))  # noqa: E731
    else:
        reached = lambda: any((s / "manifest.json").exists() for s in _staging(tmp_path, "bundle"))  # noqa: E731
    kill_when(argv, reached)

    assert not out.exists()
    (left,) = _staging(tmp_path, "bundle")
    assert (left / INCOMPLETE_NAME).exists()
    with pytest.raises(BundleError, match="unfinished bundle"):
        read_manifest(left)
    inspected = CliRunner().invoke(main, ["inspect", str(left)])
    assert inspected.exit_code == 2 and "unfinished bundle" in inspected.stderr

    run_cli(argv)
    assert _staging(tmp_path, "bundle") == [] and not (out / INCOMPLETE_NAME).exists()
    read_manifest(out)


def _distill_argv(encoder: Path, corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["distill", "--teacher", str(encoder), "--corpus", str(corpus), "--hidden", "32", "--layers", "1",
            "--heads", "2", "--batch-size", "4", "--max-length", "32", "--max-steps", "6", "--save-every", "2",
            "--out", str(out), "--quiet", *extra]


@pytest.fixture
def corpus(tmp_path) -> Path:
    from builders import corpus as sentences

    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(sentences(400)) + "\n", encoding="utf-8")
    return path


def test_distill_killed_before_any_checkpoint_is_resumable_and_overwritable(encoder, corpus, tmp_path):
    out = tmp_path / "student"
    argv = _distill_argv(encoder, corpus, out)
    kill_when(argv, lambda: (out / "distill_config.json").exists())  # written before tokenising
    assert json.loads((out / "distill_config.json").read_text())["config"]["max_steps"] == 6

    refused = CliRunner().invoke(main, argv)
    assert refused.exit_code == 2 and "--resume" in refused.stderr
    run_cli(argv + ["--resume"])
    assert (out / "model.safetensors").is_file()

    kill_when(argv + ["--overwrite"], lambda: (out / "distill_config.json").exists() and
              not (out / "model.safetensors").exists())
    run_cli(argv + ["--overwrite"])
    assert (out / "model.safetensors").is_file()


def test_distill_killed_after_a_checkpoint_resumes_to_the_end(encoder, corpus, tmp_path):
    out = tmp_path / "student"
    argv = _distill_argv(encoder, corpus, out)
    latest = out / "run" / "checkpoints" / "latest.json"
    kill_when(argv, lambda: latest.exists())
    assert not (out / "model.safetensors").exists()
    run_cli(argv + ["--resume"])
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if "valid_loss" in line]
    assert steps[-1] == 6


def test_finetune_killed_mid_run_leaves_no_unfinished_model_that_loads(encoder, ud_file, tmp_path):
    out = tmp_path / "ud"
    argv = ["finetune", "--task", "ud", "--model", str(encoder), "--train", str(ud_file), "--dev", str(ud_file),
            "--out", str(out), "--max-steps", "40", "--eval-every", "4", "--batch-size", "2", "--max-length", "32",
            "--quiet"]
    kill_when(argv, lambda: bool(_staging(tmp_path, "ud")))  # the first best checkpoint is being written
    if out.exists():  # the kill came after a checkpoint landed: a complete (earlier) model, or refused
        from edge_time.tasks.checkpoint import TaskModelError, TaskSpec

        if (out / INCOMPLETE_NAME).exists():
            with pytest.raises(TaskModelError, match="unfinished"):
                TaskSpec.read(out)
        else:
            TaskSpec.read(out)
    for left in _staging(tmp_path, "ud"):  # marked, or killed before its marker: empty
        assert (left / INCOMPLETE_NAME).exists() or not any(left.iterdir())
    run_cli(argv + ["--overwrite"] if out.exists() else argv)
    assert _staging(tmp_path, "ud") == [] and not (out / INCOMPLETE_NAME).exists()
    assert (out / "finetune_result.json").is_file()
