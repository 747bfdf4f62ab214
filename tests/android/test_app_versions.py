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
    # the app's runtime check (core/RuntimeCheck.kt) gets the same pins through BuildConfig
    assert props["litertWheelVersion"] == pins["ai-edge-litert"], "android_demo/gradle.properties litertWheelVersion"
    for field, prop in (("EXECUTORCH_VERSION", "executorchVersion"), ("ONNXRUNTIME_VERSION", "onnxruntimeVersion"),
                        ("LITERT_VERSION", "litertVersion"), ("LITERT_WHEEL_VERSION", "litertWheelVersion")):
        assert f'"{field}" to "{prop}"' in gradle, field
    session = (APP / "app/src/main/kotlin/dev/edgetime/demo/BundleSession.kt").read_text(encoding="utf-8")
    assert "RuntimeCheck.check(manifest.target, manifest.runtime, APP_RUNTIMES)" in session


def test_the_app_runs_every_manifest_target():
    manifest = (APP / "core/src/main/kotlin/dev/edgetime/core/Manifest.kt").read_text(encoding="utf-8")
    targets = re.findall(r'"(\w+)"', re.search(r"val TARGETS = listOf\(([^)]*)\)", manifest).group(1))
    runner = (APP / "app/src/main/kotlin/dev/edgetime/demo/ModelRunner.kt").read_text(encoding="utf-8")
    branches = re.findall(r'^\s*"(\w+)" -> \w+Runner\(', runner, re.M)
    assert sorted(branches) == sorted(targets) == ["executorch", "onnx", "tflite"]
