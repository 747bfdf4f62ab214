"""Do the bundles give the x86 PyTorch reference's outputs on aarch64? (docs/profiling.md, "ARM checks")

    bash scripts/arm_check.sh setup                      # once: aarch64 Python + wheels (registries only)
    bash scripts/arm_check.sh parity [--targets onnx,tflite,executorch] [--quant none,int8-dynamic]
        [--bundles DIR...] [--work DIR] [--json OUT]

Without ``--bundles`` it exports the tiny random BERT of tests/profiler (2 layers, 32 wide) to
every target and quantization asked for, on this host. Each bundle then runs through
``edge_time.runtime`` (the device side, no torch except for ExecuTorch's runtime) on the aarch64
userland, under qemu-user, with the aarch64 wheels of onnxruntime / ai-edge-litert / executorch,
on fixed sentences; the outputs are compared with the model's own PyTorch forward pass on x86
(the reference every export's parity.json is measured against). Printed per bundle: max |diff|,
cosine to the reference, and the same figures for this host's run of the same bundle, so an
aarch64 kernel that differs shows up as a gap between the two columns.

Times under emulation mean nothing and are printed only as "emulated s" to size the check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ["the cat sat on the mat", "a man is playing a guitar on the phone",
             "profiling tiny encoders", "the quick brown fox jumps over the lazy dog while a small encoder runs"]

WORKER = """
import json, platform, sys, time
import numpy as np
from edge_time.runtime import load_bundle
bundle, sentences, out = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8")), sys.argv[3]
started = time.perf_counter()
model = load_bundle(bundle, threads=1)
arrays = {}
for i, text in enumerate(sentences):
    enc = model.encode([text])
    outputs = model.run(enc.arrays())
    n = int(enc.attention_mask.sum())
    arrays[f"s{i}"] = np.asarray(outputs[model.output_names[0]])[0, :n].astype(np.float32)
    arrays[f"ids{i}"] = enc.input_ids[0, :n]
np.savez(out, **arrays)
print(json.dumps({"machine": platform.machine(), "seconds": time.perf_counter() - started}))
"""


def stage_device_side(folder: Path) -> Path:
    """edge_time's device side (what a board gets over ssh), so the aarch64 Python imports no
    training code."""
    sys.path.insert(0, str(ROOT))
    from edge_time.profiler.target import device_side_files

    for local, rel in device_side_files():
        dest = folder / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(local.read_bytes())
    return folder


def run_worker(python: list[str], staged: Path, bundle: Path, sentences: Path, out: Path, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(staged))  # ARM_ROOT and the like reach arm_check.sh
    done = subprocess.run([*python, "-c", WORKER, str(bundle), str(sentences), str(out)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"exit {done.returncode}: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def reference(model_dir: Path, ids: list[np.ndarray]) -> list[np.ndarray]:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return [model(input_ids=torch.from_numpy(i[None].astype(np.int64)),
                      attention_mask=torch.ones(1, len(i), dtype=torch.long)).last_hidden_state[0].numpy()
                for i in ids]


def compare(outputs: Path, refs: list[np.ndarray]) -> dict:
    data = np.load(outputs)
    diffs, cosines = [], []
    for i, ref in enumerate(refs):
        got = data[f"s{i}"]
        diffs.append(float(np.abs(got - ref).max()))
        cosines.append(float(np.sum(got * ref) / (np.linalg.norm(got) * np.linalg.norm(ref) + 1e-12)))
    return {"max_abs_diff": max(diffs), "min_cosine": min(cosines)}


def build_bundles(work: Path, targets: list[str], quants: list[str]) -> tuple[Path, list[Path]]:
    sys.path.insert(0, str(ROOT / "tests" / "profiler"))
    from conftest import build_tiny_bundle

    bundles = []
    for target in targets:
        for quant in quants:
            name = f"tiny-{target}" if quant == "none" else f"tiny-{target}-{quant}"
            bundles.append(work / name if (work / name / "manifest.json").is_file()
                           else build_tiny_bundle(work, target, quant))
    return work / "tiny-bert", bundles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm-python", required=True, help="scripts/arm_check.sh (run as `arm_check.sh python`)")
    parser.add_argument("--targets", default="onnx,tflite,executorch")
    parser.add_argument("--quant", default="none,int8-dynamic")
    parser.add_argument("--bundles", nargs="*", type=Path, help="bundles of --model instead of the tiny BERT")
    parser.add_argument("--model", type=Path, help="the Hugging Face folder the --bundles were exported from")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "edge-time-arm")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per bundle under emulation")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.bundles and not args.model:
        parser.error("--bundles needs --model (the reference model folder)")
    args.work.mkdir(parents=True, exist_ok=True)
    if args.bundles:
        model_dir, bundles = args.model, args.bundles
    else:
        model_dir, bundles = build_bundles(args.work, args.targets.split(","), args.quant.split(","))
    staged = stage_device_side(args.work / "device_side")
    sentences = args.work / "sentences.json"
    sentences.write_text(json.dumps(SENTENCES), encoding="utf-8")
    arm = ["bash", str(Path(args.arm_python).resolve()), "python"]
    rows, refs = [], None
    print(f"{'bundle':32} {'where':8} {'max|diff|':>10} {'min cos':>9} {'emulated s':>10}")
    for bundle in bundles:
        row = {"bundle": bundle.name}
        for where, python in (("x86_64", [sys.executable]), ("aarch64", arm)):
            out = args.work / f"{bundle.name}.{where}.npz"
            try:
                info = run_worker(python, staged, bundle, sentences, out, args.timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                row[where] = {"error": str(exc)}
                print(f"{bundle.name:32} {where:8} error: {exc}")
                continue
            if refs is None:
                data = np.load(out)
                refs = reference(model_dir, [data[f"ids{i}"] for i in range(len(SENTENCES))])
            row[where] = compare(out, refs) | {"machine": info["machine"]}
            if where == "aarch64":
                row[where]["emulated_seconds"] = info["seconds"]
            r = row[where]
            print(f"{bundle.name:32} {info['machine']:8} {r['max_abs_diff']:10.2e} {r['min_cosine']:9.6f} "
                  f"{info['seconds'] if where == 'aarch64' else float('nan'):10.1f}")
        rows.append(row)
    print("(emulated s: wall time under qemu-user, meaningless as a speed; parity is the point)")
    if args.json:
        args.json.write_text(json.dumps({"created": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, indent=1))
    failed = [r["bundle"] for r in rows if "error" in r.get("aarch64", {})]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
