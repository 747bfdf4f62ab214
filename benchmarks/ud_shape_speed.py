"""What a UD pipeline's speed would be at other student shapes, before training any of them.

An int8 graph's speed follows its shape, not its weights. So this cuts one trained UD task model to
other shapes (fewer attention heads over the same width, leaner head MLPs, fewer encoder layers),
exports every variant as an ONNX int8-dynamic bundle with one pinned int8 form (``--int8-form``:
the form alone moves speed by ~5%, and auto would pick it per variant), and times all of them with
``edge-time bench`` in one run (its rounds alternate the systems), spaCy beside if asked.

The cut variants are not trained: their accuracy columns mean nothing (the exports run with parity
bounds off for the same reason). Their words/s is what a trained model of that shape would reach.

    python benchmarks/ud_shape_speed.py --model UD_MODEL --data ../shared/data/ud/cs_pud-dev.conllu \\
        --variants heads=4 mlp=128 layers=3 heads=4,mlp=128 heads=4,mlp=128,layers=3 \\
        --spacy cs_core_news_sm --work-dir /tmp/shapes --out shape_speed

Variant keys: ``heads`` (attention heads over the same hidden width), ``mlp`` (inner width of every
GEGLU head MLP; at most the model's), ``layers`` (keep the first N encoder layers).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

KEYS = ("heads", "mlp", "layers")


def parse_variant(text: str) -> dict[str, int]:
    """``heads=4,mlp=128`` -> {"heads": 4, "mlp": 128}; ``base`` -> {}."""
    if text == "base":
        return {}
    variant = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key not in KEYS or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"variant {text!r}: write KEY=N[,KEY=N] with KEY one of {', '.join(KEYS)}, "
                             f"e.g. heads=4,mlp=128")
        variant[key] = int(value)
    return variant


def cut_model(source: Path, out: Path, heads: int | None = None, mlp: int | None = None,
              layers: int | None = None) -> None:
    """A copy of the UD task model ``source`` at another shape (weights sliced, not retrained)."""
    from safetensors.numpy import load_file, save_file

    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(source, out)
    config = json.loads((out / "config.json").read_text())
    task = json.loads((out / "edge_time_task.json").read_text())
    head, encoder = load_file(out / "head.safetensors"), load_file(out / "model.safetensors")
    if task["task"] != "ud":
        raise SystemExit(f"{source} is a {task['task']} model; this benchmark cuts UD models")
    if heads:
        if config["hidden_size"] % heads:
            raise SystemExit(f"heads={heads} does not divide hidden {config['hidden_size']}")
        config["num_attention_heads"] = heads
    if mlp:
        inner = head["tag.upos.gate_up.weight"].shape[0] // 2
        if mlp > inner:
            raise SystemExit(f"mlp={mlp} is wider than the model's head MLPs ({inner})")
        keep = list(range(mlp)) + list(range(inner, inner + mlp))  # gate rows, then up rows
        for name in [n for n in head if ".gate_up." in n]:
            head[name] = head[name][keep].copy()
        for name in [n for n in head if n.endswith(".out.weight")]:
            head[name] = head[name][:, :mlp].copy()
        task["head"] = {**task.get("head", {}), "mlp": mlp}
    if layers:
        if layers > config["num_hidden_layers"]:
            raise SystemExit(f"layers={layers}: the model has {config['num_hidden_layers']}")
        config["num_hidden_layers"] = layers
        dropped = tuple(f"layer.{i}." for i in range(layers, 1000))
        encoder = {n: w for n, w in encoder.items() if not any(d in n for d in dropped)}
        for name in [n for n in head if n.startswith("mix.")]:  # one weight per state: embeddings + layers
            head[name] = head[name][: layers + 1].copy()
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "edge_time_task.json").write_text(json.dumps(task, indent=2, ensure_ascii=False))
    save_file(head, out / "head.safetensors")
    save_file(encoder, out / "model.safetensors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a fine-tuned UD task model folder")
    parser.add_argument("--data", type=Path, required=True, help="CoNLL-U file the passes parse")
    parser.add_argument("--variants", nargs="+", default=["heads=4", "mlp=128", "layers=3"],
                        help="shapes beside the model's own (base), e.g. heads=4,mlp=128")
    parser.add_argument("--int8-form", default="per-tensor", choices=["per-tensor", "per-token", "ffn-fp32"])
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--spacy", default=None, help="spaCy pipeline timed in the same run")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="bench output folder (bench.md, bench.json)")
    args = parser.parse_args()

    from edge_time.bench.api import bench
    from edge_time.bench.config import BenchConfig
    from edge_time.exporters import ParityThresholds, export_model

    variants = {"base": {}} | {text: parse_variant(text) for text in args.variants}
    args.work_dir.mkdir(parents=True, exist_ok=True)
    bundles = []
    for text, variant in variants.items():
        name = "shape-" + text.replace("=", "").replace(",", "-")
        model = args.model
        if variant:
            model = args.work_dir / name
            cut_model(args.model, model, **variant)
        bundle = args.work_dir / f"{name}-onnx"
        print(f"exporting {text} ({args.int8_form})", file=sys.stderr)
        export_model(model, "onnx", bundle, quantize="int8-dynamic", int8_form=args.int8_form,
                     max_length=args.max_length, overwrite=True,
                     thresholds=ParityThresholds(min_cosine=-1.0, min_label_agreement=0.0))
        bundles.append(bundle)
    result = bench(BenchConfig(models=bundles, task_data=args.data, out=args.out, spacy=args.spacy,
                               batch_sizes=tuple(args.batch_sizes), repeats=args.repeats, threads=args.threads))
    rows = {row.name: row.throughput_best for row in result.rows}
    base = rows[bundles[0].name]
    spacy = next((row.throughput_best for row in result.rows if row.family == "spaCy"), None)
    print("| shape | words/s | vs base |" + (" vs spaCy |" if spacy else ""))
    print("|---|---:|---:|" + ("---:|" if spacy else ""))
    for text, bundle in zip(variants, bundles):
        rate = rows[bundle.name]
        print(f"| {text} | {rate:,.0f} | x{rate / base:.3f} |" + (f" {rate / spacy:.2f}x |" if spacy else ""))
    if spacy:
        print(f"| spaCy {args.spacy} | {spacy:,.0f} | | 1.00x |")


if __name__ == "__main__":
    main()
