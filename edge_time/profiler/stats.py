"""Latency statistics and throughput (pure numpy, no I/O)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

PERCENTILES = (50, 90, 99)


def latency_summary(latencies_ms: Sequence[float]) -> dict:
    """count, mean, std (sample, ddof=1), min, max and p50/p90/p99 (linear interpolation)."""
    values = np.asarray(list(latencies_ms), dtype=np.float64)
    if values.size == 0:
        return {"count": 0}
    summary = {
        "count": int(values.size),
        "mean_ms": float(values.mean()),
        "std_ms": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "min_ms": float(values.min()),
        "max_ms": float(values.max()),
    }
    for q, v in zip(PERCENTILES, np.percentile(values, PERCENTILES)):
        summary[f"p{q}_ms"] = float(v)
    return summary


def throughput(latencies_ms: Sequence[float], batch: int, seq_len: int) -> dict:
    """Sequences and tokens per second of back-to-back runs (busy time only, no gaps)."""
    total_s = float(np.sum(latencies_ms)) / 1000.0
    if total_s <= 0:
        return {"sequences_per_s": None, "tokens_per_s": None}
    sequences = batch * len(latencies_ms) / total_s
    return {"sequences_per_s": sequences, "tokens_per_s": sequences * seq_len}
