"""`edge-time profile --device local` end to end (real runner subprocess, real ONNX Runtime),
report files and `profile compare`."""

import csv
import json
import shutil

import pytest
from click.testing import CliRunner

from edge_time.bundle import BundleError
from edge_time.cli.profile import profile as profile_cli
from edge_time.profiler import ProfileError, RunConfig, compare, load_report, open_target, profile
from edge_time.profiler.local import LocalTarget
from edge_time.profiler.report import emulation_label
from edge_time.profiler.target import emulation


def test_cli_profiles_an_odd_named_bundle_and_writes_every_report_file(odd_bundle, tmp_path):
    out = tmp_path / "out dir"
    result = CliRunner().invoke(profile_cli, [str(odd_bundle), "--device", "local", "--runs", "30", "--warmup", "2",
                                              "--seq-len", "16", "--batch", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = load_report(out / "report.json")  # validates against report.schema.json
    run = report["runs"][0]
    assert report["status"] == "ok" and run["status"] == "ok"
    assert run["bundle"]["name"] == odd_bundle.name
    assert run["latency"]["count"] == 30 and 0 < run["latency"]["p50_ms"] <= run["latency"]["p99_ms"]
    assert run["config"]["seq_len"] == 16 and run["config"]["batch"] == 2
    assert run["throughput"]["tokens_per_s"] == pytest.approx(run["throughput"]["sequences_per_s"] * 16)
    assert run["memory"]["peak_kb"] > run["memory"]["rss_before_load_kb"] > 0
    assert run["load_ms"] > 0 and run["first_inference_ms"] > 0
    assert run["energy"]["available"] is False and run["energy"]["reason"]
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert rows[0]["bundle"] == odd_bundle.name and float(rows[0]["p50_ms"]) == pytest.approx(run["latency"]["p50_ms"])
    assert len((out / "latencies.csv").read_text().splitlines()) == 31
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "<script" not in page
    assert not list(tmp_path.rglob("INJECTED")) and not list(odd_bundle.parent.rglob("INJECTED"))


def test_duration_mode_and_local_battery_sampler(tiny_bundle, tmp_path):
    """--duration runs for a time, and a battery-style sensor (here a folder of sysfs-like files)
    is sampled by the real /bin/sh loop, stamped with the same clock as the runner."""
    supply = tmp_path / "supply 'x'; touch INJECTED"
    supply.mkdir()
    (supply / "current_now").write_text("-250000\n")
    (supply / "voltage_now").write_text("4000000\n")
    (supply / "status").write_text("Discharging\n")
    config = RunConfig(duration_s=0.6, warmup=1, seq_len=8, power=f"battery:{supply}", baseline_min_s=0.5,
                       settle_s=0.2)
    report = profile([tiny_bundle], LocalTarget(), config, tmp_path / "out")
    run = report["runs"][0]
    assert run["config"]["duration_s"] == 0.6 and run["latency"]["count"] > 10
    energy = run["energy"]
    assert energy["available"], energy
    assert energy["run_mean_w"] == pytest.approx(1.0) and energy["idle_mean_w"] == pytest.approx(1.0)
    assert abs(energy["joules_per_inference"]) < 1e-6  # constant power: nothing above idle
    assert run["power_trace"]["window_s"][1] - run["power_trace"]["window_s"][0] == pytest.approx(energy["window_s"])
    assert not list(tmp_path.rglob("INJECTED"))


def test_rapl_style_counter_is_sampled_and_differentiated(tiny_bundle, tmp_path):
    """A package energy counter (µJ, wrapping) advanced by a thread at 5 W, read by the sh sampler."""
    import threading
    import time

    rapl = tmp_path / "intel-rapl:0"
    rapl.mkdir()
    (rapl / "max_energy_range_uj").write_text("2000000\n")
    stop = threading.Event()

    def tick():
        start = time.monotonic()
        while not stop.is_set():
            value = int((time.monotonic() - start) * 5_000_000) % 2_000_000  # wraps every 0.4 s
            (rapl / ".e").write_text(f"{value}\n")
            (rapl / ".e").replace(rapl / "energy_uj")
            time.sleep(0.005)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        config = RunConfig(duration_s=0.6, warmup=1, seq_len=8, power=f"rapl:{rapl}", baseline_min_s=0.5,
                           sample_period_s=0.05, settle_s=0.2)
        report = profile([tiny_bundle], LocalTarget(), config, tmp_path / "out")
    finally:
        stop.set()
        thread.join()
    energy = report["runs"][0]["energy"]
    assert energy["available"], energy
    assert energy["idle_mean_w"] == pytest.approx(5.0, rel=0.2)


def test_bad_sequence_length_is_an_error_entry_not_a_crash(tiny_bundle, tmp_path):
    report = profile([tiny_bundle], LocalTarget(), RunConfig(runs=3, seq_len=4096), tmp_path / "out")
    run = report["runs"][0]
    assert report["status"] == "partial" and run["status"] == "error"
    assert "max_length" in run["error"]


def test_cli_exits_non_zero_with_one_line_per_failed_bundle(tiny_bundle, tmp_path):
    """Exit 0 only when every bundle was measured; each failure is printed as one error line."""
    result = CliRunner().invoke(profile_cli, [str(tiny_bundle), str(tiny_bundle), "--device", "local", "--runs", "2",
                                              "--seq-len", "4096", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all(str(tiny_bundle) in e and "max_length" in e for e in errors), result.stderr
    assert load_report(tmp_path / "out" / "report.json")["status"] == "partial"


def test_invalid_options_fail_before_running(tiny_bundle, tmp_path):
    for bad in (RunConfig(runs=0), RunConfig(duration_s=-1), RunConfig(pin_cores="0;rm"), RunConfig(batch=0)):
        with pytest.raises(ProfileError):
            profile([tiny_bundle], LocalTarget(), bad, tmp_path / "out")
    with pytest.raises(ProfileError, match="not understood"):
        open_target("usb:1234")
    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_bundle, tampered)
    with open(tampered / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="sha256"):
        profile([tampered], LocalTarget(), RunConfig(runs=1), tmp_path / "out")
    assert not (tmp_path / "out" / "report.json").exists()
    result = CliRunner().invoke(profile_cli, [str(tiny_bundle), "--runs", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0


def test_compare_prints_ratios(tiny_bundle, tmp_path):
    a = profile([tiny_bundle], LocalTarget(), RunConfig(runs=20, seq_len=8), tmp_path / "a")
    b = profile([tiny_bundle], LocalTarget(), RunConfig(runs=20, seq_len=64, batch=4), tmp_path / "b")
    rows, ratios = compare([tmp_path / "a" / "report.json", tmp_path / "b"])
    assert ratios[0]["p50_ms"] == pytest.approx(1.0)
    assert ratios[1]["p50_ms"] == pytest.approx(b["runs"][0]["latency"]["p50_ms"] / a["runs"][0]["latency"]["p50_ms"])
    result = CliRunner().invoke(profile_cli, ["compare", str(tmp_path / "a"), str(tmp_path / "b" / "report.json"),
                                              "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "x" in result.output and (tmp_path / "cmp" / "compare.html").stat().st_size > 1000
    (tmp_path / "junk.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(ProfileError, match="not an edge-time profile report"):
        compare([tmp_path / "junk.json"])


def test_pin_cores_pins_the_runner(tiny_bundle, tmp_path):
    report = profile([tiny_bundle], LocalTarget(), RunConfig(runs=5, seq_len=8, pin_cores="0"), tmp_path / "out")
    assert report["runs"][0]["status"] == "ok"


def test_peak_memory_is_the_runners_own_not_the_parents(tiny_bundle, tmp_path):
    """A parent that has touched 1.5 GB (a quickstart that has just trained) must not leak its
    peak into the runner's figure: ``ru_maxrss`` survives fork + exec, VmHWM does not."""
    import numpy as np

    ballast = np.ones(1536 * 2**20 // 8)  # 1.5 GiB, every page touched
    report = profile([tiny_bundle], LocalTarget(), RunConfig(runs=3, warmup=1, seq_len=8), tmp_path / "out")
    del ballast
    memory = report["runs"][0]["memory"]
    assert 0 < memory["rss_before_load_kb"] < memory["peak_kb"] < 1024 * 1024, memory


def test_runtime_import_is_outside_load_and_memory_is_the_models(target_bundles, tmp_path):
    """The runner imports each bundle's runtime before the load timer (reported as import_ms) and
    takes the memory baseline after it, with VmHWM reset there: the ExecuTorch bundle's model
    memory is the tiny model's, not the ~300 MB of importing torch."""
    from importlib.metadata import version

    bundles = [target_bundles[t] for t in ("onnx", "tflite", "executorch")]
    report = profile(bundles, LocalTarget(), RunConfig(runs=5, warmup=1, seq_len=16, power="none"), tmp_path / "out")
    expected = {"onnx": ("onnxruntime", version("onnxruntime")), "tflite": ("ai-edge-litert", version("ai-edge-litert")),
                "executorch": ("executorch", version("executorch"))}
    for run in report["runs"]:
        assert run["status"] == "ok", run["error"]
        result = run["device_result"]
        assert (result["runtime"]["name"], result["runtime"]["version"]) == expected[run["bundle"]["target"]]
        assert result["import_ms"] > 0 and run["import_ms"] == result["import_ms"] and run["load_ms"] > 0
        assert result["peak_reset"] is True
        memory = run["memory"]
        assert memory["model_kb"] == memory["peak_kb"] - memory["rss_before_load_kb"] > 0
    executorch = report["runs"][2]["memory"]
    assert executorch["rss_before_load_kb"] > 200 * 1024 > 100 * 1024 > executorch["model_kb"], executorch
    rows = list(csv.DictReader((tmp_path / "out" / "report.csv").open()))
    assert all(float(r["import_ms"]) > 0 and int(r["model_memory_kb"]) > 0 for r in rows)


def test_compare_tells_runs_apart_by_config_fits_100_columns_and_puts_ratios_in_the_html(tiny_bundle, tmp_path):
    """Two runs of the same bundle that differ only in --threads get a config column (CLI) and
    distinct labels (HTML); the CLI table fits 100 columns; the HTML has a ratio table."""
    for name, threads in (("one", 1), ("two", 2)):
        profile([tiny_bundle], LocalTarget(), RunConfig(runs=10, seq_len=8, threads=threads, power="none"),
                tmp_path / name)
    rows, ratios = compare([tmp_path / "one", tmp_path / "two"])
    assert [r["config"] for r in rows] == ["t1 b1 s8", "t2 b1 s8"]
    result = CliRunner().invoke(profile_cli, ["compare", str(tmp_path / "one"), str(tmp_path / "two"),
                                              "--out", str(tmp_path / "cmp")], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 100, "\n".join(lines)
    assert any("t1 b1 s8" in line for line in lines) and any("t2 b1 s8" in line for line in lines)
    assert f"x{ratios[1]['p50_ms']:.2f}" in result.output
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert f"{tiny_bundle.name} [t1 b1 s8]" in page and f"{tiny_bundle.name} [t2 b1 s8]" in page
    assert "Compared to the first run" in page and f"(×{ratios[1]['p50_ms']:.2f})" in page


@pytest.mark.parametrize("kernel, runtime, emulated", [
    ("x86_64", "aarch64", True), ("aarch64", "x86_64", True), ("aarch64", "aarch64", False),
    ("arm64-v8a", "aarch64", False), ("aarch64", "armv7l", False), ("x86_64", "AMD64", False),
    ("riscv64", "riscv64", False), ("", "aarch64", False), (None, "aarch64", False)])
def test_emulation_is_a_runtime_isa_other_than_the_kernels(kernel, runtime, emulated):
    assert (emulation(kernel, runtime) is not None) == emulated


class _Aarch64Kernel(LocalTarget):
    """This machine, but its kernel reported as aarch64: the runner (this x86 Python) is then the
    odd one out, as an aarch64 runner under qemu-user is on an x86 board."""

    def device_info(self) -> dict:
        return super().device_info() | {"abi": "aarch64"}


def test_a_runner_on_another_isa_labels_the_report_emulated(tiny_bundle, tmp_path):
    report = profile([tiny_bundle, tiny_bundle], _Aarch64Kernel(), RunConfig(runs=3, seq_len=8, power="none"),
                     tmp_path / "out")
    assert report["device"]["emulated"] == {"kernel": "aarch64", "runtime": "x86_64"}
    notes = [w for w in report["warnings"] if w.startswith("emulated:")]
    assert len(notes) == 1 and "mean nothing as x86_64 speed" in notes[0]  # once, not per bundle
    assert load_report(tmp_path / "out")["device"]["emulated"]["runtime"] == "x86_64"  # the schema takes it
    assert emulation_label(report["device"]) == "x86_64 EMULATED on aarch64 (speed not meaningful)"
    assert emulation_label(report["device"]) in (tmp_path / "out" / "report.html").read_text()
    plain = profile([tiny_bundle], LocalTarget(), RunConfig(runs=3, seq_len=8, power="none"), tmp_path / "plain")
    assert emulation_label(plain["device"]) == "" and not any(w.startswith("emulated:") for w in plain["warnings"])


def test_host_run_has_a_latency_and_sensor_timeline(tiny_bundle, tmp_path):
    """One latency per timed inference, stamped in increasing order on the loop's clock, beside the
    frequency/temperature samples; sensors this machine lacks are 'unavailable', not an error."""
    config = RunConfig(runs=40, warmup=1, seq_len=8, power="none", timeline_period_s=0.1)
    report = profile([tiny_bundle], LocalTarget(), config, tmp_path / "out")
    run = report["runs"][0]
    timeline, result = run["timeline"], run["device_result"]
    assert timeline["latency"]["ms"] == result["latencies_ms"] and len(result["latency_starts_ms"]) == 40
    starts = timeline["latency"]["t_s"]  # rounded to the microsecond: consecutive gaps >= latency - 2 us
    assert starts[0] >= 0 and all(b - a >= lat / 1000 - 2e-6 for a, b, lat in zip(starts, starts[1:], result["latencies_ms"]))
    assert timeline["latency_times"].startswith("measured")
    samples = timeline["samples"]["t_s"]
    assert samples and all(b > a for a, b in zip(samples, samples[1:]))
    for sensor, key in (("cpu_freq", "cpu_freq_mhz"), ("temperature", "temperature_c")):
        assert timeline[sensor] == "available" if timeline["samples"][key] else timeline[sensor].startswith("unavailable: ")
    assert "Latency, CPU frequency and temperature over time" in (tmp_path / "out" / "report.html").read_text()


def test_timeline_without_sensors_or_samples_says_unavailable():
    from edge_time.profiler.timeline import build_timeline

    result = {"latencies_ms": [2.0, 3.0], "started_at_ms": 1_000_000}
    timeline = build_timeline(result, ["tick 1000.5", "tick 1001.0", "freq cpu0/cpufreq/x garbage"], 0.5)
    assert timeline["samples"]["t_s"] == [0.5, 1.0] and timeline["latency"]["t_s"] == [0.0, 0.002]
    assert timeline["latency_times"].startswith("estimated")
    assert timeline["cpu_freq"].startswith("unavailable: no readable") and timeline["temperature"].startswith("unavailable")
    empty = build_timeline(result, ["tick 100", "thermal 45000 cpu"][:0], 0.5)
    assert empty["cpu_freq"] == empty["temperature"] == "unavailable: the sampler returned no samples"
