"""Export targets by name: target NAME is the :class:`ExportTarget` subclass in ``edge_time/exporters/NAME.py``.

The names are the runtime's runners (:data:`edge_time.bundle.TARGETS`), so adding a target is its
module here and its runner in :mod:`edge_time.runtime.backends`; nothing lists it a third time.
"""

from __future__ import annotations

from importlib import import_module

from edge_time import bundle
from edge_time.exporters.base import ExportError, ExportTarget


def get_target(name: str) -> ExportTarget:
    """The target's class, imported on first use so each target's toolchain loads only when needed."""
    if name not in bundle.TARGETS:
        raise ExportError(f"unknown target {name!r}; choose one of {', '.join(bundle.TARGETS)}")
    module = import_module(f"{__package__}.{name}")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, ExportTarget) and getattr(value, "name", None) == name:
            return value()
    raise ExportError(f"{module.__name__} holds no ExportTarget subclass named {name!r}")
