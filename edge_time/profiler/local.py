"""``--device local``: profile on this machine (a workstation, or a board profiling itself).

The runner runs in a fresh Python subprocess, so its peak memory is the bundle's and not the
profiler's (matplotlib, jsonschema), and ``--pin-cores`` pins only the timed process.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
from pathlib import Path

from edge_time.profiler.ops import trace_name
from edge_time.profiler.target import (LineStream, ProfileError, RunConfig, ShellResult, Target, op_trace_args,
                                       raw_path, read_device_result)

RUNNER = Path(__file__).resolve().parent / "runner.py"


class _ProcessLines(LineStream):
    def __init__(self, script: str):
        self.proc = subprocess.Popen(["/bin/sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, start_new_session=True)

    def readline(self) -> str:
        return self.proc.stdout.readline()

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


class LocalTarget(Target):
    transport = "local"

    def __init__(self, python: str | None = None):
        self.python = python or sys.executable
        self.label = f"local:{platform.node()}"

    def shell(self, script: str, timeout: float = 30.0) -> ShellResult:
        try:
            done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ProfileError(f"a local sensor command took longer than {timeout:g} s") from exc
        return ShellResult(done.returncode, done.stdout, done.stderr)

    def open_stream(self, script: str) -> LineStream:
        return _ProcessLines(script)

    def device_info(self) -> dict:
        return {"model": platform.node(), "os": platform.platform(), "abi": platform.machine(),
                "cores": os.cpu_count() or 1, "python": platform.python_version()}

    def run_benchmark(self, bundle: Path, config: RunConfig, raw_dir: Path) -> dict:
        out = raw_path(raw_dir, bundle.name)
        trace = out.with_name(trace_name(out.name.removesuffix(".device.json"), _target_of(bundle)))
        command = [self.python, str(RUNNER), "--bundle", str(bundle), "--out", str(out), *config.runner_args(),
                   *op_trace_args(config, str(trace))]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=config.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise ProfileError(f"{bundle.name}: the run took longer than --timeout {config.timeout_s:g} s") from exc
        if not out.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ProfileError(f"{bundle.name}: the runner exited with {done.returncode} before writing a result: {tail[0]}")
        return read_device_result(out, f"{bundle.name} (local)")


def _target_of(bundle: Path) -> str:
    from edge_time.bundle import read_manifest

    return read_manifest(bundle, verify=False).target
