"""Compare fine-tuned task models, their exported bundles and a spaCy baseline on one labelled file:
task accuracy, latency and throughput per batch size, energy where the host reports it, size.

    >>> from edge_time.bench import BenchConfig, bench
    >>> result = bench(BenchConfig(models=["out/cs-ud", "out/cs-ud-onnx"], task_data="cs_pud-dev.conllu",
    ...                            spacy="cs_core_news_sm", out="bench-out"))
    >>> for row in result.rows:
    ...     print(row.name, row.metric_value, row.throughput_best, row.energy_mj)

Modules: ``api`` (config, procedure, result), ``models`` (what is measured: task model folders
and bundles), ``spacy_baseline`` (the spaCy UD contender), ``measure`` (timed passes, energy),
``report`` (table, Markdown, CSV, JSON), ``plot`` (Pareto plots).
"""

from edge_time.bench.api import BenchConfig, BenchResult, Row, bench

__all__ = ["BenchConfig", "BenchResult", "Row", "bench"]
