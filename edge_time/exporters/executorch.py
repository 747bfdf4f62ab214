"""ExecuTorch: torch.export -> optional PT2E int8 (XNNPACK quantizer) -> XNNPACK lowering -> .pte.

Dynamic batch and sequence length are kept. Before export the encoder is rewritten by
:func:`edge_time.modeling.encoder.xnnpack_form` (one linear per attention head, 3-D ``bmm``,
LayerNorm means as one-column linears): under dynamic shapes XNNPACK's partitioner rejects the
reshapes, 4-D matmuls and 3-D ``mean.dim`` of the plain form, which then split the graph into
~70 delegate calls with slow portable kernels between them. In the rewritten form everything
after the embedding lookup is one delegate call (docs/export_performance.md). Int8 modes also
store the word-embedding table as int8 rows (``quantized_decomposed::embedding_byte``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from edge_time.bundle import GraphFile
from edge_time.exporters.base import ExportError, ExportOptions, ExportTarget, dynamic_shapes_for, trace_example
from edge_time.modeling.encoder import RowMean, RowMeanLayerNorm, xnnpack_form
from edge_time.modeling.spec import ExportSpec
from edge_time.runtime.backends import BATCH_ONE_METHOD

# torchao (imported by the quantizer) warns about its CUDA-only kernels and a deprecated pytree
# registration on every CPU machine; neither is actionable for a user.
for _noisy in ("torchao", "torch.utils._pytree"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)

# Kept in fp32 under int8 quantization: the LayerNorm arithmetic (its one-column mean linears
# would otherwise be quantized like weights, and variance needs full precision).
FP32_MODULES = {f"{t.__module__}.{t.__qualname__}" for t in (RowMeanLayerNorm, RowMean)}


def _in_fp32_module(node: torch.fx.Node) -> bool:
    """Whether ``node`` was traced inside one of FP32_MODULES (torch.export's nn_module_stack)."""
    for _, module_type in node.meta.get("nn_module_stack", {}).values():
        name = module_type if isinstance(module_type, str) else f"{module_type.__module__}.{module_type.__qualname__}"
        if name in FP32_MODULES:
            return True
    return False


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

    def linears_outside_layer_norm(node: torch.fx.Node) -> bool:
        # Static mode would otherwise also quantize adds, muls and cat: with the additive mask
        # (-1e4) and residual sums in int8 MiniLM's parity cosine fell to 0.26 (linears only:
        # 0.87, still below the 0.95 bound: activation outliers); softmax, bmm and LayerNorm
        # run in fp32 inside XNNPACK anyway.
        return node.target == torch.ops.aten.linear.default and not _in_fp32_module(node)

    quantizer = MaskSafeQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic))
    return quantizer.set_filter_function(linears_outside_layer_norm)


