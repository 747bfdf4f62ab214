"""`edge-time bench`: accuracy, speed, energy and size of task models, their bundles and a spaCy
baseline, measured the same way on the same labelled file.

    >>> from edge_time.bench import BenchConfig, bench
    >>> result = bench(BenchConfig(models=["out/cs-ud", "out/cs-ud-onnx"], task_data="cs_pud-dev.conllu",
    ...                            spacy="cs_core_news_sm", out="bench-out"))
    >>> [(row.name, row.metric_value, row.throughput_best) for row in result.rows]

Procedure (read top to bottom in :func:`bench`): inspect every folder and the data (fail fast,
one-line errors); load every system with the same thread cap; per system and batch size one
untimed warm-up pass whose predictions are scored; then ``repeats`` rounds, each timing every
system at every batch size once (interleaved, so drifting host load hits all alike); then energy
at each system's best batch size where the host has a power sensor; then the outputs.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from edge_time import __version__
from edge_time.bench.config import BenchConfig
from edge_time.bench.measure import EnergyProbe, Timing, length_order, run_pass
from edge_time.bench.models import EdgeTimeSystem, ModelInfo, System, inspect_model, read_task_data
from edge_time.bench.plot import PlotRecord
from edge_time.compute import cpu_description
from edge_time.errors import EdgeTimeError
from edge_time.tasks.data import get_task


@dataclass
class Row:
    """One system's figures. Throughput is in the result's unit (words or examples) per second."""

    name: str
    path: str
    family: str
    kind: str
    metric: str
    scores: dict[str, float | None]  # at the best-throughput batch size
    metric_by_batch: dict[int, float | None]
    latency_ms: dict[str, float] | None  # p50/p90 per example at batch 1; None when 1 was not measured
    throughput: dict[int, dict[str, float]]  # batch size -> median/min/max units per second
    best_batch: int
    energy: dict
    size_mb: float | None
    parameters: int | None
    notes: list[str]
    throughput_by_threads: dict[int, float] = field(default_factory=dict)  # threads -> median units/s
    stages_ms: dict[str, float] | None = None  # median ms per pass at the best batch: pass, each stage, other

    @property
    def metric_value(self) -> float | None:
        return self.scores.get(self.metric)

    @property
    def throughput_best(self) -> float:
        return self.throughput[self.best_batch]["median"]

    @property
    def energy_mj(self) -> float | None:
        return self.energy.get("millijoules_per_unit")


@dataclass
class BenchResult:
    config: BenchConfig
    task: str
    metric: str
    unit: str  # "words" or "examples"
    data: dict  # path, examples, words
    rows: list[Row]
    energy_note: str | None  # why no system has an energy figure; None when some have one
    machine: dict
    created_at: str
    files: dict[str, Path] = field(default_factory=dict)
    plot: PlotRecord | None = None

    def to_json(self) -> dict:
        config = asdict(self.config)
        config.update(models=[str(m) for m in self.config.models], task_data=str(self.config.task_data),
                      out=str(self.config.out), batch_sizes=list(self.config.batch_sizes))
        return {"schema": "edge-time/bench", "schema_version": 1, "created_at": self.created_at,
                "edge_time_version": __version__, "machine": self.machine, "config": config, "task": self.task,
                "metric": self.metric, "unit": self.unit, "data": self.data, "energy_note": self.energy_note,
                "rows": [asdict(row) for row in self.rows],
                "files": {kind: str(path) for kind, path in self.files.items()},
                "plot": self.plot.to_json() if self.plot else None}


class _Progress:
    """A rich progress bar over the bench's steps (or nothing with progress=False)."""

    def __init__(self, enabled: bool, total: int):
        self._bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True))
            self._task = self._bar.add_task("bench", total=total)

    def __enter__(self) -> "_Progress":
        if self._bar:
            self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar:
            self._bar.stop()

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        if self._bar:
            self._bar.update(self._task, description=description)
        yield
        if self._bar:
            self._bar.advance(self._task)


def _one_task(infos: list[ModelInfo], spacy: str | None) -> str:
    tasks = {info.task for info in infos}
    if len(tasks) > 1:
        listing = ", ".join(f"{info.path.name} is {info.task!r}" for info in infos)
        raise EdgeTimeError(f"models of different tasks ({listing}); bench compares models of one task on one "
                            f"task-data file")
    task = tasks.pop() if tasks else "ud"
    if spacy and task != "ud":
        raise EdgeTimeError(f"--spacy puts a spaCy pipeline beside UD models; these are {task!r} models")
    return task


def _names(infos: list[ModelInfo]) -> list[str]:
    """Folder names, or the paths as given where two folders share a name."""
    names = [info.path.name for info in infos]
    return [str(info.path) if names.count(name) > 1 else name for info, name in zip(infos, names)]


def _machine() -> dict:
    versions = {}
    for package in ("torch", "onnxruntime", "ai-edge-litert", "executorch", "spacy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {"host": platform.node(), "machine": platform.machine(), "cores": os.cpu_count(),
            "cpu": cpu_description(), "platform": platform.platform(), "python": platform.python_version(),
            "versions": versions, "load_average": list(os.getloadavg())}


