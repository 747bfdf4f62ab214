"""`edge-time quickstart`: the whole flow once, offline, on the built-in teacher and corpus.

    >>> from edge_time.quickstart import QuickstartConfig, quickstart
    >>> result = quickstart(QuickstartConfig(out="edge-time-quickstart"), say=print)
    >>> result.rows[0].p50_ms, result.report_html

Steps, each a call into its room's API (nothing is re-implemented here):
1. write the built-in corpus (``corpus.py``: Python's documentation topics) to ``OUT/corpus.txt``;
2. ``distill`` an xs/s/m student from all-MiniLM-L6-v2 (the ``demo`` extra) into ``OUT/student``;
3. ``export_model`` it to each target with int8-dynamic into ``OUT/bundles/``;
4. ``profile`` the bundles on this machine into ``OUT/report/``.
Each step also yields the standalone ``edge-time`` command that redoes it alone. ``OUT`` carries
a marker file so that ``overwrite`` only ever deletes a folder this command made;
``quickstart.json`` is written last (commands, timings, results).
"""

from __future__ import annotations

import shlex
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from edge_time import __version__
from edge_time.atomic import write_json_atomic
from edge_time.bundle import TARGETS
from edge_time.errors import EdgeTimeError

MARKER_NAME = ".edge-time-quickstart"
SUMMARY_NAME = "quickstart.json"
QUANTIZE = "int8-dynamic"
MIN_LENGTH = 16  # the parity sentences and the timed sequences need room for real tokens

__all__ = ["QuickstartConfig", "QuickstartResult", "BundleRow", "QuickstartError", "quickstart",
           "MARKER_NAME", "SUMMARY_NAME"]


class QuickstartError(EdgeTimeError):
    """A quickstart setting or output folder that cannot be used; the message names the fix."""


@dataclass
class QuickstartConfig:
    """Defaults finish in about 2 minutes on 2 CPU cores (docs/quickstart.md has the measurement)."""

    out: str | Path = "edge-time-quickstart"
    size: str = "xs"  # student preset: xs / s / m
    steps: int = 60  # distillation steps
    max_length: int = 128  # student positions, distillation chunks, the longest bundle input, profiled length
    batch_size: int = 16
    targets: tuple[str, ...] = TARGETS
    runs: int = 100  # timed profiling runs per bundle
    overwrite: bool = False  # replace an earlier quickstart folder (never any other folder)
    progress: bool = True  # progress bars and the steps' own messages


@dataclass
class BundleRow:
    """One bundle's line of the summary table."""

    name: str
    target: str
    path: Path
    size_mb: float  # model file(s)
    min_cosine: float  # parity vs PyTorch, from the manifest
    p50_ms: float | None
    sequences_per_s: float | None
    status: str


@dataclass
class QuickstartResult:
    out: Path
    corpus: Path
    student: Path
    bundles: list[Path]
    report_html: Path
    rows: list[BundleRow]
    commands: dict[str, str]  # step -> the standalone command
    seconds: dict[str, float] = field(default_factory=dict)  # step -> wall seconds, and "total"


def _command(*args) -> str:
    return shlex.join(["edge-time", *map(str, args)])


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def validate(config: QuickstartConfig) -> tuple[str, ...]:
    """Refuse settings the steps' own configs cannot take up front; returns the targets."""
    targets = tuple(dict.fromkeys(t.strip() for t in config.targets if t.strip()))
    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets:
        raise QuickstartError(f"unknown target {unknown[0]!r}; choose from {', '.join(TARGETS)}" if unknown
                              else f"no target given; choose from {', '.join(TARGETS)}")
    for name in ("steps", "batch_size", "runs"):
        if getattr(config, name) < 1:
            raise QuickstartError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(config, name)}")
    if config.max_length < MIN_LENGTH:
        raise QuickstartError(f"--max-length {config.max_length} is too short; use at least {MIN_LENGTH}")
    return targets


