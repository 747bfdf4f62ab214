"""One profiling session: for each bundle, check thermals, sample power while the device runs
it, sample an idle baseline of equal length, and turn it all into one report entry.

Read top to bottom: :func:`profile` -> :func:`profile_bundle` -> report entry.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from edge_time import __version__
from edge_time.bundle import read_manifest
from edge_time.profiler.energy import PowerTrace, energy_above_idle
from edge_time.profiler.sensors import SNAPSHOT_SCRIPT, PowerSource, parse_snapshot, throttling
from edge_time.profiler.stats import latency_summary, throughput
from edge_time.profiler.target import (DeviceLost, EnergyContext, ProfileConfig, ProfileError, RunConfig, Target,
                                        emulation)
from edge_time.profiler.timeline import build_timeline, sampler_script

Say = Callable[[str], None]


class DeviceLines:
    """Runs a sampler loop (power, or the frequency/temperature timeline) on the device and
    collects its lines in a thread."""

    def __init__(self, target: Target, script: str):
        self.lines: list[str] = []
        self._stream = target.open_stream(script)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while line := self._stream.readline():
                self.lines.append(line)
        except Exception:  # the device went away: keep what arrived
            pass

    def stop(self) -> list[str]:
        try:
            self._stream.close()
        except Exception:
            pass
        self._thread.join(timeout=10)
        return list(self.lines)


def snapshot(target: Target) -> dict:
    return parse_snapshot(target.shell(SNAPSHOT_SCRIPT, timeout=30).stdout)


def wait_until_cool(target: Target, limit_s: float, say: Say) -> tuple[dict, list[str]]:
    """Snapshot; while throttled and ``limit_s`` allows, wait and look again."""
    snap = snapshot(target)
    reasons = throttling(snap)
    deadline = time.monotonic() + limit_s
    while reasons and time.monotonic() < deadline:
        say(f"throttled ({'; '.join(reasons)}); waiting to cool down")
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        snap = snapshot(target)
        reasons = throttling(snap)
    return snap, reasons


def _bundle_info(bundle: Path) -> dict:
    manifest = read_manifest(bundle, verify=True)
    return {"name": bundle.name, "path": str(bundle), "target": manifest.target,
            "quantization": manifest.quantization, "task": manifest.task}


def _loop_window(result: dict) -> tuple[float, float] | None:
    """Device-clock seconds of the timed loop: it ends at finished_at_ms and lasts the sum of
    the latencies (robust to runners that stamp started_at_ms before loading)."""
    if "finished_at_ms" not in result or not result["latencies_ms"]:
        return None
    end = result["finished_at_ms"] / 1000.0
    return end - sum(result["latencies_ms"]) / 1000.0, end


def _energy(source: PowerSource | None, reason: str, ctx: EnergyContext, run_lines: list[str],
            idle_lines: list[str], result: dict | None, settle_s: float = 0.0) -> tuple[dict, dict | None]:
    energy: dict = {"source": source.describe() if source else None, "available": False, "charging": ctx.charging}
    if source is None:
        energy["reason"] = reason
        return energy, None
    extra = {"discharge_sign": ctx.discharge_sign}
    run = source.trace(run_lines, extra)
    after = source.trace(idle_lines, extra)
    # the sampler after the run covers the settle period, then the baseline proper
    idle_t0 = float(after.t_s[0]) if len(after) else 0.0
    settled = after.t_s >= idle_t0 + settle_s
    idle = PowerTrace(after.t_s[settled], after.watts[settled])
    settle = PowerTrace(after.t_s[~settled], after.watts[~settled])
    energy["notes"] = run.notes
    window = _loop_window(result) if result else None
    origin = float(run.t_s[0]) if len(run) else 0.0
    traces = {"t0_device_s": origin, "run": _relative(run, origin), "idle": _relative(idle, idle_t0),
              "settle": _relative(settle, idle_t0), "settle_s": settle_s,
              "window_s": [window[0] - origin, window[1] - origin] if window else None}
    if ctx.charging:
        energy["reason"] = "the device was charging; cut USB power (or use a power-switching hub) and run again"
    elif window is None:
        energy["reason"] = "the run produced no timed inferences"
    else:
        n = len(result["latencies_ms"])
        energy.update(energy_above_idle(run, idle, window[0], window[1], n * result["config"]["batch"],
                                        result["config"]["seq_len"]))
        if energy.get("available"):
            energy["baseline"]["settle_s"] = settle_s
    return energy, traces


def _relative(trace: PowerTrace, origin: float) -> list[list[float]]:
    return [[round(t - origin, 4), w] for t, w in trace.to_json()]


def profile_bundle(target: Target, bundle: Path, config: RunConfig, raw_dir: Path, say: Say) -> dict:
    """Profile one bundle. A runner failure becomes the entry's ``status``/``error``; a device
    that disappears raises ``_Lost`` carrying the entry with whatever was measured, so the
    caller can save it before reporting the loss."""
    entry: dict = {"bundle": _bundle_info(bundle), "status": "error", "error": None, "warnings": []}

    def warn(message: str) -> None:
        entry["warnings"].append(message)
        say(f"warning: {message}")

    before, reasons = wait_until_cool(target, config.wait_cool_s, say)
    entry["thermal"] = {"before": before, "throttled_before": reasons}
    if reasons:
        warn(f"started throttled ({'; '.join(reasons)}); figures will be pessimistic. Let the device cool or "
             "pass --wait-cool SECONDS")
    source, reason = target.power_source(config.power)
    ctx = target.energy_context(source, config)
    for warning in ctx.warnings:
        warn(warning)
    target.app_energy("start")
    sampler = DeviceLines(target, source.sampler(config.sample_period_s, config.timeout_s)) if source else None
    sensors = DeviceLines(target, sampler_script(config.timeline_period_s, config.timeout_s))
    result = None
    lost: DeviceLost | None = None
    say(f"running {bundle.name} on {target.label}")
    try:
        result = target.run_benchmark(bundle, config, raw_dir)
    except DeviceLost as exc:
        lost = exc
        entry["error"] = str(exc)
    except ProfileError as exc:
        entry["error"] = str(exc)
    finally:
        run_lines = sampler.stop() if sampler else []
        sensor_lines = sensors.stop()
    if result is None and lost is None:
        target.end_app()  # a failed run must not leave the app holding the screen
    idle_lines: list[str] = []
    if result is not None:
        entry.update(_figures(result))
        entry["timeline"] = build_timeline(result, sensor_lines, config.timeline_period_s)
        if config.op_profile:
            entry["op_profile"] = _op_table(result, bundle, raw_dir)
        try:
            entry["app_energy"] = target.app_energy("stop")
            if source is not None and result["latencies_ms"]:
                # the device is not idle the moment the result appears (the runner tears down, the
                # fuel gauge averages): settle first, then sample the baseline in the same screen
                # state (the app keeps the screen until end_app below)
                loop_s = sum(result["latencies_ms"]) / 1000.0
                idle_s = min(max(loop_s, config.baseline_min_s), config.baseline_max_s)
                say(f"settling for {config.settle_s:g} s, then idle baseline for {idle_s:.1f} s")
                idle = DeviceLines(target, source.sampler(config.sample_period_s, config.settle_s + idle_s))
                time.sleep(config.settle_s + idle_s)
                idle_lines = idle.stop()
            target.end_app()
            after = snapshot(target)
        except DeviceLost as exc:  # the timed figures are in; the idle baseline or thermals are not
            lost = exc
            entry["error"] = f"after the run: {exc}"
        else:
            entry["thermal"].update(after=after, throttled_after=throttling(after))
            if entry["thermal"]["throttled_after"]:
                warn(f"throttled at the end of the run ({'; '.join(entry['thermal']['throttled_after'])}); "
                     "later runs were slowed down; use --cooldown or a shorter --duration")
    entry["energy"], entry["power_trace"] = _energy(source, reason, ctx, run_lines, idle_lines, result,
                                                    config.settle_s)
    baseline = entry["energy"].get("baseline") or {}
    if baseline.get("stationary") is False:
        warn(f"the idle baseline was not steady (first half {baseline['first_half_w']:.3f} W, second half "
             f"{baseline['second_half_w']:.3f} W, after {config.settle_s:g} s of settling): the device was still "
             "busy after the run, or something else changed; energy per inference is unreliable. Raise --settle, "
             "close background apps, keep the screen as it was")
    if lost is not None:
        entry["partial_power_samples"] = len(run_lines)
        raise _Lost(entry, lost)
    return entry


def _op_table(result: dict, bundle: Path, raw_dir: Path) -> dict:
    """The bundle's top-operators table from the trace its runner left in raw/, or why there is none."""
    from edge_time.profiler.ops import summarise

    info = result.get("op_profile")
    if result["status"] != "ok":
        return {"available": False, "reason": "the timed run did not finish, so no op profile was taken"}
    if not info:
        return {"available": False, "reason": f"the runner ({result.get('runner')}) wrote no op profile"}
    if info.get("error") or not info.get("file"):
        return {"available": False, "reason": f"the runner could not profile operators: {info.get('error')}"}
    graph = bundle / info["graph"] if info.get("graph") else None
    try:
        table = summarise(info.get("kind", ""), raw_dir / info["file"], graph)
    except ProfileError as exc:
        return {"available": False, "reason": str(exc), "trace": info["file"]}
    method = {"method": info["method"]} if info.get("method") else {}
    return {"available": True, "trace": f"raw/{info['file']}", **method, **table}


