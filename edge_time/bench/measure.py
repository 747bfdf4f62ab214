"""Timing passes and host energy for `edge-time bench`: one procedure for every contender.

A pass predicts every example once, in length-sorted batches of one batch size (less padding;
each system sorted by the length its cost follows, System.batch_lengths), timing each ``predict``
call: tokenization or Doc building, the graph and decoding to task predictions are inside the
timed region; reading the file and scoring are not. Energy reuses the profiler's sensors: power
is sampled while passes run back to back for a few seconds, then for an idle baseline of the same
length, and what the passes cost above idle is divided by the words (or examples) they processed.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from edge_time.bench.models import System
from edge_time.profiler.energy import energy_above_idle
from edge_time.profiler.local import LocalTarget
from edge_time.profiler.sensors import PowerSource
from edge_time.profiler.session import DeviceLines
from edge_time.profiler.target import RunConfig
from edge_time.runtime.stages import STAGES

SAMPLE_PERIOD_S = 0.05
SAMPLER_LIMIT_S = 6 * 3600.0  # the sampler loop's own bound; it is stopped as soon as the passes end


def length_order(lengths: list[int]) -> list[int]:
    """Example indices shortest first (stable), so each batch holds similar lengths."""
    return sorted(range(len(lengths)), key=lambda i: lengths[i])


def run_pass(system: System, inputs: list, order: list[int], batch_size: int) -> tuple[list, list[float], float]:
    """Predict all ``inputs`` in batches along ``order``: (predictions in input order, seconds per call,
    seconds for the whole pass). A system with ``batch_workers`` > 1 (an ONNX bundle under
    ``--parallel batches``) has that many batches in flight; its calls overlap, so the pass is timed
    by the wall clock, never as the sum of its calls."""
    chunks = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]

    def timed(indices: list[int]) -> tuple[list, float]:
        began = time.perf_counter()
        outputs = system.predict([inputs[i] for i in indices])
        return outputs, time.perf_counter() - began

    workers = system.batch_workers
    began = time.perf_counter()
    if workers > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(min(workers, len(chunks))) as pool:
            results = list(pool.map(timed, chunks))
    else:
        results = [timed(indices) for indices in chunks]
    wall = time.perf_counter() - began
    predictions: list = [None] * len(inputs)
    for indices, (outputs, _) in zip(chunks, results):
        for index, output in zip(indices, outputs):
            predictions[index] = output
    return predictions, [seconds for _, seconds in results], wall


@dataclass
class Timing:
    """The timed passes of one system at one batch size."""

    batch_size: int
    pass_seconds: list[float]
    call_seconds: list[float]  # every predict call of every timed pass; at batch 1, one per example
    stage_seconds: list[dict[str, float]] = field(default_factory=list)  # per timed pass (edge-time systems)

    def rate(self, units: int) -> dict[str, float]:
        """Units per second: median over passes, and the range."""
        rates = [units / s for s in self.pass_seconds]
        return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}

    def stages_ms(self, concurrent: bool) -> dict[str, float] | None:
        """Median ms per pass: the whole pass, each stage of STAGES and, unless batches ran ``concurrent``ly
        (their stages add up beyond the wall clock), "other", the pass less its stages. None without stages."""
        if not self.stage_seconds:
            return None
        ms = {"pass": 1000.0 * statistics.median(self.pass_seconds)}
        ms.update({stage: 1000.0 * statistics.median(p[stage] for p in self.stage_seconds) for stage in STAGES})
        if not concurrent:
            ms["other"] = 1000.0 * statistics.median(wall - sum(p.values())
                                                     for wall, p in zip(self.pass_seconds, self.stage_seconds))
        return ms

    def latency_ms(self) -> dict[str, float]:
        values = np.asarray(self.call_seconds) * 1000.0
        return {"p50": float(np.percentile(values, 50)), "p90": float(np.percentile(values, 90))}


@dataclass
class EnergyProbe:
    """The host's power sensor (or why there is none), found once per bench run."""

    target: LocalTarget
    source: PowerSource | None
    reason: str
    discharge_sign: int | None = None

    @classmethod
    def find(cls, power: str) -> "EnergyProbe":
        target = LocalTarget()
        source, reason = target.power_source(power)
        context = target.energy_context(source, RunConfig(power=power))
        if context.charging:
            return cls(target, None, "the battery is charging; energy figures would include charger current, "
                                     "run on battery power")
        return cls(target, source, reason, context.discharge_sign)

    def unavailable(self) -> dict:
        return {"available": False, "source": None, "reason": self.reason}

    def measure(self, system: System, inputs: list, order: list[int], batch_size: int, units: int,
                seconds: float) -> dict:
        """Energy per unit above idle of back-to-back passes lasting at least ``seconds``."""
        if self.source is None:
            return self.unavailable()
        sampler = DeviceLines(self.target, self.source.sampler(SAMPLE_PERIOD_S, SAMPLER_LIMIT_S))
        start = time.time()  # the samplers stamp lines with the same epoch clock
        passes = 0
        while passes == 0 or time.time() - start < seconds:
            run_pass(system, inputs, order, batch_size)
            passes += 1
        end = time.time()
        run_lines = sampler.stop()
        config = RunConfig()
        idle_s = min(max(end - start, config.baseline_min_s), config.baseline_max_s)
        idle_sampler = DeviceLines(self.target, self.source.sampler(SAMPLE_PERIOD_S, idle_s + 1.0))
        time.sleep(idle_s)
        idle_lines = idle_sampler.stop()
        extra = {"discharge_sign": self.discharge_sign}
        run, idle = self.source.trace(run_lines, extra), self.source.trace(idle_lines, extra)
        figures = energy_above_idle(run, idle, start, end, passes * units, 1)
        result = {"available": figures.pop("available"), "source": self.source.describe(), "passes": passes,
                  "batch_size": batch_size, "notes": run.notes}
        if result["available"]:
            result["millijoules_per_unit"] = 1000.0 * figures.pop("joules_per_inference")
            figures.pop("millijoules_per_token")
        result.update(figures)
        return result
