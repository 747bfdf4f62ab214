"""Bench outputs: a rich table for the terminal; bench.md, bench.csv, bench.json and bench.png.

Every file is written to a temp file beside its final name and renamed into place, so a reader
(or a killed run) never sees half a report. The Markdown embeds the same table as the terminal
plus throughput per batch size, where a pass goes, every score and the notes; the CSV has one row
per system with flat columns (pandas/spreadsheets); the JSON holds everything, including the raw
timings' medians and ranges, the energy details and what the plot drew.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from edge_time.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from edge_time.bench.plot import render_pareto
from edge_time.compute import cpu_summary
from edge_time.runtime.stages import STAGES
from edge_time.tasks.data import get_task

FILES = {"markdown": "bench.md", "csv": "bench.csv", "json": "bench.json", "plot": "bench.png"}
STAGE_COLUMNS = ("pass", *STAGES, "other")  # Row.stages_ms keys, in table order


def count(value: int | None) -> str:
    """17_000_000 -> '17.0M'."""
    if value is None:
        return "-"
    exponent = min(int(math.log10(value)) // 3, 3) if value > 0 else 0
    return f"{value / 10 ** (3 * exponent):.1f}{['', 'k', 'M', 'B'][exponent]}" if exponent else str(value)


def number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"


def _item(result) -> str:
    return "sentence" if result.unit == "words" else "example"


def _shown(result) -> list[str]:
    """The scores the table shows: the bench metric, then the task's further bench columns."""
    return [result.metric] + [m for m in get_task(result.task).bench_columns if m != result.metric]


def columns(result) -> list[str]:
    """Headers of the summary table (terminal and Markdown)."""
    shown = _shown(result)
    return ["model", "kind", *shown, f"ms/{_item(result)} @1", f"{result.unit}/s", "batch", f"mJ/{result.unit[:-1]}",
            "MB", "params"]


def summary_cells(result, row) -> list[str]:
    shown = _shown(result)
    return [row.name, row.kind, *[number(row.scores.get(m)) for m in shown],
            number(row.latency_ms["p50"]) if row.latency_ms else "n/a", number(row.throughput_best),
            str(row.best_batch), number(row.energy_mj, 3), number(row.size_mb, 1), count(row.parameters)]


def table(result):
    """The summary as a rich Table (printed by the CLI)."""
    from rich.table import Table

    data = Path(result.data["path"]).name
    title = (f"edge-time bench: {result.task} on {data} ({result.data['examples']} {_item(result)}s, "
             f"{result.data['words']:,} words), {result.config.threads} thread(s) of "
             f"{cpu_summary(result.machine['cpu'])}")
    caption = f"energy unavailable: {result.energy_note}" if result.energy_note else None
    rich_table = Table(title=title, caption=caption)
    for index, name in enumerate(columns(result)):
        rich_table.add_column(name, justify="left" if index < 2 else "right", overflow="fold")
    for row in result.rows:
        rich_table.add_row(*summary_cells(result, row))
    return rich_table


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def markdown(result) -> str:
    config, machine = result.config, result.machine
    heads = columns(result)
    lines = [
        f"# edge-time bench: {result.task} on `{Path(result.data['path']).name}`",
        "",
        f"{result.created_at} · {machine['machine']}, {machine['cores']} cores, {cpu_summary(machine['cpu'])} · "
        f"{config.threads} thread(s) · batch "
        f"sizes {', '.join(map(str, sorted(set(config.batch_sizes))))} · {config.repeats} timed passes each after a "
        f"warm-up, median [range] · {result.data['examples']} {_item(result)}s, {result.data['words']:,} words · "
        f"load average {machine['load_average'][0]:.2f} before, {machine['load_average_after'][0]:.2f} after",
        "",
        _md_row(heads),
        _md_row(["---", "---"] + ["---:"] * (len(heads) - 2)),
        *[_md_row(summary_cells(result, row)) for row in result.rows],
        "",
        f"Latency (`ms/{_item(result)} @1`): median per {_item(result)} at batch 1, tokenization, graph and decoding "
        f"included. Throughput: {result.unit} per second over the whole file at each system's best batch size "
        f"(`batch`), median of the timed passes. Energy: "
        + (f"unavailable: {result.energy_note}." if result.energy_note else
           f"mJ per {result.unit[:-1]} above the idle baseline, at the best batch size."),
        "",
        f"![Pareto plot: {result.metric} vs throughput and energy]({FILES['plot']})",
        "",
        f"## Throughput by batch size ({result.unit}/s, median [min–max])",
        "",
    ]
    batch_sizes = sorted(result.rows[0].throughput)
    lines += [_md_row(["model", *map(str, batch_sizes)]), _md_row(["---"] + ["---:"] * len(batch_sizes))]
    for row in result.rows:
        lines.append(_md_row([row.name, *[f"{number(row.throughput[b]['median'])} [{number(row.throughput[b]['min'])}"
                                          f"–{number(row.throughput[b]['max'])}]" for b in batch_sizes]]))
    if any(row.throughput_by_threads for row in result.rows):
        counts = sorted({n for row in result.rows for n in row.throughput_by_threads})
        lines += ["", f"## Throughput by threads ({result.unit}/s at each system's best batch size, median)", "",
                  _md_row(["model", "batch", *[f"{n} thread(s)" for n in counts]]),
                  _md_row(["---"] + ["---:"] * (len(counts) + 1))]
        lines += [_md_row([row.name, str(row.best_batch), *[number(row.throughput_by_threads.get(n)) for n in counts]])
                  for row in result.rows]
    lines += _stages_markdown(result)
    metrics = list(dict.fromkeys(m for row in result.rows for m in row.scores))
    lines += ["", "## All scores (at each system's best batch size)", "",
              _md_row(["model", *metrics]), _md_row(["---"] + ["---:"] * len(metrics))]
    lines += [_md_row([row.name, *[number(row.scores.get(m)) for m in metrics]]) for row in result.rows]
    notes = [f"- {row.name}: {note}" for row in result.rows for note in row.notes]
    if result.plot:
        notes += [f"- plot, {panel} panel: {note}" for panel, items in result.plot.notes.items() for note in items]
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"


