"""`edge-time quickstart` end to end, at a CI size: the real MiniLM teacher (demo extra), the
built-in corpus, three real exports and a real host profile; then the one-line errors."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_time.bundle import TARGETS
from edge_time.cli import main
from edge_time.quickstart import MARKER_NAME, SUMMARY_NAME
from edge_time.quickstart.corpus import CorpusError, builtin_documents

# a few steps of an xs student at 32 tokens, a short profile: ~1.5 min on 2 busy cores
CI_SETTINGS = ["--size", "xs", "--steps", "3", "--max-length", "32", "--batch-size", "4", "--runs", "5"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_time.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """One quickstart into a folder an earlier quickstart left behind (marker + a stale file)."""
    out = tmp_path_factory.mktemp("quickstart") / "out"
    out.mkdir()
    (out / MARKER_NAME).write_text("{}")
    (out / "stale.txt").write_text("from an earlier run")
    done = cli("quickstart", "--out", str(out), *CI_SETTINGS, "--overwrite")
    assert done.returncode == 0, done.stderr[-4000:]
    return {"out": out, "stdout": done.stdout, "summary": json.loads((out / SUMMARY_NAME).read_text())}


def test_every_artifact_is_written(run):
    out = run["out"]
    assert not (out / "stale.txt").exists() and (out / MARKER_NAME).is_file()
    assert (out / "corpus.txt").read_text(encoding="utf-8").splitlines() == builtin_documents()
    student = out / "student"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md", "loss_curve.png"):
        assert (student / name).is_file(), name
    distilled = json.loads((student / "distill_config.json").read_text())["config"]
    assert distilled["corpus"] == [str(out / "corpus.txt")]
    assert (distilled["size"], distilled["max_steps"], distilled["max_length"]) == ("xs", 3, 32)
    for target in TARGETS:
        manifest = json.loads((out / "bundles" / f"student-{target}-int8-dynamic" / "manifest.json").read_text())
        assert (manifest["target"], manifest["quantization"], manifest["max_length"]) == (target, "int8-dynamic", 32)
    for name in ("report.html", "report.json", "report.csv", "latencies.csv"):
        assert (out / "report" / name).is_file(), name


def test_report_and_summary_agree(run):
    out, summary = run["out"], run["summary"]
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["status"] == "ok" and report["device"]["transport"] == "local"
    runs = {r["bundle"]["name"]: r for r in report["runs"]}
    assert sorted(runs) == sorted(f"student-{t}-int8-dynamic" for t in TARGETS)
    for entry in runs.values():
        assert entry["config"]["seq_len"] == 32 and entry["latency"]["count"] == 5
    for row in summary["rows"]:
        assert row["p50_ms"] == runs[row["name"]]["latency"]["p50_ms"]
        manifest = json.loads((Path(row["path"]) / "manifest.json").read_text())
        assert row["min_cosine"] == manifest["parity"]["summary"]["min_cosine"]
    assert summary["report"] == str(out / "report" / "report.html") and summary["report"] in run["stdout"]
    for target in TARGETS:  # a row of the summary table
        assert re.search(rf"^│ {target} +│ +[0-9.]+ │", run["stdout"], re.MULTILINE), target


def _masked_cosine(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    a, b = a[mask.astype(bool)].astype(np.float64), b[mask.astype(bool)].astype(np.float64)
    return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("target", TARGETS)
def test_bundle_matches_pytorch_and_its_parity_report(run, target):
    """Reload each bundle (sha256 verified), run it on corpus text it was not checked on, and
    compare with the distilled student in Hugging Face PyTorch: the cosine must meet the export
    threshold and be close to the worst case the bundle's parity report recorded."""
    import torch
    from transformers import AutoModel

    from edge_time.runtime import load_bundle

    student, bundle_dir = run["out"] / "student", run["out"] / "bundles" / f"student-{target}-int8-dynamic"
    bundle = load_bundle(bundle_dir)
    weights = hashlib.sha256((student / "model.safetensors").read_bytes()).hexdigest()
    assert bundle.manifest.source["sha256"] == weights  # made from this run's student
    parity = json.loads((bundle_dir / "parity.json").read_text())
    assert parity["passed"] and bundle.manifest.parity["passed"]
    assert bundle.manifest.parity["summary"] == parity["summary"]

    lines = (run["out"] / "corpus.txt").read_text(encoding="utf-8").splitlines()
    texts = lines[::max(1, len(lines) // 6)][:6] + ["Lists are mutable sequences."]
    enc = bundle.encode(texts)
    got = bundle.run(enc.arrays())["last_hidden_state"]
    model = AutoModel.from_pretrained(student).eval()
    with torch.inference_mode():
        want = model(input_ids=torch.from_numpy(enc.input_ids.astype(np.int64)),
                     attention_mask=torch.from_numpy(enc.attention_mask.astype(np.int64))).last_hidden_state.numpy()
    cosine = _masked_cosine(want, got, enc.attention_mask)
    assert cosine >= parity["thresholds"]["min_cosine"]
    assert abs(cosine - parity["summary"]["min_cosine"]) < 0.002, (cosine, parity["summary"])


def _parse(command: str) -> dict:
    """The options the real CLI parses from a printed command (types, choices, paths checked)."""
    args = shlex.split(command)
    assert args[0] == "edge-time"
    command_ = main.commands[args[1]]
    name, rest = args[1], args[2:]
    if hasattr(command_, "commands"):  # `profile run ...`
        name, rest = rest[0], rest[1:]
        command_ = command_.commands[name]
    return command_.make_context(name, rest).params


def test_printed_commands_parse_and_point_at_this_run(run):
    from edge_time.modeling.builtin import default_model_dir

    out, commands = run["out"], run["summary"]["commands"]
    assert sorted(commands) == sorted(["distill", "profile", *(f"export-{t}" for t in TARGETS)])
    for command in commands.values():
        assert f"alone:  {command}" in run["stdout"]
    distill = _parse(commands["distill"])
    assert distill["corpus"] == (str(out / "corpus.txt"),) and distill["teacher"] == str(default_model_dir())
    assert (distill["out"], distill["size"], distill["max_steps"], distill["max_length"]) == \
        (str(out / "student"), "xs", 3, 32)
    bundles = []
    for target in TARGETS:
        export = _parse(commands[f"export-{target}"])
        assert (export["model"], export["target"], export["quantize"]) == (str(out / "student"), target, "int8-dynamic")
        assert export["graph_batch"] == (1 if target == "executorch" else None)
        bundles.append(export["out"])
    profile = _parse(commands["profile"])
    assert list(profile["bundles"]) == bundles and profile["out_dir"] == out / "report"
    assert (profile["device"], profile["seq_len"], profile["runs"]) == ("local", 32, 5)


def test_a_printed_export_command_reruns_its_step_alone(run):
    """Last: it replaces the ONNX bundle (with an equal one) through the printed command."""
    args = shlex.split(run["summary"]["commands"]["export-onnx"])
    done = cli(*args[1:])
    assert done.returncode == 0, done.stderr[-4000:]
    assert "parity PASSED" in done.stdout
    assert cli("inspect", args[args.index("--out") + 1]).returncode == 0


# ---------------------------------------------------------------- one-line errors, nothing written

def one_line_error(result, message: str) -> bool:
    lines = result.stderr.strip().splitlines()
    return result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def quickstart(*args: str):
    return CliRunner().invoke(main, ["quickstart", *args, "--quiet"])


def test_an_existing_folder_needs_overwrite(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    assert one_line_error(quickstart("--out", str(tmp_path)), "already exists; pass --overwrite")
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_overwrite_never_deletes_a_folder_quickstart_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    result = quickstart("--out", str(tmp_path), "--overwrite")
    assert one_line_error(result, "refuses to delete"), result.output
    assert "not a quickstart folder" in result.stderr and (tmp_path / "mine.txt").read_text() == "precious"


@pytest.mark.parametrize("args, message", [
    (["--targets", "onnx,coreml"], "unknown target 'coreml'; choose from executorch, tflite, onnx"),
    (["--targets", ","], "no target given"),
    (["--steps", "0"], "Invalid value for '--steps': 0 is not in the range x>=1"),
    (["--runs", "0"], "Invalid value for '--runs': 0 is not in the range x>=1"),
    (["--max-length", "8"], "--max-length 8 is too short"),
])
def test_bad_settings_fail_before_anything_is_written(tmp_path, args, message):
    out = tmp_path / "out"
    result = quickstart("--out", str(out), *args)
    assert one_line_error(result, message), result.output
    assert not out.exists()


def test_output_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    assert one_line_error(quickstart("--out", str(tmp_path / "file")), "is a file; choose a folder")


def test_a_python_without_pydoc_data_gets_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydoc_data.topics", None)  # what an import of a missing module does
    with pytest.raises(CorpusError):
        builtin_documents()
    result = quickstart("--out", str(tmp_path / "out"))
    assert one_line_error(result, "has no pydoc_data"), result.output
    assert not (tmp_path / "out").exists()


def test_the_builtin_corpus_is_prose_one_document_per_line():
    documents = builtin_documents()
    assert len(documents) > 500 and len(set(documents)) == len(documents)
    for text in documents:
        assert "\n" not in text and ">>>" not in text and "::=" not in text and len(text.split()) >= 8
