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