def thread_counts() -> list[int]:
    """1, 2 and all the cores this process may run on (deduplicated)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return sorted({1, min(2, cores), cores})


def bench(config: BenchConfig) -> BenchResult:
    """Measure every system of ``config`` and write bench.md/.csv/.json/.png into ``config.out``."""
    from threadpoolctl import threadpool_limits

    from edge_time.bench.report import write_outputs
    config.validate()
    infos = [inspect_model(path) for path in config.models]
    task = _one_task(infos, config.spacy)
    reader = get_task(task)
    metric = config.metric or reader.bench_metric
    if metric not in reader.score_names:
        raise EdgeTimeError(f"--metric {metric}: {task} scores are {', '.join(reader.score_names)}")
    examples = read_task_data(config.task_data, task, infos)
    lengths = [len(reader.words(e)) for e in examples]
    units = sum(lengths) if reader.unit == "words" else len(examples)
    probe = EnergyProbe.find(config.power)
    batch_sizes = tuple(sorted(set(config.batch_sizes)))
    n_systems = len(infos) + bool(config.spacy)
    scaling_threads = thread_counts() if config.thread_scaling else []
    total = n_systems * (1 + len(batch_sizes) * (1 + config.repeats) + (probe.source is not None)
                         + len(scaling_threads))
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    machine = _machine()

    systems: list[System] = []
    scores: dict[tuple[int, int], dict] = {}
    timings = {(s, b): Timing(b, [], []) for s in range(n_systems) for b in batch_sizes}
    with threadpool_limits(limits=config.threads), _Progress(config.progress, total) as progress:
        if config.spacy:  # first: a missing spaCy fails before any model loads; its row comes last
            from edge_time.bench.spacy_baseline import SpacySystem

            with progress.step(f"loading spaCy {config.spacy}"):
                baseline = SpacySystem(config.spacy, config.threads, config.spacy_gemm)
        for info, name in zip(infos, _names(infos)):
            with progress.step(f"loading {name}"):
                system = EdgeTimeSystem(info, name)
                system.load(max(batch_sizes), config.threads, config.parallel, config.batch_tokens)
                systems.append(system)
        if config.spacy:
            systems.append(baseline)
        inputs = [system.prepare(examples) for system in systems]
        concurrent = [system.batch_workers > 1 for system in systems]  # as timed (thread scaling reloads them)
        orders = [length_order(system.batch_lengths(examples) or lengths) for system in systems]
        for s, system in enumerate(systems):
            for b in batch_sizes:
                with progress.step(f"warm-up {system.name}, batch {b}"):
                    predictions, _, _ = run_pass(system, inputs[s], orders[s], b)
                    system.pop_stage_seconds()  # the timed passes' stages start from zero
                    scores[s, b] = system.score(examples, predictions)
        for round_ in range(1, config.repeats + 1):
            for s, system in enumerate(systems):
                for b in batch_sizes:
                    with progress.step(f"round {round_}/{config.repeats}: {system.name}, batch {b}"):
                        _, seconds, wall = run_pass(system, inputs[s], orders[s], b)
                        timings[s, b].pass_seconds.append(wall)
                        timings[s, b].call_seconds.extend(seconds)
                        stages = system.pop_stage_seconds()
                        if stages is not None:
                            timings[s, b].stage_seconds.append(stages)
        best = [max(batch_sizes, key=lambda b: timings[s, b].rate(units)["median"]) for s in range(n_systems)]
        energy = []
        for s, system in enumerate(systems):
            if probe.source is None:
                energy.append(probe.unavailable())
                continue
            with progress.step(f"energy {system.name}, batch {best[s]}"):
                energy.append(probe.measure(system, inputs[s], orders[s], best[s], units, config.energy_seconds))
        by_threads: dict[int, dict[int, float]] = {s: {} for s in range(n_systems)}
        for threads in scaling_threads:  # reloaded per count: runtimes size their pools when a bundle loads
            with threadpool_limits(limits=threads):
                for s, system in enumerate(systems):
                    with progress.step(f"{threads} thread(s): {system.name}, batch {best[s]}"):
                        system.load(max(batch_sizes), threads, config.parallel, config.batch_tokens)
                        run_pass(system, inputs[s], orders[s], best[s])
                        timing = Timing(best[s], [run_pass(system, inputs[s], orders[s], best[s])[2]
                                                  for _ in range(config.repeats)], [])
                        by_threads[s][threads] = timing.rate(units)["median"]
    machine["load_average_after"] = list(os.getloadavg())

    rows = []
    for s, system in enumerate(systems):
        by_batch = {b: scores[s, b].get(metric) for b in batch_sizes}
        notes = list(system.notes)
        if len(set(by_batch.values())) > 1:
            values = ", ".join(f"{v:.2f} at {b}" for b, v in by_batch.items())
            notes.append(f"{metric} varies with the batch size ({values}); the scores shown are those at the "
                         f"best-throughput batch size {best[s]}" + (
                             "; int8-dynamic scales each batch's activations by that batch's range, so batch "
                             "composition and padding move predictions slightly" if "int8-dynamic" in system.kind
                             else ""))
        rows.append(Row(name=system.name, path=system.path, family=system.family, kind=system.kind, metric=metric,
                        scores=scores[s, best[s]], metric_by_batch=by_batch,
                        latency_ms=timings[s, 1].latency_ms() if 1 in batch_sizes else None,
                        throughput={b: timings[s, b].rate(units) for b in batch_sizes}, best_batch=best[s],
                        energy=energy[s], size_mb=system.size_mb, parameters=system.parameters, notes=notes,
                        throughput_by_threads=by_threads[s],
                        stages_ms=timings[s, best[s]].stages_ms(concurrent[s])))
    energy_note = None
    if not any(row.energy["available"] for row in rows):
        energy_note = probe.reason if probe.source is None else "; ".join(
            f"{row.name}: {row.energy.get('reason')}" for row in rows)
    result = BenchResult(config=config, task=task, metric=metric, unit=reader.unit,
                         data={"path": str(config.task_data), "examples": len(examples), "words": sum(lengths)},
                         rows=rows, energy_note=energy_note, machine=machine, created_at=created_at)
    write_outputs(result, Path(config.out))
    return result
