"""The bundle contract: manifest contents, sha256 verification, path safety, atomic writes."""

from __future__ import annotations

import json

import pytest

from edge_time.bundle import BundleError, read_manifest, sha256_file
from edge_time.exporters import ExportError, export_model
from edge_time.runtime import load_bundle


@pytest.fixture(scope="module")
def onnx_bundle(tiny_bert, tmp_path_factory):
    return export_model(tiny_bert, "onnx", tmp_path_factory.mktemp("b") / "bundle").bundle_dir


def copy_bundle(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_manifest_describes_the_export(onnx_bundle, tiny_bert):
    manifest = read_manifest(onnx_bundle)
    assert manifest.schema_version == 1 and manifest.target == "onnx" and manifest.task == "encoder"
    assert [s.name for s in manifest.inputs] == ["input_ids", "attention_mask"]
    assert all(s.dtype == "int64" and s.shape == ["batch", "seq"] for s in manifest.inputs)
    assert manifest.outputs[0].shape == ["batch", "seq", 64]
    assert manifest.axes == {"batch": [1, 64], "seq": [2, 128]}
    from importlib.metadata import version

    assert manifest.runtime["name"] == "onnxruntime" and manifest.runtime["version"] == version("onnxruntime")
    assert manifest.runtime["writer"] == "torch" and manifest.runtime["opset"] >= 17
    assert manifest.max_length == 128  # bounded by the model's position table
    assert manifest.source["sha256"] == sha256_file(tiny_bert / "model.safetensors")
    assert manifest.edge_time_version
    assert manifest.parity["passed"] and manifest.parity["summary"]["min_cosine"] > 0.9999
    listed = set(manifest.files)
    on_disk = {p.name for p in onnx_bundle.iterdir() if p.name != "manifest.json"}
    assert listed == on_disk == {"model.onnx", "tokenizer.json", "parity.json"}
    assert json.loads((onnx_bundle / "parity.json").read_text())["passed"] is True


def test_tampered_file_is_refused(onnx_bundle, tmp_path):
    bundle = copy_bundle(onnx_bundle, tmp_path / "b")
    with open(bundle / "model.onnx", "r+b") as handle:
        handle.seek(-10, 2)
        handle.write(b"\x00" * 10)
    with pytest.raises(BundleError, match="model.onnx does not match its sha256"):
        load_bundle(bundle)


def test_path_escaping_the_bundle_is_refused(onnx_bundle, tmp_path):
    bundle = copy_bundle(onnx_bundle, tmp_path / "b")
    data = json.loads((bundle / "manifest.json").read_text())
    data["files"]["../outside.txt"] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="escapes the bundle folder"):
        load_bundle(bundle)


def test_newer_schema_version_is_refused(onnx_bundle, tmp_path):
    bundle = copy_bundle(onnx_bundle, tmp_path / "b")
    data = json.loads((bundle / "manifest.json").read_text())
    data["schema_version"] = 99
    (bundle / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="schema_version 99"):
        read_manifest(bundle)


def test_existing_bundle_is_kept_unless_overwrite(onnx_bundle, tiny_bert, tmp_path):
    bundle = copy_bundle(onnx_bundle, tmp_path / "b")
    with pytest.raises(BundleError, match="already exists"):
        export_model(tiny_bert, "onnx", bundle)
    before = sha256_file(bundle / "manifest.json")
    with pytest.raises(ExportError):
        export_model(tiny_bert, "onnx", bundle, overwrite=True, quantize="int8-static")  # no calibration
    assert sha256_file(bundle / "manifest.json") == before, "a failed export never touches the old bundle"


def test_unsupported_quantization_names_the_choices(tiny_bert, tmp_path):
    with pytest.raises(ExportError, match="does not support --quantize int4; it supports none, fp16"):
        export_model(tiny_bert, "tflite", tmp_path / "b", quantize="int4")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("kind", ["notes folder", "regular file", "folder with a stray manifest name"])
def test_overwrite_replaces_only_what_edge_time_wrote(tiny_bert, tmp_path, kind):
    """`--overwrite` on a folder of notes or a file given as --out by mistake is refused, bytes untouched."""
    target = tmp_path / "out"
    if kind == "regular file":
        target.write_text("my notes")
        kept = [target]
    else:
        target.mkdir()
        (target / "notes.txt").write_text("my notes")
        kept = [target / "notes.txt"]
        if kind == "folder with a stray manifest name":
            (target / "manifest.json").mkdir()  # not a file: not a bundle's manifest
    before = [sha256_file(p) for p in kept]
    with pytest.raises(BundleError, match=rf"--overwrite refuses to replace {target}: it is not a folder edge-time "
                                          r"wrote \(no manifest.json inside\)"):
        export_model(tiny_bert, "onnx", target, overwrite=True)
    assert [sha256_file(p) for p in kept] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no staging folder left behind"


