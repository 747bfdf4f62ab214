"""The one registry of export targets: name -> ExportTarget class, one module per target.

Adding a target: its module (an :class:`ExportTarget` subclass), one line here, its runner in
:mod:`edge_time.runtime.backends` and its name in :data:`edge_time.bundle.TARGETS` (the list the
schemas are tested against).
"""

from __future__ import annotations

from importlib import import_module

from edge_time.exporters.base import ExportError, ExportTarget

# module path, class name; imported on first use so each target's toolchain loads only when needed
TARGETS: dict[str, tuple[str, str]] = {
    "executorch": ("edge_time.exporters.executorch", "ExecutorchTarget"),
    "tflite": ("edge_time.exporters.tflite", "TfliteTarget"),
    "onnx": ("edge_time.exporters.onnx", "OnnxTarget"),
}


def get_target(name: str) -> ExportTarget:
    if name not in TARGETS:
        raise ExportError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
    module, cls = TARGETS[name]
    return getattr(import_module(module), cls)()
