"""How fast could a UD bundle's pipeline run on this CPU? Its ceiling, beside spaCy, in one run.

Why: "xs int8 >= 1.5x spaCy's words/s at 1 thread" was missed on every CPU measured, and whether any
runtime could meet it is arithmetic: the multiply-adds the graph does over the data, the CPU's GEMM
peaks, and the time the pipeline spends outside the graph. This measures the three in one process:

- the multiply-adds of one pass: the bundle runs the bench's own batches (length-sorted, ``--batch-size``
  sentences and the predictor's token budget) under onnxruntime's profiler, and every MatMul-family node
  (encoder and heads) is counted with the shapes it ran (int8 nodes apart from fp32 ones);
- the int8 and fp32 GEMM peaks (``gemm_peak.py``'s square GEMMs) at ``--threads``;
- an ``edge-time bench`` run of the bundles and spaCy: words/s and each pass's split (inputs / graph /
  decode / other).

From them: the graph floor (its multiply-adds at the peaks, every other op free), the graph's share of
it as measured, the ceiling (words/s with the graph at its floor and the rest as measured), the graph
alone at its floor (tokenization and decoding free as well), and for each ``--target-ratios R`` the share
of the peaks the whole graph would need to reach R x spaCy with the rest as measured.

    python benchmarks/pipeline_ceiling.py --bundles xs-onnx-int8 s-onnx-int8 --task-data cs_pud-dev.conllu \\
        --spacy cs_core_news_sm --threads 1 --target-ratios 1.5 1.0 --out ceiling
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np
from gemm_peak import cpu, gemm_peak

INT8_GEMMS = {"MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QLinearMatMul", "QGemm"}
FP32_GEMMS = {"MatMul", "FusedMatMul", "Gemm"}
GEMM_WORDS = ("MatMul", "Gemm", "Conv", "Attention", "Einsum")  # an op type with one of these must be counted


class RecordingBundle:
    """A loaded bundle that keeps the inputs of every graph call, to replay them under the profiler."""

    def __init__(self, bundle):
        self._bundle, self.calls = bundle, []

    def __getattr__(self, name):
        return getattr(self._bundle, name)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls.append({name: np.array(array) for name, array in inputs.items()})
        return self._bundle.run(inputs)


def node_macs(inputs: list[list[int]], output: list[int]) -> int:
    """Multiply-adds of one MatMul-family node run: the output's elements times the reduced dimension,
    the dimension of A not in the output (A's last one unless A is transposed)."""
    a = inputs[0]
    reduced = a[-1] if len(a) < 2 or a[-2] == output[-2] else a[-2]
    return math.prod(output) * reduced


def profiled_macs(bundle_path: Path, calls: list[dict], threads: int) -> dict[str, int]:
    """int8 and fp32 multiply-adds of replaying ``calls`` once on the bundle's graph (onnxruntime's trace
    records the shapes every node ran with)."""
    from edge_time.runtime import load_bundle
    from edge_time.runtime.backends import NUMPY_DTYPES, onnx_session

    manifest = load_bundle(bundle_path).manifest  # an ONNX bundle: one graph with dynamic axes
    with tempfile.TemporaryDirectory() as tmp:
        session = onnx_session(str(bundle_path / manifest.graphs[0].file), threads, profile_prefix=f"{tmp}/trace")
        for call in calls:
            session.run(None, {s.name: np.ascontiguousarray(call[s.name], dtype=NUMPY_DTYPES[s.dtype])
                               for s in manifest.inputs})
        events = json.loads(Path(session.end_profiling()).read_text())
    macs = {"int8": 0, "fp32": 0}
    for event in events:
        args = event.get("args", {})
        op = args.get("op_name")
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time") or not op:
            continue
        if op in INT8_GEMMS or op in FP32_GEMMS:
            shapes = [next(iter(item.values())) for item in args["input_type_shape"]]
            output = next(iter(args["output_type_shape"][0].values()))
            macs["int8" if op in INT8_GEMMS else "fp32"] += node_macs(shapes, output)
        elif any(word in op for word in GEMM_WORDS):
            raise SystemExit(f"{bundle_path}: the graph runs {op}, whose multiply-adds this script does not count; "
                             f"add it to INT8_GEMMS or FP32_GEMMS")
    return macs


def record_pass(bundle_path: Path, examples: list, batch_size: int, batch_tokens: int | None, threads: int) -> list:
    """The graph calls of one pass as ``edge-time bench`` makes it (edge_time.bench.measure.run_pass)."""
    from edge_time.bench.measure import length_order
    from edge_time.runtime import load_bundle
    from edge_time.runtime.predict import TaskPredictor
    from edge_time.tasks.data import get_task

    reader = get_task("ud")
    bundle = RecordingBundle(load_bundle(bundle_path, threads=threads))
    predictor = TaskPredictor.from_bundle(bundle, batch_size=batch_size)
    predictor.batch_tokens = batch_tokens
    lengths = [len(e.ids) for e in predictor.text_encoder.tokenize_words([reader.words(e) for e in examples])]
    order = length_order(lengths)
    for start in range(0, len(order), batch_size):
        reader.predict(predictor, [examples[i] for i in order[start:start + batch_size]])
    return bundle.calls


def peaks_gops(threads: int, runs: int) -> dict[str, float]:
    """int8 and fp32 GEMM peaks (gemm_peak.py's best size). Measured before and after the bench, and the
    higher one used: a run slowed by the host only raises the ceiling, never makes a target look out of reach."""
    return {kind: max(gemm_peak(kind, size, threads, runs) for size in (256, 512, 1024)) / 1e9
            for kind in ("int8", "fp32")}


def ceiling(row, macs: dict[str, int], peaks: dict[str, float], words: int, spacy_rate: float | None,
            target_ratios: list[float]) -> dict:
    """One bundle's figures: ms per pass are the bench's medians at its best batch size."""
    stages = row.stages_ms
    rest_ms = stages["pass"] - stages["graph"]
    floor_ms = 1000.0 * sum(2.0 * macs[kind] / (peaks[kind] * 1e9) for kind in ("int8", "fp32"))
    figures = {"words_per_s": row.throughput_best, "stages_ms": stages, "macs": macs,
               "macs_per_word": sum(macs.values()) / words, "graph_floor_ms": floor_ms,
               "graph_share_of_peak": floor_ms / stages["graph"], "rest_ms": rest_ms,
               "ceiling_words_per_s": 1000.0 * words / (floor_ms + rest_ms),
               "graph_alone_words_per_s": 1000.0 * words / floor_ms}
    if spacy_rate:
        figures["ratio"] = row.throughput_best / spacy_rate
        figures["ceiling_ratio"] = figures["ceiling_words_per_s"] / spacy_rate
        figures["graph_alone_ratio"] = figures["graph_alone_words_per_s"] / spacy_rate
        figures["targets"] = {}
        for ratio in target_ratios:
            graph_budget_ms = 1000.0 * words / (ratio * spacy_rate) - rest_ms
            figures["targets"][ratio] = {"graph_ms": graph_budget_ms, "share_of_peak":
                                         floor_ms / graph_budget_ms if graph_budget_ms > 0 else math.inf}
    return figures


def _rate(figures: dict, rate: str, ratio: str) -> str:
    """words/s, with the ratio to spaCy when spaCy ran."""
    return f"{figures[rate]:,.0f}" + (f" ({figures[ratio]:.2f}x)" if ratio in figures else "")


def markdown(result: dict) -> str:
    ratios = result["target_ratios"]
    before, after = result["peak_gops_before"], result["peak_gops_after"]
    lines = [f"{result['cpu']['model']} ({result['cpu']['machine']}; {' '.join(result['cpu']['gemm_flags'])}), "
             f"{result['threads']} thread(s); GEMM peak int8 {result['peak_gops']['int8']:.0f} GOPS (before / after "
             f"the bench {before['int8']:.0f} / {after['int8']:.0f}), fp32 {result['peak_gops']['fp32']:.0f} "
             f"({before['fp32']:.0f} / {after['fp32']:.0f}); {result['words']} words per pass; spaCy "
             f"{result['spacy_words_per_s'] or 0:,.0f} words/s", "",
             f"| bundle | words/s (x spaCy) | graph ms | its GEMMs at peak, ms | graph's share of peak | rest ms "
             f"| ceiling words/s (x spaCy) | graph alone at peak (x spaCy) | "
             + " | ".join(f"share of peak {ratio}x needs" for ratio in ratios) + " |",
             "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(ratios)]
    for name, b in result["bundles"].items():
        needs = [b.get("targets", {}).get(ratio, {}).get("share_of_peak") for ratio in ratios]
        lines.append(f"| {name} | {_rate(b, 'words_per_s', 'ratio')} | {b['stages_ms']['graph']:.1f} | "
                     f"{b['graph_floor_ms']:.1f} | {100 * b['graph_share_of_peak']:.0f}% | {b['rest_ms']:.1f} | "
                     f"{_rate(b, 'ceiling_words_per_s', 'ceiling_ratio')} | "
                     f"{_rate(b, 'graph_alone_words_per_s', 'graph_alone_ratio')} | "
                     + " | ".join("-" if need is None else "unreachable" if math.isinf(need) else f"{100 * need:.0f}%"
                                  for need in needs) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, nargs="+", required=True, help="UD ONNX bundles")
    parser.add_argument("--task-data", type=Path, required=True, help="labelled CoNLL-U file (e.g. cs_pud-dev.conllu)")
    parser.add_argument("--spacy", help="spaCy pipeline to time beside the bundles (e.g. cs_core_news_sm)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7, help="timed passes per system (medians)")
    parser.add_argument("--target-ratios", type=float, nargs="+", default=[1.5, 1.0],
                        help="words/s against spaCy's to size the graph for (default: the xs and s targets)")
    parser.add_argument("--runs", type=int, default=5, help="runs per GEMM peak size")
    parser.add_argument("--out", type=Path, required=True, help="folder for ceiling.json, ceiling.md and the bench's files")
    args = parser.parse_args()
    if min(args.threads, args.batch_size, args.repeats, args.runs) < 1 or min(args.target_ratios) <= 0:
        parser.error("--threads, --batch-size, --repeats and --runs must be at least 1, --target-ratios positive")

    from edge_time.bench import BenchConfig, bench
    from edge_time.atomic import write_json_atomic, write_text_atomic
    from edge_time.bench.models import inspect_model, read_task_data
    from edge_time.errors import EdgeTimeError
    from edge_time.runtime.predict import BATCH_TOKENS

    try:
        infos = [inspect_model(path) for path in args.bundles]
        for info in infos:
            if info.task != "ud" or info.kind.split()[0] != "onnx":
                raise SystemExit(f"{info.path} is a {info.kind} {info.task} model; pass UD bundles exported with "
                                 f"`edge-time export --target onnx` (the multiply-adds come from onnxruntime's trace)")
        examples = read_task_data(args.task_data, "ud", infos)
    except EdgeTimeError as exc:
        raise SystemExit(str(exc)) from None
    result = {"cpu": cpu(), "threads": args.threads, "target_ratios": args.target_ratios,
              "peak_gops_before": peaks_gops(args.threads, args.runs)}
    print(f"GEMM peaks, GOPS: {result['peak_gops_before']}", flush=True)
    macs = {path.name: profiled_macs(path, record_pass(path, examples, args.batch_size, BATCH_TOKENS, args.threads),
                                     args.threads) for path in args.bundles}
    run = bench(BenchConfig(models=list(args.bundles), task_data=args.task_data, spacy=args.spacy, out=args.out / "bench",
                            batch_sizes=(args.batch_size,), repeats=args.repeats, threads=args.threads))
    result["peak_gops_after"] = peaks_gops(args.threads, args.runs)
    result["peak_gops"] = {kind: max(result["peak_gops_before"][kind], result["peak_gops_after"][kind])
                           for kind in ("int8", "fp32")}
    spacy_rows = [row for row in run.rows if row.family == "spaCy"]
    result.update(words=run.data["words"], spacy_words_per_s=spacy_rows[0].throughput_best if spacy_rows else None,
                  bundles={})
    for row, path in zip([row for row in run.rows if row.family != "spaCy"], args.bundles):
        result["bundles"][path.name] = ceiling(row, macs[path.name], result["peak_gops"], result["words"],
                                               result["spacy_words_per_s"], args.target_ratios)
    write_json_atomic(args.out / "ceiling.json", result)
    write_text_atomic(args.out / "ceiling.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
