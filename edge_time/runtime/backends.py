"""One thin runner per target runtime: numpy arrays in, numpy arrays out.

Each runner imports its runtime lazily, so a board needs only the runtime of the bundles it
runs. ExecuTorch's Python runtime takes torch tensors, so that one runner (alone) needs torch.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edge_time.bundle import Manifest, TensorSpec

NUMPY_DTYPES = {"int32": np.int32, "int64": np.int64, "float32": np.float32, "float16": np.float16, "bool": np.bool_}


class Runner(Protocol):
    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]: ...


def _cast(inputs: dict[str, np.ndarray], specs: list[TensorSpec]) -> list[np.ndarray]:
    missing = [s.name for s in specs if s.name not in inputs]
    if missing:
        raise ValueError(f"inputs {missing} are required by this bundle (it takes {[s.name for s in specs]})")
    return [np.ascontiguousarray(inputs[s.name], dtype=NUMPY_DTYPES[s.dtype]) for s in specs]


def onnx_session_options(threads: int | None = None, profile_prefix: str | None = None):
    """onnxruntime session options as every edge-time ONNX session uses them (bundles, the exporter's
    graph optimization and checks, the profiler's per-operator trace); ``profile_prefix`` turns
    onnxruntime's profiler on, writing its trace there."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # Masked attention scores (-1e4) make softmax's exp produce denormals, which x86 cores
    # compute ~8x slower (measured: masked (8, 8, 21, 21) softmax 247 -> 30 us). Flushing them
    # to zero changes nothing above 1e-38; it applies to the session's threads (the caller's too).
    # onnxruntime takes the first session's setting for the process's main thread, so every
    # session edge-time creates asks for it.
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    # With more than one intra-op thread, onnxruntime's workers spin after Run() returns, taking a core
    # from whatever runs next: our own tokenization and decoding, the user's code, another session
    # (measured, 2 threads, xs Czech pipeline: 10,956-11,179 words/s right after another session's
    # run, 12,585-13,265 when workers stop; alone 12.7-13.4k either way). Workers still spin within a run.
    options.add_session_config_entry("session.force_spinning_stop", "1")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return options


def onnx_session(model: bytes | str, threads: int | None = None, profile_prefix: str | None = None):
    """An onnxruntime CPU session set up as every edge-time ONNX graph runs (:func:`onnx_session_options`)."""
    import onnxruntime as ort

    return ort.InferenceSession(model, onnx_session_options(threads, profile_prefix),
                                providers=["CPUExecutionProvider"])


class OnnxRunner:
    concurrent_runs = True  # InferenceSession.run is thread-safe and releases the GIL

    def __init__(self, model: bytes, manifest: Manifest, threads: int | None):
        self.session = onnx_session(model, threads)
        self.specs = manifest.inputs

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays = _cast(inputs, self.specs)
        return self.session.run(None, {s.name: a for s, a in zip(self.specs, arrays)})


class TfliteRunner:
    """LiteRT (ai-edge-litert) interpreter; falls back to the standalone tflite-runtime."""

    def __init__(self, model: bytes, manifest: Manifest, threads: int | None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            from tflite_runtime.interpreter import Interpreter  # the older standalone runtime
        self._model = model  # kept alive beside the interpreter that reads it
        self.interpreter = Interpreter(model_content=model, num_threads=threads or None)
        self.interpreter.allocate_tensors()
        details = {d["name"]: d for d in self.interpreter.get_input_details()}
        # converters rename inputs (serving_default_input_ids:0, args_0, ...): match by order
        ordered = sorted(details.values(), key=lambda d: d["index"])
        by_name = {s.name: next((d for n, d in details.items() if s.name in n), None) for s in manifest.inputs}
        if all(by_name.values()):
            self.input_details = [by_name[s.name] for s in manifest.inputs]
        else:
            self.input_details = ordered
        self.output_details = sorted(self.interpreter.get_output_details(), key=lambda d: d["index"])
        self.specs = manifest.inputs

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        for detail, array in zip(self.input_details, _cast(inputs, self.specs)):
            if tuple(detail["shape"]) != array.shape:
                self.interpreter.resize_tensor_input(detail["index"], array.shape)
                self.interpreter.allocate_tensors()
            self.interpreter.set_tensor(detail["index"], array.astype(detail["dtype"], copy=False))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]).copy() for d in self.output_details]


