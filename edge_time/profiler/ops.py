"""Per-operator profiles: turn a runtime's raw trace into one top-operators table.

The runner (runner.py ``--op-profile``) writes the raw trace on the device, after the timed loop;
the host reads it here, so a board needs nothing beyond the runtime (ExecuTorch's Inspector needs
pandas and the exporter side of executorch, which the host has):

- ``onnxruntime-trace``: ONNX Runtime's profiling JSON (``SessionOptions.enable_profiling``);
- ``etdump``: an ExecuTorch ETDump, read with ``executorch.devtools.Inspector``;
- ``litert-op-plan``: the LiteRT interpreter's node list after delegation. ai-edge-litert's Python
  API has no op profiler (``Interpreter`` takes no profiler; ``CompiledModel``'s options carry no
  profiling switch), so LiteRT rows have counts and delegate vs CPU kernel, and no times.

Each table row is one op type: how many nodes of it one inference runs, their time per inference
(median over the profiled runs, the warm-up run left out), its share of the inference, and where it
ran (a delegate such as XNNPACK, or the runtime's CPU kernels). A row ``(runtime overhead)`` holds
what the whole inference took beyond its operators, so the shares add up to 1.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from edge_time.profiler.target import ProfileError

OVERHEAD = "(runtime overhead)"
TRACE_SUFFIX = {"onnx": ".ort.json", "tflite": ".litert-ops.json", "executorch": ".etdump"}


def trace_name(bundle_name: str, target: str) -> str:
    """File name of a bundle's raw op trace (beside its device result); a target without an op
    profiler (none in runner.capture_op_profile) still gets one, and its runner reports the gap."""
    return f"{bundle_name}{TRACE_SUFFIX.get(target, '.trace')}"


def summarise(kind: str, trace: Path, graph: Path | None = None) -> dict:
    """The op table of one raw trace; ``graph`` is the bundle's graph file (ExecuTorch: the .pte,
    whose delegate ids name the backend). A trace that cannot be read raises ProfileError."""
    trace = Path(trace)
    if not trace.is_file():
        raise ProfileError(f"the op profile {trace} was not written")
    if kind == "onnxruntime-trace":
        return _onnxruntime(trace)
    if kind == "etdump":
        return _etdump(trace, graph)
    if kind == "litert-op-plan":
        return _litert(trace)
    raise ProfileError(f"{trace}: unknown op trace kind {kind!r}")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _table(runtime: str, mechanism: str, per_op: dict, total_ms: float | None, runs: int, note: str | None) -> dict:
    """per_op: (op, backend, delegated) -> [count per inference, ms per inference or None]. Times
    are medians over the profiled runs (one preempted run on a busy board must not make one op
    look dominant); the overhead row holds what the median inference took beyond its ops."""
    timed = total_ms is not None
    rows = [{"op": op, "backend": backend, "delegated": delegated, "count": count, "total_ms": ms, "share": None}
            for (op, backend, delegated), (count, ms) in per_op.items()]
    if timed:
        covered = sum(r["total_ms"] for r in rows)
        rows.append({"op": OVERHEAD, "backend": "runtime", "delegated": False, "count": None,
                     "total_ms": max(total_ms - covered, 0.0), "share": None})
        whole = max(total_ms, covered)
        for r in rows:
            r["share"] = r["total_ms"] / whole if whole > 0 else 0.0
        rows.sort(key=lambda r: -r["total_ms"])
    else:
        rows.sort(key=lambda r: (-r["count"], r["op"]))
    delegated = [r for r in rows if r["delegated"]]
    return {"runtime": runtime, "mechanism": mechanism, "timed": timed, "runs": runs, "total_ms": total_ms,
            "delegated_share": (sum(r["share"] for r in delegated) if timed else None),
            "delegated_nodes": sum(r["count"] for r in delegated),
            "cpu_nodes": sum(r["count"] or 0 for r in rows if not r["delegated"] and r["op"] != OVERHEAD),
            "note": note, "ops": rows}


def _per_inference(per_run: dict, runs: int) -> dict:
    """key -> {run: (count, ms)} to key -> [nodes per inference, median ms per inference]."""
    return {key: [max(cells.get(j, (0, 0.0))[0] for j in range(runs)),
                  _median([cells.get(j, (0, 0.0))[1] for j in range(runs)])]
            for key, cells in per_run.items()}


def _load_json(trace: Path):
    try:
        return json.loads(trace.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{trace}: the op trace is not valid JSON ({exc})") from exc


def _onnxruntime(trace: Path) -> dict:
    events = _load_json(trace)
    if not isinstance(events, list):
        raise ProfileError(f"{trace}: not an ONNX Runtime profile (a JSON list of trace events)")
    runs = sorted((e for e in events if isinstance(e, dict) and e.get("cat") == "Session"
                   and e.get("name") == "model_run"), key=lambda e: e["ts"])
    if len(runs) < 2:
        raise ProfileError(f"{trace}: the ONNX Runtime profile holds {len(runs)} inference(s); need the warm-up and one more")
    kept = runs[1:]  # the first run allocates; it is the warm-up
    spans = [(e["ts"], e["ts"] + e["dur"]) for e in kept]
    per_run: dict = {}
    for e in events:
        if not isinstance(e, dict) or e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        run = next((j for j, (start, end) in enumerate(spans) if start <= e["ts"] <= end), None)
        if run is None:
            continue
        args = e.get("args") or {}
        provider = str(args.get("provider", "CPUExecutionProvider"))
        key = (str(args.get("op_name", "?")), provider.removesuffix("ExecutionProvider"),
               provider != "CPUExecutionProvider")
        count, ms = per_run.setdefault(key, {}).get(run, (0, 0.0))
        per_run[key][run] = (count + 1, ms + e["dur"] / 1000.0)
    total = _median([e["dur"] / 1000.0 for e in kept])
    return _table("onnxruntime", "SessionOptions.enable_profiling (kernel time per node)",
                  _per_inference(per_run, len(kept)), total, len(kept), None)


_SUFFIX = re.compile(r" #\d+$")


def _delegate_backends(graph: Path | None) -> list[str]:
    """The backend ids of the delegates in a .pte (XnnpackBackend, ...); [] when unreadable."""
    if graph is None or not Path(graph).is_file():
        return []
    try:
        from executorch.exir._serialize._program import deserialize_pte_binary

        program = deserialize_pte_binary(Path(graph).read_bytes())
        program = getattr(program, "program", program)
        return sorted({d.id for plan in program.execution_plan for d in plan.delegates})
    except Exception:  # an exporter-side API that moved: the table still stands, named generically
        return []


def _etdump(trace: Path, graph: Path | None) -> dict:
    import warnings

    try:
        from executorch.devtools import Inspector
        from executorch.devtools.inspector import TimeScale
    except ImportError as exc:
        raise ProfileError(f"reading an ETDump needs executorch's devtools on this host ({exc})") from exc
    try:
        with warnings.catch_warnings():  # no debug buffer was asked for: "Output Buffer not found"
            warnings.simplefilter("ignore")
            inspector = Inspector(etdump_path=str(trace), source_time_scale=TimeScale.NS,
                                  target_time_scale=TimeScale.MS)
    except Exception as exc:
        raise ProfileError(f"{trace}: not a readable ETDump ({type(exc).__name__}: {exc})") from exc
    blocks = [b for b in inspector.event_blocks if b.name == "Execute"]
    if not blocks:
        raise ProfileError(f"{trace}: the ETDump holds no Execute block (did the method run?)")
    backends = _delegate_backends(graph)
    backend = (backends[0].removesuffix("Backend").upper() if len(backends) == 1
               else "+".join(backends) if backends else "delegate")
    per_run: dict = {}
    delegate_calls: dict[int, float] = {}
    total, runs = None, 0

    def per_run_ms(event) -> list[float]:
        raw = list(event.perf_data.raw) if event.perf_data is not None else []
        return raw[1:] if len(raw) > 1 else raw  # the first run is the warm-up

    for event in blocks[0].events:
        times = per_run_ms(event)
        if not times:
            continue
        if event.name == "Method::execute":
            total, runs = _median(times), len(times)
            continue
        if event.name == "DELEGATE_CALL":  # ExecuTorch's own clock around the delegate (ns)
            for j, ms in enumerate(times):
                delegate_calls[j] = delegate_calls.get(j, 0.0) + ms
            continue
        if event.is_delegated_op:
            key = (_SUFFIX.sub("", event.name), backend, True)
        elif event.name.startswith("native_call_"):
            key = (event.name.removeprefix("native_call_"), "CPU (portable/optimized kernels)", False)
        else:  # OPERATOR_CALL / DELEGATE_CALL wrap the events above
            continue
        cells = per_run.setdefault(key, {})
        for j, ms in enumerate(times):
            count, so_far = cells.get(j, (0, 0.0))
            cells[j] = (count + 1, so_far + ms)
    if total is None:
        raise ProfileError(f"{trace}: the ETDump has no Method::execute event")
    # XNNPACK reports its ops' times in whole microseconds: on small graphs most read 0, and
    # what the delegate took beyond them is its own row, still delegated, not runtime overhead
    inside = {j: sum(cells.get(j, (0, 0.0))[1] for key, cells in per_run.items() if key[2]) for j in delegate_calls}
    if delegate_calls:
        per_run[(f"({backend}: not attributed to ops)", backend, True)] = {
            j: (0, max(delegate_calls[j] - inside[j], 0.0)) for j in delegate_calls}
    note = None if backends else "delegate backend unknown (the .pte's delegate list could not be read)"
    return _table("executorch", "ETDump (event tracer) + executorch.devtools.Inspector",
                  _per_inference(per_run, runs), total, runs, note)


def _litert(trace: Path) -> dict:
    data = _load_json(trace)
    ops = data.get("ops") if isinstance(data, dict) else None
    if not isinstance(ops, list) or data.get("schema") != "edge-time/litert-op-plan":
        raise ProfileError(f"{trace}: not an edge-time LiteRT op plan")
    delegates = [o for o in ops if o["op"] == "DELEGATE"]
    producer = {t: o for o in ops if o["op"] != "DELEGATE" for t in o["outputs"]}
    delegated: set[int] = set()
    # a delegate node stands for the ops between its inputs and its outputs: walk back from
    # each output to the delegate's inputs (weights have no producer)
    for node in delegates:
        boundary = set(node["inputs"])
        stack = [producer[t] for t in node["outputs"] if t in producer]
        while stack:
            op = stack.pop()
            if op["index"] in delegated:
                continue
            delegated.add(op["index"])
            stack += [producer[t] for t in op["inputs"] if t not in boundary and t in producer]
    per_op: dict = {}
    for op in ops:
        if op["op"] == "DELEGATE":
            continue
        inside = op["index"] in delegated
        key = (op["op"], "XNNPACK" if inside else "CPU (builtin kernels)", inside)
        per_op.setdefault(key, [0, None])[0] += 1
    note = ("ai-edge-litert's Python API offers no per-operator profiler, so LiteRT rows have no times: "
            "counts and delegate vs CPU kernels come from the interpreter's node list after delegation. "
            f"{len(delegates)} delegate partition(s).")
    return _table("litert", "Interpreter node list after delegation (no per-op timing in the Python API)",
                  per_op, None, 0, note)


def top_rows(table: dict, limit: int = 15) -> list[dict]:
    """The rows a report shows: the ``limit`` costliest (or commonest, when untimed)."""
    return table["ops"][:limit]
