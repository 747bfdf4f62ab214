"""export_model: model folder -> verified bundle, for any registered target.

Steps (each printed): load the model as an ExportSpec, write the target's graph file(s) into a
staging folder beside the output, copy tokenizer and labels, run parity in the target's real
runtime through `edge_time.runtime` (the same code path users run), and only when parity passes
rename the staging folder into place.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edge_time import __version__
from edge_time.bundle import Manifest, TensorSpec, read_manifest, staging_dir, write_manifest
from edge_time.compute import cpu_description
from edge_time.errors import EdgeTimeError
from edge_time.exporters.base import ExportError
from edge_time.exporters.options import ExportOptions, ParityThresholds
from edge_time.exporters.parity import format_report, run_parity
from edge_time.exporters.registry import get_target
from edge_time.modeling.spec import TASK_CONFIG_NAME, ExportSpec, encoder_spec, resolve_model_dir
from edge_time.textfiles import read_lines

PARITY_REPORT_NAME = "parity.json"


def load_export_spec(model: str | Path, work_dir: Path, max_length: int = 512, explicit_positions: bool = False,
                     trust_remote_code: bool = False) -> ExportSpec:
    """The ExportSpec of a model folder / hub id: a task model when edge_time_task.json is present, else
    the plain encoder. Decided here, so that modeling needs no task code."""
    model_dir = resolve_model_dir(model, trust_remote_code)
    if (model_dir / TASK_CONFIG_NAME).is_file():
        from edge_time.tasks.export import task_export_spec

        return task_export_spec(model_dir, work_dir, max_length=max_length, explicit_positions=explicit_positions)
    return encoder_spec(model_dir, work_dir, max_length, explicit_positions, trust_remote_code)


@dataclass
class ExportResult:
    bundle_dir: Path
    manifest: Manifest
    parity: dict
    seconds: float


def export_model(model: str | Path, target: str, out: str | Path, quantize: str = ExportOptions.quantize,
                 calibration: str | Path | None = None, parity_texts: str | Path | None = None,
                 seq_buckets: tuple[int, ...] = ExportOptions.seq_buckets, compat: str | None = None,
                 max_length: int = ExportOptions.max_length, thresholds: ParityThresholds | None = None,
                 graph_batch: int | None = None, int8_form: str = ExportOptions.int8_form,
                 for_android: bool = False, overwrite: bool = False, trust_remote_code: bool = False,
                 progress: Callable[[str], None] | None = None) -> ExportResult:
    """Export ``model`` (HF folder/id, or a fine-tuned edge-time task model) to a bundle at ``out``.

    ``graph_batch=1`` (executorch): a batch-1 graph with dynamic sequence, faster per sequence on
    CPUs; the runtime runs larger batches row by row. ``int8_form`` (onnx, int8-dynamic): ``auto``
    takes the fastest form that keeps the parity bar, or name one of ``per-tensor``, ``per-token``,
    ``ffn-fp32`` to pin it (docs/export.md).
    Raises ExportError (nothing written) when the target does not support ``quantize``, the
    conversion fails, or the parity check misses ``thresholds``.
    """
    started = time.perf_counter()
    say = progress or (lambda message: None)
    target_impl = get_target(target)
    options = ExportOptions(target=target, quantize=quantize, thresholds=thresholds or ParityThresholds(),
                            compat=compat, seq_buckets=tuple(sorted(set(seq_buckets))), max_length=max_length,
                            graph_batch=graph_batch, int8_form=int8_form)
    target_impl.check_options(options)
    if quantize == "int8-static":
        if calibration is None:
            raise ExportError("--quantize int8-static needs --calibration FILE (text lines, ~100-500 in-domain)")
        options.calibration_texts = read_lines(calibration, "calibration")
    if parity_texts is not None:
        options.parity_texts = read_lines(parity_texts, "parity")

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="edge-time-export-") as work, staging_dir(out, overwrite) as stage:
        say(f"loading {model}")
        spec = load_export_spec(model, Path(work), max_length=options.max_length,
                                explicit_positions=compat == "tflite-runtime", trust_remote_code=trust_remote_code)
        if not target_impl.dynamic_shapes:
            options.seq_buckets = tuple(b for b in options.seq_buckets if b <= spec.max_length) or (spec.max_length,)
        graphs = target_impl.export(spec, stage, options, say)
        for item in spec.tokenizer_dir.iterdir():
            shutil.copy2(item, stage / item.name)
        if spec.labels:
            (stage / "labels.json").write_text(json.dumps(spec.labels, indent=2, ensure_ascii=False), encoding="utf-8")
        axes = dict(spec.axes)
        axes["batch"] = [1, min(axes["batch"][1], options.max_batch)]
        if not target_impl.dynamic_shapes:  # texts are truncated to the largest bucket
            axes["seq"] = [min(options.seq_buckets), max(options.seq_buckets)]
        manifest = Manifest(
            target=target, quantization=quantize, task=spec.task, graphs=graphs,
            inputs=[TensorSpec(s.name, target_impl.input_dtype if s.dtype == "int64" else s.dtype, list(s.shape))
                    for s in spec.inputs],
            outputs=list(spec.outputs), axes=axes, max_length=axes["seq"][1],
            tokenizer=spec.tokenizer_info, source=spec.source, labels=spec.labels,
            task_config=spec.task_config, runtime=target_impl.runtime_record(graphs, stage),
            edge_time_version=__version__,
        )
        write_manifest(stage, manifest)

        say(f"parity check in {target_impl.runtime_hint} against PyTorch eager")
        from edge_time.runtime import load_bundle

        try:
            bundle = load_bundle(stage, verify=False, unfinished_ok=True)
            parity = run_parity(spec, bundle.run, options.parity_texts, bundle.fixed_lengths,
                                options.thresholds.resolved(quantize))
        except EdgeTimeError:
            raise
        except Exception as exc:  # the runtime refused the graph it was given: a converter/quantizer bug
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            raise ExportError(f"{target_impl.runtime_hint} could not run the exported {quantize} graph ({first}); "
                              f"no bundle written. Try another --quantize or --target") from exc
        parity.update(target=target, quantization=quantize, runtime=target_impl.runtime_hint, host=cpu_description())
        say(format_report(parity))
        if not parity["passed"]:
            raise ExportError(f"parity check failed ({'; '.join(parity['failures'][:3])}); no bundle written. "
                              f"Loosen with --min-cosine/--max-abs-diff/--min-label-agreement or use a "
                              f"milder --quantize")
        if for_android:
            from edge_time.exporters.android import write_android_assets

            say("writing Android assets and test vectors")
            manifest.android = write_android_assets(stage, spec, bundle.run)
        (stage / PARITY_REPORT_NAME).write_text(json.dumps(parity, indent=2), encoding="utf-8")
        manifest.parity = {k: parity[k] for k in ("passed", "summary", "thresholds", "runtime", "host")}
        manifest.parity["report"] = PARITY_REPORT_NAME
        write_manifest(stage, manifest)
    say(f"bundle written to {out}")
    return ExportResult(out, read_manifest(out), parity, time.perf_counter() - started)
