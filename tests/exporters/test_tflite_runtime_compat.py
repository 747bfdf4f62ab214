"""`--compat tflite-runtime` bundles run in the old standalone tflite-runtime 2.14 (numpy<2),
through edge_time.runtime itself, in a separate virtualenv the fixture builds from PyPI."""

from __future__ import annotations

import json
import subprocess
import venv

import numpy as np
import pytest

from edge_time.exporters import export_model
from edge_time.runtime import load_bundle

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
RUN_IN_OLD_RUNTIME = """
import json, sys, numpy as np
import tflite_runtime, edge_time.runtime.backends as b
assert "ai_edge_litert" not in sys.modules
from edge_time.runtime import load_bundle
model = load_bundle(sys.argv[1])
enc = model.encode(json.loads(sys.argv[2]))
np.save(sys.argv[3], model.run(enc.arrays())["last_hidden_state"])
print(tflite_runtime.__version__)
"""


@pytest.fixture(scope="session")
def old_runtime_python(tmp_path_factory):
    env_dir = tmp_path_factory.mktemp("tflite_runtime_venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "tflite-runtime==2.14.0", "numpy<2",
                           "tokenizers"], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"could not install tflite-runtime 2.14 from PyPI: {done.stderr[-500:]}")
    return python


@pytest.mark.parametrize("quantize, min_cosine", [("none", 0.99999), ("fp16", 0.999)])
def test_compat_bundle_runs_in_tflite_runtime(tiny_bert, tmp_path, old_runtime_python, quantize, min_cosine):
    result = export_model(tiny_bert, "tflite", tmp_path / "bundle", quantize=quantize,
                          compat="tflite-runtime", seq_buckets=(32,))
    assert [s.name for s in result.manifest.inputs] == ["input_ids", "attention_mask", "position_ids"]
    texts = ["a man is playing guitar", "die katze schläft auf dem warmen sofa"]
    out = tmp_path / "old.npy"
    done = subprocess.run([str(old_runtime_python), "-c", RUN_IN_OLD_RUNTIME, str(result.bundle_dir),
                           json.dumps(texts), str(out)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith("2.14")
    new = load_bundle(result.bundle_dir)  # LiteRT, in this venv
    enc = new.encode(texts)
    expected = new.run(enc.arrays())["last_hidden_state"]
    mask = enc.attention_mask.astype(bool)
    a, b = np.load(out)[mask].ravel(), expected[mask].ravel()
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert cosine >= min_cosine, f"tflite-runtime {quantize} drifts from LiteRT: cosine {cosine}"


def test_int8_is_refused_for_the_old_runtime(tiny_bert, tmp_path):
    from edge_time.exporters import ExportError

    with pytest.raises(ExportError, match="tflite-runtime's int8 kernels lose accuracy"):
        export_model(tiny_bert, "tflite", tmp_path / "b", quantize="int8-dynamic", compat="tflite-runtime")