def prepare_out(out: Path, overwrite: bool) -> None:
    """Create ``out`` with its marker; an existing non-empty folder only with ``overwrite`` and
    only when the marker says an earlier quickstart made it."""
    if out.exists() and not out.is_dir():
        raise QuickstartError(f"--out {out} is a file; choose a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise QuickstartError(f"output {out} already exists; pass --overwrite to replace an earlier "
                                  f"quickstart there, or choose another --out")
        if not (out / MARKER_NAME).is_file():
            raise QuickstartError(f"--overwrite refuses to delete {out}: it is not a quickstart folder "
                                  f"(no {MARKER_NAME}); choose another --out")
        shutil.rmtree(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QuickstartError(f"cannot create {out} ({exc.strerror}); choose a writable --out") from exc
    write_json_atomic(out / MARKER_NAME, {"made_by": "edge-time quickstart", "edge_time_version": __version__})


def quickstart(config: QuickstartConfig, say: Callable[[str], None] = lambda message: None) -> QuickstartResult:
    """Run corpus -> distill -> export (each target, int8-dynamic) -> profile on this machine.

    ``say`` gets every line of the narrative: what each step does, where its files go and the
    command that reruns it alone. Raises QuickstartError (or the failing step's EdgeTimeError).
    """
    from edge_time.distill import DistillConfig, distill
    from edge_time.distill.prepare import validate_config
    from edge_time.exporters import export_model
    from edge_time.modeling.builtin import default_model_dir
    from edge_time.profiler import RunConfig, open_target, profile
    from edge_time.quickstart.corpus import builtin_documents, write_corpus

    # ---- every setting checked by the steps' own configs before anything is written
    targets = validate(config)
    out = Path(config.out)
    teacher = default_model_dir()
    documents = builtin_documents()
    corpus, student, report_dir = out / "corpus.txt", out / "student", out / "report"
    save_every = max(1, config.steps // 3)  # three validations: a loss curve in the model card
    distill_config = DistillConfig(teacher=str(teacher), corpus=[str(corpus)], out=str(student), size=config.size,
                                   max_length=config.max_length, batch_size=config.batch_size,
                                   max_steps=config.steps, save_every=save_every, progress=config.progress)
    validate_config(distill_config, teacher)
    run_config = RunConfig(seq_len=config.max_length, runs=config.runs)
    run_config.validate()
    prepare_out(out, config.overwrite)

    started = time.perf_counter()
    seconds: dict[str, float] = {}
    commands: dict[str, str] = {}
    chatter = say if config.progress else (lambda message: None)
    steps = 3 + len(targets)

    def step(number: int, what: str, where: Path, command: str | None) -> None:
        say(f"\n[{number}/{steps}] {what}\n      files:  {where}")
        if command:
            say(f"      alone:  {command}")

    def done(name: str, since: float) -> None:
        seconds[name] = round(time.perf_counter() - since, 1)
        say(f"      done in {_duration(seconds[name])}")

    say(f"edge-time quickstart into {out}: {steps} steps, teacher all-MiniLM-L6-v2 ({teacher})")

    # ---- 1. corpus
    step(1, "corpus: prose paragraphs of Python's documentation topics (pydoc_data, in every Python install)",
         corpus, None)
    since = time.perf_counter()
    write_corpus(corpus, documents)
    say(f"      {len(documents)} documents, one per line")
    done("corpus", since)

    # ---- 2. distill
    commands["distill"] = _command("distill", "--teacher", teacher, "--corpus", corpus, "--size", config.size,
                                   "--max-length", config.max_length, "--batch-size", config.batch_size,
                                   "--max-steps", config.steps, "--save-every", save_every, "--out", student,
                                   "--overwrite")
    step(2, f"distill: a {config.size} student from all-MiniLM-L6-v2, {config.steps} steps x {config.batch_size} "
            f"chunks of <= {config.max_length} tokens (model card: student/README.md)", student, commands["distill"])
    since = time.perf_counter()
    distill(distill_config)
    done("distill", since)

    # ---- 3. export, one bundle per target
    buckets = tuple(sorted({min(32, config.max_length), config.max_length}))
    bundles: list[Path] = []
    for number, target in enumerate(targets, start=3):
        bundle = out / "bundles" / f"student-{target}-{QUANTIZE}"
        extra: list = []
        if target == "executorch":
            extra = ["--graph-batch", 1]  # batch-1 graph: ~5x faster to export, faster per sequence
        elif target == "tflite":
            extra = ["--seq-buckets", ",".join(map(str, buckets))]
        commands[f"export-{target}"] = _command("export", "--model", student, "--target", target, "--quantize",
                                                QUANTIZE, *extra, "--max-length", config.max_length,
                                                "--out", bundle, "--overwrite")
        step(number, f"export: {target}, {QUANTIZE}, checked against PyTorch in the target's runtime", bundle,
             commands[f"export-{target}"])
        since = time.perf_counter()
        export_model(student, target, bundle, quantize=QUANTIZE, seq_buckets=buckets, max_length=config.max_length,
                     graph_batch=1 if target == "executorch" else None,
                     progress=lambda message: chatter(f"      [export] {message}"))
        done(f"export-{target}", since)
        bundles.append(bundle)

    # ---- 4. profile on this machine
    commands["profile"] = _command("profile", "run", *bundles, "--device", "local", "--seq-len", config.max_length,
                                   "--runs", config.runs, "--out", report_dir)
    step(steps, f"profile: {config.runs} timed runs per bundle at batch 1, {config.max_length} tokens, on this "
                f"machine", report_dir, commands["profile"])
    since = time.perf_counter()
    report = profile(bundles, open_target("local"), run_config, report_dir, say=lambda message: chatter(f"      {message}"))
    done("profile", since)

    rows = _rows(bundles, report)
    seconds["total"] = round(time.perf_counter() - started, 1)
    result = QuickstartResult(out, corpus, student, bundles, report_dir / "report.html", rows, commands, seconds)
    write_json_atomic(out / SUMMARY_NAME, {
        "config": {**asdict(config), "out": str(out), "targets": list(targets)}, "edge_time_version": __version__,
        "teacher": str(teacher), "commands": commands, "seconds": seconds,
        "rows": [{**asdict(r), "path": str(r.path)} for r in rows], "report": str(result.report_html)})
    failed = [r for r in report["runs"] if r["status"] != "ok"]
    if failed:
        raise QuickstartError(f"profiling {failed[0]['bundle']['name']} failed ({failed[0]['error']}); "
                              f"the report is in {report_dir}")
    return result


def _rows(bundles: list[Path], report: dict) -> list[BundleRow]:
    from edge_time.bundle import read_manifest
    from edge_time.profiler.report import row

    figures = {r["bundle"]["name"]: row(r, report["device"]["id"]) for r in report["runs"]}
    rows = []
    for bundle in bundles:
        manifest = read_manifest(bundle, verify=False)  # profile() verified every sha256 just now
        figure = figures[bundle.name]
        rows.append(BundleRow(name=bundle.name, target=manifest.target, path=bundle,
                              size_mb=sum((bundle / g.file).stat().st_size for g in manifest.graphs) / 1e6,
                              min_cosine=float(manifest.parity["summary"]["min_cosine"]),
                              p50_ms=figure["p50_ms"], sequences_per_s=figure["sequences_per_s"],
                              status=figure["status"]))
    return rows
