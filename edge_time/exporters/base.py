"""Types shared by the export targets: options, the :class:`ExportTarget` interface, and export errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import torch

from edge_time.bundle import GraphFile
from edge_time.errors import EdgeTimeError
from edge_time.modeling.spec import ExportSpec

# Sentences for parity checks when the user gives none: several languages and lengths, so that
# padding, truncation and rare pieces are exercised on any vocabulary.
SAMPLE_TEXTS = [
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog while the farmer watches from the old barn.",
    "Choose Format - Cells and open the Numbers tab.",
    "Praha je hlavní město České republiky.",
    "Die Katze schläft auf dem warmen Sofa.",
    "Le modèle tourne sur le téléphone sans connexion.",
    "Hi!",
    "Edge devices need small, fast encoders; large multilingual teachers are too slow for phones "
    "and boards, so we distil tiny monolingual students and quantize them to eight bits.",
]


class ExportError(EdgeTimeError):
    """An export could not be made (unsupported mode, failed conversion, failed parity)."""


@dataclass
class ParityThresholds:
    """Export fails unless every output meets these. None = use the quantization's default."""

    min_cosine: float | None = None
    max_abs_diff: float | None = None
    min_label_agreement: float | None = None

    DEFAULTS: ClassVar[dict[str, tuple[float, float, float]]] = {
        # quantization: (min cosine, max abs diff, min share of identical argmax labels)
        "none": (0.9999, 1e-3, 0.99),
        "fp16": (0.999, float("inf"), 0.98),
        "int8-dynamic": (0.98, float("inf"), 0.90),
        "int8-static": (0.95, float("inf"), 0.85),
    }

    def resolved(self, quantization: str) -> tuple[float, float, float]:
        cos, diff, agree = self.DEFAULTS[quantization]
        return (cos if self.min_cosine is None else self.min_cosine,
                diff if self.max_abs_diff is None else self.max_abs_diff,
                agree if self.min_label_agreement is None else self.min_label_agreement)


@dataclass
class ExportOptions:
    target: str
    quantize: str = "none"
    calibration_texts: list[str] = field(default_factory=list)
    parity_texts: list[str] = field(default_factory=lambda: list(SAMPLE_TEXTS))
    seq_buckets: tuple[int, ...] = (32, 128, 512)  # fixed-shape targets only
    compat: str | None = None  # "tflite-runtime": the form the old standalone runtime can load
    thresholds: ParityThresholds = field(default_factory=ParityThresholds)
    max_batch: int = 64
    graph_batch: int | None = None  # executorch: None = dynamic batch; 1 = batch-1 graph (faster per row)


# --compat forms -> the one target that writes each
COMPAT_FORMS = {"tflite-runtime": "tflite"}


class ExportTarget:
    """One export target: everything edge-time knows about it, in one class.

    ``name`` is the manifest's ``target`` (the schemas enumerate it) and the key of the runtime's
    runner (:data:`edge_time.runtime.backends.RUNNERS`); the class refuses options it cannot take
    (:meth:`check_options`), names its graph files (:meth:`graph_name`) and writes them
    (:meth:`export`). Subclasses are listed in :mod:`edge_time.exporters.registry`.
    """

    name: ClassVar[str]
    quantizations: ClassVar[tuple[str, ...]] = ("none", "fp16", "int8-dynamic", "int8-static")
    dynamic_shapes: ClassVar[bool]
    input_dtype: ClassVar[str] = "int64"
    runtime_hint: ClassVar[str]
    suffix: ClassVar[str]  # of its graph files
    graph_batch_option: ClassVar[bool] = False  # whether --graph-batch applies

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
