"""One list of export targets: the registry, the runtime's runners and the schemas agree; each
ExportTarget refuses the options it cannot take; a new target is one class plus its list entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_time import bundle
from edge_time.exporters import ExportError, export_model, get_target, registry
from edge_time.exporters.base import ExportOptions
from edge_time.exporters.onnx import OnnxTarget
from edge_time.runtime import backends

PACKAGE = Path(bundle.__file__).parent


def test_registry_runners_and_schemas_list_the_same_targets():
    assert list(registry.TARGETS) == list(bundle.TARGETS)
    assert list(backends.RUNNERS) == list(bundle.TARGETS)
    device = json.loads((PACKAGE / "profiler" / "device_result.schema.json").read_text())
    report = json.loads((PACKAGE / "profiler" / "report.schema.json").read_text())
    assert json.dumps(list(bundle.TARGETS)) in json.dumps(device) and json.dumps(list(bundle.TARGETS)) in json.dumps(report)
    for name in bundle.TARGETS:
        target = get_target(name)
        assert target.name == name and set(target.quantizations) <= set(bundle.QUANTIZATIONS)


@pytest.mark.parametrize("target, options, message", [
    ("onnx", dict(quantize="int4"), "does not support --quantize int4"),
    ("onnx", dict(compat="tflite-runtime"), "applies to --target tflite only"),
    ("executorch", dict(compat="coreml"), "--compat coreml is unknown"),
    ("onnx", dict(graph_batch=1), "applies to --target executorch only"),
    ("tflite", dict(graph_batch=1), "applies to --target executorch only"),
    ("executorch", dict(graph_batch=2), "dynamic batch or batch 1"),
    ("tflite", dict(compat="tflite-runtime", quantize="int8-dynamic"), "int8 kernels lose accuracy"),
])
def test_each_target_refuses_what_it_cannot_take(target, options, message):
    with pytest.raises(ExportError, match=message):
        get_target(target).check_options(ExportOptions(target=target, **options))


def test_graph_file_names():
    assert get_target("onnx").graph_name() == "model.onnx"
    assert get_target("executorch").graph_name() == "model.pte"
    assert get_target("tflite").graph_name(32) == "model.seq32.tflite"


class ToyTarget(OnnxTarget):
    """The "add a target" guide of docs/design.md, followed: a class, its registry line, its runner."""

    name = "toy"
    suffix = ".toy.onnx"
    runtime_hint = "onnxruntime (toy)"


def test_a_new_target_is_one_class_and_its_list_entries(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setitem(registry.TARGETS, "toy", (__name__, "ToyTarget"))
    monkeypatch.setitem(backends.RUNNERS, "toy", backends.OnnxRunner)
    monkeypatch.setattr(bundle, "TARGETS", bundle.TARGETS + ("toy",))
    result = export_model(tiny_bert, "toy", tmp_path / "toy")
    assert result.parity["passed"] and result.manifest.target == "toy"
    assert [g.file for g in result.manifest.graphs] == ["model.toy.onnx"]