def _label_emulation(report: dict, entry: dict, say: Say) -> None:
    """Label the device, once, when a runner's machine is not its kernel's (target.emulation)."""
    found = emulation(report["device"].get("info", {}).get("abi"),
                      entry.get("device_result", {}).get("device", {}).get("abi"))
    if found and "emulated" not in report["device"]:
        report["device"]["emulated"] = found
        report["warnings"].append(
            f"emulated: the runtime ran as {found['runtime']} on a {found['kernel']} kernel (qemu-user or another "
            "emulator); latency, throughput, memory and energy are the emulator's and mean nothing as "
            f"{found['runtime']} speed: such a run checks the flow and the outputs, not performance")
        say(f"warning: {report['warnings'][-1]}")


class _Lost(Exception):
    def __init__(self, entry: dict, cause: DeviceLost):
        self.entry, self.cause = entry, cause


def _figures(result: dict) -> dict:
    cfg = result["config"]
    lat = result["latencies_ms"]
    peak, before = result.get("peak_memory_kb"), result.get("rss_before_load_kb")
    return {
        "status": result["status"], "error": result.get("error"),
        "config": cfg, "load_ms": result["load_ms"], "first_inference_ms": result["first_inference_ms"],
        "import_ms": result.get("import_ms"), "runtime": result.get("runtime"),
        "latency": latency_summary(lat), "throughput": throughput(lat, cfg["batch"], cfg["seq_len"]),
        "memory": {"peak_kb": peak, "rss_before_load_kb": before,
                   "model_kb": peak - before if peak is not None and before is not None else None},
        "device_result": result,
    }


