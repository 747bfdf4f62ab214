"""``--device adb[:SERIAL]``: an Android phone running the edge-time demo app, via the standard
adb server (``adbutils``; install Android platform-tools or Debian's ``adb``).

The bundle is pushed to /data/local/tmp/edge_time/bundles/NAME/; the app's BenchmarkActivity is
started with intent extras and writes the device result JSON atomically into its own external
files folder (RESULTS_DIR); the profiler polls for it and pulls it, while a second adb
shell samples the battery's current_now/voltage_now. Every adb call has a timeout; a phone that
disappears becomes :class:`DeviceLost` (partial results are kept by the session).

The sync (push/pull) calls are written here instead of using ``adbutils.Sync`` because the
latter opens its socket without a timeout, and a hung phone must not hang the profiler.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import socket
import struct
import time
from pathlib import Path

import adbutils

from edge_time.profiler.target import (DeviceLost, EnergyContext, LineStream, ProfileError, RunConfig, ShellResult,
                                       Target, raw_path, validate_device_result)

PACKAGE = "dev.edgetime.demo"
ACTIVITY = f"{PACKAGE}/.BenchmarkActivity"
DEVICE_ROOT = "/data/local/tmp/edge_time"
# Android 10+ apps cannot write under /data/local/tmp; the app's own external files folder needs
# no permission and adb's shell user can read it, so results are asked for there.
RESULTS_DIR = f"/sdcard/Android/data/{PACKAGE}/files/results"
SYNC_CHUNK = 64 * 1024
HOLD_MARGIN_S = 60.0
_GONE = (adbutils.AdbError, adbutils.AdbTimeout, OSError, EOFError)


def _q(text: str) -> str:
    return shlex.quote(text)


class _AdbLines(LineStream):
    def __init__(self, connection):
        self.connection = connection
        self.buffer = b""

    def readline(self) -> str:
        while b"\n" not in self.buffer:
            try:
                chunk = self.connection.conn.recv(4096)
            except (*_GONE, socket.timeout):
                chunk = b""
            if not chunk:
                line, self.buffer = self.buffer, b""
                return line.decode("utf-8", "replace")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("utf-8", "replace") + "\n"

    def close(self) -> None:
        self.connection.close()


def parse_batterystats_checkin(text: str, uid: int) -> float | None:
    """mAh the app's UID drew, from ``dumpsys batterystats --checkin`` power-use items
    (``9,<uid>,l,pwi,uid,<mAh>,...``); None when the line is absent."""
    total = None
    for line in text.splitlines():
        fields = line.strip().split(",")
        if len(fields) > 5 and fields[3] == "pwi" and fields[1] == str(uid):
            try:
                total = (total or 0.0) + float(fields[5])
            except ValueError:
                continue
    return total


class AdbTarget(Target):
    transport = "adb"

    def __init__(self, serial: str | None = None, timeout: float = 15.0, host: str | None = None,
                 port: int | None = None):
        self.timeout = timeout
        self.client = adbutils.AdbClient(host=host, port=port, socket_timeout=timeout)
        try:
            devices = [d for d in self.client.list() if d.state == "device"]
        except _GONE as exc:
            raise ProfileError(f"cannot reach the adb server ({exc}); install platform-tools and run `adb devices`") from exc
        serials = [d.serial for d in devices]
        if serial is None:
            if len(serials) != 1:
                raise ProfileError(f"{len(serials)} devices are online ({', '.join(serials) or 'none'}); "
                                   "plug one in, authorise it, or pick one with --device adb:SERIAL")
            serial = serials[0]
        elif serial not in serials:
            raise ProfileError(f"device {serial} is not online (online: {', '.join(serials) or 'none'}); "
                               "check `adb devices` (unauthorized? offline?)")
        self.serial = serial
        self.label = f"adb:{serial}"
        self.device = self.client.device(serial)
        self._v2: bool | None = None
        self._uid: int | None = None
        self._unplugged = False

    def _lost(self, exc: BaseException, doing: str) -> DeviceLost:
        return DeviceLost(f"{self.label}: device disconnected or stopped answering while {doing} ({exc or type(exc).__name__})")

    # --- primitives ---------------------------------------------------------------------------

    def shell(self, script: str, timeout: float = 30.0) -> ShellResult:
        try:
            if self._v2 is None:
                self._v2 = "shell_v2" in self.device.get_features().split(",")
            result = self.device.shell2(script, timeout=timeout, v2=self._v2)
        except _GONE as exc:
            raise self._lost(exc, "running a shell command") from exc
        return ShellResult(result.returncode, result.stdout or result.output, result.stderr or "")

    def open_stream(self, script: str) -> LineStream:
        try:
            connection = self.device.shell(script, stream=True)
            connection.conn.settimeout(max(30.0, self.timeout))
        except _GONE as exc:
            raise self._lost(exc, "starting the power sampler") from exc
        return _AdbLines(connection)

    def _sync(self, timeout: float):
        connection = self.device.open_transport(timeout=timeout)
        connection.send_command("sync:")
        connection.check_okay()
        return connection

    def push_file(self, local: Path, remote: str, timeout: float = 120.0) -> None:
        with self._sync(timeout) as c:
            spec = f"{remote},{0o100644}".encode("utf-8")
            c.conn.sendall(b"SEND" + struct.pack("<I", len(spec)) + spec)
            with open(local, "rb") as handle:
                while chunk := handle.read(SYNC_CHUNK):
                    c.conn.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
            c.conn.sendall(b"DONE" + struct.pack("<I", int(local.stat().st_mtime)))
            reply, length = c.read_exact(4), struct.unpack("<I", c.read_exact(4))[0]
            if reply == b"FAIL":
                raise ProfileError(f"{self.label}: push of {local.name} failed: {c.read_exact(length).decode('utf-8', 'replace')}")
            if reply != b"OKAY":
                raise ProfileError(f"{self.label}: push of {local.name} got {reply!r} from the device")

    def pull_bytes(self, remote: str, timeout: float = 60.0) -> bytes | None:
        """A file's bytes, or None when it does not exist."""
        with self._sync(timeout) as c:
            path = remote.encode("utf-8")
            c.conn.sendall(b"RECV" + struct.pack("<I", len(path)) + path)
            data = bytearray()
            while True:
                kind, length = c.read_exact(4), struct.unpack("<I", c.read_exact(4))[0]
                if kind == b"DATA":
                    data += c.read_exact(length)
                elif kind == b"DONE":
                    return bytes(data)
                elif kind == b"FAIL":
                    return None
                else:
                    raise ProfileError(f"{self.label}: unexpected sync reply {kind!r}")

    # --- profiling ----------------------------------------------------------------------------

    def device_info(self) -> dict:
        out = self.shell("getprop ro.product.manufacturer; getprop ro.product.model; "
                         "getprop ro.build.version.release; getprop ro.product.cpu.abi; nproc", 30).stdout
        lines = out.splitlines() + [""] * 5
        info = {"model": f"{lines[0]} {lines[1]}".strip(), "os": f"Android {lines[2]}".strip(), "abi": lines[3]}
        if lines[4].strip().isdigit():
            info["cores"] = int(lines[4])
        return info

    def energy_context(self, source, config: RunConfig) -> EnergyContext:
        ctx = super().energy_context(source, config)
        if config.battery_unplug and not self._unplugged:
            self.shell("dumpsys battery unplug", 30)
            self._unplugged = True
        battery = self.shell("dumpsys battery", 30).stdout
        powered = re.findall(r"(AC|USB|Wireless|Dock) powered: true", battery)
        if powered and not self._unplugged:
            ctx.charging = True
            ctx.warnings.append(f"{' and '.join(powered)} power is connected: the phone charges during the run, so "
                                "current_now includes charger current. Cut USB power (power-switching hub, or adb "
                                "over Wi-Fi and unplug), or at least pass --battery-unplug for batterystats")
        return ctx

    def _app_uid(self) -> int | None:
        if self._uid is None:
            match = re.search(r"userId=(\d+)", self.shell(f"dumpsys package {PACKAGE}", 30).stdout)
            self._uid = int(match.group(1)) if match else None
        return self._uid

    def app_energy(self, phase: str) -> dict | None:
        uid = self._app_uid()
        if uid is None:
            return None
        if phase == "start":
            self.shell("dumpsys batterystats --reset", 30)
            return None
        mah = parse_batterystats_checkin(self.shell("dumpsys batterystats --checkin", 60).stdout, uid)
        if mah is None:
            return {"uid": uid, "available": False,
                    "reason": "batterystats has no power-use line for the app (charging, or Android 12+ without one)"}
        return {"uid": uid, "available": True, "mah": mah, "source": "dumpsys batterystats --checkin (estimate)"}

    def _push_bundle(self, bundle: Path, remote: str) -> None:
        files = [(p, p.relative_to(bundle).as_posix()) for p in sorted(bundle.rglob("*")) if p.is_file() and not p.is_symlink()]
        files.sort(key=lambda f: f[1] == "manifest.json")  # the manifest last
        if self.pull_bytes(posixpath.join(remote, "manifest.json")) == (bundle / "manifest.json").read_bytes():
            sizes = self.shell(f"cd {_q(remote)} && wc -c " + " ".join(_q(rel) for _, rel in files), 60).stdout
            if all(re.search(rf"^\s*{p.stat().st_size}\s+{re.escape(rel)}$", sizes, re.M) for p, rel in files):
                return
        dirs = sorted({posixpath.dirname(posixpath.join(remote, rel)) for _, rel in files})
        self.shell("mkdir -p " + " ".join(_q(d) for d in dirs), 30)
        for local, rel in files:
            self.push_file(local, posixpath.join(remote, rel))

    def validate(self, config: RunConfig) -> None:
        if config.pin_cores:
            raise ProfileError("--pin-cores is not available over adb: the shell user cannot pin an app's threads "
                               "without root; leave it out (Android schedules the app on big cores in the foreground)")
        if config.op_profile:
            raise ProfileError("--op-profile is not available over adb yet: the app's executorch-android AAR is built "
                               "without the event tracer (no ETDump) and the app has no op profiler for LiteRT/ONNX; "
                               "profile operators on the host or a board (--device local | ssh://...)")

    def run_benchmark(self, bundle: Path, config: RunConfig, raw_dir: Path) -> dict:
        self.validate(config)
        name = bundle.resolve().name
        remote_bundle = f"{DEVICE_ROOT}/bundles/{name}"
        result = f"{RESULTS_DIR}/{name}-{int(time.time() * 1000)}.json"
        try:
            self.shell(f"mkdir -p {_q(DEVICE_ROOT + '/bundles')} {_q(RESULTS_DIR)}", 30)
            self._push_bundle(bundle, remote_bundle)
            self.shell(f"rm -f {_q(result)}", 30)
            args = ["am", "start", "-W", "-n", ACTIVITY, "--es", "bundle", remote_bundle,
                    "--ei", "warmup", str(config.warmup), "--ei", "runs", str(0 if config.duration_s else config.runs),
                    "--ei", "threads", str(config.threads), "--ei", "batch", str(config.batch),
                    "--ei", "seq_len", str(config.seq_len), "--es", "out", result]
            if config.duration_s:
                args += ["--ef", "duration_s", f"{config.duration_s:g}"]
            # the app keeps the screen after writing its result, so that the idle baseline sees the
            # same screen as the run; end_app stops it, hold_s bounds it if the profiler dies
            args += ["--ef", "hold_s", f"{config.settle_s + config.baseline_max_s + HOLD_MARGIN_S:g}"]
            started = self.shell(" ".join(_q(a) for a in args), 60)
        except _GONE as exc:
            raise self._lost(exc, f"preparing {name}") from exc
        if "Error" in started.stdout or started.rc != 0:
            message = next((l for l in started.stdout.splitlines() if "Error" in l), started.stderr.strip())
            raise ProfileError(f"{self.label}: could not start {ACTIVITY}: {message}. Install the edge-time demo "
                               f"app ({PACKAGE}, built from android_demo/) on the phone")
        data = self._wait_for(result, config.timeout_s, name)
        local = raw_path(raw_dir, name)
        local.write_bytes(data)
        try:
            parsed = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProfileError(f"{name}: the app wrote an unreadable result ({exc}); see `adb logcat -s edge-time`") from exc
        return validate_device_result(parsed, f"{name} ({self.label})")

    def _wait_for(self, result: str, timeout_s: float, name: str) -> bytes:
        deadline = time.monotonic() + timeout_s
        seen_app = False
        while time.monotonic() < deadline:
            check = self.shell(f"test -f {_q(result)} && echo ready; pidof {PACKAGE} >/dev/null && echo alive", 30).stdout
            if "ready" in check:
                try:
                    data = self.pull_bytes(result)
                except _GONE as exc:
                    raise self._lost(exc, f"pulling the result of {name}") from exc
                if data is not None:
                    return data
            if "alive" in check:
                seen_app = True
            elif seen_app:
                raise ProfileError(f"{name}: the app exited without writing {result}; see `adb logcat` for the crash")
            time.sleep(0.3)
        raise ProfileError(f"{name}: no result after --timeout {timeout_s:g} s; is the screen on and the app in front?")

    def end_app(self) -> None:
        self.shell(f"am force-stop {PACKAGE}", 30)

    def close(self) -> None:
        if self._unplugged:
            try:
                self.shell("dumpsys battery reset", 30)
            except DeviceLost:
                pass
