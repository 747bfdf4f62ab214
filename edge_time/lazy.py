"""Package names loaded on first use: a package's ``__init__`` maps each public name to the module
that defines it, so importing the package (e.g. for the CLI's choices) does not load torch."""

from __future__ import annotations

from importlib import import_module


def lazy_attributes(package: str, api: dict[str, str]):
    """A module-level ``__getattr__`` for ``package`` that imports ``api[name]`` when ``name`` is first read."""

    def __getattr__(name: str):
        if name not in api:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(api[name]), name)

    return __getattr__
