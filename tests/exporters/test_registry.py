"""One list of export targets, the runtime's runners: the manifest, the schemas and the exporters read it;
each ExportTarget refuses the options it cannot take; a new target is its exporter module and its runner."""

from __future__ import annotations

import sys

import pytest

from edge_time import bundle
from edge_time.exporters import ExportError, export_model, get_target
from edge_time.exporters.base import ExportOptions
from edge_time.exporters.onnx import OnnxTarget
from edge_time.profiler import RunConfig, load_report, profile, runner
from edge_time.profiler.local import LocalTarget
from edge_time.profiler.target import load_schema, validate_device_result
from edge_time.runtime import backends, load_bundle


def test_the_manifest_schemas_and_exporters_read_the_runners():
    assert bundle.TARGETS == tuple(backends.RUNNERS)
    device = load_schema("device_result.schema.json")["properties"]["bundle"]["properties"]
    report = load_schema("report.schema.json")["$defs"]["run"]["properties"]["bundle"]["properties"]
    for properties in (device, report):
        assert properties["target"]["enum"] == list(bundle.TARGETS)
        assert properties["quantization"]["enum"] == list(bundle.QUANTIZATIONS)
    for name in bundle.TARGETS:
        target = get_target(name)
        assert target.name == name and set(target.quantizations) <= set(bundle.QUANTIZATIONS)
    with pytest.raises(ExportError, match="unknown target 'toy'"):
        get_target("toy")


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
    """The "add a target" guide of docs/design.md, followed: this class in ``edge_time/exporters/toy.py``."""

    name = "toy"
    suffix = ".toy.onnx"
    runtime_hint = "onnxruntime (toy)"


class InProcess(LocalTarget):
    """This machine, its runner in this process: the one where the toy runner is registered."""

    def run_benchmark(self, bundle_path, config, raw_dir):
        args = runner.parse_args(["--bundle", str(bundle_path), "--out", str(raw_dir / "toy.json"),
                                  *config.runner_args()])
        return validate_device_result(runner.run(args), "toy")


def test_a_new_target_is_its_exporter_module_and_its_runner(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "edge_time.exporters.toy", sys.modules[__name__])  # exporters/toy.py
    monkeypatch.setitem(backends.RUNNERS, "toy", backends.OnnxRunner)  # its runner
    assert "toy" in bundle.TARGETS and isinstance(get_target("toy"), ToyTarget)
    result = export_model(tiny_bert, "toy", tmp_path / "toy")
    assert result.parity["passed"] and result.manifest.target == "toy"
    assert [g.file for g in result.manifest.graphs] == ["model.toy.onnx"]
    assert load_bundle(tmp_path / "toy").manifest.target == "toy"

    report = profile([tmp_path / "toy"], InProcess(), RunConfig(warmup=0, runs=2, seq_len=8, power="none"),
                     tmp_path / "profile")
    assert report["runs"][0]["status"] == "ok", report["runs"][0]["error"]
    assert load_report(tmp_path / "profile")["runs"][0]["bundle"]["target"] == "toy"  # the report schema's check
