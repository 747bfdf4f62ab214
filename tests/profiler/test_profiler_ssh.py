"""`--device ssh://...` end to end through Debian's real OpenSSH server on 127.0.0.1.

The "board" is this machine: the runner is copied by SFTP with edge_time's device side and run
by the same venv Python (``remote_python=sys.executable``), as a Pi runs it with its own."""

import os
import shutil
import sys

import pytest

from edge_time.profiler import ProfileError, RunConfig, profile
from edge_time.profiler.ssh import SshTarget

from sshd_server import SSHD, start_sshd

pytestmark = pytest.mark.skipif(not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None,
                                reason="Debian's openssh-server (/usr/sbin/sshd) and ssh-keygen are not installed")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def _target(sshd, remote_dir):
    return SshTarget("127.0.0.1", sshd.user, sshd.port, key_filename=str(sshd.key), python=sys.executable,
                     remote_dir=str(remote_dir), known_hosts=str(sshd.known_hosts))


def test_ssh_profile_end_to_end_with_hostile_names(sshd, odd_bundle, tmp_path):
    remote = tmp_path / "board 'home'; touch INJECTED"
    target = _target(sshd, remote)
    assert target.shell("echo ok; exit 7").rc == 7
    report = profile([odd_bundle], target, RunConfig(runs=20, warmup=1, seq_len=16), tmp_path / "out")
    run = report["runs"][0]
    assert report["device"]["transport"] == "ssh" and run["status"] == "ok", run.get("error")
    assert run["latency"]["count"] == 20
    assert run["device_result"]["runner"] == "python-runtime"
    # the bundle and the runner landed where asked, names intact, and nothing ran as a command
    assert (remote / "bundles" / odd_bundle.name / "manifest.json").is_file()
    assert (remote / "runner" / "edge_time" / "runtime" / "__init__.py").is_file()
    assert not list(tmp_path.rglob("INJECTED")) and not list(remote.parent.rglob("INJECTED"))
    assert "thermal" in run and run["energy"]["available"] is False


def test_ssh_reuses_an_unchanged_bundle_and_reports_runner_failures(sshd, tiny_bundle, tmp_path):
    target = _target(sshd, tmp_path / "remote")
    profile([tiny_bundle], target, RunConfig(runs=3, seq_len=8), tmp_path / "one")
    manifest = tmp_path / "remote" / "bundles" / tiny_bundle.name / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    target = _target(sshd, tmp_path / "remote")
    report = profile([tiny_bundle], target, RunConfig(runs=3, seq_len=4096), tmp_path / "two")
    assert manifest.stat().st_mtime_ns == stamp  # not copied again
    assert report["runs"][0]["status"] == "error" and "max_length" in report["runs"][0]["error"]
    broken = SshTarget("127.0.0.1", sshd.user, sshd.port, key_filename=str(sshd.key), python="/nonexistent/python",
                       remote_dir=str(tmp_path / "remote"), known_hosts=str(sshd.known_hosts))
    report = profile([tiny_bundle], broken, RunConfig(runs=3), tmp_path / "three")
    assert "wrote no result" in report["runs"][0]["error"]


def test_ssh_unknown_host_key_is_refused(sshd, tmp_path):
    (tmp_path / "empty_known_hosts").write_text("")
    with pytest.raises(ProfileError, match="host key unknown"):
        SshTarget("127.0.0.1", sshd.user, sshd.port, key_filename=str(sshd.key),
                  known_hosts=str(tmp_path / "empty_known_hosts"))


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, comm, command line) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                stat = handle.read()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        table[int(entry)] = (int(stat[stat.rindex(")") + 2:].split()[1]), comm, cmdline)
    return table


def _session_processes(master: int) -> list[int]:
    """The sshd processes serving connections (descendants of the listening sshd named sshd*)."""
    table = _processes()
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(children.get(master, []))
    while todo:
        pid = todo.pop()
        if table[pid][1].startswith("sshd"):
            found.append(pid)
            todo += children.get(pid, [])
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_hung_board_fails_within_the_keepalive_bound_and_the_runner_is_stopped(tiny_bundle, tmp_path):
    """The board's sshd freezes (SIGSTOP) while a 300 s run is going: the profiler gives up within
    the keepalive bound, naming the step, instead of waiting for --timeout; when the session then
    drops (the frozen sshd is killed), the watchdog stops the runner on the board."""
    import signal
    import threading
    import time

    from edge_time.profiler import DeviceLost, load_report
    from edge_time.profiler.ssh import KEEPALIVE_LIMIT_S, KEEPALIVE_S

    server = start_sshd(tmp_path / "sshd")
    remote = tmp_path / "hung-board"
    state: dict = {}

    def freeze():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "runner" not in state:
            state.update({"runner": pid for pid, (_, comm, cmd) in _processes().items()
                          if comm.startswith("python") and "runner.py" in cmd and str(remote) in cmd})
            time.sleep(0.2)
        time.sleep(1.0)
        state["frozen"] = _session_processes(server.process.pid)
        for pid in state["frozen"]:
            os.kill(pid, signal.SIGSTOP)
        state["frozen_at"] = time.monotonic()

    try:
        target = _target(server, remote)
        thread = threading.Thread(target=freeze, daemon=True)
        thread.start()
        with pytest.raises(DeviceLost) as caught:
            profile([tiny_bundle], target, RunConfig(duration_s=300, warmup=1, seq_len=8, power="none", timeout_s=900),
                    tmp_path / "out")
        gave_up_after = time.monotonic() - state["frozen_at"]
        assert "no answer to ssh keepalives" in str(caught.value) and f"running {tiny_bundle.name}" in str(caught.value)
        assert gave_up_after < KEEPALIVE_S + KEEPALIVE_LIMIT_S + 10 < 60, gave_up_after
        report = load_report(tmp_path / "out")
        assert report["status"] == "partial" and "keepalives" in report["runs"][0]["error"]
        assert _alive(state["runner"])  # a frozen link stops nothing by itself
        for pid in state["frozen"]:  # the session drops
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while _alive(state["runner"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(state["runner"]), "the runner kept running on the board after the session dropped"
    finally:
        for pid in state.get("frozen", []):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if state.get("runner") and _alive(state["runner"]):
            os.kill(state["runner"], signal.SIGKILL)
        server.stop()


def test_ssh_op_profile_trace_is_fetched_and_summarised(sshd, target_bundles, tmp_path):
    """The board's runner writes the raw trace beside its result; the host fetches and reads it."""
    target = _target(sshd, tmp_path / "remote")
    bundles = [target_bundles["onnx"], target_bundles["executorch"]]
    report = profile(bundles, target, RunConfig(runs=2, seq_len=8, op_profile=True, op_profile_runs=2),
                     tmp_path / "out")
    for run in report["runs"]:
        table = run["op_profile"]
        assert run["status"] == "ok" and table["available"], table
        assert (tmp_path / "out" / table["trace"]).is_file()
        assert sum(r["share"] for r in table["ops"]) == pytest.approx(1.0, abs=1e-6)
    assert any(r["delegated"] for r in report["runs"][1]["op_profile"]["ops"])