def _dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_unfinished_bundle_is_refused_then_cleaned_by_the_next_export(onnx_bundle, tiny_bert, tmp_path):
    """What a SIGKILL mid-export leaves (a staging folder with a complete-looking manifest) is refused by
    every reader, and the next export to that --out removes it."""
    import os

    from edge_time.bundle import INCOMPLETE_NAME

    stale = copy_bundle(onnx_bundle, tmp_path / ".bundle.abc123.tmp")
    (stale / INCOMPLETE_NAME).write_text(json.dumps({"pid": _dead_pid(), "host": os.uname().nodename}))
    with pytest.raises(BundleError, match="unfinished bundle"):
        read_manifest(stale)
    with pytest.raises(BundleError, match="unfinished bundle"):
        load_bundle(stale)
    unmarked = tmp_path / f".bundle.{_dead_pid()}.x1.tmp"  # killed between mkdtemp and the marker
    unmarked.mkdir()
    blank = tmp_path / f".bundle.{_dead_pid()}.x2.tmp"  # killed after creating the marker, before writing it
    blank.mkdir()
    (blank / INCOMPLETE_NAME).touch()
    live = copy_bundle(onnx_bundle, tmp_path / ".bundle.live01.tmp")  # a concurrent export still running
    (live / INCOMPLETE_NAME).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))

    result = export_model(tiny_bert, "onnx", tmp_path / "bundle")
    assert not stale.exists() and not unmarked.exists() and not blank.exists() and live.exists()
    assert not (result.bundle_dir / INCOMPLETE_NAME).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bundle.live01.tmp", "bundle"]
    read_manifest(result.bundle_dir)


def test_graph_swapped_after_load_is_refused_at_open(onnx_bundle, tmp_path):
    """The runtime gets the bytes that were hashed: a graph replaced between load and first call is caught."""
    bundle_dir = copy_bundle(onnx_bundle, tmp_path / "bundle")
    model = load_bundle(bundle_dir)
    graph = bundle_dir / "model.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")
    with pytest.raises(BundleError, match="changed since the bundle was loaded"):
        model(["a man is playing guitar"])


def test_manifest_types_are_checked_against_the_schema(onnx_bundle, tmp_path):
    bundle_dir = copy_bundle(onnx_bundle, tmp_path / "bundle")
    path = bundle_dir / "manifest.json"
    data = json.loads(path.read_text())
    data["axes"]["seq"] = "2..128"
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="manifest field axes/seq"):
        read_manifest(bundle_dir)


def test_the_stdlib_schema_checker_agrees_with_jsonschema(onnx_bundle):
    """bundle.py checks manifest.schema.json without jsonschema (boards have only the stdlib); on a
    valid manifest and on each malformed variant it must judge exactly as jsonschema does."""
    import copy
    from pathlib import Path

    import jsonschema

    import edge_time.bundle as bundle_module
    from edge_time.bundle import _schema_error

    schema = json.loads((Path(bundle_module.__file__).parent / "manifest.schema.json").read_text())
    good = json.loads((onnx_bundle / "manifest.json").read_text())
    edits = [
        lambda d: d.update(graphs={"file": "x"}), lambda d: d["inputs"][0].update(shape=7),
        lambda d: d.update(max_length="big"), lambda d: d.update(axes=["batch"]),
        lambda d: d["axes"].update(seq=[2]), lambda d: d["axes"].update(seq=[2, True]),
        lambda d: d["tokenizer"].update(kind="sentencepiece"), lambda d: d["files"].update({"a": "nothex"}),
        lambda d: d.pop("target"), lambda d: d.update(surprise=1), lambda d: d.update(graphs=[]),
        lambda d: d["graphs"][0].update(seq_len=0), lambda d: d["tokenizer"].update(pad_id=-1),
        lambda d: d["labels"].update(tags=[1, 2]), lambda d: d["outputs"][0].update(name=""),
        lambda d: d.update(max_length=2.5), lambda d: None, lambda d: d.update(runtime=None),
        lambda d: d.update(runtime={"name": "onnxruntime"}), lambda d: d.update(runtime={"name": "tvm", "version": "1"}),
        lambda d: d.pop("runtime"),
    ]
    validator = jsonschema.Draft202012Validator(schema)
    for edit in edits:
        variant = copy.deepcopy(good)
        edit(variant)
        assert (_schema_error(variant, schema, schema, []) is None) == validator.is_valid(variant), variant
    for bad in ("a string", [1, 2], 3, None):
        assert _schema_error(bad, schema, schema, []) is not None and not validator.is_valid(bad)
