"""``--device ssh://USER@HOST[:PORT]``: a Raspberry Pi or any Linux board, over paramiko.

The bundle and a self-contained runner (runner.py plus edge_time's pure-Python device side:
bundle, errors, runtime) are copied with SFTP into ``--remote-dir``; the board needs only
``--remote-python`` with numpy, ``tokenizers`` and the bundle's runtime wheel. Every remote
command is ``sh -c <quoted script>`` (whatever the login shell is) and every path in it goes
through ``shlex.quote``. Host keys are checked against ~/.ssh/known_hosts unless told otherwise.
"""

from __future__ import annotations

import posixpath
import shlex
import socket
import time
from pathlib import Path

import paramiko

from edge_time.profiler.target import (DeviceLost, LineStream, ProfileError, RunConfig, ShellResult, Target,
                                       device_side_files, raw_path, read_device_result)

_GONE = (paramiko.SSHException, socket.error, EOFError)


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
                 python: str = "python3", remote_dir: str = "/tmp/edge_time", timeout: float = 15.0,
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
        self.client.get_transport().set_keepalive(5)
        self._sftp: paramiko.SFTPClient | None = None

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
        result = posixpath.join(self.remote_dir, "results", f"{name}-{int(time.time() * 1000)}.json")
        try:
            self._put_tree(device_side_files(), runner_dir)
            files = [(p, p.relative_to(bundle).as_posix()) for p in sorted(bundle.rglob("*"))
                     if p.is_file() and not p.is_symlink()]
            # the manifest last: a half-copied bundle never has a fresh manifest
            files.sort(key=lambda f: f[1] == "manifest.json")
            if not self._same_bundle(files, remote_bundle):
                self._put_tree(files, remote_bundle)
            self.shell(f"mkdir -p {shlex.quote(posixpath.dirname(result))}", 30)
        except _GONE as exc:
            raise DeviceLost(f"{self.label}: connection lost while copying {name} ({exc})") from exc
        q = shlex.quote
        script = (f"cd {q(runner_dir)} && PYTHONPATH={q(runner_dir)} exec {q(self.python)} runner.py "
                  f"--bundle {q(remote_bundle)} --out {q(result)} "
                  + " ".join(q(a) for a in config.runner_args()))
        done = self.shell(script, timeout=config.timeout_s)
        local = raw_path(raw_dir, name)
        try:
            self.sftp.get(result, str(local))
        except FileNotFoundError:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ProfileError(f"{name}: the board runner exited with {done.rc} and wrote no result: {tail[0]} "
                               f"(does {self.python} have numpy, tokenizers and the runtime?)") from None
        except _GONE as exc:
            raise DeviceLost(f"{self.label}: connection lost while fetching the result ({exc})") from exc
        return read_device_result(local, f"{name} ({self.label})")

    def close(self) -> None:
        self.client.close()
