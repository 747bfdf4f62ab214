"""The :class:`ExportTarget` interface every target implements, and export errors (options: :mod:`.options`)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, ClassVar

import torch

from edge_time.bundle import QUANTIZATIONS, GraphFile
from edge_time.errors import EdgeTimeError
from edge_time.exporters.options import COMPAT_FORMS, INT8_FORMS, SAMPLE_TEXTS, ExportOptions
from edge_time.modeling.spec import ExportSpec


class ExportError(EdgeTimeError):
    """An export could not be made (unsupported mode, failed conversion, failed parity)."""


class ExportTarget:
    """One export target: everything edge-time knows about it, in one class.

    ``name`` is the manifest's ``target``, the key of the runtime's runner
    (:data:`edge_time.runtime.backends.RUNNERS`, the one list of targets) and the name of the module
    that holds the class (:mod:`edge_time.exporters.registry` finds it there); the class refuses
    options it cannot take (:meth:`check_options`), names its graph files (:meth:`graph_name`) and
    writes them (:meth:`export`).
    """

    name: ClassVar[str]
    quantizations: ClassVar[tuple[str, ...]] = QUANTIZATIONS
    dynamic_shapes: ClassVar[bool]
    input_dtype: ClassVar[str] = "int64"
    runtime_hint: ClassVar[str]
    suffix: ClassVar[str]  # of its graph files
    graph_batch_option: ClassVar[bool] = False  # whether --graph-batch applies
    int8_form_option: ClassVar[bool] = False  # whether --int8-form applies (with int8-dynamic)
    runtime_package: ClassVar[str]  # the PyPI runtime that runs parity; the manifest records its version
    writer_package: ClassVar[str | None] = None  # the converter, when it is another package

    def runtime_record(self, graphs: list[GraphFile], stage: Path) -> dict:
        """The manifest's ``runtime``: the installed runtime (and converter) versions, which the
        Android app checks against its own pinned runtime before loading the graphs."""
        from importlib.metadata import version

        record = {"name": self.runtime_package, "version": version(self.runtime_package)}
        if self.writer_package:
            record.update(writer=self.writer_package, writer_version=version(self.writer_package))
        return record

    def graph_name(self, seq_len: int | None = None) -> str:
        """``model.SUFFIX``, or ``model.seqN.SUFFIX`` for a fixed-shape bucket."""
        return f"model.seq{seq_len}{self.suffix}" if seq_len is not None else f"model{self.suffix}"

    def check_options(self, options: ExportOptions) -> None:
        """Refuse, before any work, options this target cannot take; the message names the fix."""
        if options.quantize not in self.quantizations:
            raise ExportError(f"target {self.name} does not support --quantize {options.quantize}; "
                              f"it supports {', '.join(self.quantizations)}")
        if options.compat not in (None, *COMPAT_FORMS):
            raise ExportError(f"--compat {options.compat} is unknown; the only compatibility form is "
                              f"{', '.join(COMPAT_FORMS)}")
        if options.compat and COMPAT_FORMS[options.compat] != self.name:
            raise ExportError(f"--compat {options.compat} applies to --target {COMPAT_FORMS[options.compat]} only")
        if options.graph_batch is not None and not self.graph_batch_option:
            raise ExportError("--graph-batch applies to --target executorch only (tflite graphs are batch 1 already)")
        if options.int8_form not in INT8_FORMS:
            raise ExportError(f"--int8-form {options.int8_form} is unknown; use one of {', '.join(INT8_FORMS)}")
        if options.int8_form != "auto" and not (self.int8_form_option and options.quantize == "int8-dynamic"):
            raise ExportError("--int8-form applies to --target onnx --quantize int8-dynamic only; "
                              "leave it out for other targets and quantizations")

    def export(self, spec: ExportSpec, stage: Path, options: ExportOptions,
               progress: Callable[[str], None]) -> list[GraphFile]:
        """Write the graph file(s) into ``stage``; return them as the manifest lists them."""
        raise NotImplementedError


def dynamic_shapes_for(spec: ExportSpec, fixed: tuple[str, ...] = ()) -> tuple[dict[int, torch.export.Dim], ...]:
    """torch.export dims from the spec's named axes, positional (wrappers may rename arguments);
    one Dim object per axis name, shared by every input that uses it. ``fixed`` axes stay static."""
    dims = {name: torch.export.Dim(name, min=lo, max=hi) for name, (lo, hi) in spec.axes.items()}
    return tuple({i: dims[d] for i, d in enumerate(s.shape) if isinstance(d, str) and d not in fixed}
                 for s in spec.inputs)


def trace_example(spec: ExportSpec, seq_len: int | None = None, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """Example inputs for tracing: batch 2 unless fixed (1 would specialise a dynamic batch dim)."""
    texts = [SAMPLE_TEXTS[1], SAMPLE_TEXTS[0]][:batch]
    return spec.example(texts, seq_len)