def new_report(target: Target, config: RunConfig) -> dict:
    from dataclasses import asdict

    return {
        "schema": "edge-time/profile-report", "schema_version": 1,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "edge_time_version": __version__,
        "device": {"transport": target.transport, "id": target.label, "info": target.device_info()},
        "config": asdict(config), "status": "running", "warnings": [], "runs": [],
    }


def profile(bundles: list[Path], target: Target, config: RunConfig, out_dir: Path = ProfileConfig.out,
            say: Say = lambda message: None) -> dict:
    """Profile ``bundles`` on ``target`` and write report.json/.csv/.html into ``out_dir``.

    The report is rewritten after every bundle, so a run that dies half-way (device unplugged)
    still leaves every finished bundle and the failed one's partial figures on disk.
    """
    from edge_time.profiler.report import write_report

    config.validate()
    target.validate(config)
    bundles = [Path(b) for b in bundles]
    for bundle in bundles:
        read_manifest(bundle, verify=True)  # fail before touching the device
    raw_dir = Path(out_dir) / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    report = new_report(target, config)
    try:
        for index, bundle in enumerate(bundles):
            if index and config.cooldown_s:
                say(f"cooling down for {config.cooldown_s:g} s")
                time.sleep(config.cooldown_s)
            try:
                entry = profile_bundle(target, bundle, config, raw_dir, say)
            except _Lost as lost:
                report["runs"].append(lost.entry)
                report["status"] = "partial"
                report["warnings"] += [f"{bundle.name}: {w}" for w in lost.entry["warnings"]] + [str(lost.cause)]
                write_report(report, out_dir)
                raise DeviceLost(f"{lost.cause}; partial results saved in {Path(out_dir) / 'report.json'}") from lost.cause
            report["runs"].append(entry)
            report["warnings"] += [f"{bundle.name}: {w}" for w in entry["warnings"]]
            _label_emulation(report, entry, say)
            write_report(report, out_dir)
        report["status"] = "ok" if all(r["status"] == "ok" for r in report["runs"]) else "partial"
        write_report(report, out_dir)
    finally:
        target.close()
    return report