def _executorch_threads() -> int:
    """The size of ExecuTorch's threadpool (all cores unless resized); 1 for a build without the API."""
    try:
        from executorch.extension.pybindings.portable_lib import _threadpool_get_thread_count
    except ImportError:
        return 1
    return max(1, int(_threadpool_get_thread_count()))


def _size_executorch_threadpool(threads: int) -> None:
    """XNNPACK runs on ExecuTorch's own process-wide threadpool, sized to the core count at start;
    torch.set_num_threads does not reach it."""
    try:
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    except ImportError:  # a build without the threadpool API
        return
    if _executorch_threads() != threads:
        _unsafe_reset_threadpool(threads)


# the method an ExecuTorch program holds beside ``forward`` for batch-1 calls (edge_time.exporters.executorch)
BATCH_ONE_METHOD = "forward_batch1"
# Batches whose rows hold at least this many tokens per XNNPACK thread run row by row in the batch-1
# method, shorter ones in the dynamic ``forward``: the dynamic form's per-head linears are narrow
# GEMMs, the batch-1 form's full-width ones need enough rows per thread to pay for the calls
# (MiniLM int8, Xeon: rows took 0.66-0.86x the dynamic time from 32 tokens at 1 thread and from 64
# at 2, but 1.13-1.63x at 16-32 tokens on 2 threads; docs/benchmarks.md).
ROW_TOKENS_PER_THREAD = 32


def executorch_runs_rows(batch: int, seq_len: int, threads: int) -> bool:
    """Whether a program with a batch-1 method runs this batch row by row in it (see above)."""
    return batch == 1 or seq_len >= ROW_TOKENS_PER_THREAD * threads


class ExecutorchRunner:
    def __init__(self, model: bytes, manifest: Manifest, threads: int | None):
        import torch
        from executorch.runtime import Runtime

        if manifest.quantization.startswith("int8"):
            try:  # registers the quantized kernels that int8 embeddings need
                import executorch.kernels.quantized  # noqa: F401
            except ImportError:
                pass
        if threads:
            torch.set_num_threads(threads)
            _size_executorch_threadpool(threads)
        self._torch = torch
        self._model = model  # the program reads from this buffer without copying it: keep it alive
        self._program = Runtime.get().load_program(model)
        self.method = self._program.load_method("forward")
        # single rows, and batches of long enough rows, go to the batch-1 form where the program has it
        self.batch_one = (self._program.load_method(BATCH_ONE_METHOD)
                          if BATCH_ONE_METHOD in self._program.method_names else None)
        self.threads = threads or _executorch_threads()
        self.specs = manifest.inputs

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        tensors = [self._torch.from_numpy(a) for a in _cast(inputs, self.specs)]
        batch, seq = tensors[0].shape[:2]
        if self.batch_one is None or not executorch_runs_rows(batch, seq, self.threads):
            return self._execute(self.method, tensors)
        rows = [self._execute(self.batch_one, [t[i:i + 1] for t in tensors]) for i in range(batch)]
        return rows[0] if batch == 1 else [np.concatenate(parts) for parts in zip(*rows)]

    def _execute(self, method, tensors: list) -> list[np.ndarray]:
        # The pybindings return each output as an ATen clone, which runs on torch's OpenMP pool when
        # that has several threads; its workers then spin for a while after the copy and take a core
        # from XNNPACK's threads in the next call (MiniLM int8, batch 1, 2 threads: 7.0 -> 5.2 ms
        # with the copy on one thread, docs/benchmarks.md). torch does no other work here.
        threads = self._torch.get_num_threads()
        self._torch.set_num_threads(1)
        try:
            outputs = method.execute(tensors)
        finally:
            self._torch.set_num_threads(threads)
        return [t.numpy().copy() for t in outputs]


# the one list of targets: bundle.TARGETS, the profiler schemas' target enums and the exporters
# (edge_time/exporters/NAME.py) read it; tests/exporters/test_registry.py holds them to it
RUNNERS: dict[str, type] = {"executorch": ExecutorchRunner, "tflite": TfliteRunner, "onnx": OnnxRunner}
