"""`--device adb:SERIAL` end to end: profiler -> adbutils -> Debian's real adb server ->
TCP -> the loopback device daemon (tests/profiler/adb_device.py) speaking the adb protocol.

The server runs on a private port (ANDROID_ADB_SERVER_PORT) and is killed at teardown."""

import json
import os
import shutil
import subprocess
import time

import pytest

from edge_time.profiler import DeviceLost, ProfileError, RunConfig, load_report, profile
from edge_time.profiler.adb import AdbTarget

from adb_device import APP_UID, BUSY_UA, IDLE_UA, VOLTAGE_UV, FakeAdbDevice
from sshd_server import free_port

ADB = shutil.which("adb")
pytestmark = pytest.mark.skipif(ADB is None, reason="the `adb` binary (Debian package adb) is not installed")


@pytest.fixture(scope="module")
def adb_server():
    port = str(free_port())
    env = dict(os.environ, ANDROID_ADB_SERVER_PORT=port)
    subprocess.run([ADB, "-P", port, "start-server"], env=env, check=True, capture_output=True, timeout=30)
    yield port, env
    subprocess.run([ADB, "-P", port, "kill-server"], env=env, capture_output=True, timeout=30)


@pytest.fixture()
def phone(adb_server, tmp_path, monkeypatch, request):
    port, env = adb_server
    options = getattr(request, "param", {})
    device = FakeAdbDevice(tmp_path / "device", **options)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", port)
    out = subprocess.run([ADB, "-P", port, "connect", device.serial], env=env, capture_output=True, text=True, timeout=30)
    assert "connected" in out.stdout, out
    deadline = time.monotonic() + 15
    while "\tdevice" not in subprocess.run([ADB, "-P", port, "devices"], env=env, capture_output=True,
                                           text=True, timeout=30).stdout.split(device.serial)[-1][:8]:
        assert time.monotonic() < deadline, "the adb server never saw the loopback device online"
        time.sleep(0.1)
    yield device
    subprocess.run([ADB, "-P", port, "disconnect", device.serial], env=env, capture_output=True, timeout=30)
    device.close()


def test_adb_profile_end_to_end_with_known_energy(phone, odd_bundle, tmp_path):
    config = RunConfig(duration_s=1.5, warmup=2, seq_len=16, baseline_min_s=1.0)
    report = profile([odd_bundle], AdbTarget(phone.serial), config, tmp_path / "out")
    run = report["runs"][0]
    assert report["device"]["transport"] == "adb" and run["status"] == "ok", run.get("error")
    assert report["device"]["info"]["os"] == "Android 14"
    assert run["device_result"]["runner"] == "android-app-standin"
    assert run["latency"]["count"] > 5 and run["config"]["seq_len"] == 16
    # the stand-in battery draws 300 mA more at 3.85 V while the app runs: 1.155 W above idle
    busy_w = (BUSY_UA - IDLE_UA) * 1e-6 * VOLTAGE_UV * 1e-6
    energy = run["energy"]
    assert energy["available"], energy
    assert energy["idle_mean_w"] == pytest.approx(IDLE_UA * 1e-6 * VOLTAGE_UV * 1e-6, rel=0.02)
    mean_latency_s = run["latency"]["mean_ms"] / 1000
    assert energy["joules_per_inference"] == pytest.approx(busy_w * mean_latency_s, rel=0.15)
    assert any("negative" in note for note in energy["notes"])
    assert run["app_energy"]["uid"] == APP_UID and run["app_energy"]["mah"] > 0
    assert run["thermal"]["before"]["cpu_freq_mhz"]["cpu2"] == 2400.0
    assert run["thermal"]["before"]["android"]["thermal_status"] == 0
    with pytest.raises(ProfileError, match="pin-cores is not available over adb"):
        profile([odd_bundle], AdbTarget(phone.serial), RunConfig(pin_cores="4,5"), tmp_path / "pinned")
    # the intent extras reached `am` as single arguments, hostile characters and all
    call = json.loads((phone.root / "am_calls.jsonl").read_text().splitlines()[-1])
    bundle_arg = call[call.index("bundle") + 1]
    assert bundle_arg.endswith("/data/local/tmp/edge_time/bundles/" + odd_bundle.name)
    assert call[call.index("duration_s") + 1] == "1.5" and call[call.index("runs") + 1] == "0"
    assert (phone.root / "data/local/tmp/edge_time/bundles" / odd_bundle.name / "model.onnx").is_file()
    assert not list(phone.root.rglob("INJECTED")) and not list(tmp_path.rglob("INJECTED"))
    assert load_report(tmp_path / "out")["runs"][0]["energy"]["available"]


@pytest.mark.parametrize("phone", [{"charging": True}], indirect=True)
def test_charging_phone_gets_no_energy_figure(phone, tiny_bundle, tmp_path):
    messages = []
    report = profile([tiny_bundle], AdbTarget(phone.serial), RunConfig(runs=20, seq_len=8, baseline_min_s=0.3),
                     tmp_path / "out", say=messages.append)
    energy = report["runs"][0]["energy"]
    assert report["runs"][0]["status"] == "ok"
    assert energy["charging"] is True and not energy["available"] and "cut USB power" in energy["reason"]
    assert any("USB power is connected" in m for m in messages)


@pytest.mark.parametrize("phone", [{"drop_on": r"^am start", "drop_after": 1.0}], indirect=True)
def test_device_lost_mid_run_saves_partial_results_and_does_not_hang(phone, tiny_bundle, tmp_path):
    started = time.monotonic()
    try:
        report = profile([tiny_bundle], AdbTarget(phone.serial, timeout=10), RunConfig(duration_s=20, seq_len=8),
                         tmp_path / "out")
    except DeviceLost as exc:
        assert "partial results saved" in str(exc)
    else:
        pytest.fail(f"the run survived the device loss: {report['runs'][0].get('error')} / {phone.commands}")
    assert time.monotonic() - started < 60
    report = load_report(tmp_path / "out" / "report.json")
    run = report["runs"][0]
    assert report["status"] == "partial" and run["status"] == "error"
    assert "disconnected" in run["error"]
    assert run["partial_power_samples"] > 0 and run["power_trace"]["run"]


@pytest.mark.parametrize("phone", [{"cpu_temp_mc": 92_000}], indirect=True)
def test_hot_phone_is_flagged_and_wait_cool_waits_for_it(phone, tiny_bundle, tmp_path):
    config = RunConfig(runs=10, seq_len=8, power="none")
    report = profile([tiny_bundle], AdbTarget(phone.serial), config, tmp_path / "hot")
    assert report["runs"][0]["thermal"]["throttled_before"] == ["cpu-big at 92 °C"]
    assert any("started throttled" in w for w in report["warnings"])

    import threading

    threading.Timer(1.0, (phone.root / "sys/class/thermal/thermal_zone0/temp").write_text, ["45000\n"]).start()
    config.wait_cool_s = 30
    started = time.monotonic()
    report = profile([tiny_bundle], AdbTarget(phone.serial), config, tmp_path / "cooled")
    assert report["runs"][0]["thermal"]["throttled_before"] == [] and report["warnings"] == []
    assert 1.0 <= time.monotonic() - started < 30
