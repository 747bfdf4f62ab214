"""On-device timing loop: load a bundle, time it, write the device result JSON.

Runs where the bundle runs: in a subprocess on the host (``--device local``), on a board over ssh
(copied there with edge_time's pure-Python device side: bundle, errors, runtime), and as the
stand-in for the Android app in the loopback tests. Imports nothing but the standard library,
numpy and ``edge_time.runtime``, so a Raspberry Pi needs only numpy, ``tokenizers`` and the
target's runtime wheel.

    python runner.py --bundle DIR --out result.json --warmup 10 --runs 100 --seq-len 128
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import signal
import sys
import time

FILLER = "the quick brown fox jumps over the lazy dog while a small encoder runs on the phone"


def _status_kb(field: str) -> int | None:
    """A ``/proc/self/status`` memory field in kB (Linux, Android); None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _rss_kb() -> int | None:
    return _status_kb("VmRSS")


def _peak_kb() -> int:
    """This process's peak resident memory. VmHWM belongs to the process's own address space;
    ``ru_maxrss`` survives exec, so a runner started by a big parent (a quickstart that has just
    trained a model) would report the parent's peak instead of the bundle's."""
    return _status_kb("VmHWM") or int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _reset_peak() -> bool:
    """Start VmHWM afresh from the current RSS (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``), so
    that the peak is the model's and not that of importing the runtime. False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


# What each target's runtime imports, first choice first (edge_time.runtime.backends imports the same).
RUNTIME_MODULES = {"onnx": [("onnxruntime",)], "tflite": [("ai_edge_litert.interpreter", "tflite_runtime.interpreter")],
                   "executorch": [("torch",), ("executorch.runtime",)]}


def import_runtime(target: str, quantization: str) -> dict:
    """Import the bundle's runtime library (outside the load timer: the phone app has it linked in
    already, and Python's import cost says nothing about the on-device runtime). Returns its name
    and version."""
    import importlib

    info = {"name": None, "version": None}
    for choices in RUNTIME_MODULES.get(target, []):
        for index, name in enumerate(choices):
            try:
                module = importlib.import_module(name)
            except ImportError:
                if index == len(choices) - 1:
                    raise
                continue
            if info["name"] is None or target == "executorch" and name.startswith("executorch"):
                top = name.split(".")[0]
                info["name"] = top.replace("_", "-")
                info["version"] = _version(top, module)
            break
    if target == "executorch" and quantization.startswith("int8"):
        try:
            importlib.import_module("executorch.kernels.quantized")
        except ImportError:
            pass
    return info


def _version(top: str, module) -> str | None:
    try:
        from importlib.metadata import version

        return version(top.replace("_", "-"))
    except Exception:
        return getattr(module, "__version__", None)


def _device_info() -> dict:
    model = platform.node()
    try:  # Raspberry Pi and most ARM boards name themselves here
        with open("/proc/device-tree/model", "rb") as handle:
            model = handle.read().rstrip(b"\0").decode("utf-8", "replace")
    except OSError:
        pass
    return {"model": model, "os": platform.platform(), "abi": platform.machine(), "cores": os.cpu_count() or 1}


def build_inputs(model, batch: int, seq_len: int) -> tuple[dict, int]:
    """Exactly ``batch`` x ``seq_len`` real tokens (filler text, truncated, ending in [SEP]).

    A fixed-shape bundle runs at its bucket, so ``seq_len`` becomes the smallest bucket that
    holds it; the length actually timed is returned."""
    import numpy as np

    bucket = model.bucket_for(seq_len)
    seq_len = bucket or seq_len
    if seq_len > model.manifest.max_length:
        raise ValueError(f"--seq-len {seq_len} exceeds the bundle's max_length {model.manifest.max_length}")
    text = " ".join([FILLER] * (seq_len // 4 + 2))
    enc = model.text_encoder.encode([text] * batch, None)
    ids = enc.input_ids[:, :seq_len].copy()
    if ids.shape[1] < seq_len:
        raise ValueError(f"the tokenizer produced only {ids.shape[1]} tokens; cannot build {seq_len}")
    info = model.manifest.tokenizer
    if info.sep_id is not None:
        ids[:, -1] = info.sep_id
    arrays = {"input_ids": ids, "attention_mask": np.ones_like(ids),
              "position_ids": np.broadcast_to(np.arange(seq_len, dtype=np.int64) + model.text_encoder.position_offset,
                                              ids.shape).copy()}
    if any(spec.name == "word_pool" for spec in model.manifest.inputs):  # word-level task graphs (UD, NER)
        arrays.update(_filler_words(model, batch, seq_len, fixed=bucket is not None))
    for spec in model.manifest.inputs:  # token_type_ids and the like
        arrays.setdefault(spec.name, np.zeros(ids.shape, dtype=spec.dtype))
    return arrays, seq_len


def _filler_words(model, batch: int, seq_len: int, fixed: bool) -> dict:
    """Word inputs for the filler tokens: two subwords per word between the specials (Czech UD text
    gives an XLM-R vocabulary about 2.2), pooled as the bundle's decoder pools them."""
    from edge_time.runtime.predict import word_inputs

    words = max(1, (seq_len - 1) // 2)  # a graph's words axis holds at least one word
    word_ids = [None] + [(token - 1) // 2 for token in range(1, seq_len - 1)] + [None]
    config = model.manifest.task_config
    return word_inputs([word_ids] * batch, [words] * batch, config["pooling"], bool(config.get("root_row")),
                       width=seq_len if fixed else None)


def _write_atomic(path: str, data: dict) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def _stop(signum, frame):  # a SIGTERM mid-run still leaves the runs done so far
    raise KeyboardInterrupt(f"signal {signum}")


OP_TRACE_KINDS = {"onnx": "onnxruntime-trace", "tflite": "litert-op-plan", "executorch": "etdump"}


def capture_op_profile(model, inputs: dict, seq_len: int, path: str, runs: int, threads: int | None) -> dict:
    """Per-operator trace of ``runs`` inferences of the graph that was just timed, in a session of
    its own with the runtime's profiler on (it perturbs timing, so it runs after the timed loop),
    written raw to ``path`` for the host to summarise (edge_time.profiler.ops):

    - ONNX Runtime: ``SessionOptions.enable_profiling``'s trace (JSON, one event per node run);
    - ExecuTorch: an ETDump from the pybindings' event tracer (``enable_etdump=True``), read on the
      host with ``executorch.devtools.Inspector``;
    - LiteRT: its Python API (ai-edge-litert 2.x) has no op profiler, so the interpreter's node
      list after delegation is written (which ops the XNNPACK delegate took, which run on the CPU
      builtin kernels); no per-op times.

    One warm-up inference runs first and is left out of the trace's summary."""
    from edge_time.runtime.backends import RUNNERS, _cast, onnx_session

    manifest = model.manifest
    graph = manifest.graph_for(seq_len)
    data = model._graph_bytes(graph.file)
    info = {"file": os.path.basename(path), "kind": OP_TRACE_KINDS[manifest.target], "runs": runs, "warmup": 1,
            "graph": graph.file, "error": None}
    arrays = _cast(inputs, manifest.inputs)
    if manifest.target == "onnx":
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            session = onnx_session(data, threads, profile_prefix=os.path.join(folder, "ort"))
            feed = {s.name: a for s, a in zip(manifest.inputs, arrays)}
            for _ in range(1 + runs):
                session.run(None, feed)
            shutil.move(session.end_profiling(), path)
    elif manifest.target == "executorch":
        import torch
        from edge_time.runtime.backends import (BATCH_ONE_METHOD, _executorch_threads, _size_executorch_threadpool,
                                                executorch_runs_rows)
        from executorch.extension.pybindings.portable_lib import _load_for_executorch_from_buffer

        if threads:
            _size_executorch_threadpool(threads)
        module = _load_for_executorch_from_buffer(data, enable_etdump=True, debug_buffer_size=0)
        tensors = [torch.from_numpy(a) for a in arrays]
        # the method ExecutorchRunner runs for this batch (a batch it runs row by row: one row of it);
        # outputs not cloned (the clone runs on torch's thread pool, see ExecutorchRunner._execute)
        batch, seq = tensors[0].shape[:2]
        method = info["method"] = "forward"
        if BATCH_ONE_METHOD in module.method_names() and executorch_runs_rows(batch, seq, _executorch_threads()):
            method, tensors = BATCH_ONE_METHOD, [t[:1] for t in tensors]
            info["method"] = method + (f" (one row: the runtime runs batch {batch} row by row)" if batch > 1 else "")
        for _ in range(1 + runs):
            module.run_method(method, tensors, clone_outputs=False)
        if not module.has_etdump():
            raise RuntimeError("this ExecuTorch runtime was built without the event tracer (no ETDump)")
        module.write_etdump_result_to_file(path)
    else:
        runner = RUNNERS["tflite"](data, manifest, threads)
        runner.run(inputs)  # resizes to this shape and allocates: the node list is the one that ran
        interp = runner.interpreter
        ops = []
        for op in interp._get_ops_details():
            ops.append({"index": int(op["index"]), "op": op["op_name"], "inputs": [int(t) for t in op["inputs"]],
                        "outputs": [int(t) for t in op["outputs"]]})
        _write_atomic(path, {"schema": "edge-time/litert-op-plan", "ops": ops})
        info["runs"] = 0
    return info


def run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    from edge_time import __version__
    from edge_time.bundle import read_manifest
    from edge_time.runtime import load_bundle

    result = {
        "schema": "edge-time/device-run", "schema_version": 1, "runner": args.runner_name,
        "runner_version": __version__, "status": "error", "error": None,
        "bundle": {"path": args.bundle, "target": "onnx", "quantization": "none", "manifest_sha256": "0" * 64},
        "device": _device_info(),
        "config": {"threads": args.threads, "batch": args.batch, "seq_len": args.seq_len,
                   "warmup": args.warmup, "runs": args.runs, "duration_s": args.duration},
        "load_ms": 0.0, "first_inference_ms": 0.0, "latencies_ms": [], "peak_memory_kb": None,
        "rss_before_load_kb": None, "latency_starts_ms": [],
    }
    latencies, starts = result["latencies_ms"], result["latency_starts_ms"]
    try:
        if args.pin_cores:
            os.sched_setaffinity(0, {int(c) for c in args.pin_cores.split(",")})
        with open(os.path.join(args.bundle, "manifest.json"), "rb") as handle:
            raw = handle.read()
        sha = hashlib.sha256(raw).hexdigest()
        declared = json.loads(raw.decode("utf-8"))
        # imports (edge_time.runtime: numpy, tokenizers; the target's runtime) are timed apart from
        # loading, as the app has its runtime linked in
        result["runtime"] = import_runtime(str(declared.get("target")), str(declared.get("quantization", "")))
        result["import_ms"] = (time.perf_counter() - started) * 1000
        # as the app: hash check, tokenizer and inputs first, then the memory baseline, then the
        # load timer around the runtime reading the graph and creating its session, nothing else
        read_manifest(args.bundle, verify=True)
        model = load_bundle(args.bundle, threads=args.threads or None, verify=False)
        inputs, seq_len = build_inputs(model, args.batch, args.seq_len)
        result["rss_before_load_kb"] = _rss_kb()
        result["peak_reset"] = _reset_peak()
        started = time.perf_counter()
        model.prepare(seq_len)
        result["load_ms"] = (time.perf_counter() - started) * 1000
        manifest = model.manifest
        result["bundle"] = {"path": args.bundle, "target": manifest.target, "quantization": manifest.quantization,
                            "task": manifest.task, "manifest_sha256": sha}
        result["config"]["seq_len"] = seq_len
        started = time.perf_counter()
        model.run(inputs)
        result["first_inference_ms"] = (time.perf_counter() - started) * 1000
        for _ in range(args.warmup):
            model.run(inputs)
        result["started_at_ms"] = int(time.time() * 1000)
        loop_t0 = time.perf_counter()
        deadline = loop_t0 + args.duration if args.duration else None
        while (len(latencies) < args.runs) if deadline is None else (time.perf_counter() < deadline or not latencies):
            started = time.perf_counter()
            model.run(inputs)
            latencies.append((time.perf_counter() - started) * 1000)
            starts.append((started - loop_t0) * 1000)  # for the report's latency-over-time timeline
        result["finished_at_ms"] = int(time.time() * 1000)
        result["status"] = "ok"
    except (Exception, KeyboardInterrupt) as exc:  # written into the result, not lost
        result["finished_at_ms"] = int(time.time() * 1000)
        result["status"] = "partial" if latencies else "error"
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["peak_memory_kb"] = _peak_kb()  # before the op profile's second session
    if args.op_profile and result["status"] == "ok":
        try:
            result["op_profile"] = capture_op_profile(model, inputs, seq_len, args.op_profile, args.op_profile_runs,
                                                      args.threads or None)
        except (Exception, KeyboardInterrupt) as exc:  # the timed figures stand without it
            result["op_profile"] = {"file": None, "error": f"{type(exc).__name__}: {exc}"}
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time one edge-time bundle and write the device result JSON.")
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=0, help="0 = the runtime's default")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--duration", type=float, default=None, help="time for this many seconds instead of --runs")
    parser.add_argument("--pin-cores", default="", help="comma-separated CPU ids, e.g. 4,5,6,7")
    parser.add_argument("--runner-name", default="python-runtime")
    parser.add_argument("--op-profile", default="", help="after timing, write a per-operator trace here")
    parser.add_argument("--op-profile-runs", type=int, default=10, help="inferences in the per-operator trace")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    result = run(args)
    _write_atomic(args.out, result)
    if result["error"]:
        print(f"runner: {result['error']}", file=sys.stderr)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    code = main()
    # The result is on disk: leave now. An interpreter that unloads torch and the runtimes keeps
    # the CPU busy for seconds (2.5 s measured for ExecuTorch), which the idle baseline that
    # follows would count as idle power.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
