"""`edge-time quickstart`: a thin click layer over ``edge_time.quickstart.quickstart``."""

from __future__ import annotations

from pathlib import Path

import click

from edge_time.cli.distill import SIZE_HELP, SIZES
from edge_time.cli.types import COUNT
from edge_time.quickstart import QuickstartConfig

QUICKSTART_EPILOG = """\b
Examples:
  edge-time quickstart                                  # everything, into ./edge-time-quickstart
  edge-time quickstart --out /tmp/qs --open             # then open the HTML report in a browser
  edge-time quickstart --size s --steps 300             # a bigger, better-trained student (longer)
  edge-time quickstart --targets onnx,tflite --runs 300 # two targets, steadier latency figures
  edge-time quickstart --overwrite                      # redo it in the same folder

\b
Output folder:
  corpus.txt       the built-in corpus, one document per line
  student/         the student (Hugging Face folder, model card README.md, loss curve)
  bundles/         student-TARGET-int8-dynamic/ per target (model, tokenizer, manifest, parity.json)
  report/          report.html, report.json, report.csv, latencies.csv
  quickstart.json  the standalone commands, step timings and the summary table
"""


@click.command("quickstart", epilog=QUICKSTART_EPILOG)
@click.option("--out", type=click.Path(path_type=Path), default=QuickstartConfig.out,
              show_default=True, help="Output folder (created; an existing one needs --overwrite).")
@click.option("--size", type=click.Choice(SIZES), default=QuickstartConfig.size, show_default=True, help=SIZE_HELP)
@click.option("--steps", type=COUNT, default=QuickstartConfig.steps, show_default=True, help="Distillation steps.")
@click.option("--max-length", type=COUNT, default=QuickstartConfig.max_length, show_default=True,
              help="Tokens: distillation chunks, the student's positions, the profiled sequence length.")
@click.option("--batch-size", type=COUNT, default=QuickstartConfig.batch_size, show_default=True, help="Distillation batch (sequences).")
@click.option("--targets", default=",".join(QuickstartConfig.targets), show_default=True,
              help="Comma-separated export targets.")
@click.option("--runs", type=COUNT, default=QuickstartConfig.runs, show_default=True, help="Timed profiling runs per bundle.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier quickstart folder (never any other folder).")
@click.option("--open", "open_report", is_flag=True, help="Open report.html in a web browser at the end.")
@click.option("--quiet", is_flag=True, help="Only the steps, their commands and the summary: no progress bars.")
def quickstart(out, size, steps, max_length, batch_size, targets, runs, overwrite, open_report, quiet) -> None:
    """Distil, export and profile a tiny English encoder in one go: offline, on CPU, in minutes.

    \b
    1. corpus   Python's own documentation (pydoc_data, in every Python) -> OUT/corpus.txt
    2. distill  an xs student from the built-in all-MiniLM-L6-v2 teacher   -> OUT/student/
    3. export   int8-dynamic ExecuTorch, TFLite and ONNX bundles, each checked
                against PyTorch in its own runtime                          -> OUT/bundles/
    4. profile  latency, throughput and memory of each bundle on this host -> OUT/report/
    Every step prints the `edge-time distill|export|profile` command that reruns it alone.
    The defaults take about 2 minutes on 2 CPU cores, half of it distillation
    (docs/quickstart.md). Needs the demo extra: pip install -e ".[demo]".
    """
    from edge_time.quickstart import quickstart as run

    config = QuickstartConfig(out=out, size=size, steps=steps, max_length=max_length, batch_size=batch_size,
                              targets=tuple(targets.split(",")), runs=runs, overwrite=overwrite, progress=not quiet)
    result = run(config, say=click.echo)
    _print_rows(result.rows, result.out / "bundles", max_length)
    click.echo(f"\nreport: {result.report_html} (JSON, CSV beside it); the whole run took "
               f"{result.seconds['total'] / 60:.1f} min; commands and timings: {result.out / 'quickstart.json'}")
    if open_report:
        import webbrowser

        webbrowser.open(result.report_html.resolve().as_uri())


def _print_rows(rows, folder: Path, seq_len: int) -> None:
    from rich.console import Console
    from rich.table import Table

    from edge_time.cli.profile import _num

    table = Table(title=f"{folder}: int8-dynamic bundles on this machine, batch 1 x {seq_len} tokens")
    for name in ("target", "p50 ms", "seq/s", "MB", "parity cosine", "status"):
        table.add_column(name, justify="left" if name == "target" else "right")
    for r in rows:
        table.add_row(r.target, _num(r.p50_ms), _num(r.sequences_per_s), f"{r.size_mb:.1f}", f"{r.min_cosine:.5f}",
                      r.status)
    Console().print(table)


COMMANDS = [quickstart]
