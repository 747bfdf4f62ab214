"""`edge-time profile --device ssh://` against the emulated aarch64 userland (docs/profiling.md, "ARM checks").

    bash scripts/arm_check.sh profile [--targets onnx,tflite,executorch] [--quant none,int8-dynamic]
        [--work DIR] [--runs N] [--seq-len N] [--json OUT]

The "board" is a throw-away OpenSSH server on 127.0.0.1 (tests/profiler/sshd_server.py: Debian's
sshd with its own host and user keys) whose ``--remote-python`` is a two-line wrapper around
``arm_check.sh python``: Debian's arm64 Python with the aarch64 wheels, under qemu-user. So the
real CLI copies the runner and the bundles by SFTP and runs them on aarch64, as on a Pi. The
runner says aarch64 and the kernel (``uname -m`` over ssh) x86_64, so the report labels the device
emulated (``device.emulated``, a warning, the HTML's device line): its speed figures mean nothing;
that every bundle completes the whole flow is the check.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wrapper_script(arm_check: Path, arm_root: Path) -> str:
    """The board's ``--remote-python``: sshd gives the session none of our environment, so the
    wrapper names ARM_ROOT itself; the runner's arguments pass through as "$@", never as text."""
    command = shlex.join(["env", f"ARM_ROOT={arm_root}", "bash", str(arm_check), "python"])
    return f'#!/bin/sh\nexec {command} "$@"\n'


def profile_command(bundles: list[Path], sshd, python: Path, remote_dir: Path, out: Path, args) -> list[str]:
    """The CLI as a user would type it (an argument list: no shell)."""
    return [sys.executable, "-m", "edge_time.cli", "profile", *map(str, bundles),
            "--device", f"ssh://{sshd.user}@127.0.0.1:{sshd.port}", "--ssh-key", str(sshd.key), "--ssh-accept-new",
            "--remote-python", str(python), "--remote-dir", str(remote_dir), "--runs", str(args.runs),
            "--warmup", "1", "--seq-len", str(args.seq_len), "--threads", "1", "--power", "none",
            "--timeout", str(args.timeout), "--out", str(out)]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm-check", type=Path, required=True, help="scripts/arm_check.sh")
    parser.add_argument("--arm-root", type=Path, required=True, help="its ARM_ROOT (after `arm_check.sh setup`)")
    parser.add_argument("--targets", default="onnx,tflite,executorch")
    parser.add_argument("--quant", default="none,int8-dynamic")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "edge-time-arm")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per bundle (their times mean nothing here)")
    parser.add_argument("--seq-len", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per bundle under emulation")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests" / "profiler")]
    from arm_parity import build_bundles
    from sshd_server import start_sshd

    args.work.mkdir(parents=True, exist_ok=True)
    _, bundles = build_bundles(args.work, args.targets.split(","), args.quant.split(","))
    python = args.work / "python-aarch64"
    python.write_text(wrapper_script(args.arm_check.resolve(), args.arm_root.resolve()))
    python.chmod(0o755)
    out = args.work / "profile-out"
    sshd = start_sshd(Path(tempfile.mkdtemp(prefix="sshd-", dir=args.work)))
    try:
        started = time.monotonic()
        done = subprocess.run(profile_command(bundles, sshd, python, args.work / "board", out, args),
                              cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        wall = time.monotonic() - started
    finally:
        sshd.stop()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    device = report["device"]
    summary = {"wall_s": round(wall, 1), "exit": done.returncode, "device": device, "runs": [
        {"bundle": r["bundle"]["name"], "status": r["status"], "error": r.get("error"),
         "runner_machine": r.get("device_result", {}).get("device", {}).get("abi"),
         "emulated_p50_ms": _round(r.get("latency", {}).get("p50_ms")), "emulated_load_ms": _round(r.get("load_ms")),
         "emulated_import_ms": _round(r.get("import_ms"))}
        for r in report["runs"]]}
    print(f"device {device['id']}: kernel {device['info'].get('abi')}, emulated: {device.get('emulated')}")
    for r in summary["runs"]:
        print(f"  {r['bundle']:30} {r['status']:6} runner {r['runner_machine']}, emulated import "
              f"{r['emulated_import_ms']} ms, p50 {r['emulated_p50_ms']} ms (not a speed) {r['error'] or ''}")
    print(f"edge-time profile over ssh: {wall:.0f} s wall, exit {done.returncode}; report in {out}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    labelled = device.get("emulated", {}).get("runtime") == "aarch64"
    return 0 if done.returncode == 0 and labelled else 1


if __name__ == "__main__":
    sys.exit(main())
