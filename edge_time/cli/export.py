"""`edge-time export` and `edge-time inspect`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edge_time.bundle import QUANTIZATIONS, TARGETS
from edge_time.cli.types import COUNT, NON_NEGATIVE_FLOAT
from edge_time.exporters.options import COMPAT_FORMS, INT8_FORMS, ExportOptions

EXPORT_EXAMPLES = """
\b
Examples:
  # the built-in English MiniLM to ExecuTorch (needs the demo extra)
  edge-time export --target executorch
  # a fine-tuned NER model to TFLite, int8, buckets for 64 and 128 tokens
  edge-time export --model runs/ner --target tflite --quantize int8-dynamic --seq-buckets 64,128
  # static int8 ONNX calibrated on in-domain text (one sentence per line)
  edge-time export --model runs/student --target onnx --quantize int8-static --calibration calib.txt
  # the fastest ExecuTorch form on CPUs: a batch-1 graph with dynamic sequence length
  edge-time export --target executorch --quantize int8-dynamic --graph-batch 1
  # a bundle for the Android demo app (adds test vectors for the app's own checks)
  edge-time export --model runs/ner --target executorch --quantize int8-dynamic --for-android
"""


def _buckets(ctx, param, value: str) -> tuple[int, ...]:
    try:
        buckets = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of lengths, e.g. 32,128,512")
    if not buckets or min(buckets) < 2:
        raise click.BadParameter("give at least one sequence length >= 2, e.g. 32,128,512")
    return buckets


@click.command(epilog=EXPORT_EXAMPLES)
@click.option("--model", "-m", default=None, metavar="DIR_OR_ID",
              help="HF model folder or hub id, or a fine-tuned edge-time task model. "
                   "Default: the built-in all-MiniLM-L6-v2 (demo extra).")
@click.option("--target", "-t", type=click.Choice(TARGETS), required=True, help="On-device format.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Bundle folder to write. Default: bundles/NAME-TARGET-QUANTIZE.")
@click.option("--quantize", "-q", type=click.Choice(QUANTIZATIONS), default=ExportOptions.quantize,
              show_default=True, help="Weight/activation precision. int8-static needs --calibration.")
@click.option("--calibration", type=click.Path(path_type=Path), default=None,
              help="Text file, one example per line, for int8-static calibration.")
@click.option("--parity-texts", type=click.Path(path_type=Path), default=None,
              help="Text file of sentences for the parity check (default: built-in multilingual set).")
@click.option("--seq-buckets", default=",".join(map(str, ExportOptions.seq_buckets)), show_default=True,
              callback=_buckets, help="Sequence lengths to export for fixed-shape targets (tflite).")
@click.option("--compat", type=click.Choice(list(COMPAT_FORMS)), default=None,
              help="tflite only: explicit position-id input, loadable by the old standalone tflite-runtime.")
@click.option("--max-length", type=COUNT, default=ExportOptions.max_length, show_default=True,
              help="Longest input in tokens.")
@click.option("--min-cosine", type=float, default=None, help="Parity: minimum cosine vs PyTorch (default per mode).")
@click.option("--max-abs-diff", type=NON_NEGATIVE_FLOAT, default=None, help="Parity: maximum absolute difference.")
@click.option("--min-label-agreement", type=float, default=None,
              help="Parity: minimum share of identical argmax labels (task models).")
@click.option("--graph-batch", type=click.IntRange(1, 1), default=None,
              help="executorch: export a batch-1 graph (dynamic sequence). Fewer, larger XNNPACK ops: "
                   "faster per sequence on CPUs; larger batches then run row by row. Default: dynamic batch.")
@click.option("--int8-form", type=click.Choice(INT8_FORMS), default=ExportOptions.int8_form, show_default=True,
              help="onnx int8-dynamic: where activations get one scale per token. auto: the fastest form that keeps "
                   "the parity bar (per-tensor, then per-token, else ffn-fp32); name one to pin it on every re-export.")
@click.option("--for-android", is_flag=True, help="Add the files and test vectors the Android demo app uses.")
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle (only after the new one passes parity).")
@click.option("--trust-remote-code", is_flag=True, help="Allow custom model code from the hub (off by default).")
def export(model, target, out, quantize, calibration, parity_texts, seq_buckets, compat, max_length,
           min_cosine, max_abs_diff, min_label_agreement, graph_batch, int8_form, for_android, overwrite,
           trust_remote_code):
    """Export a model to an on-device bundle and check it against PyTorch in the target's runtime.

    The bundle folder holds the model file(s), tokenizer, labels and a manifest.json with sha256
    of every file and the parity report. Nothing is written unless parity passes.
    """
    from edge_time.exporters import ParityThresholds, export_model
    from edge_time.modeling.builtin import DEFAULT_MODEL_NAME, default_model_dir

    name = DEFAULT_MODEL_NAME if model is None else Path(str(model).rstrip("/")).name
    model = model or default_model_dir()
    out = out or Path("bundles") / f"{name}-{target}-{quantize}"
    result = export_model(
        model, target, out, quantize=quantize, calibration=calibration, parity_texts=parity_texts,
        seq_buckets=seq_buckets, compat=compat, max_length=max_length,
        thresholds=ParityThresholds(min_cosine, max_abs_diff, min_label_agreement),
        graph_batch=graph_batch, int8_form=int8_form, for_android=for_android, overwrite=overwrite,
        trust_remote_code=trust_remote_code,
        progress=lambda message: click.echo(f"[export] {message}"))
    size = sum(p.stat().st_size for g in result.manifest.graphs for p in [out / g.file])
    click.secho(f"done in {result.seconds:.1f}s: {out} ({size / 1e6:.1f} MB of model files)", fg="green")


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def inspect(bundle, as_json):
    """Verify a bundle (sha256 of every file) and summarise its manifest."""
    from edge_time.bundle import read_manifest

    manifest = read_manifest(bundle, verify=True)
    if as_json:
        click.echo(manifest.to_json())
        return
    form = (manifest.runtime or {}).get("int8_form")
    click.echo(f"{bundle}: {manifest.target} / {manifest.quantization}{f' ({form})' if form else ''} / task "
               f"{manifest.task} (schema v{manifest.schema_version}, edge-time {manifest.edge_time_version})")
    for g in manifest.graphs:
        shape = f"seq {g.seq_len}" if g.seq_len else "dynamic shapes"
        click.echo(f"  graph   {g.file} ({shape})")
    for spec in manifest.inputs:
        click.echo(f"  input   {spec.name} {spec.dtype} {spec.shape}")
    for spec in manifest.outputs:
        click.echo(f"  output  {spec.name} {spec.dtype} {spec.shape}")
    click.echo(f"  axes    {json.dumps(manifest.axes)}")
    summary = manifest.parity.get("summary", {})
    click.echo(f"  parity  {'passed' if manifest.parity.get('passed') else 'not recorded'}: {json.dumps(summary)}")
    click.echo(f"  files   {len(manifest.files)} verified")


COMMANDS = [export, inspect]
