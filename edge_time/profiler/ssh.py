"""``--device ssh://USER@HOST[:PORT]``: a Raspberry Pi or any Linux board, over paramiko.

The bundle and a self-contained runner (runner.py plus edge_time's pure-Python device side:
bundle, errors, runtime) are copied with SFTP into ``--remote-dir``; the board needs only
``--remote-python`` with numpy, ``tokenizers`` and the bundle's runtime wheel. Every remote
command is ``sh -c <quoted script>`` (whatever the login shell is) and every path in it goes
through ``shlex.quote``. Host keys are checked against ~/.ssh/known_hosts unless told otherwise.

A hung board fails fast: every command has its own timeout (30 s; SFTP 60 s), and while a bundle
runs the board must answer an ssh keepalive every 5 s within 20 s. The runner runs under a
watchdog that stops it when the channel closes or the session drops. Errors name the step.
"""

from __future__ import annotations

import posixpath
import shlex
import socket
import threading
import time
from pathlib import Path

import paramiko

from edge_time.profiler.ops import trace_name
from edge_time.profiler.target import (DeviceLost, LineStream, ProfileConfig, ProfileError, RunConfig, ShellResult,
                                       Target, device_side_files, op_trace_args, raw_path, read_device_result)

_GONE = (paramiko.SSHException, socket.error, EOFError)
KEEPALIVE_S = 5.0  # while a bundle runs, ask the board for an answer this often
KEEPALIVE_LIMIT_S = 20.0  # and give up when none came within this long

# The runner runs in the background of the channel's shell; a watchdog reads the channel's stdin,
# which reaches EOF when the channel closes or the ssh session drops, and then stops the runner:
# a lost connection must not leave a benchmark running on the board. (An asynchronous list's
# stdin is /dev/null in sh, hence the copy on fd 3.)
WATCHDOG = ('exec 3<&0; "$@" </dev/null 3<&- & pid=$!; '
            '( cat <&3 >/dev/null 2>&1; kill -TERM "$pid" 2>/dev/null; sleep 2; kill -KILL "$pid" 2>/dev/null ) '
            '>/dev/null 2>&1 & watch=$!; exec 3<&-; '
            'wait "$pid"; rc=$?; kill "$watch" 2>/dev/null; exit "$rc"')


class _ChannelLines(LineStream):
    def __init__(self, channel: paramiko.Channel):
        self.channel = channel
        self.file = channel.makefile("r")

    def readline(self) -> str:
        try:
            return self.file.readline()
        except (socket.timeout, *_GONE):
            return ""

    def close(self) -> None:
        self.channel.close()


