"""The top-level typed API: every name resolves to the room's own object, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import edge_time


def test_every_public_name_resolves():
    from edge_time.distill import distill
    from edge_time.exporters import export_model
    from edge_time.runtime import load_bundle

    assert edge_time.export is export_model and edge_time.load_bundle is load_bundle
    assert edge_time.distill_student is distill
    from edge_time.bench import bench
    from edge_time.quickstart import quickstart

    assert edge_time.run_bench is bench and edge_time.run_quickstart is quickstart
    for name in edge_time.__all__:
        assert getattr(edge_time, name) is not None


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'exprot'"):
        edge_time.exprot  # noqa: B018


def test_import_is_light():
    code = "import sys, edge_time; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
