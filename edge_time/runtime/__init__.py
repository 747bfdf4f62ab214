"""Load any edge-time bundle and run it from text, with one API for all three targets.

This package is the device side: it must not import torch, transformers or any training code
(distill/tasks/exporters). A Raspberry Pi needs only numpy, ``tokenizers`` and the target's
runtime (ExecuTorch's Python runtime itself needs torch on the board).

    >>> from edge_time.runtime import load_bundle
    >>> model = load_bundle("out/minilm-executorch")
    >>> outputs = model(["A man is playing a guitar."])
    >>> outputs["last_hidden_state"].shape
    (1, 9, 384)
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np

from edge_time.bundle import BundleError, Manifest, read_manifest, safe_join
from edge_time.runtime.backends import RUNNERS
from edge_time.runtime.tokenize import Encoded, TextEncoder, cap_tokenizer_threads

__all__ = ["BundleModel", "load_bundle", "BundleError", "Encoded", "PARALLEL_MODES"]

# How a bundle uses its threads: "ops" runs one batch at a time with its operators spread over the
# threads (lowest latency per call); "batches" runs each batch on one thread with up to `threads`
# batches in flight (TaskPredictor keeps them), for throughput over many batches: at 2 threads the UD xs
# and s students parse 1.53x / 1.36x the words/s of "ops" that way (docs/tasks.md), because
# onnxruntime's operators on such small tensors barely scale across threads. "auto" picks "batches"
# where the runtime runs calls concurrently (onnx) and there is more than one thread, else "ops".
PARALLEL_MODES = ("auto", "ops", "batches")


class BundleModel:
    """A loaded bundle: ``encode`` text, ``run`` arrays, or call it on texts for named outputs."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, verify: bool = True,
                 unfinished_ok: bool = False, parallel: str = "ops"):
        self.path = Path(path)
        self.manifest: Manifest = read_manifest(self.path, verify=verify, unfinished_ok=unfinished_ok)
        if parallel not in PARALLEL_MODES:
            raise ValueError(f"parallel={parallel!r}: use one of {PARALLEL_MODES}")
        concurrent = getattr(RUNNERS[self.manifest.target], "concurrent_runs", False)
        if parallel == "batches" and not concurrent:
            raise BundleError(f"parallel='batches' needs a runtime that runs calls concurrently (onnx); this bundle "
                              f"is {self.manifest.target}: use parallel='ops'")
        cores = threads or os.cpu_count() or 1
        if parallel == "auto":
            parallel = "batches" if concurrent and cores > 1 else "ops"
        self.threads = threads
        self.parallel = parallel
        # batches in flight at once (TaskPredictor); each runtime call then gets one thread
        self.batch_workers = cores if parallel == "batches" else 1
        self.verify = verify
        self._runner_lock = threading.Lock()  # concurrent first calls must not build two sessions
        if threads:
            cap_tokenizer_threads(threads)
        self.text_encoder = TextEncoder(safe_join(self.path, self.manifest.tokenizer.file),
                                        self.manifest.tokenizer, self.manifest.max_length)
        self._runners: dict[str, object] = {}
        self.input_names = [s.name for s in self.manifest.inputs]
        self.output_names = [s.name for s in self.manifest.outputs]

    @property
    def fixed_lengths(self) -> list[int]:
        """Sequence-length buckets of a fixed-shape export (empty when shapes are dynamic)."""
        return sorted(g.seq_len for g in self.manifest.graphs if g.seq_len is not None)

    def _runner(self, seq_len: int):
        graph = self.manifest.graph_for(seq_len)
        with self._runner_lock:
            if graph.file not in self._runners:
                runner_cls = RUNNERS[self.manifest.target]
                threads = 1 if self.parallel == "batches" else self.threads
                self._runners[graph.file] = runner_cls(self._graph_bytes(graph.file), self.manifest, threads)
        return self._runners[graph.file], graph

    def _graph_bytes(self, rel: str) -> bytes:
        """The graph file's bytes, checked against the manifest's sha256 when the bundle was verified at
        load: the runtime gets exactly the bytes that were hashed (a file swapped since load is refused)."""
        data = safe_join(self.path, rel).read_bytes()
        if self.verify and hashlib.sha256(data).hexdigest() != self.manifest.files.get(rel):
            raise BundleError(f"bundle file {rel} changed since the bundle was loaded (its sha256 no longer "
                              f"matches manifest.json); re-export or restore the bundle")
        return data

    def prepare(self, seq_len: int) -> None:
        """Create the runtime session that serves ``seq_len`` now (profilers count it as load time)."""
        self._runner(seq_len)

    def bucket_for(self, seq_len: int) -> int | None:
        return self.manifest.graph_for(seq_len).seq_len

    def encode(self, texts: list[str], seq_len: int | None = None) -> Encoded:
        """Tokenize and pad to the longest text, or to the bucket that fits it."""
        enc = self.text_encoder.encode(texts, seq_len)
        bucket = self.bucket_for(enc.input_ids.shape[1])
        return enc if bucket is None or bucket == enc.input_ids.shape[1] else self.text_encoder.encode(texts, bucket)

    def encode_words(self, sentences: list[list[str]], seq_len: int | None = None) -> Encoded:
        enc = self.text_encoder.encode_words(sentences, seq_len)
        bucket = self.bucket_for(enc.input_ids.shape[1])
        if bucket is None or bucket == enc.input_ids.shape[1]:
            return enc
        return self.text_encoder.encode_words(sentences, bucket)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on named arrays (any extra keys are ignored) -> named outputs."""
        seq_len = int(next(iter(inputs.values())).shape[1])
        runner, graph = self._runner(seq_len)
        batch_bound = self.manifest.axes.get("batch")
        batch = int(inputs[self.input_names[0]].shape[0])
        if graph.batch is not None and batch != graph.batch:
            return self._run_rows(runner, inputs, graph.batch)
        if batch_bound and not batch_bound[0] <= batch <= batch_bound[1]:
            raise ValueError(f"batch {batch} is outside the bundle's bounds {batch_bound}")
        return dict(zip(self.output_names, runner.run(inputs)))

    def _run_rows(self, runner, inputs: dict[str, np.ndarray], graph_batch: int) -> dict[str, np.ndarray]:
        """Fixed-batch graphs (TFLite buckets): run in slices of the graph's batch size."""
        batch = int(inputs[self.input_names[0]].shape[0])
        pieces: list[list[np.ndarray]] = []
        for start in range(0, batch, graph_batch):
            chunk = {k: v[start:start + graph_batch] for k, v in inputs.items()}
            real = next(iter(chunk.values())).shape[0]
            if real < graph_batch:
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], graph_batch - real, axis=0)]) for k, v in chunk.items()}
            pieces.append([o[:real] for o in runner.run(chunk)])
        return {name: np.concatenate([p[i] for p in pieces]) for i, name in enumerate(self.output_names)}

    def __call__(self, texts: list[str] | str) -> dict[str, np.ndarray]:
        enc = self.encode([texts] if isinstance(texts, str) else list(texts))
        outputs = self.run(enc.arrays())
        outputs["attention_mask"] = enc.attention_mask
        return outputs


def load_bundle(path: str | os.PathLike, threads: int | None = None, verify: bool = True,
                unfinished_ok: bool = False, parallel: str = "ops") -> BundleModel:
    """Open a bundle folder; ``verify`` checks every file against its sha256 first (and each graph's
    bytes again when its runtime session is created). ``unfinished_ok``: only for the exporter.
    ``parallel``: how ``threads`` are used, see :data:`PARALLEL_MODES` ("batches": ONNX bundles only;
    the loaded bundle's ``parallel`` is the mode "auto" chose)."""
    return BundleModel(path, threads=threads, verify=verify, unfinished_ok=unfinished_ok, parallel=parallel)
