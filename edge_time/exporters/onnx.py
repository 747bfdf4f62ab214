"""ONNX: torch.onnx (dynamo) export with dynamic axes, onnxruntime graph optimisation, and
onnxruntime quantization (fp16 weights, int8 dynamic, int8 static QDQ with calibration)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable


from edge_time.bundle import GraphFile
from edge_time.exporters.base import ExportError, ExportOptions, ExportTarget, dynamic_shapes_for, trace_example
from edge_time.modeling.spec import ExportSpec


@contextlib.contextmanager
def _in_dir(path: Path):
    """quant_pre_process leaves temp files in the working directory: keep them in our temp dir."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


# (min cosine, max abs diff, min label agreement) against PyTorch that an int8-dynamic ONNX graph
# with its FFN-output MatMuls quantized must meet to be kept. Measured on the parity texts and then on
# Czech PUD dev (docs/benchmarks.md, 2026-12-05): the UD xs student's all-int8 graph agreed 0.988
# at worst and parsed at +0.11 LAS against its FFN-fp32 form, 33% faster; s (0.978) lost 0.29 LAS;
# the 12-layer teacher (0.949) 0.11; all-MiniLM-L6-v2 reaches cosine 0.988 (0.993 with them fp32).
# The same bar then decides between per-token int8 FFN outputs and fp32 ones.
FFN_INT8_BAR = (0.99, float("inf"), 0.985)


GELU_OPS = ("Gelu", "FastGelu", "BiasGelu")


def _matmuls_kept_float(path: Path) -> list[str]:
    """MatMuls whose constant operand has rank > 2 (the bilinear deprel scorer of UD heads,
    ``[1, labels, d, d]``): onnxruntime's int8 quantizers must leave them in fp32, as per-channel
    quantization turns them into integer MatMuls whose weight zero point onnxruntime rejects at run
    time ("b zero point is not valid")."""
    import onnx

    graph = onnx.load(str(path)).graph
    constant_rank = {init.name: len(init.dims) for init in graph.initializer}
    return [node.name for node in graph.node
            if node.op_type == "MatMul" and any(constant_rank.get(name, 0) > 2 for name in node.input)]


def _outlier_fed_matmuls(path: Path) -> tuple[list[str], list[str]]:
    """MatMuls with a constant 2-D weight whose input carries the outlier activations of trained
    models, which one dynamic per-tensor int8 scale covers badly: (FFN outputs, fed by a GELU;
    GEGLU outputs, fed by a product with a GELU's output, as in the task heads' MLPs)."""
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {output: node for node in graph.node for output in node.output}
    constant_rank = {init.name: len(init.dims) for init in graph.initializer}
    ffn, geglu = [], []
    for node in graph.node:
        if node.op_type != "MatMul" or constant_rank.get(node.input[1]) != 2:
            continue
        feeder = producer.get(node.input[0])
        if feeder is not None and feeder.op_type in GELU_OPS:
            ffn.append(node.name)
        elif feeder is not None and feeder.op_type == "Mul" and any(
                producer.get(name) is not None and producer[name].op_type in GELU_OPS for name in feeder.input):
            geglu.append(node.name)
    return ffn, geglu


# Below every GELU's output (erf GELU: -0.16997, tanh GELU: -0.17004): adding it makes an FFN output's
# input non-negative, so one per-token uint8 scale covers [0, max] with all 256 levels.
GELU_FLOOR = 0.1701


