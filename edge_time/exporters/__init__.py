"""Export models to on-device bundles: ExecuTorch (.pte, XNNPACK), TFLite/LiteRT and ONNX.

    >>> from edge_time.exporters import export_model
    >>> result = export_model("path/to/model", target="executorch", out="bundles/minilm-et",
    ...                       quantize="int8-dynamic")
    >>> result.parity["summary"]["min_cosine"]

Names are imported on first use, so the CLI reads :mod:`edge_time.exporters.options` without torch.
"""

from __future__ import annotations

from edge_time.lazy import lazy_attributes

# public name -> module that defines it
_API = {
    "export_model": "edge_time.exporters.api",
    "ExportResult": "edge_time.exporters.api",
    "ExportError": "edge_time.exporters.base",
    "ParityThresholds": "edge_time.exporters.options",
    "get_target": "edge_time.exporters.registry",
}
__all__ = list(_API)

__getattr__ = lazy_attributes(__name__, _API)