class Int8Embedding(nn.Module):
    """An embedding table stored as int8 rows with one fp32 scale per row (symmetric).

    Lowers to ``quantized_decomposed::embedding_byte``, which dequantizes only the looked-up rows
    at run time; the runtime needs ``import executorch.kernels.quantized`` for its kernel.
    """

    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        weight = embedding.weight.detach().float()
        scales = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        self.register_buffer("weight", torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized_decomposed.embedding_byte.default(self.weight, self.scales, None, -127, 127, ids)


def int8_word_embeddings(module: nn.Module) -> nn.Module:
    """Swap every ``word_embeddings`` table (the big one: vocab x hidden) for :class:`Int8Embedding`."""
    import executorch.exir.passes._quant_patterns_and_replacements  # noqa: F401  registers embedding_byte

    for parent in list(module.modules()):
        child = getattr(parent, "word_embeddings", None)
        if isinstance(child, nn.Embedding):
            parent.word_embeddings = Int8Embedding(child)
    return module


class HalfPrecision(torch.nn.Module):
    """fp16 weights and activations inside; fp32 outputs, so the bundle's I/O stays the same."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module.half()

    def forward(self, *inputs):
        return tuple(o.float() for o in self.module(*inputs))


def lower(program: torch.export.ExportedProgram | dict[str, torch.export.ExportedProgram]):
    """XNNPACK lowering (``to_edge_transform_and_lower``) of one program or named methods; the edge
    program, before to_executorch."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])


class ExecutorchTarget(ExportTarget):
    name = "executorch"
    dynamic_shapes = True
    runtime_hint = "ExecuTorch runtime (XNNPACK)"
    suffix = ".pte"
    runtime_package = "executorch"
    graph_batch_option = True

    def check_options(self, options: ExportOptions) -> None:
        super().check_options(options)
        if options.graph_batch not in (None, 1):
            raise ExportError(f"--graph-batch {options.graph_batch}: ExecuTorch graphs have a dynamic batch "
                              f"or batch 1; leave it out or pass 1")

    def export(self, spec: ExportSpec, stage: Path, options: ExportOptions,
               progress: Callable[[str], None]) -> list[GraphFile]:
        """One program: ``forward`` with a dynamic batch, and beside it ``forward_batch1`` in the
        batch-1 form (one linear per q/k/v, all heads in one bmm), which the runtime runs for single
        rows. ``--graph-batch 1`` writes the batch-1 form alone, as ``forward``."""
        forms = {"forward": True} if options.graph_batch == 1 else {"forward": False, BATCH_ONE_METHOD: True}
        programs = {}
        try:
            for method, batch_one in forms.items():
                example = trace_example(spec, batch=1 if batch_one else 2)
                dynamic = dynamic_shapes_for(spec, fixed=("batch",) if batch_one else ())
                module = self.prepare_module(spec, options, example, dynamic, progress, batch_one)
                if options.quantize == "fp16":
                    dynamic = (dynamic,)  # HalfPrecision takes the inputs as one *args tuple
                progress(f"torch.export {method} " + (
                    "(batch 1, dynamic sequence)" if batch_one else "(dynamic batch and sequence)"))
                programs[method] = torch.export.export(module, example, dynamic_shapes=dynamic)
            progress("lowering to XNNPACK (to_edge_transform_and_lower)")
            lowered = lower(programs).to_executorch()
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(f"ExecuTorch export failed: {str(exc).splitlines()[0]}") from exc
        (stage / self.graph_name()).write_bytes(lowered.buffer)
        return [GraphFile(file=self.graph_name(), batch=1 if options.graph_batch == 1 else None)]

    def prepare_module(self, spec: ExportSpec, options: ExportOptions, example, dynamic, progress,
                       batch_one: bool) -> nn.Module:
        """The module that gets exported: XNNPACK form, then fp16 or int8 as asked."""
        progress("rewriting the encoder for the XNNPACK delegate (" + (
            "batch-1 form: full-width q/k/v, heads by view" if batch_one else
            "per-head linears, 3-D bmm") + ", linear LayerNorm means)")
        module = xnnpack_form(spec.module, batch_one=batch_one).eval()
        if options.quantize == "fp16":
            return HalfPrecision(module).eval()
        if options.quantize.startswith("int8"):
            module = int8_word_embeddings(module)
            return self._quantize(module, spec, options, example, dynamic, progress, batch_one)
        return module

    def _quantize(self, module, spec: ExportSpec, options: ExportOptions, example, dynamic, progress, batch_one):
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        is_dynamic = options.quantize == "int8-dynamic"
        progress(f"PT2E {options.quantize} quantization (XNNPACK quantizer, per-channel int8 weights, "
                 f"int8 word embeddings)")
        graph = torch.export.export(module, example, dynamic_shapes=dynamic).module()
        prepared = prepare_pt2e(graph, _quantizer(dynamic=is_dynamic))
        texts = options.calibration_texts if not is_dynamic else options.parity_texts[:2]
        step = 1 if batch_one else 8
        with torch.no_grad():
            for start in range(0, len(texts), step):
                prepared(*spec.example(texts[start:start + step]))
        return convert_pt2e(prepared)


def delegation_report(edge_program) -> dict:
    """What the XNNPACK delegate took: number of delegate calls and the ops left outside it.

    ``edge_program``: the result of :func:`lower` (an EdgeProgramManager). Symbolic-size reads and
    tuple indexing are bookkeeping, not kernels, and are not counted.
    """
    from collections import Counter

    graph = edge_program.exported_program().graph_module.graph
    calls, outside = 0, Counter()
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if name == "executorch_call_delegate":
            calls += 1
        elif name not in ("getitem", "sym_size.int", "mul", "add", "sub", "floordiv"):
            outside[name] += 1
    return {"delegate_calls": calls, "outside_ops": dict(outside)}
