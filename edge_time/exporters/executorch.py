"""ExecuTorch: torch.export -> optional PT2E int8 (XNNPACK quantizer) -> XNNPACK lowering -> .pte.

Dynamic batch and sequence length are kept. The export-friendly encoder form
(edge_time.modeling.encoder) keeps LayerNorm, mask and attention inside ops the XNNPACK delegate
takes, which is what makes the .pte fast (see docs/export.md and docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from edge_time.bundle import GraphFile
from edge_time.exporters.base import ExportError, ExportOptions, Target, dynamic_shapes_for, trace_example
from edge_time.modeling.spec import ExportSpec


def _quantizer(dynamic: bool):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)

    class MaskSafeQuantizer(XNNPACKQuantizer):
        """XNNPACKQuantizer whose annotation pre-pass is skipped.

        Its transform_for_annotation turns an int ``arange`` of transformers-5 mask code into
        float and calibration then fails (toolchain.md); the pass is not needed for linears.
        """

        def transform_for_annotation(self, model):
            return model

    return MaskSafeQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic))


class HalfPrecision(torch.nn.Module):
    """fp16 weights and activations inside; fp32 outputs, so the bundle's I/O stays the same."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module.half()

    def forward(self, *inputs):
        return tuple(o.float() for o in self.module(*inputs))


class ExecutorchTarget(Target):
    name = "executorch"
    quantizations = ("none", "fp16", "int8-dynamic", "int8-static")
    dynamic_shapes = True
    runtime_hint = "ExecuTorch runtime (XNNPACK)"

    def export(self, spec: ExportSpec, stage: Path, options: ExportOptions,
               progress: Callable[[str], None]) -> list[GraphFile]:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        example = trace_example(spec)
        dynamic = dynamic_shapes_for(spec)
        module = spec.module
        try:
            if options.quantize == "fp16":
                import copy

                module = HalfPrecision(copy.deepcopy(spec.module)).eval()
                dynamic = (dynamic,)  # HalfPrecision takes the inputs as one *args tuple
            if options.quantize.startswith("int8"):
                module = self._quantize(module, spec, options, example, dynamic, progress)
            progress("torch.export (dynamic batch and sequence)")
            program = torch.export.export(module, example, dynamic_shapes=dynamic)
            progress("lowering to XNNPACK (to_edge_transform_and_lower)")
            lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(f"ExecuTorch export failed: {str(exc).splitlines()[0]}") from exc
        (stage / "model.pte").write_bytes(lowered.buffer)
        return [GraphFile(file="model.pte")]

    def _quantize(self, module, spec: ExportSpec, options: ExportOptions, example, dynamic, progress):
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        is_dynamic = options.quantize == "int8-dynamic"
        progress(f"PT2E {options.quantize} quantization (XNNPACK quantizer, per-channel int8 weights)")
        graph = torch.export.export(module, example, dynamic_shapes=dynamic).module()
        prepared = prepare_pt2e(graph, _quantizer(dynamic=is_dynamic))
        texts = options.calibration_texts if not is_dynamic else options.parity_texts[:2]
        with torch.no_grad():
            for start in range(0, len(texts), 8):
                prepared(*spec.example(texts[start:start + 8]))
        return convert_pt2e(prepared)
