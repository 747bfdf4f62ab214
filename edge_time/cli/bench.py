"""`edge-time bench`: a thin click layer over ``edge_time.bench.bench(BenchConfig(...))``."""

from __future__ import annotations

from pathlib import Path

import click

from edge_time.bench.config import SPACY_GEMMS, BenchConfig
from edge_time.cli.types import NON_NEGATIVE_FLOAT, TOKEN_BUDGET


class _Values(click.Option):
    """An option that takes every value up to the next option: ``--models A B C`` (repeating it works too)."""

    def add_to_parser(self, parser, ctx) -> None:
        super().add_to_parser(parser, ctx)
        for opt in self.opts:
            option = parser._long_opt.get(opt) or parser._short_opt.get(opt)
            store = option.process

            def process(value, state, store=store):
                store(value, state)
                while state.rargs and not state.rargs[0].startswith("-"):
                    store(state.rargs.pop(0), state)

            option.process = process


@click.command("bench", epilog="""\b
Examples:
  # a fine-tuned student, its ONNX bundles and spaCy's Czech pipeline on Czech PUD dev
  edge-time bench --models ud_student ud_student_onnx ud_student_onnx_int8 \\
      --task-data cs_pud-dev.conllu --spacy cs_core_news_sm --out bench-cs
  # an int8 ONNX student beside spaCy at 2 threads, two batches at once (throughput)
  edge-time bench --models ud_student_onnx_int8 --task-data cs_pud-dev.conllu --spacy cs_core_news_sm \\
      --threads 2 --parallel batches --out bench-2t
  # teacher vs student NER at 2 threads, more passes, larger batches
  edge-time bench --models ner_teacher ner_student --task-data dev.conll \\
      --batch-sizes 1 16 64 --repeats 5 --threads 2 --out bench-ner
  # rank by another metric; read power from a board's INA sensor
  edge-time bench --models tagger tagger-onnx --task-data dev.conllu --metric UPOS \\
      --power hwmon:/sys/class/hwmon/hwmon2
\b
Writes bench.md, bench.csv, bench.json and bench.png (Pareto plots) into --out. See docs/bench.md.""")
@click.option("--models", cls=_Values, multiple=True, metavar="FOLDER...",
              help="Task model folders (`edge-time finetune`) and/or their bundles (`edge-time export`), one task.")
@click.option("--task-data", required=True, type=click.Path(dir_okay=False),
              help="Labelled evaluation file in the task's format: CoNLL-U (ud), CoNLL (ner), JSONL (cls), "
                   "SQuAD JSON (qa).")
@click.option("--spacy", "spacy_pipeline", metavar="PIPELINE",
              help="Also run this spaCy pipeline (package name or saved folder) on the same gold words (UD only; "
                   "pip install 'edge-time[spacy]').")
@click.option("--spacy-gemm", type=click.Choice(SPACY_GEMMS), default=BenchConfig.spacy_gemm, show_default=True,
              help="spaCy's matrix products: blis (spaCy's default), numpy (numpy's BLAS), or auto: numpy where blis "
                   "would run its generic, unoptimised kernels on this CPU (e.g. AMD Zen 4 and 5), so the baseline is not "
                   "handicapped; the report notes which ran.")
@click.option("--batch-sizes", cls=_Values, multiple=True, type=click.IntRange(min=1), default=BenchConfig.batch_sizes,
              show_default=True, metavar="N...", help="Batch sizes to time; latency is taken at batch 1.")
@click.option("--batch-tokens", type=TOKEN_BUDGET, default=BenchConfig.batch_tokens, show_default=True,
              help="edge-time UD/NER models: a batch also holds at most this many padded tokens (long sentences in "
                   "smaller graph calls); 0: the batch size alone decides.")
@click.option("--repeats", type=click.IntRange(min=1), default=BenchConfig.repeats, show_default=True,
              help="Timed passes per system and batch size, after one warm-up pass (medians reported).")
@click.option("--threads", type=click.IntRange(min=1), default=BenchConfig.threads, show_default=True,
              help="CPU threads for every system (torch, the bundle runtime, BLAS/OpenMP pools).")
@click.option("--thread-scaling", is_flag=True, default=BenchConfig.thread_scaling,
              help="Also time every system at 1, 2 and all cores (at its best batch size).")
@click.option("--parallel", type=click.Choice(["ops", "batches"]), default=BenchConfig.parallel, show_default=True,
              help="With --threads > 1: ONNX bundles run one batch at a time over all threads (ops), or that many "
                   "batches at once, one thread each (batches: throughput); other systems always run ops.")
@click.option("--metric", help="Score to rank and plot [default: LAS for ud, f1 for ner and qa, accuracy for cls].")
@click.option("--power", default=BenchConfig.power, show_default=True,
              help="Power sensor for energy: auto | none | battery[:DIR] | rapl[:DIR] | pmic | hwmon:DIR.")
@click.option("--energy-seconds", type=NON_NEGATIVE_FLOAT, default=BenchConfig.energy_seconds, show_default=True,
              help="With a power sensor: seconds of back-to-back passes per system while power is sampled.")
@click.option("--out", type=click.Path(file_okay=False), default=BenchConfig.out, show_default=True,
              help="Folder for bench.md, bench.csv, bench.json and bench.png.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def bench_command(models, task_data, spacy_pipeline, spacy_gemm, batch_sizes, batch_tokens, repeats, threads,
                  thread_scaling, parallel, metric, power, energy_seconds, out, quiet) -> None:
    """Compare task models, their bundles and a spaCy baseline on one labelled file: task accuracy,
    latency at batch 1, throughput per batch size, energy (where the host has a power sensor),
    size and parameters; with Pareto plots of accuracy vs throughput and vs energy.

    Every system reads the same examples in length-sorted batches of the same size (edge-time
    models sorted by token count, spaCy by word count), with the same threads; timing covers
    tokenization (or spaCy Doc building), the graph and decoding to task predictions, after an
    untimed warm-up pass, in rounds that interleave the systems.
    """
    from rich.console import Console

    from edge_time.bench import bench
    from edge_time.bench.report import table

    result = bench(BenchConfig(models=[Path(m) for m in models], task_data=Path(task_data), out=Path(out),
                               batch_sizes=tuple(batch_sizes), batch_tokens=batch_tokens,
                               repeats=repeats, threads=threads,
                               thread_scaling=thread_scaling, parallel=parallel, metric=metric,
                               spacy=spacy_pipeline, spacy_gemm=spacy_gemm, power=power, energy_seconds=energy_seconds,
                               progress=not quiet))
    console = Console()
    (console if console.is_terminal else Console(width=160)).print(table(result))  # piped: no 80-column squeeze
    click.echo(f"report: {result.files['markdown']} (CSV, JSON and the Pareto plot {result.files['plot'].name} "
               f"beside it)")


COMMANDS = [bench_command]
