"""Export models to on-device bundles: ExecuTorch (.pte, XNNPACK), TFLite/LiteRT and ONNX.

    >>> from edge_time.exporters import export_model
    >>> result = export_model("path/to/model", target="executorch", out="bundles/minilm-et",
    ...                       quantize="int8-dynamic")
    >>> result.parity["summary"]["min_cosine"]
"""

from edge_time.exporters.api import ExportResult, export_model
from edge_time.exporters.base import ExportError, ParityThresholds
from edge_time.exporters.registry import TARGETS, get_target

__all__ = ["export_model", "ExportResult", "ExportError", "ParityThresholds", "TARGETS", "get_target"]
