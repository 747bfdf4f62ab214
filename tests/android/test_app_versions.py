"""The app's runtime versions are the ones the Python exporter writes with, and the app runs every
bundle target the manifest allows (so the profiler never pushes a bundle the app refuses)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "android_demo"


def _pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    return dict(d.split("==", 1) for d in deps if "==" in d)


def _gradle_properties() -> dict[str, str]:
    lines = (APP / "gradle.properties").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_app_runtime_versions_match_the_python_exporter_pins():
    pins, props = _pins(), _gradle_properties()
    assert props["executorchVersion"] == pins["executorch"], "android_demo/gradle.properties executorchVersion"
    assert props["onnxruntimeVersion"] == pins["onnxruntime"], "android_demo/gradle.properties onnxruntimeVersion"
    gradle = (APP / "app" / "build.gradle.kts").read_text(encoding="utf-8")
    for artifact, prop in (("org.pytorch:executorch-android", "executorchVersion"),
                           ("com.microsoft.onnxruntime:onnxruntime-android", "onnxruntimeVersion"),
                           ("com.google.ai.edge.litert:litert", "litertVersion")):
        assert f'"{artifact}:${{property("{prop}")}}"' in gradle, artifact


def test_the_app_runs_every_manifest_target():
    manifest = (APP / "core/src/main/kotlin/dev/edgetime/core/Manifest.kt").read_text(encoding="utf-8")
    targets = re.findall(r'"(\w+)"', re.search(r"val TARGETS = listOf\(([^)]*)\)", manifest).group(1))
    runner = (APP / "app/src/main/kotlin/dev/edgetime/demo/ModelRunner.kt").read_text(encoding="utf-8")
    branches = re.findall(r'^\s*"(\w+)" -> \w+Runner\(', runner, re.M)
    assert sorted(branches) == sorted(targets) == ["executorch", "onnx", "tflite"]
