"""A stand-in Android device on 127.0.0.1 that speaks the adb wire protocol.

Debian's real ``adb`` server connects to it with ``adb connect 127.0.0.1:PORT`` (as it would to a
phone with wireless debugging), and the profiler talks to that server through adbutils, so the
whole host side runs for real: adb transport, shell v2 exit codes, sync push/pull/stat.

What it implements (AOSP packages/modules/adb/protocol.txt, SYNC.TXT, shell_protocol.h):
- CNXN answered straight away (no AUTH), banner ``device::...;features=shell_v2,cmd,stat_v2``;
- streams: OPEN / OKAY / WRTE / CLSE with one unacknowledged WRTE per direction;
- ``shell:``/``shell,v2[,raw]:`` commands run by /bin/sh in a temp root; v2 frames stdout (1),
  stderr (2) and the exit code (3); closing the stream kills the command (adbd sends SIGHUP);
- ``sync:`` STAT, STA2/LST2, LIST, SEND (DATA.../DONE), RECV, QUIT.

Device paths /data/local/tmp, /sdcard and /sys are rewritten into the temp root (in commands and
in sync paths); anything else in sync is refused. ``system/bin`` in the root holds stand-ins for
``am`` (starts the BenchmarkActivity: runs edge_time's python runner on the pushed bundle in the
background, marking the "CPU busy" while it runs), ``dumpsys`` (package uid, battery,
batterystats, thermalservice) and ``getprop``. A thread plays the battery: ``current_now`` reads
-150 mA idle and -450 mA while the benchmark runs (negative = discharging, like a Pixel),
``voltage_now`` 3.85 V, so energy above idle is known: 0.3 A x 3.85 V = 1.155 W while busy. With
the app gone (another screen in front) it reads -110 mA, so a baseline taken without the app in
front is wrong by a known amount. ``tail_busy_s`` keeps drawing busy current that long after the
app wrote its result (a device still busy when the result appears).

What it does not test: USB transport, AUTH/RSA keys, the real app (Kotlin), a real fuel gauge's
sampling lag and quantisation, SELinux, Android's mksh (the stand-in runs Debian's dash).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_AUTH = 0x4E584E43, 0x4E45504F, 0x59414B4F, 0x45534C43, 0x45545257, 0x48545541
VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
BANNER = b"device::ro.product.name=edgetime_loopback;ro.product.model=EdgeTime_Loopback;ro.product.device=loopback;features=shell_v2,cmd,stat_v2"
# idle with the app in front, busy (the app runs), idle with another screen in front (the launcher)
IDLE_UA, BUSY_UA, OTHER_SCREEN_UA, VOLTAGE_UV = 150_000, 450_000, 110_000, 3_850_000
APP_UID = 10234
RUNNER = Path(__file__).resolve().parents[2] / "edge_time" / "profiler" / "runner.py"

AM = r'''#!{python}
"""Stand-in for `am start -W -n dev.edgetime.demo/.BenchmarkActivity --es bundle ... --es out ...`
and `am force-stop dev.edgetime.demo`. Like the real activity, the app is in front ("front" flag)
from its start until it finishes: hold_s after writing its result, or until force-stopped."""
import json, os, signal, subprocess, sys
root = {root!r}
args = sys.argv[1:]
with open(os.path.join(root, "am_calls.jsonl"), "a") as log:
    log.write(json.dumps(args) + "\n")
run = os.path.join(root, "run")
if args[:2] == ["force-stop", "dev.edgetime.demo"]:
    pids = os.path.join(run, "app.pids")
    for pid in (open(pids).read().split() if os.path.exists(pids) else []):
        try:
            os.killpg(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    for flag in ("busy", "front"):
        if os.path.exists(os.path.join(run, flag)):
            os.remove(os.path.join(run, flag))
    sys.exit(0)
if args[:1] != ["start"] or "-n" not in args or args[args.index("-n") + 1] != "dev.edgetime.demo/.BenchmarkActivity":
    print("Error: Activity class {{" + (args[args.index("-n") + 1] if "-n" in args else "?") + "}} does not exist.")
    sys.exit(1)
extras = {{}}
i = 0
while i < len(args):
    if args[i] in ("--es", "--ei", "--ef"):
        extras[args[i + 1]] = args[i + 2]
        i += 3
    else:
        i += 1
command = [{python!r}, {runner!r}, "--bundle", extras["bundle"], "--out", extras["out"],
           "--warmup", extras.get("warmup", "10"), "--runs", extras.get("runs", "100"),
           "--threads", extras.get("threads", "0"), "--batch", extras.get("batch", "1"),
           "--seq-len", extras.get("seq_len", "128"), "--runner-name", "android-app-standin"]
if "duration_s" in extras:
    command += ["--duration", extras["duration_s"]]
tail = open(os.path.join(run, "tail_busy_s")).read().strip() if os.path.exists(os.path.join(run, "tail_busy_s")) else "0"
app = subprocess.Popen(["/bin/sh", "-c",
                        'b="$1"; f="$2"; tail="$3"; hold="$4"; shift 4; touch "$f" "$b"; "$@"; '
                        'sleep "$tail"; rm -f "$b"; sleep "$hold"; rm -f "$f"',
                        "sh", os.path.join(run, "busy"), os.path.join(run, "front"), tail, extras.get("hold_s", "0"),
                        *command],
                       stdout=open(os.path.join(run, "app.log"), "ab"), stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, start_new_session=True)
with open(os.path.join(run, "app.pids"), "a") as pids:
    pids.write(str(app.pid) + "\n")
print("Starting: Intent {{ cmp=dev.edgetime.demo/.BenchmarkActivity (has extras) }}")
print("Status: ok\nLaunchState: COLD\nActivity: dev.edgetime.demo/.BenchmarkActivity\nTotalTime: 120\nWaitTime: 125\nComplete")
'''

DUMPSYS = r'''#!{python}
"""Stand-in for dumpsys: package, battery, batterystats, thermalservice."""
import os, sys
root = {root!r}
state = os.path.join(root, "run")
args = sys.argv[1:]
def read(name, default=""):
    try:
        return open(os.path.join(state, name)).read().strip()
    except OSError:
        return default
if args[:1] == ["package"]:
    if args[1:2] == ["dev.edgetime.demo"]:
        print("Packages:\n  Package [dev.edgetime.demo] (1a2b3c):\n    userId={uid}\n    versionName=0.1.0")
elif args[:1] == ["battery"]:
    if args[1:2] == ["unplug"]:
        open(os.path.join(state, "unplugged"), "w").close()
    elif args[1:2] == ["reset"]:
        if os.path.exists(os.path.join(state, "unplugged")):
            os.remove(os.path.join(state, "unplugged"))
    else:
        usb = read("usb_powered", "false") if not os.path.exists(os.path.join(state, "unplugged")) else "false"
        print("Current Battery Service state:\n  AC powered: false\n  USB powered: " + usb +
              "\n  Wireless powered: false\n  status: " + ("2" if usb == "true" else "3") + "\n  level: 80")
elif args[:1] == ["batterystats"]:
    if "--reset" in args:
        open(os.path.join(state, "app_uah"), "w").write("0")
        print("Battery stats reset.")
    elif "--checkin" in args:
        mah = float(read("app_uah", "0") or 0) / 1000.0
        print("9,0,i,vers,36,214,TQ3A,TQ3A")
        print("9,{uid},l,pwi,uid,%.4f,0,0,0" % mah)
elif args[:1] == ["thermalservice"]:
    print("IsStatusOverride: false\nThermal Status: 0")
'''

GETPROP = r'''#!/bin/sh
case "$1" in
  ro.product.manufacturer) echo EdgeTime ;;
  ro.product.model) echo Loopback Phone ;;
  ro.build.version.release) echo 14 ;;
  ro.product.cpu.abi) echo x86_64 ;;  # an x86_64 emulator image: the runner it runs is this machine's Python
  *) echo "" ;;
esac
'''


def _header(command: int, arg0: int, arg1: int, payload: bytes) -> bytes:
    return struct.pack("<6I", command, arg0, arg1, len(payload), sum(payload) & 0xFFFFFFFF, command ^ 0xFFFFFFFF)


class _Stream:
    """One adb stream: sends WRTE one at a time, each after the host's OKAY."""

    def __init__(self, conn: "_Connection", local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.acked = threading.Event()
        self.acked.set()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.inbox: queue.Queue = queue.Queue()
        self.process: subprocess.Popen | None = None

    def send(self, data: bytes) -> bool:
        with self.lock:
            for start in range(0, len(data), self.conn.max_payload):
                while not self.acked.wait(0.2):
                    if self.closed.is_set() or self.conn.dead:
                        return False
                if self.closed.is_set():
                    return False
                self.acked.clear()
                self.conn.send(A_WRTE, self.local_id, self.remote_id, data[start:start + self.conn.max_payload])
        return True

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
            self.conn.streams.pop(self.local_id, None)

    def on_host_close(self) -> None:
        self.closed.set()
        self.inbox.put(None)
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGHUP)
            except ProcessLookupError:
                pass