def _stages_markdown(result) -> list[str]:
    """Where a pass goes, per edge-time system: its stages in ms and as shares of the pass."""
    rows = [row for row in result.rows if row.stages_ms]
    if not rows:
        return []
    stages = STAGE_COLUMNS[1:]
    lines = ["", "## Where a pass goes (ms per pass at each system's best batch size, median)", "",
             _md_row(["model", "batch", *STAGE_COLUMNS]),
             _md_row(["---"] + ["---:"] * (len(STAGE_COLUMNS) + 1))]
    for row in rows:
        ms = row.stages_ms
        lines.append(_md_row([row.name, str(row.best_batch), f"{ms['pass']:.1f}",
                              *[f"{ms[s]:.1f} ({ms[s] / ms['pass']:.0%})" if s in ms else "n/a" for s in stages]]))
    lines += ["", "inputs: tokenization, padding and word pooling; graph: the runtime's call (PyTorch: the "
                  "forward); decode: scores to predictions; other: batching and Python between the stages. "
                  "Under `--parallel batches` the stages of batches in flight at once add up, so there is no "
                  "`other`. A large graph share means a smaller or more quantized model is the lever; a large "
                  "decode or inputs share, the pipeline around it."]
    return lines


def csv_text(result) -> str:
    batch_sizes = sorted(result.rows[0].throughput)
    metrics = list(dict.fromkeys(m for row in result.rows for m in row.scores))
    header = (["name", "path", "family", "kind", "task", "metric", "metric_value"] + [f"score_{m}" for m in metrics]
              + ["latency_p50_ms", "latency_p90_ms", "unit", "best_batch", "throughput_best"]
              + [f"throughput_b{b}" for b in batch_sizes]
              + ["energy_available", "energy_mj_per_unit", "energy_reason", "size_mb", "parameters"]
              + [f"{stage}_ms" for stage in STAGE_COLUMNS])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in result.rows:
        latency = row.latency_ms or {}
        writer.writerow([row.name, row.path, row.family, row.kind, result.task, row.metric, row.metric_value]
                        + [row.scores.get(m) for m in metrics]
                        + [latency.get("p50"), latency.get("p90"), result.unit, row.best_batch, row.throughput_best]
                        + [row.throughput[b]["median"] for b in batch_sizes]
                        + [row.energy["available"], row.energy_mj, row.energy.get("reason"), row.size_mb,
                           row.parameters]
                        + [(row.stages_ms or {}).get(stage) for stage in STAGE_COLUMNS])
    return buffer.getvalue()


def write_outputs(result, out_dir: Path) -> None:
    """Write the plot, Markdown, CSV and JSON into ``out_dir`` (atomically); record them on ``result``."""
    png, record = render_pareto(result)
    paths = {kind: Path(out_dir) / name for kind, name in FILES.items()}
    write_bytes_atomic(paths["plot"], png)
    record.path = paths["plot"]
    result.plot = record
    write_text_atomic(paths["markdown"], markdown(result))
    write_text_atomic(paths["csv"], csv_text(result))
    result.files = paths
    write_json_atomic(paths["json"], result.to_json())
