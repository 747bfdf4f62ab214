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
