"""`edge-time profile`: time bundles on this machine, a phone (adb) or a board (ssh)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edge_time.cli.types import COUNT, NON_NEGATIVE, NON_NEGATIVE_FLOAT, POSITIVE_FLOAT
from edge_time.profiler.target import ProfileConfig, RunConfig

PROFILE_EPILOG = """\b
Examples:
  edge-time profile out/minilm-onnx --device local --runs 200
  edge-time profile out/minilm-et out/minilm-tflite --device adb:R58M123 --duration 20 --cooldown 30
  edge-time profile out/minilm-onnx --device ssh://pi@raspberrypi.local --threads 4 --pin-cores 0,1,2,3
  edge-time profile out/minilm-et --device local --op-profile   # + top-operators table
  edge-time profile compare profile-a/report.json profile-b/report.json

\b
Phones: airplane mode, screen on at fixed brightness, and USB power CUT (a power-switching hub,
or adb over Wi-Fi) for energy figures; `--battery-unplug` only fools batterystats, the charger
still feeds the battery. See docs/profiling.md.
"""


class _DefaultRun(click.Group):
    """`edge-time profile BUNDLE...` means `edge-time profile run BUNDLE...`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultRun, epilog=PROFILE_EPILOG)
def profile() -> None:
    """Measure bundles on the device they are for: load time, first inference, latency
    p50/p90/p99, throughput, peak memory, CPU frequency/thermal state and energy per inference.

    `edge-time profile BUNDLE... [OPTIONS]` is short for `edge-time profile run BUNDLE...`.
    """


