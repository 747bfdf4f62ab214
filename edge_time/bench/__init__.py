"""Compare fine-tuned task models, their exported bundles and a spaCy baseline on one labelled file:
task accuracy, latency and throughput per batch size, energy where the host reports it, size.

    >>> from edge_time.bench import BenchConfig, bench
    >>> result = bench(BenchConfig(models=["out/cs-ud", "out/cs-ud-onnx"], task_data="cs_pud-dev.conllu",
    ...                            spacy="cs_core_news_sm", out="bench-out"))
    >>> for row in result.rows:
    ...     print(row.name, row.metric_value, row.throughput_best, row.energy_mj)

Modules: ``config`` (what to compare, no torch), ``api`` (procedure, result), ``models`` (what is measured: task model folders
and bundles), ``spacy_baseline`` (the spaCy UD contender), ``measure`` (timed passes, energy),
``report`` (table, Markdown, CSV, JSON), ``plot`` (Pareto plots). Names are imported on first
use, so the CLI reads :mod:`edge_time.bench.config` without torch.
"""

from __future__ import annotations

from edge_time.lazy import lazy_attributes

# public name -> module that defines it
_API = {
    "BenchConfig": "edge_time.bench.config",
    "BenchResult": "edge_time.bench.api",
    "Row": "edge_time.bench.api",
    "bench": "edge_time.bench.api",
}
__all__ = list(_API)

__getattr__ = lazy_attributes(__name__, _API)
