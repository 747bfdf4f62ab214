"""Report files: versioned JSON (report.schema.json), CSV, and a self-contained HTML page.

The HTML embeds its matplotlib figures as base64 PNGs, so it can be mailed or attached to a PR
as one file. ``compare`` reads any number of report.json files and prints ratios.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
from pathlib import Path

from edge_time.atomic import write_text_atomic
from edge_time.profiler.target import ProfileError, load_schema

CSV_FIELDS = ["bundle", "device", "target", "quantization", "status", "threads", "batch", "seq_len", "runs",
              "import_ms", "load_ms", "first_inference_ms", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms",
              "max_ms", "sequences_per_s", "tokens_per_s", "peak_memory_kb", "model_memory_kb", "energy_source",
              "joules_per_inference", "joules_per_inference_uncertainty", "millijoules_per_token", "idle_mean_w",
              "run_mean_w", "baseline_stationary", "error"]


def validate_report(report: dict, where: str = "report") -> dict:
    import jsonschema
    from referencing import Registry, Resource

    device = load_schema("device_result.schema.json")
    registry = Registry().with_resource(device["$id"], Resource.from_contents(device))
    try:
        jsonschema.Draft202012Validator(load_schema("report.schema.json"), registry=registry).validate(report)
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ProfileError(f"{where} does not follow the profile report schema v1 at {path}: {exc.message}") from exc
    return report


def load_report(path: str | os.PathLike) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path} does not exist; pass a report.json written by `edge-time profile`") from None
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    if data.get("schema") != "edge-time/profile-report":
        raise ProfileError(f"{path} is not an edge-time profile report (schema {data.get('schema')!r})")
    if data.get("schema_version") != 1:
        raise ProfileError(f"{path} has report schema_version {data.get('schema_version')}; this edge-time reads 1")
    return validate_report(data, str(path))


def row(run: dict, device: str) -> dict:
    """The flat figures of one report entry (CSV row, compare table)."""
    lat, thr, cfg = run.get("latency", {}), run.get("throughput", {}), run.get("config", {})
    energy = run.get("energy", {})
    out = {"bundle": run["bundle"]["name"], "device": device, "target": run["bundle"]["target"],
           "quantization": run["bundle"]["quantization"], "status": run["status"],
           "threads": cfg.get("threads"), "batch": cfg.get("batch"), "seq_len": cfg.get("seq_len"),
           "runs": lat.get("count"), "import_ms": run.get("import_ms"), "load_ms": run.get("load_ms"),
           "first_inference_ms": run.get("first_inference_ms"),
           "peak_memory_kb": run.get("memory", {}).get("peak_kb"),
           "model_memory_kb": run.get("memory", {}).get("model_kb"), "energy_source": energy.get("source"),
           "error": run.get("error")}
    for key in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms"):
        out[key] = lat.get(key)
    out.update({k: thr.get(k) for k in ("sequences_per_s", "tokens_per_s")})
    for key in ("joules_per_inference", "joules_per_inference_uncertainty", "millijoules_per_token", "idle_mean_w",
                "run_mean_w"):
        out[key] = energy.get(key)
    out["baseline_stationary"] = (energy.get("baseline") or {}).get("stationary")
    return out


def to_csv(report: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for run in report["runs"]:
        writer.writerow(row(run, report["device"]["id"]))
    return buffer.getvalue()


def latencies_csv(report: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["bundle", "run_index", "latency_ms"])
    for run in report["runs"]:
        for i, value in enumerate(run.get("device_result", {}).get("latencies_ms", [])):
            writer.writerow([run["bundle"]["name"], i, f"{value:.4f}"])
    return buffer.getvalue()


def write_report(report: dict, out_dir: str | os.PathLike, html_page: bool = True) -> Path:
    """Validate, then write report.json, report.csv, latencies.csv and report.html (each atomically)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    validate_report(report)
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    write_text_atomic(out_dir / "report.csv", to_csv(report))
    write_text_atomic(out_dir / "latencies.csv", latencies_csv(report))
    if html_page:
        write_text_atomic(out_dir / "report.html", render_html([report]))
    return out_dir / "report.json"


# --- HTML -------------------------------------------------------------------------------------

def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def config_label(run: dict) -> str:
    """threads, batch, seq_len of a run, short: ``t4 b1 s128`` (t0 = the runtime's default)."""
    cfg = run.get("config") or {}
    return f"t{cfg.get('threads', '?')} b{cfg.get('batch', '?')} s{cfg.get('seq_len', '?')}"


