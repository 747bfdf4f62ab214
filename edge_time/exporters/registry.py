"""The one registry of export targets: name -> Target class, one module per target."""

from __future__ import annotations

from importlib import import_module

from edge_time.exporters.base import ExportError, Target

# module path, class name; imported on first use so each target's toolchain loads only when needed
TARGETS: dict[str, tuple[str, str]] = {
    "executorch": ("edge_time.exporters.executorch", "ExecutorchTarget"),
    "tflite": ("edge_time.exporters.tflite", "TfliteTarget"),
    "onnx": ("edge_time.exporters.onnx", "OnnxTarget"),
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ExportError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
    module, cls = TARGETS[name]
    return getattr(import_module(module), cls)()