class _Connection:
    def __init__(self, device: "FakeAdbDevice", sock: socket.socket):
        self.device, self.sock = device, sock
        self.send_lock = threading.Lock()
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.max_payload = 4096
        self.dead = False

    def send(self, command: int, arg0: int, arg1: int, payload: bytes = b"") -> None:
        if self.dead:
            return
        try:
            with self.send_lock:
                self.sock.sendall(_header(command, arg0, arg1, payload) + payload)
        except OSError:
            self.dead = True

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def serve(self) -> None:
        try:
            while not self.dead:
                command, arg0, arg1, length, _, magic = struct.unpack("<6I", self._read(24))
                if magic != command ^ 0xFFFFFFFF:
                    break
                payload = self._read(length) if length else b""
                self.handle(command, arg0, arg1, payload)
        except (EOFError, OSError):
            pass
        finally:
            self.dead = True
            for stream in list(self.streams.values()):
                stream.on_host_close()
            try:
                self.sock.close()
            except OSError:
                pass

    def handle(self, command: int, arg0: int, arg1: int, payload: bytes) -> None:
        if command == A_CNXN:
            self.max_payload = min(MAX_PAYLOAD, arg1 or 4096)
            self.send(A_CNXN, VERSION, MAX_PAYLOAD, BANNER)
        elif command == A_OPEN:
            local_id, self.next_id = self.next_id, self.next_id + 1
            destination = payload.rstrip(b"\0").decode("utf-8", "replace")
            stream = _Stream(self, local_id, arg0)
            handler = self.device.service(destination)
            if handler is None:
                self.send(A_CLSE, 0, arg0)
                return
            self.streams[local_id] = stream
            self.send(A_OKAY, local_id, arg0)
            threading.Thread(target=handler, args=(stream,), daemon=True).start()
        elif command == A_OKAY:
            stream = self.streams.get(arg1)
            if stream:
                stream.acked.set()
        elif command == A_WRTE:
            stream = self.streams.get(arg1)
            if stream:
                self.send(A_OKAY, arg1, arg0)
                stream.inbox.put(payload)
        elif command == A_CLSE:
            stream = self.streams.pop(arg1, None)
            if stream:
                stream.on_host_close()