def _labelled_runs(reports: list[dict]) -> list[tuple[str, dict]]:
    """(label, run) of every run: the bundle, the device when there are several, the config when
    two runs would otherwise read the same (same bundle, different --threads), then #N."""
    many_devices = len({r["device"]["id"] for r in reports}) > 1
    runs = []
    for report in reports:
        for run in report["runs"]:
            label = run["bundle"]["name"] + (f" @ {report['device']['id']}" if many_devices else "")
            runs.append((label, run))
    names = [label for label, _ in runs]
    runs = [(f"{label} [{config_label(run)}]" if names.count(label) > 1 else label, run) for label, run in runs]
    seen: dict[str, int] = {}
    unique = []
    for label, run in runs:
        seen[label] = seen.get(label, 0) + 1
        unique.append((label if seen[label] == 1 else f"{label} #{seen[label]}", run))
    return unique


def figures(reports: list[dict]) -> list[tuple[str, str]]:
    """(title, base64 PNG) of the latency histogram, the CDF, power over time, the latency /
    frequency / temperature timeline and the comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = [(label, run) for label, run in _labelled_runs(reports) if run.get("device_result", {}).get("latencies_ms")]
    out = []
    if runs:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        for label, run in runs:
            ax.hist(run["device_result"]["latencies_ms"], bins=40, alpha=0.55, label=label)
        ax.set_xlabel("latency (ms)"), ax.set_ylabel("runs"), ax.legend(fontsize=8)
        out.append(("Latency histogram", _png(fig)))
        fig, ax = plt.subplots(figsize=(7, 3.2))
        for label, run in runs:
            values = np.sort(run["device_result"]["latencies_ms"])
            ax.plot(values, np.arange(1, values.size + 1) / values.size, label=label)
        for q in (0.5, 0.9, 0.99):
            ax.axhline(q, color="grey", lw=0.5, ls=":")
        ax.set_xlabel("latency (ms)"), ax.set_ylabel("fraction of runs ≤ x"), ax.legend(fontsize=8)
        out.append(("Latency CDF (dotted: p50, p90, p99)", _png(fig)))
    traced = [(label, run) for label, run in _labelled_runs(reports) if (run.get("power_trace") or {}).get("run")]
    if traced:
        fig, axes = plt.subplots(len(traced), 1, figsize=(7, 2.4 * len(traced)), squeeze=False)
        for ax, (label, run) in zip(axes[:, 0], traced):
            trace = run["power_trace"]
            t, w = zip(*trace["run"])
            ax.plot(t, w, lw=0.9, label="run")
            if trace.get("idle"):
                ti, wi = zip(*trace["idle"])
                ax.plot(ti, wi, lw=0.9, alpha=0.7, label="idle baseline (own time axis)")
            if trace.get("window_s"):
                ax.axvspan(*trace["window_s"], color="orange", alpha=0.15, label="timed loop")
            ax.set_title(label, fontsize=9), ax.set_ylabel("W"), ax.legend(fontsize=7)
        axes[-1, 0].set_xlabel("seconds")
        out.append(("Power over time", _png(fig)))
    timed = [(label, run["timeline"]) for label, run in _labelled_runs(reports) if run.get("timeline")]
    if timed:
        from edge_time.profiler.timeline import timeline_figure

        out.append(("Latency, CPU frequency and temperature over time (dotted: start of the timed loop)",
                    _png(timeline_figure(timed, plt))))
    if runs:
        labels = [label for label, _ in runs]
        p50 = [run["latency"]["p50_ms"] for _, run in runs]
        p90 = [run["latency"]["p90_ms"] for _, run in runs]
        p99 = [run["latency"]["p99_ms"] for _, run in runs]
        tps = [run["throughput"]["sequences_per_s"] or 0 for _, run in runs]
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 0.6 * len(runs) + 1.6))
        y = np.arange(len(runs))
        left.barh(y, p50, height=0.5, color="tab:blue", label="p50")
        left.scatter(p90, y, marker="|", s=200, color="black", label="p90")
        left.scatter(p99, y, marker="|", s=200, color="red", label="p99")
        left.set_yticks(y, labels, fontsize=8), left.set_xlabel("latency (ms)"), left.legend(fontsize=7)
        right.barh(y, tps, height=0.5, color="tab:green")
        right.set_yticks(y, [""] * len(runs)), right.set_xlabel("sequences / s")
        left.invert_yaxis(), right.invert_yaxis()
        out.append(("Comparison across bundles", _png(fig)))
    return out


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td:first-child{text-align:left}.warn{background:#fff3cd;padding:.5em 1em;border-left:4px solid #e0a800}
.err{background:#f8d7da;padding:.5em 1em;border-left:4px solid #c00}img{max-width:100%}code{background:#f3f3f3;padding:0 3px}"""


def emulation_label(device: dict) -> str:
    """What a report's device line says of an emulated runtime (session._label_emulation); "" if native."""
    emulated = device.get("emulated")
    return f"{emulated['runtime']} EMULATED on {emulated['kernel']} (speed not meaningful)" if emulated else ""