def _per_token_int8(path: Path, names: list[str]) -> None:
    """Rewrites the named fp32 MatMuls of ``path`` (constant 2-D weights) to int8 with one activation
    scale per token (row), in place.

    Why: a dynamic per-tensor scale is set by the few outlier tokens of the tensor, which leaves the
    other tokens a handful of levels; a scale per token, as XNNPACK's dynamic int8 uses, does not
    (all-MiniLM-L6-v2 FFN outputs, English parity texts: min cosine 0.9910 against 0.988 per tensor,
    at 0.69x the graph time of keeping them fp32; a UD student's XPOS classifier alone: 0.957 label
    agreement per tensor, 0.993 per token; docs/benchmarks.md).

    A GELU's output is at least -0.17, so a GELU-fed input is shifted by :data:`GELU_FLOOR` and
    quantized unsigned with zero point 0: twice the levels of a symmetric scale, which spends half
    of them on values GELU never gives. The shift comes back out exactly as a constant, ``GELU_FLOOR
    * column sums of the quantized weight``, folded into the bias Add that follows (or a new Add).
    Other inputs are symmetric, stored as uint8 around zero point 128 (values 1..255). uint8
    activations keep onnxruntime on its fast u8 x s8 kernels; weights are 7-bit per column as
    elsewhere, so no pair sum (at most 2 x 255 x 63) overflows int16 on AVX2 CPUs without VNNI.
    Needs opset 21 (QuantizeLinear with one block per row).
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    if not names:
        return
    model = onnx.load(str(path))
    graph = model.graph
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = max(opset.version, 21)
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    weights = {init.name: init for init in graph.initializer}
    producer = {output: node.op_type for node in graph.node for output in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def constant(name: str, value) -> str:
        graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    shared = {"axes": constant("per_token/axes", np.array([-1], np.int64)),
              "floor": constant("per_token/gelu_floor", np.array(GELU_FLOOR, np.float32)),
              "tiny": constant("per_token/tiny", np.array(1e-8, np.float32)),
              "inv255": constant("per_token/inv255", np.array(1 / 255, np.float32)),
              "inv127": constant("per_token/inv127", np.array(1 / 127, np.float32)),
              "one": constant("per_token/one", np.array(1.0, np.float32)),
              "zp0": constant("per_token/zero_point", np.array(0, np.uint8)),
              "zp128": constant("per_token/zero_point_128", np.array([128], np.uint8))}
    wanted, nodes, rewritten = set(names), [], 0
    for node in graph.node:
        if node.name not in wanted:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
        weight_scale = (np.maximum(np.abs(weight).max(axis=0), 1e-12) / 63).astype(np.float32)
        quantized = np.clip(np.round(weight / weight_scale), -63, 63).astype(np.int8)
        p, x, y = f"{node.name}/per_token/", node.input[0], node.output[0]
        shifted = producer.get(x) in GELU_OPS
        if shifted:  # (x + floor) in [0, max]: uint8, zero point 0 (QuantizeLinear's default)
            nodes.append(helper.make_node("Add", [x, shared["floor"]], [p + "shifted"], name=p + "shift"))
            source, measured, inverse_levels, zero_point = p + "shifted", p + "shifted", shared["inv255"], shared["zp0"]
        else:  # x in [-absmax, absmax]: uint8 around 128
            nodes.append(helper.make_node("Abs", [x], [p + "abs"], name=p + "abs"))
            source, measured, inverse_levels, zero_point = x, p + "abs", shared["inv127"], shared["zp128"]
        nodes += [helper.make_node("ReduceMax", [measured, shared["axes"]], [p + "max"], keepdims=1, name=p + "max"),
                  helper.make_node("Max", [p + "max", shared["tiny"]], [p + "range"], name=p + "range"),
                  helper.make_node("Mul", [p + "range", inverse_levels], [p + "scale"], name=p + "scale")]
        if shifted:
            row_zero_point = []  # no zero point given: uint8 with zero point 0
        else:  # one zero point per row, the scale's shape
            nodes += [helper.make_node("Shape", [p + "scale"], [p + "shape"], name=p + "shape"),
                      helper.make_node("Expand", [zero_point, p + "shape"], [p + "zero_point"], name=p + "zero_point")]
            row_zero_point = [p + "zero_point"]
        nodes += [
            helper.make_node("QuantizeLinear", [source, p + "scale"] + row_zero_point, [p + "x"], axis=-1,
                             block_size=int(weight.shape[0]), name=p + "quantize"),
            helper.make_node("MatMulIntegerToFloat",
                             [p + "x", constant(p + "weight", quantized), shared["one"],
                              constant(p + "weight_scale", weight_scale), zero_point,
                              constant(p + "weight_zero_point", np.zeros(weight.shape[1], np.int8))],
                             [p + "y"], domain="com.microsoft", name=p + "matmul")]
        rewritten += 1
        if not shifted:
            nodes.append(helper.make_node("Mul", [p + "y", p + "scale"], [y], name=p + "rescale"))
            continue
        # x @ W = (x + floor) @ W - floor * column sums of W, with W as quantized
        correction = (-GELU_FLOOR * (quantized.astype(np.float32) * weight_scale).sum(axis=0)).astype(np.float32)
        bias_add = consumers.get(y, [])
        bias_name = next((name for name in bias_add[0].input if name != y), None) if len(bias_add) == 1 else None
        if (bias_add and bias_add[0].op_type == "Add" and bias_name in weights
                and tuple(weights[bias_name].dims) == (weight.shape[1],) and len(consumers[bias_name]) == 1):
            bias = weights[bias_name]
            bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias).astype(np.float32) + correction,
                                                  bias_name))
            nodes.append(helper.make_node("Mul", [p + "y", p + "scale"], [y], name=p + "rescale"))
        else:
            nodes += [helper.make_node("Mul", [p + "y", p + "scale"], [p + "rescaled"], name=p + "rescale"),
                      helper.make_node("Add", [p + "rescaled", constant(p + "correction", correction)], [y],
                                       name=p + "unshift")]
    if rewritten != len(wanted):
        raise ExportError(f"per-token int8: MatMuls {sorted(wanted)} not all found in {path.name}")
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input} | {output.name for output in graph.output}
    kept = [init for init in graph.initializer if init.name in used]  # not the replaced fp32 weights
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.save(model, str(path))


def _unfused_residuals(path: Path) -> None:
    """Rewrites, in place, each Add whose only consumers are LayerNormalizations as a Sum.

    onnxruntime's graph optimizer fuses Add -> LayerNormalization into its SkipLayerNormalization
    kernel, which (onnxruntime 1.32, x86) runs 5-10x slower than the two ops it replaces (8 x 40 x 256:
    725 us against 121; docs/benchmarks.md). The fusion matches Add only, so a Sum, the same function,
    keeps the fast kernels in any onnxruntime session that loads the bundle, not just edge-time's.
    """
    import onnx

    model = onnx.load(str(path))
    consumers: dict[str, list[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    outputs = {o.name for o in model.graph.output}
    for node in model.graph.node:
        feeds = consumers.get(node.output[0], []) if node.op_type == "Add" else []
        if feeds and all(op == "LayerNormalization" for op in feeds) and node.output[0] not in outputs:
            node.op_type = "Sum"
    onnx.save(model, str(path))


class _Calibration:
    """onnxruntime CalibrationDataReader over tokenized calibration texts, a few per batch."""

    def __init__(self, spec: ExportSpec, texts: list[str], batch: int = 8):
        self.batches = [spec.make_inputs(texts[i:i + batch], None) for i in range(0, len(texts), batch)]
        self.names = spec.input_names
        self.position = 0

    def get_next(self):
        if self.position >= len(self.batches):
            return None
        batch = self.batches[self.position]
        self.position += 1
        return {name: batch[name].numpy() for name in self.names}

    def rewind(self):
        self.position = 0


class OnnxTarget(ExportTarget):
    name = "onnx"
    dynamic_shapes = True
    runtime_hint = "onnxruntime"
    suffix = ".onnx"
    runtime_package = "onnxruntime"
    writer_package = "torch"  # torch.onnx (dynamo)
    int8_form_option = True

    def runtime_record(self, graphs: list[GraphFile], stage: Path) -> dict:
        """Adds the graph's default-domain opset (an older onnxruntime refuses opsets it predates) and,
        for int8-dynamic, the form the export chose (:meth:`_quantize_dynamic`)."""
        import onnx

        model = onnx.load(str(stage / graphs[0].file), load_external_data=False)
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
        form = next((entry.value for entry in model.metadata_props if entry.key == INT8_FORM_KEY), None)
        return {**super().runtime_record(graphs, stage), **({"opset": int(opset)} if opset else {}),
                **({"int8_form": form} if form else {})}

    def export(self, spec: ExportSpec, stage: Path, options: ExportOptions,
               progress: Callable[[str], None]) -> list[GraphFile]:
        import onnx
        import onnxruntime as ort
        import torch

        from edge_time.modeling.encoder import onnx_form
        from edge_time.runtime.backends import onnx_session_options

        with tempfile.TemporaryDirectory(prefix="edge-time-onnx-") as tmp_name:
            tmp = Path(tmp_name)
            raw = tmp / "model.raw.onnx"
            progress("torch.onnx.export (dynamo, dynamic batch and sequence axes)")
            try:
                program = torch.onnx.export(onnx_form(spec.module), trace_example(spec), dynamo=True,
                                            input_names=spec.input_names, output_names=spec.output_names,
                                            dynamic_shapes=dynamic_shapes_for(spec), verbose=False)
                program.save(str(raw))
            except Exception as exc:  # torch.onnx raises many types; report the first line
                raise ExportError(f"ONNX export failed: {str(exc).splitlines()[0]}") from exc
            _unfused_residuals(raw)

            progress("onnxruntime graph optimisation (extended, portable across CPUs)")
            optimized = tmp / "model.opt.onnx"
            so = onnx_session_options()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
            so.optimized_model_filepath = str(optimized)
            ort.InferenceSession(str(raw), so, providers=["CPUExecutionProvider"])

            final = stage / self.graph_name()
            if options.quantize == "none":
                onnx.save(onnx.load(str(optimized)), str(final))
            elif options.quantize == "fp16":
                progress("fp16 weights and activations (inputs/outputs stay fp32)")
                from onnxruntime.transformers.float16 import convert_float_to_float16

                onnx.save(convert_float_to_float16(onnx.load(str(raw)), keep_io_types=True), str(final))
            else:
                from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
                from onnxruntime.quantization.shape_inference import quant_pre_process

                pre = tmp / "model.pre.onnx"
                with _in_dir(tmp):
                    # symbolic shape inference fails on dynamo graphs; the rest of pre-processing works
                    quant_pre_process(str(raw), str(pre), skip_symbolic_shape=True)
                if options.quantize == "int8-dynamic":
                    self._quantize_dynamic(spec, pre, final, options, progress)
                else:
                    progress(f"int8 static QDQ quantization, calibrating on {len(options.calibration_texts)} texts")
                    # uint8 activations + int8 weights: S8S8 ran slower than fp32 on x86 (toolchain.md);
                    # 7-bit weights for AVX2 CPUs as in _quantize_dynamic
                    quantize_static(str(pre), str(final), _Calibration(spec, options.calibration_texts),
                                    quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                                    weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                                    calibrate_method=CalibrationMethod.MinMax,
                                    op_types_to_quantize=["MatMul", "Gemm"],
                                    nodes_to_exclude=_matmuls_kept_float(pre))
        return [GraphFile(file=self.graph_name())]

    @staticmethod
    def _quantize_dynamic(spec: ExportSpec, pre: Path, final: Path, options: ExportOptions,
                          progress: Callable[[str], None]) -> None:
        """int8-dynamic, in the first of three forms, fastest first, that keeps :data:`FFN_INT8_BAR`
        against PyTorch on the parity texts (``--parity-texts``): every MatMul one scale per tensor;
        the outlier-fed ones (:func:`_outlier_fed_matmuls`: FFN and GEGLU outputs) one scale per token
        (:func:`_per_token_int8`); or, kept without a check, the FFN outputs fp32 and GEGLU outputs per
        token, the most faithful form. ``--int8-form`` picks one of them instead (its parity against the
        bar is reported, the bundle's own parity check still decides); the graph's metadata and the
        manifest's ``runtime.int8_form`` record which form the bundle has.

        The FFN outputs are a quarter of a small encoder's graph time quantized (all-MiniLM-L6-v2:
        67 -> 43 ms at batch 8, docs/export_performance.md), but one dynamic scale per tensor fits
        their outlier channels badly, the more so the deeper the model; the heads' GEGLU outputs feed
        1,000-class classifiers whose near-tied labels flip under a coarse scale.
        """
        from onnxruntime.quantization import QuantType, quantize_dynamic

        from edge_time.exporters.parity import run_parity
        from edge_time.runtime.backends import onnx_session

        # reduce_range: 7-bit weights, so that no u8 x s8 pair sum overflows int16 in the AVX2
        # kernels of CPUs without VNNI (vpmaddubsw saturates there): one bundle, same numbers on
        # AVX2, AVX-512/VNNI/AMX and ARM (docs/export_performance.md, "int8 on every CPU").
        def quantize(keep_float: list[str]) -> None:
            quantize_dynamic(str(pre), str(final), weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=True, nodes_to_exclude=keep_float)

        def meets_bar(form: str, chosen_by_user: bool = False) -> bool:
            session = onnx_session(str(final))
            feeds = [i.name for i in session.get_inputs()]
            check = run_parity(spec, lambda arrays: dict(zip(spec.output_names,
                                                             session.run(None, {n: arrays[n] for n in feeds}))),
                               options.parity_texts, [], FFN_INT8_BAR)
            summary, agreement = check["summary"], check["summary"]["min_label_agreement"]
            progress(f"{form}: min cosine {summary['min_cosine']:.4f}"
                     + (f", min label agreement {agreement:.3f}" if agreement is not None else "")
                     + ("" if check["passed"] else f": below the bar of --int8-form auto ({check['failures'][0]})"
                        + ("; kept, as chosen" if chosen_by_user else "")))
            return check["passed"]

        high_rank = _matmuls_kept_float(pre)
        ffn, geglu = _outlier_fed_matmuls(pre)
        forms = {  # name -> (what it is, MatMuls left out of quantize_dynamic, MatMuls made per token)
            "per-tensor": ("every MatMul int8, one scale per tensor", [], []),
            "per-token": (f"FFN and GEGLU outputs int8, one scale per token ({len(ffn)} + {len(geglu)} MatMuls)",
                          ffn + geglu, ffn + geglu),
            "ffn-fp32": (f"FFN outputs kept fp32, GEGLU outputs one scale per token ({len(geglu)} MatMuls)",
                         ffn + geglu, geglu),
        }
        chosen = list(forms) if options.int8_form == "auto" else [options.int8_form]
        progress("int8 dynamic quantization (per-channel 7-bit weights); "
                 + ("each form checked against PyTorch" if len(chosen) > 1 else f"form {chosen[0]} (--int8-form)"))
        for form in chosen:
            description, left_out, per_token = forms[form]
            quantize(high_rank + left_out)
            if per_token:
                _per_token_int8(final, per_token)
            if form == chosen[-1]:
                if len(chosen) > 1:  # auto's last form, the most faithful: kept without a check
                    progress(description)
                else:  # the user's choice: reported; the bundle's parity check decides
                    meets_bar(description, chosen_by_user=True)
                break
            if meets_bar(description):
                break
        _set_metadata(final, INT8_FORM_KEY, form)


INT8_FORM_KEY = "edge_time.int8_form"  # metadata of an int8-dynamic graph: the form the export chose


def _set_metadata(path: Path, key: str, value: str) -> None:
    """Record ``key: value`` in the ONNX file's metadata (shown by Netron, read back for the manifest)."""
    import onnx

    model = onnx.load(str(path))
    entries = {entry.key: entry.value for entry in model.metadata_props}
    entries[key] = value
    onnx.helper.set_model_props(model, entries)
    onnx.save(model, str(path))
