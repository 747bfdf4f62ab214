"""`edge-time export` from the command line: one-line errors, non-zero exit, no partial output."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edge_time.cli", *args], capture_output=True, text=True, cwd=cwd)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("error:", "Error:"))]


def test_export_cli_writes_a_verified_bundle(tiny_bert, tmp_path):
    out = tmp_path / "bundle"
    done = run_cli("export", "--model", str(tiny_bert), "--target", "onnx", "--quantize", "int8-dynamic",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "parity PASSED" in done.stdout
    inspected = run_cli("inspect", str(out))
    assert inspected.returncode == 0 and re.search(r"onnx / int8-dynamic \((per-tensor|per-token|ffn-fp32)\)",
                                                   inspected.stdout), inspected.stdout


@pytest.mark.parametrize("args, message", [
    (["--target", "coreml"], "'coreml' is not one of"),
    (["--target", "onnx", "--model", "/no/such/model"], "model folder /no/such/model does not exist"),
    (["--target", "onnx", "--quantize", "int8-static"], "needs --calibration FILE"),
    (["--target", "onnx", "--compat", "tflite-runtime"], "applies to --target tflite only"),
    (["--target", "onnx", "--seq-buckets", "a,b"], "not a comma-separated list"),
    (["--target", "onnx", "--graph-batch", "1"], "applies to --target executorch only"),
    (["--target", "onnx", "--int8-form", "per-token"], "applies to --target onnx --quantize int8-dynamic only"),
    (["--target", "tflite", "--quantize", "int8-dynamic", "--int8-form", "per-token"],
     "applies to --target onnx --quantize int8-dynamic only"),
    (["--target", "onnx", "--quantize", "int8-dynamic", "--int8-form", "per-row"], "'per-row' is not one of"),
])
def test_bad_input_is_one_line_and_non_zero(tiny_bert, tmp_path, args, message):
    if "--model" not in args:
        args = [*args, "--model", str(tiny_bert)]
    done = run_cli("export", *args, "--out", str(tmp_path / "bundle"))
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "bundle").exists()


def test_unwritable_output_is_reported(tiny_bert, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = run_cli("export", "--model", str(tiny_bert), "--target", "onnx", "--out", str(blocker / "bundle"))
    assert done.returncode == 2
    assert "cannot write to" in error_lines(done.stderr)[0]


def test_model_without_safetensors_is_refused(tiny_bert, tmp_path):
    import shutil

    model = tmp_path / "pickled"
    shutil.copytree(tiny_bert, model)
    (model / "model.safetensors").rename(model / "pytorch_model.bin")
    done = run_cli("export", "--model", str(model), "--target", "onnx", "--out", str(tmp_path / "b"))
    assert done.returncode == 2 and "edge-time never loads" in error_lines(done.stderr)[0]