@profile.command("run", epilog=PROFILE_EPILOG)
@click.argument("bundles", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--device", default=ProfileConfig.device, show_default=True, help="local | adb | adb:SERIAL | ssh://USER@HOST[:PORT]")
@click.option("--threads", type=NON_NEGATIVE, default=RunConfig.threads, show_default=True, help="Runtime threads; 0 = the runtime's default.")
@click.option("--batch", type=COUNT, default=RunConfig.batch, show_default=True)
@click.option("--seq-len", type=COUNT, default=RunConfig.seq_len, show_default=True,
              help="Tokens per sequence (a fixed-shape bundle uses the smallest bucket that holds it).")
@click.option("--warmup", type=NON_NEGATIVE, default=RunConfig.warmup, show_default=True, help="Untimed runs after the first inference.")
@click.option("--runs", type=COUNT, default=RunConfig.runs, show_default=True, help="Timed runs.")
@click.option("--duration", type=POSITIVE_FLOAT, default=RunConfig.duration_s, help="Time for this many seconds instead of --runs.")
@click.option("--cooldown", type=NON_NEGATIVE_FLOAT, default=RunConfig.cooldown_s, show_default=True, help="Seconds to rest between bundles.")
@click.option("--wait-cool", type=NON_NEGATIVE_FLOAT, default=RunConfig.wait_cool_s, show_default=True,
              help="When the device starts throttled, wait up to this many seconds for it to cool.")
@click.option("--pin-cores", default=RunConfig.pin_cores, help="Pin the runner to these CPUs, e.g. 4,5,6,7 (local and ssh).")
@click.option("--power", default=RunConfig.power, show_default=True,
              help="Power sensor: auto | none | battery[:DIR] | rapl[:DIR] | pmic | hwmon:DIR (INA219/INA260 driver).")
@click.option("--sample-period", type=POSITIVE_FLOAT, default=RunConfig.sample_period_s, show_default=True, help="Seconds between power samples.")
@click.option("--timeline-period", type=POSITIVE_FLOAT, default=RunConfig.timeline_period_s, show_default=True,
              help="Seconds between CPU frequency / temperature samples during the run (report timeline).")
@click.option("--settle", type=NON_NEGATIVE_FLOAT, default=RunConfig.settle_s, show_default=True,
              help="Seconds to wait after a run before sampling the idle baseline (the device winds down).")
@click.option("--battery-unplug", is_flag=True, help="adb: `dumpsys battery unplug` during the run (batterystats only).")
@click.option("--timeout", type=POSITIVE_FLOAT, default=RunConfig.timeout_s, show_default=True, help="Give up on one bundle after this many seconds.")
@click.option("--ssh-key", type=click.Path(dir_okay=False), default=ProfileConfig.ssh_key, help="ssh: private key file.")
@click.option("--ssh-accept-new", is_flag=True, default=ProfileConfig.accept_new_host, help="ssh: trust a board's host key on first contact (like StrictHostKeyChecking=accept-new).")
@click.option("--remote-python", default=ProfileConfig.remote_python, show_default=True, help="ssh: Python on the board (with numpy, tokenizers, runtime).")
@click.option("--remote-dir", default=ProfileConfig.remote_dir, show_default=True, help="ssh: working folder on the board.")
@click.option("--op-profile", is_flag=True,
              help="After timing, profile operators in a second session (top-operators table; local and ssh).")
@click.option("--op-profile-runs", type=COUNT, default=RunConfig.op_profile_runs, show_default=True, help="Inferences in the op profile.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=ProfileConfig.out,
              show_default=True, help="Folder for report.json, report.csv, latencies.csv and report.html.")
def run(bundles, device, threads, batch, seq_len, warmup, runs, duration, cooldown, wait_cool, pin_cores, power,
        sample_period, timeline_period, settle, battery_unplug, timeout, ssh_key, ssh_accept_new, remote_python, remote_dir, op_profile,
        op_profile_runs, out_dir) -> None:
    """Profile BUNDLES on --device and write a report into --out."""
    from edge_time.profiler import open_target
    from edge_time.profiler import profile as run_profile
    from edge_time.profiler.report import emulation_label

    config = RunConfig(threads=threads, batch=batch, seq_len=seq_len, warmup=warmup, runs=runs, duration_s=duration,
                       cooldown_s=cooldown, wait_cool_s=wait_cool, pin_cores=pin_cores, power=power,
                       sample_period_s=sample_period, timeline_period_s=timeline_period, settle_s=settle, timeout_s=timeout, battery_unplug=battery_unplug,
                       op_profile=op_profile, op_profile_runs=op_profile_runs)
    config.validate()
    target = open_target(device, ssh_key=ssh_key, remote_python=remote_python, remote_dir=remote_dir,
                         accept_new_host=ssh_accept_new)
    report = run_profile(list(bundles), target, config, out_dir, say=lambda m: click.echo(m, err=True))
    emulated = emulation_label(report["device"])
    _print_rows(report["runs"], report["device"]["id"] + (f", {emulated}" if emulated else ""))
    click.echo(f"report: {out_dir / 'report.html'} (JSON, CSV beside it)")
    failed = [r for r in report["runs"] if r.get("status") != "ok"]
    for failure in failed:  # exit 0 only when every bundle was measured
        click.secho(f"error: {failure['bundle']['path']}: {failure.get('error') or failure['status']}", fg="red",
                    err=True)
    if failed:
        sys.exit(1)


def _print_rows(runs: list[dict], device: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from edge_time.profiler.report import row

    table = Table(title=f"edge-time profile on {device}")
    for name in ("bundle", "p50 ms", "p90 ms", "p99 ms", "seq/s", "peak MB", "mJ/inf", "status"):
        table.add_column(name, justify="left" if name == "bundle" else "right", overflow="fold")
    for run_ in runs:
        r = row(run_, device)
        table.add_row(r["bundle"], _num(r["p50_ms"]), _num(r["p90_ms"]), _num(r["p99_ms"]), _num(r["sequences_per_s"]),
                      _num(r["peak_memory_kb"] / 1024 if r["peak_memory_kb"] else None),
                      _num(r["joules_per_inference"] * 1000 if r["joules_per_inference"] is not None else None),
                      r["status"])
    Console(stderr=False).print(table)


def _num(value) -> str:
    return "–" if value is None else f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


@profile.command("compare")
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write one HTML page comparing all runs into this folder.")
def compare_command(reports, out_dir) -> None:
    """Print the runs of REPORTS (report.json files or their folders) side by side, with ratios
    to the first run: latency x0.5 = twice as fast, throughput x2.0 = twice the sequences/s."""
    from rich.console import Console
    from rich.table import Table

    from edge_time.profiler.report import COMPARE_COLUMNS, compare, display_value, load_report, render_html

    rows, ratios = compare(list(reports))
    # fits 100 columns: each figure cell holds the value and, below it, its ratio to the first run
    from rich import box
    from rich.markup import escape

    table = Table(title=escape(f"compared to #1: {rows[0]['bundle']} @ {rows[0]['device']} [{rows[0]['config']}]"),
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("bundle", overflow="fold", max_width=20)
    table.add_column("device", overflow="fold", max_width=14)
    table.add_column("config", no_wrap=True, min_width=9)
    for key, title in COMPARE_COLUMNS:
        if key != "mean_ms":
            table.add_column(title, justify="right", no_wrap=True)
    for index, (r, ratio) in enumerate(zip(rows, ratios), 1):
        cells = []
        for key, _ in COMPARE_COLUMNS:
            if key == "mean_ms":
                continue
            cell = _num(display_value(key, r[key]))
            if ratio[key] is not None and index > 1:
                cell += f"\nx{ratio[key]:.2f}"
            cells.append(cell)
        table.add_row(str(index), escape(r["bundle"]), escape(r["device"]), r["config"], *cells, end_section=True)
    Console(width=100).print(table)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "compare.html").write_text(render_html([load_report(p) for p in reports]), encoding="utf-8")
        click.echo(f"comparison: {out_dir / 'compare.html'}")


COMMANDS = [profile]
