"""Profile bundles where they run: this machine, an Android phone over adb, a board over ssh.

    >>> from edge_time.profiler import RunConfig, open_target, profile
    >>> report = profile(["bundles/minilm-onnx"], open_target("local"), RunConfig(runs=200), "profile-out")
    >>> report["runs"][0]["latency"]["p50_ms"]

Pure parts: ``stats`` (latency figures), ``energy`` (power traces -> joules above idle),
``sensors`` (what to read on a device and how to parse it). One module per transport:
``local``, ``adb``, ``ssh``. ``session`` runs a profile; ``report`` writes and compares reports.
``runner.py`` is the on-device timing loop (also shipped to boards as a script).
"""

from __future__ import annotations

import getpass
import re

from edge_time.profiler.report import compare, load_report, render_html, write_report
from edge_time.profiler.session import profile
from edge_time.profiler.target import DeviceLost, ProfileConfig, ProfileError, RunConfig, Target

__all__ = ["profile", "open_target", "ProfileConfig", "RunConfig", "Target", "ProfileError", "DeviceLost", "compare",
           "load_report", "write_report", "render_html", "parse_device"]

_SSH = re.compile(r"^ssh://(?:(?P<user>[^@/:]+)@)?(?P<host>\[[^\]]+\]|[^:/@]+)(?::(?P<port>\d+))?/?$")


def parse_device(device: str) -> dict:
    """``local`` | ``adb`` | ``adb:SERIAL`` | ``ssh://[USER@]HOST[:PORT]`` -> parts."""
    if device == "local":
        return {"transport": "local"}
    if device == "adb" or device.startswith("adb:"):
        return {"transport": "adb", "serial": device[4:] or None}
    match = _SSH.match(device)
    if match:
        return {"transport": "ssh", "user": match["user"] or getpass.getuser(), "host": match["host"].strip("[]"),
                "port": int(match["port"] or 22)}
    raise ProfileError(f"--device {device!r} is not understood; use local, adb, adb:SERIAL or ssh://USER@HOST[:PORT]")


def open_target(device: str = ProfileConfig.device, *, ssh_key: str | None = ProfileConfig.ssh_key,
                remote_python: str = ProfileConfig.remote_python, remote_dir: str = ProfileConfig.remote_dir,
                connect_timeout: float = ProfileConfig.connect_timeout,
                accept_new_host: bool = ProfileConfig.accept_new_host) -> Target:
    """Connect to the device named by ``--device`` (see :func:`parse_device`)."""
    parts = parse_device(device)
    if parts["transport"] == "local":
        from edge_time.profiler.local import LocalTarget

        return LocalTarget()
    if parts["transport"] == "adb":
        from edge_time.profiler.adb import AdbTarget

        return AdbTarget(parts["serial"], timeout=connect_timeout)
    from edge_time.profiler.ssh import SshTarget

    return SshTarget(parts["host"], parts["user"], parts["port"], key_filename=ssh_key, python=remote_python,
                     remote_dir=remote_dir, timeout=connect_timeout, accept_new_host=accept_new_host)
