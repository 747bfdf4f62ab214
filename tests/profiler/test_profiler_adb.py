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

from adb_device import APP_UID, BUSY_UA, IDLE_UA, OTHER_SCREEN_UA, VOLTAGE_UV, FakeAdbDevice
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
    config = RunConfig(duration_s=1.5, warmup=2, seq_len=16, baseline_min_s=1.0, settle_s=1.0)
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
    assert energy["joules_per_inference"] == pytest.approx(busy_w * mean_latency_s, rel=0.05)
    assert any("negative" in note for note in energy["notes"])
    assert run["app_energy"]["uid"] == APP_UID and run["app_energy"]["mah"] > 0
    assert run["thermal"]["before"]["cpu_freq_mhz"]["cpu2"] == 2400.0
    assert run["thermal"]["before"]["android"]["thermal_status"] == 0
    # the timeline: the app's per-inference stamps, and the phone's cpufreq/thermal files read through adb shell
    timeline = run["timeline"]
    assert timeline["latency"]["ms"] == run["device_result"]["latencies_ms"]
    assert all(b > a for a, b in zip(timeline["latency"]["t_s"], timeline["latency"]["t_s"][1:]))
    assert timeline["cpu_freq"] == timeline["temperature"] == "available"
    assert len(timeline["samples"]["t_s"]) >= 2 and set(timeline["samples"]["cpu_freq_mhz"]["cpu2"]) == {2400.0}
    assert all(b > a for a, b in zip(timeline["samples"]["t_s"], timeline["samples"]["t_s"][1:]))
    assert timeline["samples"]["temperature_c"]["cpu-big"][0] == run["thermal"]["before"]["thermal_c"]["cpu-big"]
    with pytest.raises(ProfileError, match="pin-cores is not available over adb"):
        profile([odd_bundle], AdbTarget(phone.serial), RunConfig(pin_cores="4,5"), tmp_path / "pinned")
    with pytest.raises(ProfileError, match="--op-profile is not available over adb"):
        profile([odd_bundle], AdbTarget(phone.serial), RunConfig(op_profile=True), tmp_path / "ops")
    # the intent extras reached `am` as single arguments, hostile characters and all
    calls = [json.loads(line) for line in (phone.root / "am_calls.jsonl").read_text().splitlines()]
    call = [c for c in calls if c[0] == "start"][-1]
    bundle_arg = call[call.index("bundle") + 1]
    assert bundle_arg.endswith("/data/local/tmp/edge_time/bundles/" + odd_bundle.name)
    assert call[call.index("duration_s") + 1] == "1.5" and call[call.index("runs") + 1] == "0"
    assert float(call[call.index("hold_s") + 1]) > config.settle_s + config.baseline_max_s  # the app kept the screen
    assert calls[calls.index(call) + 1] == ["force-stop", "dev.edgetime.demo"]
    assert not (phone.root / "run" / "front").exists()  # and let it go after the baseline
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


BUSY_W = (BUSY_UA - IDLE_UA) * 1e-6 * VOLTAGE_UV * 1e-6  # what the stand-in draws above idle while the app runs


def test_energy_is_power_times_time_for_every_target(phone, target_bundles, tmp_path):
    """Each runtime's bundle, pushed and run by the stand-in app: the energy per inference is the
    known 1.155 W above idle times the mean latency within 5 %, the baseline is the idle power with
    the app in front (not the launcher's), steady, and the figure carries a small uncertainty."""
    config = RunConfig(duration_s=1.5, warmup=2, seq_len=16, baseline_min_s=1.5, settle_s=1.0)
    bundles = [target_bundles[t] for t in ("onnx", "tflite", "executorch")]
    report = profile(bundles, AdbTarget(phone.serial), config, tmp_path / "out")
    assert [r["bundle"]["target"] for r in report["runs"]] == ["onnx", "tflite", "executorch"]
    for run in report["runs"]:
        assert run["status"] == "ok", run.get("error")
        energy = run["energy"]
        assert energy["available"], energy
        expected = BUSY_W * run["latency"]["mean_ms"] / 1000
        assert energy["joules_per_inference"] == pytest.approx(expected, rel=0.05), run["bundle"]["target"]
        assert energy["idle_mean_w"] == pytest.approx(IDLE_UA * 1e-6 * VOLTAGE_UV * 1e-6, rel=0.02)
        assert energy["idle_mean_w"] > OTHER_SCREEN_UA * 1e-6 * VOLTAGE_UV * 1e-6 * 1.2
        assert energy["baseline"]["stationary"] is True and energy["baseline"]["settle_s"] == 1.0
        assert 0 <= energy["joules_per_inference_uncertainty"] < 0.05 * energy["joules_per_inference"]
        assert run["power_trace"]["settle"] and run["power_trace"]["idle"]
    assert report["warnings"] == []
    assert (phone.root / "data/local/tmp/edge_time/bundles/tiny-tflite/model.tflite").is_file() or list(
        (phone.root / "data/local/tmp/edge_time/bundles/tiny-tflite").glob("*.tflite"))


@pytest.mark.parametrize("phone", [{"tail_busy_s": 1.5}], indirect=True)
def test_device_still_busy_after_its_result_is_flagged_and_settling_fixes_it(phone, tiny_bundle, tmp_path):
    """The stand-in keeps drawing busy power 1.5 s after writing its result. Without settling the
    baseline's first half is at busy power: the stationarity check warns. With --settle 2.5 the
    baseline is clean and the energy right again."""
    config = RunConfig(duration_s=1.0, warmup=1, seq_len=8, baseline_min_s=2.0, settle_s=0.0)
    messages = []
    report = profile([tiny_bundle], AdbTarget(phone.serial), config, tmp_path / "raw", say=messages.append)
    energy = report["runs"][0]["energy"]
    assert energy["baseline"]["stationary"] is False
    assert energy["baseline"]["first_half_w"] > energy["baseline"]["second_half_w"]
    assert any("idle baseline was not steady" in w for w in report["warnings"])
    assert any(m.startswith("warning: the idle baseline was not steady") for m in messages)

    config.settle_s = 2.5
    report = profile([tiny_bundle], AdbTarget(phone.serial), config, tmp_path / "settled")
    run = report["runs"][0]
    assert run["energy"]["baseline"]["stationary"] is True and report["warnings"] == []
    assert run["energy"]["joules_per_inference"] == pytest.approx(BUSY_W * run["latency"]["mean_ms"] / 1000, rel=0.05)