class SshTarget(Target):
    transport = "ssh"

    def __init__(self, host: str, user: str, port: int = 22, key_filename: str | None = None,
                 python: str = ProfileConfig.remote_python, remote_dir: str = ProfileConfig.remote_dir,
                 timeout: float = ProfileConfig.connect_timeout,
                 known_hosts: str | None = None, accept_new_host: bool = False):
        self.label = f"ssh://{user}@{host}:{port}"
        self.python = python
        self.remote_dir = remote_dir.rstrip("/") or "/"
        self.client = paramiko.SSHClient()
        if known_hosts:
            self.client.load_host_keys(known_hosts)
        else:
            self.client.load_system_host_keys()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy() if accept_new_host else paramiko.RejectPolicy())
        try:
            self.client.connect(host, port=port, username=user, key_filename=key_filename, timeout=timeout,
                                banner_timeout=timeout, auth_timeout=timeout)
        except paramiko.BadHostKeyException as exc:
            raise ProfileError(f"{self.label}: the host key changed since known_hosts was written; check the board "
                               "and fix ~/.ssh/known_hosts") from exc
        except paramiko.AuthenticationException as exc:
            raise ProfileError(f"{self.label}: authentication failed; pass --ssh-key or load the key into ssh-agent") from exc
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise ProfileError(f"{self.label}: host key unknown; run `ssh -p {port} {user}@{host}` once to "
                                   "check and store it") from exc
            raise ProfileError(f"{self.label}: ssh failed: {exc}") from exc
        except OSError as exc:
            raise ProfileError(f"{self.label}: cannot connect ({exc}); is the board on and sshd running?") from exc
        self.client.get_transport().set_keepalive(int(KEEPALIVE_S))
        self._sftp: paramiko.SFTPClient | None = None
        self._keepalive_lock = threading.Lock()
        self.keepalive_limit_s = KEEPALIVE_LIMIT_S

    # --- primitives ---------------------------------------------------------------------------

    def _exec(self, script: str, timeout: float) -> paramiko.Channel:
        try:
            channel = self.client.get_transport().open_session(timeout=timeout)
            channel.settimeout(timeout)
            channel.exec_command("sh -c " + shlex.quote(script))
            return channel
        except (*_GONE, AttributeError) as exc:
            raise DeviceLost(f"{self.label}: connection lost ({exc or type(exc).__name__})") from exc

    def shell(self, script: str, timeout: float = 30.0) -> ShellResult:
        channel = self._exec(script, timeout)
        try:
            stdout = channel.makefile("rb").read().decode("utf-8", "replace")
            stderr = channel.makefile_stderr("rb").read().decode("utf-8", "replace")
            deadline = time.monotonic() + timeout
            while not channel.exit_status_ready():
                if time.monotonic() > deadline or channel.closed and not channel.exit_status_ready():
                    raise DeviceLost(f"{self.label}: no exit status within {timeout:g} s")
                time.sleep(0.01)
            return ShellResult(channel.recv_exit_status(), stdout, stderr)
        except socket.timeout as exc:
            raise DeviceLost(f"{self.label}: a command gave no output for {timeout:g} s (board hung or unplugged?)") from exc
        except _GONE as exc:
            raise DeviceLost(f"{self.label}: connection lost ({exc})") from exc
        finally:
            channel.close()

    def check_alive(self, doing: str) -> None:
        """A keepalive the board must answer within ``keepalive_limit_s``: a hung board or a dead
        link (no RST, no FIN) otherwise looks like a long silent run. DeviceLost names ``doing``."""
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise DeviceLost(f"{self.label}: the ssh connection closed while {doing}")
        answered = threading.Event()

        def ask() -> None:
            with self._keepalive_lock:
                try:
                    transport.global_request("keepalive@openssh.com", wait=True)
                except Exception:  # a failed send: the transport is going down, checked below
                    pass
            answered.set()

        threading.Thread(target=ask, name="ssh-keepalive", daemon=True).start()
        if not answered.wait(self.keepalive_limit_s):
            raise DeviceLost(f"{self.label}: no answer to ssh keepalives for {self.keepalive_limit_s:g} s while {doing}; "
                             "the board hung, lost power or left the network")
        if not transport.is_active():
            raise DeviceLost(f"{self.label}: the ssh connection closed while {doing}")

    def open_stream(self, script: str) -> LineStream:
        channel = self._exec(script, timeout=30)
        channel.settimeout(30)
        return _ChannelLines(channel)

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self.client.open_sftp()
            self._sftp.get_channel().settimeout(60)
        return self._sftp

    def _put_tree(self, files: list[tuple[Path, str]], remote_root: str) -> None:
        made = set()
        for local, rel in files:
            remote = posixpath.join(remote_root, rel)
            parent = posixpath.dirname(remote)
            if parent not in made:
                self.shell(f"mkdir -p {shlex.quote(parent)}", timeout=30)
                made.add(parent)
            self.sftp.put(str(local), remote)

    def _same_bundle(self, files: list[tuple[Path, str]], remote_root: str) -> bool:
        """The board already holds this bundle: same manifest (it lists every file's sha256;
        it is copied last) and same sizes. The runner re-verifies the hashes anyway."""
        try:
            with self.sftp.open(posixpath.join(remote_root, "manifest.json"), "rb") as handle:
                if handle.read() != (files[-1][0]).read_bytes():
                    return False
            return all(self.sftp.stat(posixpath.join(remote_root, rel)).st_size == local.stat().st_size
                       for local, rel in files)
        except FileNotFoundError:
            return False

    # --- profiling ----------------------------------------------------------------------------

    def device_info(self) -> dict:
        out = self.shell("uname -srm; cat /proc/device-tree/model 2>/dev/null | tr -d '\\0'; echo; nproc", 30).stdout
        lines = [line for line in out.splitlines() if line.strip()]
        info = {"os": lines[0] if lines else "", "abi": lines[0].split()[-1] if lines else ""}
        if len(lines) >= 3:
            info["model"] = lines[1]
        if lines and lines[-1].isdigit():
            info["cores"] = int(lines[-1])
        return info

    def run_benchmark(self, bundle: Path, config: RunConfig, raw_dir: Path) -> dict:
        name = bundle.resolve().name
        runner_dir = posixpath.join(self.remote_dir, "runner")
        remote_bundle = posixpath.join(self.remote_dir, "bundles", name)
        stem = f"{name}-{int(time.time() * 1000)}"
        result = posixpath.join(self.remote_dir, "results", f"{stem}.json")
        from edge_time.bundle import read_manifest

        trace = posixpath.join(self.remote_dir, "results", trace_name(stem, read_manifest(bundle, verify=False).target))
        step = "copying the runner"
        try:
            self._put_tree(device_side_files(), runner_dir)
            step = f"copying {name}"
            files = [(p, p.relative_to(bundle).as_posix()) for p in sorted(bundle.rglob("*"))
                     if p.is_file() and not p.is_symlink()]
            # the manifest last: a half-copied bundle never has a fresh manifest
            files.sort(key=lambda f: f[1] == "manifest.json")
            if not self._same_bundle(files, remote_bundle):
                self._put_tree(files, remote_bundle)
            self.shell(f"mkdir -p {shlex.quote(posixpath.dirname(result))}", 30)
        except _GONE as exc:
            raise DeviceLost(f"{self.label}: connection lost while {step} ({exc or type(exc).__name__})") from exc
        except DeviceLost as exc:
            raise DeviceLost(f"{exc} (while {step})") from exc
        q = shlex.quote
        command = [self.python, "runner.py", "--bundle", remote_bundle, "--out", result, *config.runner_args(),
                   *op_trace_args(config, trace)]
        script = (f"cd {q(runner_dir)} && PYTHONPATH={q(runner_dir)} && export PYTHONPATH && "
                  f"set -- {' '.join(q(a) for a in command)} && {WATCHDOG}")
        rc, stderr = self._run_watched(script, name, config.timeout_s)
        local = raw_path(raw_dir, name)
        try:
            self.sftp.get(result, str(local))
        except FileNotFoundError:
            tail = stderr.strip().splitlines()[-1:] or ["no output"]
            raise ProfileError(f"{name}: the board runner exited with {rc} and wrote no result: {tail[0]} "
                               f"(does {self.python} have numpy, tokenizers and the runtime?)") from None
        except _GONE as exc:
            raise DeviceLost(f"{self.label}: connection lost while fetching the result of {name} ({exc})") from exc
        data = read_device_result(local, f"{name} ({self.label})")
        ops = data.get("op_profile") or {}
        if ops.get("file"):  # the runner's op trace, beside the result: fetched beside the local copy
            fetched = local.with_name(local.name.removesuffix(".device.json") + ops["file"][len(stem):])
            try:
                self.sftp.get(posixpath.join(posixpath.dirname(result), ops["file"]), str(fetched))
                ops["file"] = fetched.name
            except FileNotFoundError:
                ops.update(file=None, error=f"the board wrote no op trace {ops['file']}")
            except _GONE as exc:
                raise DeviceLost(f"{self.label}: connection lost while fetching the op trace of {name} ({exc})") from exc
        return data

    def _run_watched(self, script: str, name: str, timeout_s: float) -> tuple[int, str]:
        """Run the benchmark script; while it runs, the board must answer keepalives. Returns
        (exit status, stderr). Closing the channel on any failure stops the runner (WATCHDOG)."""
        try:
            channel = self._exec(script, timeout=30)
        except DeviceLost as exc:
            raise DeviceLost(f"{exc} (while starting the runner for {name})") from exc
        doing = f"running {name}"
        stdout, stderr = bytearray(), bytearray()
        deadline = time.monotonic() + timeout_s
        next_ping = time.monotonic() + KEEPALIVE_S
        try:
            while True:
                while channel.recv_ready():
                    stdout += channel.recv(65536)
                while channel.recv_stderr_ready():
                    stderr += channel.recv_stderr(65536)
                if channel.exit_status_ready():
                    break
                transport = self.client.get_transport()
                if channel.closed or transport is None or not transport.is_active():
                    raise DeviceLost(f"{self.label}: the ssh connection closed while {doing}")
                if time.monotonic() > deadline:
                    raise ProfileError(f"{name}: still running after --timeout {timeout_s:g} s; stopped it on the board")
                if time.monotonic() >= next_ping:
                    self.check_alive(doing)
                    next_ping = time.monotonic() + KEEPALIVE_S
                time.sleep(0.05)
            rc = channel.recv_exit_status()
            while channel.recv_stderr_ready():
                stderr += channel.recv_stderr(65536)
            return rc, stderr.decode("utf-8", "replace")
        except _GONE as exc:
            raise DeviceLost(f"{self.label}: connection lost while {doing} ({exc or type(exc).__name__})") from exc
        finally:
            try:
                channel.close()  # EOF on the watchdog's stdin: the runner stops if it still runs
            except Exception:
                pass

    def close(self) -> None:
        self.client.close()
