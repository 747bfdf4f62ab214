"""What an export takes and its defaults, without torch: the CLI builds its choices and defaults from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

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
    max_length: int = 512  # longest input in tokens
    max_batch: int = 64
    graph_batch: int | None = None  # executorch: None = dynamic batch; 1 = batch-1 graph (faster per row)
    int8_form: str = "auto"  # onnx int8-dynamic: one of INT8_FORMS


# ONNX int8-dynamic forms, fastest first (docs/export.md): "auto" takes the first that keeps the parity
# bar on the parity texts; naming one pins it (the same form on every re-export, or a speed probe).
INT8_FORMS = ("auto", "per-tensor", "per-token", "ffn-fp32")


# --compat forms -> the one target that writes each
COMPAT_FORMS = {"tflite-runtime": "tflite"}