def render_html(reports: list[dict]) -> str:
    """One self-contained page for one or more reports."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>edge-time profile</title><style>{STYLE}</style></head><body>",
             "<h1>edge-time profile report</h1>"]
    for report in reports:
        info = report["device"].get("info", {})
        cfg = report["config"]
        abi = emulation_label(report["device"]) or str(info.get("abi", ""))
        parts.append(f"<p><b>Device</b> {html.escape(report['device']['id'])} ({html.escape(report['device']['transport'])})"
                     f" — {html.escape(str(info.get('model', '')))}, {html.escape(str(info.get('os', '')))}, "
                     f"{html.escape(abi)}, {_fmt(info.get('cores'))} cores. "
                     f"<b>Created</b> {html.escape(report['created_at'])}, edge-time {html.escape(report['edge_time_version'])}. "
                     f"<b>Config</b> threads {cfg.get('threads') or 'runtime default'}, batch {cfg.get('batch')}, "
                     f"seq_len {cfg.get('seq_len')}, warmup {cfg.get('warmup')}, "
                     + (f"duration {cfg.get('duration_s')} s" if cfg.get("duration_s") else f"runs {cfg.get('runs')}")
                     + f", status <b>{html.escape(report['status'])}</b>.</p>")
        for warning in report.get("warnings", []):
            parts.append(f"<p class='warn'>{html.escape(warning)}</p>")
    runs = _labelled_runs(reports)
    for label, run in runs:
        if run.get("error"):
            parts.append(f"<p class='err'><b>{html.escape(label)}</b>: {html.escape(run['error'])}</p>")
    parts.append("<h2>Latency and throughput</h2>")
    parts.append(_table(
        ["bundle", "target", "quant", "seq", "batch", "runs", "import ms", "load ms", "first ms", "p50 ms", "p90 ms", "p99 ms",
         "mean ms", "std ms", "min ms", "max ms", "seq/s", "tokens/s", "peak MB", "model MB"],
        [[label, run["bundle"]["target"], run["bundle"]["quantization"], run.get("config", {}).get("seq_len"),
          run.get("config", {}).get("batch"), run.get("latency", {}).get("count"), run.get("import_ms"), run.get("load_ms"),
          run.get("first_inference_ms")]
         + [run.get("latency", {}).get(k) for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms")]
         + [run.get("throughput", {}).get("sequences_per_s"), run.get("throughput", {}).get("tokens_per_s"),
            _mb(run.get("memory", {}).get("peak_kb")), _mb(run.get("memory", {}).get("model_kb"))]
         for label, run in runs]))
    parts.append("<h2>Energy</h2>")
    energy_rows = []
    for label, run in runs:
        e = run.get("energy", {})
        if e.get("available"):
            mj = f"{1000 * e['joules_per_inference']:.3g}"
            if e.get("joules_per_inference_uncertainty") is not None:
                mj += f" ± {1000 * e['joules_per_inference_uncertainty']:.2g}"
            steady = (e.get("baseline") or {}).get("stationary")
            energy_rows.append([label, e["source"], e["idle_mean_w"], e["run_mean_w"], e["window_s"],
                                e["samples_in_window"], mj, e["millijoules_per_token"],
                                {True: "steady", False: "DRIFTING", None: "–"}[steady], ""])
        else:
            energy_rows.append([label, e.get("source"), None, None, None, None, None, None, None, e.get("reason", "")])
    parts.append(_table(["bundle", "source", "idle W", "run W", "loop s", "samples", "mJ / inference (± 1σ)",
                         "mJ / token", "baseline", "why unavailable"], energy_rows))
    for label, run in runs:
        app = run.get("app_energy")
        if app:
            parts.append(f"<p><b>{html.escape(label)}</b> batterystats: {html.escape(json.dumps(app))}</p>")
    parts.append("<h2>Thermal and CPU frequency</h2>")
    parts.append(_table(["bundle", "max °C before", "max °C after", "mean MHz before", "mean MHz after", "throttled"],
                        [[label, *_thermal(run)] for label, run in runs]))
    op_runs = [(label, run) for label, run in runs if run.get("op_profile")]
    if op_runs:
        parts.append("<h2>Top operators</h2><p>Measured after the timed loop, in a second session with the runtime's "
                     "profiler on (--op-profile): times are per inference, under the profiler's own overhead. "
                     "<i>delegate</i> = run by a delegate (XNNPACK); otherwise the runtime's CPU kernels.</p>")
    for label, run in op_runs:
        parts.append(_op_html(label, run["op_profile"]))
    if len(runs) > 1:
        base = row(runs[0][1], "")
        parts.append(f"<h2>Compared to the first run ({html.escape(runs[0][0])})</h2>"
                     "<p>× ratio to the first run: latency ×0.50 = twice as fast, throughput ×2.0 = twice the "
                     "sequences per second.</p>")
        ratio_rows = []
        for label, run in runs:
            r = row(run, "")
            ratio_rows.append([label, config_label(run)] + [_ratio_cell(k, r.get(k), base.get(k)) for k, _ in COMPARE_COLUMNS])
        parts.append(_table(["run", "config"] + [title for _, title in COMPARE_COLUMNS], ratio_rows))
    for title, png in figures(reports):
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>")
    parts.append("<p style='font-size:12px;color:#666'>Latency: wall time of one <code>run()</code> of batch × seq_len "
                 "tokens after warmup. Energy: trapezoid integral of sampled power over the timed loop minus the idle "
                 "baseline's mean power over the same length, divided by the inferences (sequences). "
                 "See docs/profiling.md.</p></body></html>")
    return "\n".join(parts)


def _op_html(label: str, table: dict, limit: int = 15) -> str:
    head = f"<h3>{html.escape(label)}</h3>"
    if not table.get("available"):
        return head + f"<p class='warn'>no op profile: {html.escape(table.get('reason', ''))}</p>"
    summary = (f"<p>{html.escape(table['runtime'])}: {html.escape(table['mechanism'])}; "
               f"{table['delegated_nodes']} delegated node(s), {table['cpu_nodes']} on CPU kernels")
    if table["timed"]:
        summary += (f"; {_fmt(table['total_ms'])} ms per inference over {table['runs']} profiled run(s), "
                    f"{100 * (table['delegated_share'] or 0):.0f}% of it in delegates")
    summary += ".</p>"
    if table.get("note"):
        summary += f"<p class='warn'>{html.escape(table['note'])}</p>"
    rows = [[r["op"], r["count"], r["total_ms"], None if r["share"] is None else f"{100 * r['share']:.1f}%",
             "delegate" if r["delegated"] else "CPU", r["backend"]] for r in table["ops"][:limit]]
    more = len(table["ops"]) - limit
    tail = f"<p>… and {more} more op type(s) in report.json.</p>" if more > 0 else ""
    return head + summary + _table(["op", "nodes", "ms / inference", "share", "where", "backend"], rows) + tail


def _ratio_cell(key: str, value, base) -> str | None:
    if value is None:
        return None
    shown = display_value(key, value)
    text = f"{shown:.3g}" if abs(shown) < 1000 else f"{shown:,.0f}"
    return f"{text} (×{value / base:.2f})" if base else text


def _mb(kb):
    return None if kb is None else kb / 1024.0


def _thermal(run: dict) -> list:
    th = run.get("thermal", {})
    cells = []
    for key in ("before", "after"):
        temps = list((th.get(key) or {}).get("thermal_c", {}).values()) + ([th[key]["pi"]["temp_c"]] if (th.get(key) or {}).get("pi", {}).get("temp_c") else [])
        cells.append(max(temps) if temps else None)
    for key in ("before", "after"):
        freqs = list((th.get(key) or {}).get("cpu_freq_mhz", {}).values())
        cells.append(sum(freqs) / len(freqs) if freqs else None)
    cells.append("; ".join(th.get("throttled_before", []) + th.get("throttled_after", [])) or "no")
    return cells


# --- compare ----------------------------------------------------------------------------------

COMPARE_COLUMNS = [("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"), ("p99_ms", "p99 ms"), ("mean_ms", "mean ms"),
                   ("sequences_per_s", "seq/s"), ("peak_memory_kb", "peak MB"), ("joules_per_inference", "mJ/inf")]
_DISPLAY_SCALE = {"peak_memory_kb": 1 / 1024, "joules_per_inference": 1000.0}


def display_value(key: str, value):
    """A compare figure in the unit its column title names (peak MB, mJ/inf)."""
    return None if value is None else value * _DISPLAY_SCALE.get(key, 1.0)


def compare(paths: list[str | os.PathLike]) -> tuple[list[dict], list[dict]]:
    """Rows of every run in the reports, and each row's ratios to the first row (the baseline):
    latency ratio < 1 and throughput ratio > 1 mean faster than the baseline."""
    if len(paths) < 1:
        raise ProfileError("give at least one report.json to compare")
    reports = [load_report(p) for p in paths]
    rows = []
    for report in reports:
        for run in report["runs"]:
            rows.append(row(run, report["device"]["id"]) | {"config": config_label(run)})
    if not rows:
        raise ProfileError("the reports hold no runs to compare")
    base = rows[0]
    ratios = []
    for r in rows:
        ratios.append({key: (r[key] / base[key] if r.get(key) is not None and base.get(key) else None)
                       for key, _ in COMPARE_COLUMNS})
    return rows, ratios
