"""TFLite / LiteRT: litert-torch conversion per sequence-length bucket, ai-edge-quantizer recipes.

litert-torch 0.10 converts fixed shapes only (every dynamic-shape attempt failed, see
toolchain.md), so each requested sequence length becomes its own ``model.seqN.tflite`` at batch
1; the runtime picks the smallest bucket that fits and runs rows in slices. Inputs become int32.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from edge_time.bundle import GraphFile
from edge_time.exporters.base import ExportError, ExportOptions, ExportTarget
from edge_time.modeling.spec import ExportSpec

GRAPH_BATCH = 1


@contextlib.contextmanager
def _quiet():
    """litert-torch prints a progress tree per stage; keep the user's terminal to our own steps."""
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.getLogger().setLevel(previous)


def _recipe_quantizer(path: Path, quantize: str):
    from ai_edge_quantizer import qtyping, quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    from edge_time.tasks.heads import FoldedMixes

    q = quantizer.Quantizer(str(path))
    if quantize == "int8-dynamic":
        # A task head's folded layer mixes are a MatMul with a constant *left* operand; LiteRT's
        # BATCH_MATMUL has no int8-weight kernel for that side (the interpreter refuses the graph),
        # and the 5 x layers weight gains nothing from int8.
        q.load_quantization_recipe(recipe.dynamic_wi8_afp32()
                                   + [{"regex": f".*{FoldedMixes.__name__}.*", "operation": "*",
                                       "algorithm_key": AlgorithmName.NO_QUANTIZE.value}])
    elif quantize == "fp16":
        q.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                 num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING)
    elif quantize == "int8-static":
        # Full-integer only where it is safe: matmuls. The all-ops static_wi8_ai8 recipe also
        # quantizes the additive mask (-1e4) and softmax inputs and broke parity (max diff 124).
        q.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.FULLY_CONNECTED,
                            activation_num_bits=8, weight_num_bits=8)
    return q


class TfliteTarget(ExportTarget):
    name = "tflite"
    dynamic_shapes = False
    input_dtype = "int32"
    runtime_hint = "LiteRT interpreter (ai-edge-litert)"
    suffix = ".tflite"
    runtime_package = "ai-edge-litert"
    writer_package = "litert-torch"

    def check_options(self, options: ExportOptions) -> None:
        super().check_options(options)
        if options.compat and options.quantize.startswith("int8"):
            # measured: int8-dynamic bundles that LiteRT runs at cosine 0.99999 came out at cosine 0.66
            # in tflite-runtime 2.14, whose hybrid int8 kernels are far less accurate
            raise ExportError("tflite-runtime's int8 kernels lose accuracy (cosine 0.66 vs LiteRT measured); "
                              "use --quantize none or fp16 with --compat tflite-runtime, or run int8 with "
                              "ai-edge-litert")

    def export(self, spec: ExportSpec, stage: Path, options: ExportOptions,
               progress: Callable[[str], None]) -> list[GraphFile]:
        import litert_torch

        graphs = []
        for seq_len in options.seq_buckets:
            name = self.graph_name(seq_len)
            progress(f"litert-torch conversion, batch {GRAPH_BATCH} x seq {seq_len}")
            example = spec.example([min(options.parity_texts, key=len)], seq_len)  # shapes matter, not words
            float_path = stage / (name + ".float") if options.quantize != "none" else stage / name
            try:
                with _quiet():
                    litert_torch.convert(spec.module, example).export(str(float_path))
            except Exception as exc:
                raise ExportError(f"TFLite conversion failed at seq {seq_len}: {str(exc).splitlines()[0]}") from exc
            if options.quantize != "none":
                progress(f"ai-edge-quantizer: {options.quantize}")
                self._quantize(float_path, stage / name, spec, options, seq_len)
                os.remove(float_path)
            graphs.append(GraphFile(file=name, seq_len=seq_len, batch=GRAPH_BATCH))
        return graphs

    def _quantize(self, src: Path, dst: Path, spec: ExportSpec, options: ExportOptions, seq_len: int) -> None:
        q = _recipe_quantizer(src, options.quantize)
        with _quiet():
            if options.quantize == "int8-static":
                samples = []
                encoder = spec.text_encoder()
                fitting = [t for t in options.calibration_texts if encoder.count_tokens(t) <= seq_len]
                if not fitting:
                    raise ExportError(f"no calibration text fits the {seq_len}-token bucket; add shorter lines")
                for text in fitting:
                    inputs = spec.make_inputs([text], seq_len)
                    arrays = (inputs[n].numpy() for n in spec.input_names)  # ids int32 like the graph
                    samples.append({f"args_{i}": a.astype(np.int32) if a.dtype.kind == "i" else a
                                    for i, a in enumerate(arrays)})
                result = q.calibrate({"serving_default": samples})
                q.quantize(result).export_model(str(dst), overwrite=True)
            else:
                q.quantize().export_model(str(dst), overwrite=True)
