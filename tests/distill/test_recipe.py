"""End to end: loss goes down, outputs load, resume after SIGKILL is bit-identical, 2 processes agree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from edge_time.distill import DistillConfig, distill
from edge_time.distill.prepare import default_relation_heads

STEPS = 30
TINY = dict(size=None, hidden=32, layers=2, heads=2, max_length=64, batch_size=8, max_steps=STEPS, save_every=10,
            log_every=1, lr=3e-3, warmup_steps=4, valid_fraction=0.04, precision="fp32", init="random",
            progress=False)


def run_cli_args(teacher: Path, corpus: Path, out: Path, **extra) -> list[str]:
    args = ["--teacher", str(teacher), "--corpus", str(corpus), "--out", str(out), "--hidden", "32", "--layers", "2",
            "--heads", "2", "--max-length", "64", "--batch-size", "8", "--max-steps", str(STEPS), "--save-every", "10",
            "--log-every", "1", "--lr", "3e-3", "--warmup-steps", "4", "--valid-fraction", "0.04", "--precision", "fp32",
            "--init", "random", "--quiet"]
    for key, value in extra.items():  # later options win in click
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def losses(out: Path, key: str = "loss") -> list[float]:
    return [r[key] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if key in r]


@pytest.fixture(scope="module")
def reference(teachers, corpus_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "reference"
    distill(DistillConfig(teacher=str(teachers["xlmr"]), corpus=[str(corpus_file)], out=str(out), **TINY))
    return out


def test_loss_decreases_and_output_is_a_loadable_student(reference):
    from transformers import AutoModel, AutoTokenizer

    from edge_time.modeling.encoder import EdgeEncoder

    assert len(losses(reference)) == STEPS
    valid = losses(reference, "valid_loss")  # steps 0, 10, 20, 30 on the same held-out chunks
    assert len(valid) == 4 and all(a > b for a, b in zip(valid, valid[1:])) and valid[-1] < 0.92 * valid[0], valid
    model = AutoModel.from_pretrained(reference).eval()
    tok = AutoTokenizer.from_pretrained(reference)
    info = json.loads((reference / "distill_config.json").read_text())
    assert model.config.model_type == "bert" and model.config.pad_token_id == tok.pad_token_id == 1
    assert model.config.vocab_size == len(tok) == info["data"]["student_vocab"] < info["data"]["teacher_vocab"]
    assert info["student_params"] < info["student_params_untrimmed"]
    enc = tok(["Kanu pe roti.", "Ma"], padding=True, return_tensors="pt")
    with torch.no_grad():  # the runtime's export form computes the same function
        hf = model(**enc).last_hidden_state
        edge = EdgeEncoder(model)(enc["input_ids"], enc["attention_mask"])
    mask = enc["attention_mask"].bool()
    torch.testing.assert_close(edge[mask], hf[mask], rtol=1e-4, atol=1e-4)
    card = (reference / "README.md").read_text()
    assert "| step | train loss | validation loss |" in card and (reference / "loss_curve.png").is_file()
    saved = load_file(str(next((reference / "run" / "checkpoints").glob("step-*/model.safetensors"))))
    assert set(saved) == set(model.state_dict())  # the student only, never the teacher


def test_deberta_teacher_distils_into_absolute_position_student(teachers, corpus_file, tmp_path):
    out = distill(DistillConfig(teacher=str(teachers["deberta"]), corpus=[str(corpus_file)], out=str(tmp_path / "d"),
                                valid=[str(corpus_file)], max_valid_chunks=16, **{**TINY, "max_steps": 12}))
    curve = losses(out)
    assert len(curve) == 12 and all(x == x for x in curve)
    assert json.loads((out / "distill_config.json").read_text())["data"]["valid_chunks"] == 16  # from --valid
    from transformers import AutoModel

    student = AutoModel.from_pretrained(out)
    assert student.config.model_type == "bert"
    assert student.embeddings.position_embeddings.num_embeddings == 64  # learned absolute positions


def _env():
    """This checkout first on the path; threads as in this process (bit-identical resume needs the same)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    return env


def test_kill_and_resume_is_bit_identical(teachers, corpus_file, reference, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "edge_time.cli", "distill", *run_cli_args(teachers["xlmr"], corpus_file, out)]
    kill_after_step_10_and_resume(cmd, out, reference)


def test_kill_and_resume_is_bit_identical_with_teacher_init_and_hidden_loss(teachers, corpus_file, tmp_path):
    new_options = {"init": "teacher", "hidden_loss": 0.5}
    reference = distill(DistillConfig(teacher=str(teachers["xlmr"]), corpus=[str(corpus_file)],
                                      out=str(tmp_path / "reference"), **{**TINY, **new_options}))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "edge_time.cli", "distill",
           *run_cli_args(teachers["xlmr"], corpus_file, out, **new_options)]
    kill_after_step_10_and_resume(cmd, out, reference)
    assert json.loads((out / "distill_config.json").read_text())["init"] == "teacher"


def kill_after_step_10_and_resume(cmd: list[str], out: Path, reference: Path) -> None:
    """SIGKILL the run once its step-10 checkpoint exists, resume it, compare with the uninterrupted run."""
    env = _env()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pointer = out / "run" / "checkpoints" / "latest.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if pointer.is_file() and json.loads(pointer.read_text())["last"] >= "step-00000010":
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert not (out / "config.json").exists()  # killed before the end
    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = load_file(str(reference / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert losses(out) == losses(reference)


def test_two_processes_agree_with_one(teachers, corpus_file, tmp_path):
    """Without dropout (each process has its own dropout stream) the runs differ only by float rounding."""
    steps = {"max_steps": 10, "save_every": 5, "dropout": 0.0}
    one = distill(DistillConfig(teacher=str(teachers["xlmr"]), corpus=[str(corpus_file)], out=str(tmp_path / "one"),
                                **{**TINY, **steps}))
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "edge_time.cli", "distill", *run_cli_args(teachers["xlmr"], corpus_file, out, **steps)]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "distill_config.json").read_text())["processes"] == 2
    assert losses(out) == pytest.approx(losses(one), rel=1e-4)
    a, b = load_file(str(one / "model.safetensors")), load_file(str(out / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("teacher_hidden, teacher_heads, student_hidden, expected", [
    (1024, 16, 384, 64), (768, 12, 384, 48), (384, 12, 384, 12),
    (384, 12, 256, 8),  # e5-small teacher -> xs student: 12 does not divide 256
    (768, 12, 256, 32)])
def test_default_relation_heads_divide_both_hidden_sizes(teacher_hidden, teacher_heads, student_hidden, expected):
    heads = default_relation_heads(teacher_hidden, teacher_heads, student_hidden)
    assert heads == expected and teacher_hidden % heads == 0 and student_hidden % heads == 0