class FakeAdbDevice:
    """The stand-in phone. ``drop_on``: a regex; when a shell command matches, the device
    vanishes ``drop_after`` seconds later (sockets closed, listener gone), like a pulled cable."""

    def __init__(self, root: Path, charging: bool = False, drop_on: str | None = None, drop_after: float = 1.0,
                 cpu_temp_mc: int = 41500, tail_busy_s: float = 0.0):
        self.root = Path(root)
        self.drop_on, self.drop_after = (re.compile(drop_on) if drop_on else None), drop_after
        self.connections: list[_Connection] = []
        self.commands: list[str] = []
        self.dropped = threading.Event()
        self.stopping = threading.Event()
        self._build_root(charging, cpu_temp_mc)
        (self.root / "run" / "tail_busy_s").write_text(f"{tail_busy_s:g}")
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.serial = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._battery, daemon=True).start()

    # --- the device's file system ---------------------------------------------------------------

    def _build_root(self, charging: bool, cpu_temp_mc: int) -> None:
        root = self.root
        for folder in ("data/local/tmp", "sdcard", "run", "system/bin", "sys/class/power_supply/battery",
                       "sys/class/power_supply/usb", "sys/class/thermal/thermal_zone0"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        for cpu, khz in enumerate([1800000, 1800000, 2400000, 2400000]):
            folder = root / f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "scaling_cur_freq").write_text(f"{khz}\n")
        (root / "sys/class/thermal/thermal_zone0/type").write_text("cpu-big\n")
        (root / "sys/class/thermal/thermal_zone0/temp").write_text(f"{cpu_temp_mc}\n")
        (root / "sys/class/power_supply/usb/online").write_text("1\n" if charging else "0\n")
        (root / "sys/class/power_supply/battery/status").write_text("Charging\n" if charging else "Discharging\n")
        (root / "run/usb_powered").write_text("true" if charging else "false")
        fill = {"python": sys.executable, "root": str(root), "runner": str(RUNNER), "uid": APP_UID}
        for name, text in (("am", AM), ("dumpsys", DUMPSYS), ("getprop", GETPROP)):
            path = root / "system/bin" / name
            path.write_text(text.format(**fill) if name != "getprop" else text)
            path.chmod(0o755)

    def _battery(self) -> None:
        """Update current_now/voltage_now every 10 ms; count the app's charge (for batterystats)."""
        folder = self.root / "sys/class/power_supply/battery"
        busy_flag, front_flag = self.root / "run" / "busy", self.root / "run" / "front"
        app_uah = 0.0
        last = time.monotonic()
        while not self.stopping.is_set():
            busy = busy_flag.exists()
            sign = 1 if (self.root / "run/usb_powered").read_text() == "true" else -1
            current = (BUSY_UA if busy else IDLE_UA if front_flag.exists() else OTHER_SCREEN_UA) * sign
            for name, value in (("current_now", current), ("voltage_now", VOLTAGE_UV)):
                tmp = folder / f".{name}.tmp"
                tmp.write_text(f"{value}\n")
                os.replace(tmp, folder / name)
            now = time.monotonic()
            if busy:
                app_uah += (BUSY_UA - IDLE_UA) * (now - last) / 3600.0
                (self.root / "run" / "app_uah").write_text(f"{app_uah:.3f}")
            last = now
            time.sleep(0.01)

    def device_path(self, path: str) -> Path | None:
        """A device path inside the mapped prefixes -> the host path; None for anything else."""
        for prefix in ("/data/local/tmp", "/sdcard", "/sys"):
            if path == prefix or path.startswith(prefix + "/"):
                return self.root / path.lstrip("/")
        return None

    def rewrite(self, command: str) -> str:
        return re.sub(r"(?<![\w.-])(/data/local/tmp|/sdcard|/sys)(?=/|\s|'|\"|$)",
                      lambda m: str(self.root) + m.group(1), command)

    # --- services -----------------------------------------------------------------------------

    def service(self, destination: str):
        name, _, argument = destination.partition(":")
        options = name.split(",")
        if options[0] in ("shell", "exec") and argument:
            return lambda stream: self._shell(stream, argument, v2="v2" in options[1:])
        if destination == "sync:":
            return self._sync
        return None

    def _shell(self, stream: _Stream, command: str, v2: bool) -> None:
        self.commands.append(command)
        if self.drop_on and self.drop_on.search(command):
            threading.Timer(self.drop_after, self.drop).start()
        env = dict(os.environ, PATH=f"{self.root / 'system/bin'}:/usr/bin:/bin", HOME=str(self.root / "data/local/tmp"))
        process = subprocess.Popen(["/bin/sh", "-c", self.rewrite(command)], cwd=self.root, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE if v2 else subprocess.STDOUT, start_new_session=True)
        stream.process = process

        def pump(pipe, channel: int) -> None:
            for chunk in iter(lambda: os.read(pipe.fileno(), 65536), b""):
                packet = bytes([channel]) + struct.pack("<I", len(chunk)) + chunk if v2 else chunk
                if not stream.send(packet):
                    break

        pumps = [threading.Thread(target=pump, args=(process.stdout, 1), daemon=True)]
        if v2:
            pumps.append(threading.Thread(target=pump, args=(process.stderr, 2), daemon=True))
        for thread in pumps:
            thread.start()
        code = process.wait()
        for thread in pumps:
            thread.join(timeout=5)
        if v2 and not stream.closed.is_set():
            stream.send(bytes([3]) + struct.pack("<I", 1) + bytes([code & 0xFF]))
        stream.close()

    def _sync(self, stream: _Stream) -> None:
        buffer = bytearray()

        def take(n: int) -> bytes | None:
            while len(buffer) < n:
                chunk = stream.inbox.get()
                if chunk is None:
                    return None
                buffer.extend(chunk)
            data = bytes(buffer[:n])
            del buffer[:n]
            return data

        def reply(kind: bytes, payload: bytes = b"") -> None:
            stream.send(kind + payload)

        def fail(message: str) -> None:
            reply(b"FAIL", struct.pack("<I", len(message)) + message.encode())

        while True:
            head = take(8)
            if head is None:
                return
            kind, length = head[:4], struct.unpack("<I", head[4:])[0]
            if kind == b"QUIT":
                stream.close()
                return
            argument = take(length)
            if argument is None:
                return
            text = argument.decode("utf-8", "replace")
            if kind == b"SEND":
                path_text, _, mode = text.rpartition(",")
                target = self.device_path(path_text)
                data = bytearray()
                while True:
                    sub = take(8)
                    if sub is None:
                        return
                    sub_kind, sub_len = sub[:4], struct.unpack("<I", sub[4:])[0]
                    if sub_kind == b"DATA":
                        data += take(sub_len) or b""
                    elif sub_kind == b"DONE":
                        break
                if target is None:
                    fail(f"remote couldn't create file: Permission denied ({path_text})")
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.sync")
                tmp.write_bytes(bytes(data))
                os.chmod(tmp, int(mode) & 0o777 if mode.isdigit() else 0o644)
                os.replace(tmp, target)
                reply(b"OKAY", struct.pack("<I", 0))
            elif kind == b"RECV":
                target = self.device_path(text)
                if target is None or not target.is_file():
                    fail(f"remote object '{text}' does not exist")
                    continue
                data = target.read_bytes()
                for start in range(0, len(data), 65536):
                    reply(b"DATA", struct.pack("<I", len(data[start:start + 65536])) + data[start:start + 65536])
                reply(b"DONE", struct.pack("<I", 0))
            elif kind in (b"STAT", b"STA2", b"LST2"):
                target = self.device_path(text)
                try:
                    st = (target.lstat() if kind == b"LST2" else target.stat()) if target else None
                except OSError:
                    st = None
                if kind == b"STAT":
                    values = (st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)) if st else (0, 0, 0)
                    reply(b"STAT", struct.pack("<III", *values))
                elif st is None:
                    reply(kind, struct.pack("<IQQIIIIQqqq", 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
                else:
                    reply(kind, struct.pack("<IQQIIIIQqqq", 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink,
                                            st.st_uid, st.st_gid, st.st_size, int(st.st_atime), int(st.st_mtime),
                                            int(st.st_ctime)))
            elif kind == b"LIST":
                target = self.device_path(text)
                entries = sorted(target.iterdir()) if target and target.is_dir() else []
                for entry in entries:
                    st = entry.lstat()
                    name = entry.name.encode()
                    reply(b"DENT", struct.pack("<IIII", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(name)) + name)
                reply(b"DONE", struct.pack("<IIII", 0, 0, 0, 0))
            else:
                fail(f"unknown sync command {kind!r}")

    # --- life cycle ---------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self.dropped.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            if self.dropped.is_set():
                sock.close()
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(self, sock)
            self.connections.append(connection)
            threading.Thread(target=connection.serve, daemon=True).start()

    def drop(self) -> None:
        """Vanish: refuse new connections and cut the ones open (the cable is pulled)."""
        self.dropped.set()
        try:  # shutdown wakes the thread blocked in accept(); close alone would leave it listening
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for connection in self.connections:
            connection.dead = True
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.drop()
        self.stopping.set()
        for connection in self.connections:
            for stream in list(connection.streams.values()):
                stream.on_host_close()
        pids = self.root / "run" / "app.pids"
        for pid in (pids.read_text().split() if pids.exists() else []):
            try:  # the stand-in app's own process group, started by our `am`
                os.killpg(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
