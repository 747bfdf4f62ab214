"""Where a predictor's calls spend their time, without a profiler: wall seconds per pipeline stage.

Stages (:data:`STAGES`): building graph inputs (tokenization, padding, word pooling), the graph (the
runtime's call or PyTorch's forward), and decoding scores to predictions (trees, labels, lemmas,
spans). What a call spends outside them is batching and Python between the stages. `edge-time bench`
reports them per pass (docs/bench.md, "Where a pass goes").
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

STAGES = ("inputs", "graph", "decode")


class StageClock:
    """Seconds per stage summed over timed blocks; thread-safe, as batches may run in worker threads.

    With batches in flight at once the stages of concurrent batches add up, so their sum can pass
    the wall time.
    """

    def __init__(self) -> None:
        self._seconds = dict.fromkeys(STAGES, 0.0)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Add the block's wall time to ``stage``."""
        began = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - began
            with self._lock:
                self._seconds[stage] += elapsed

    def pop(self) -> dict[str, float]:
        """Seconds per stage since the last pop; the count starts again from zero."""
        with self._lock:
            seconds, self._seconds = self._seconds, dict.fromkeys(STAGES, 0.0)
        return seconds
