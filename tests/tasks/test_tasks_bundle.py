"""Exported bundles predict exactly what the PyTorch task model predicts (UD and NER; ONNX, TFLite, ExecuTorch)."""

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from click.testing import CliRunner

from edge_time.cli import main
from edge_time.exporters import export_model
from edge_time.bundle import BundleError
from edge_time.errors import EdgeTimeError
from edge_time.runtime import load_bundle
from edge_time.runtime.predict import TaskPredictor
from edge_time.tasks import evaluate, load_predictor
from edge_time.tasks.formats import read_conll_ner, read_conllu


@pytest.fixture(scope="module")
def bundles(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    return {task: export_model(model=trained[task].out, target="onnx", out=root / task, quantize="none").bundle_dir
            for task in ("ud", "ner")}


def test_ud_bundle_predictions_equal_pytorch(bundles, trained, task_data):
    sentences = [s.forms for s in read_conllu(task_data["ud"][1])]
    sentences.append(["Boris", "finds", "a", "very", "unknownword", "in", "oslo", "!"])  # out-of-grammar words
    bundle = TaskPredictor.from_bundle(load_bundle(bundles["ud"]))
    torch_side = load_predictor(trained["ud"].out)
    assert bundle.parse(sentences) == torch_side.parse(sentences)
    raw_bundle, raw_torch = bundle.scores(sentences[:3]), torch_side.scores(sentences[:3])
    for name in ("upos", "lemma_rule", "arc", "deprel"):
        np.testing.assert_allclose(raw_bundle[name], raw_torch[name], atol=1e-4)
    manifest = load_bundle(bundles["ud"]).manifest
    assert manifest.task == "ud" and manifest.task_config["root_row"] is True
    assert manifest.labels["lemma_rule"] and "root" in manifest.labels["deprel"]
    lexicon = manifest.task_config["lemma_lexicon"]  # the bundle decodes known forms like the model folder
    assert lexicon == load_predictor(trained["ud"].out).config["lemma_lexicon"] and "Boris" not in lexicon
    assert all(0 <= i < len(manifest.labels["lemma_rule"]) for rules in lexicon.values() for i in rules)


def test_ner_bundle_predictions_and_scores_equal_pytorch(bundles, trained, task_data):
    dev = task_data["ner"][1]
    sentences = [s.words for s in read_conll_ner(dev)]
    assert load_predictor(bundles["ner"]).tag(sentences) == load_predictor(trained["ner"].out).tag(sentences)
    assert evaluate(bundles["ner"], dev).scores == evaluate(trained["ner"].out, dev).scores


def test_cli_predict_from_bundle(bundles, task_data, tmp_path, monkeypatch):
    """predict's default --parallel auto: a file runs batches at once (ONNX, 2 threads), --text one batch
    over both threads."""
    import edge_time.tasks.api as api

    loaded = []
    real = api.load_predictor
    monkeypatch.setattr(api, "load_predictor", lambda *a, **k: loaded.append(real(*a, **k)) or loaded[-1])
    result = CliRunner().invoke(main, ["predict", "--bundle", str(bundles["ner"]), "--pretokenized",
                                       "--text", "anna lives in rome", "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert '"entities"' in result.output and '"tags"' in result.output
    result = CliRunner().invoke(main, ["predict", "--bundle", str(bundles["ner"]), "--input",
                                       str(task_data["ner"][1]), "--threads", "2", "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert [p.batch_workers for p in loaded] == [1, 2]


# torch and transformers blocked: any import of them fails, as on a board that has neither
NO_TORCH = "import sys; sys.modules['torch'] = sys.modules['transformers'] = None; "


def test_predict_with_a_bundle_needs_no_torch(bundles, trained):
    """`edge_time.load_bundle` and `edge-time predict --bundle` in a fresh interpreter without torch."""
    code = NO_TORCH + (
        "import edge_time; from edge_time.cli import main; "
        f"print(edge_time.load_bundle({str(bundles['ud'])!r}).output_names); "
        f"main(['predict', '--bundle', {str(bundles['ud'])!r}, '--text', 'the cat sees a dog .'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    with_torch = CliRunner().invoke(main, ["predict", "--model", str(trained["ud"].out),
                                           "--text", "the cat sees a dog ."])
    assert done.stdout.splitlines()[1:] == with_torch.stdout.splitlines()


def test_ud_tflite_bundle_predictions_equal_pytorch(trained, task_data, tmp_path):
    """Fixed-shape buckets: the words axis is padded to the bucket length on both sides."""
    bundle = export_model(model=trained["ud"].out, target="tflite", out=tmp_path / "ud-tflite", quantize="none",
                          seq_buckets=(32,)).bundle_dir
    sentences = [s.forms for s in read_conllu(task_data["ud"][1])]
    assert load_predictor(bundle).parse(sentences) == load_predictor(trained["ud"].out).parse(sentences)
    with pytest.raises(BundleError, match="parallel='batches' needs .*onnx.*this bundle is tflite"):
        load_bundle(bundle, threads=2, parallel="batches")  # one LiteRT interpreter cannot run two calls at once
    assert load_bundle(bundle, threads=2, parallel="auto").parallel == "ops"


def test_parallel_batches_predict_what_one_batch_at_a_time_predicts(bundles, trained, task_data):
    """ONNX bundles loaded with parallel="batches": one-thread sessions, batches run from worker threads at
    once, predictions identical and in input order."""
    ud = [s.forms for s in read_conllu(task_data["ud"][1])]
    ner = [s.words for s in read_conll_ner(task_data["ner"][1])]
    for task, call, items in (("ud", "parse", ud), ("ner", "tag", ner)):
        bundle = load_bundle(bundles[task], threads=2, parallel="batches")
        threads_used = []
        run = bundle.run
        bundle.run = lambda arrays: threads_used.append(threading.get_ident()) or run(arrays)
        parallel = TaskPredictor.from_bundle(bundle, batch_size=2)
        assert parallel.batch_workers == 2 and len(items) > 2 * parallel.batch_size
        expected = getattr(TaskPredictor.from_bundle(load_bundle(bundles[task]), batch_size=2), call)(items)
        assert getattr(parallel, call)(items) == expected
        assert threading.get_ident() not in threads_used  # every graph call ran on a worker thread
        runner, _ = bundle._runner(16)
        assert runner.session.get_session_options().intra_op_num_threads == 1


def test_parallel_auto_runs_batches_only_where_the_runtime_and_threads_allow(bundles, trained):
    """auto (evaluate's and predict's default): batches for an ONNX bundle with more than one thread; one
    thread or a PyTorch folder run one batch at a time, without an error (LiteRT: the test above)."""
    assert load_bundle(bundles["ud"], threads=2, parallel="auto").parallel == "batches"
    assert load_bundle(bundles["ud"], threads=1, parallel="auto").parallel == "ops"
    assert load_predictor(trained["ud"].out, threads=2, parallel="auto").batch_workers == 1
    with pytest.raises(EdgeTimeError, match="parallel='many': use one of auto, ops, batches"):
        load_predictor(bundles["ud"], parallel="many")


def test_cli_parallel_batches_needs_a_bundle(trained, task_data):
    result = CliRunner().invoke(main, ["evaluate", "--model", str(trained["ud"].out), "--data",
                                       str(task_data["ud"][1]), "--threads", "2", "--parallel", "batches"])
    assert result.exit_code != 0 and "is for ONNX bundles" in result.output


def test_ud_tflite_int8_bundle_loads_and_passes_parity(trained, task_data, tmp_path):
    """The folded layer mixes (a MatMul with a constant left operand, which LiteRT has no int8
    kernel for) stay float; every linear is int8. Before, LiteRT refused the quantized graph."""
    from ai_edge_litert.interpreter import Interpreter

    result = export_model(model=trained["ud"].out, target="tflite", out=tmp_path / "ud-tflite8",
                          quantize="int8-dynamic", seq_buckets=(32,))
    graph = Interpreter(model_path=str(result.bundle_dir / result.manifest.graphs[0].file))
    int8_linears = [op for op in graph._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"
                    and any(graph._get_tensor_details(i, 0)["dtype"] == np.int8 for i in op["inputs"] if i >= 0)]
    layers = json.loads((trained["ud"].out / "config.json").read_text())["num_hidden_layers"]
    assert len(int8_linears) >= 6 * layers  # every encoder linear: q, k, v, attention out, FFN in and out
    sentences = [s.forms for s in read_conllu(task_data["ud"][1])]
    assert len(load_predictor(result.bundle_dir).parse(sentences)) == len(sentences)


@pytest.mark.parametrize("task", ["ud", "ner"])
def test_executorch_bundle_predictions_equal_pytorch(trained, task_data, tmp_path, task):
    bundle = export_model(model=trained[task].out, target="executorch", out=tmp_path / f"{task}-et",
                          quantize="none").bundle_dir
    if task == "ud":
        sentences = [s.forms for s in read_conllu(task_data["ud"][1])]
        assert load_predictor(bundle).parse(sentences) == load_predictor(trained["ud"].out).parse(sentences)
    else:
        sentences = [s.words for s in read_conll_ner(task_data["ner"][1])]
        assert load_predictor(bundle).tag(sentences) == load_predictor(trained["ner"].out).tag(sentences)


def test_ud_executorch_int8_bundle_exports_and_parses(trained, task_data, tmp_path):
    """The deprel projection is a linear with constant weights in the graph, so XNNPACK takes it int8 (it once
    stayed outside with quantize ops the program had no kernels for: 'Missing out variants')."""
    result = export_model(model=trained["ud"].out, target="executorch", out=tmp_path / "ud-et-int8",
                          quantize="int8-dynamic")
    sentences = [s.forms for s in read_conllu(task_data["ud"][1])]
    parsed = load_predictor(result.bundle_dir).parse(sentences)
    assert [p.words for p in parsed] == sentences and all(p.heads.count(0) == 1 for p in parsed)


@pytest.mark.parametrize("quantize", ["int8-dynamic", "int8-static"])
def test_ud_onnx_int8_bundle_runs_and_passes_parity(trained, task_data, tmp_path, quantize):
    """The deprel scorer's bilinear weight is one rank-2 GEMM in the graph: quantized, and onnxruntime runs it."""
    dev_sentences = [s.forms for s in read_conllu(task_data["ud"][1])]
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("\n".join(" ".join(words) for words in dev_sentences) + "\n")
    result = export_model(model=trained["ud"].out, target="onnx", out=tmp_path / "ud-int8", quantize=quantize,
                          calibration=calibration if quantize == "int8-static" else None)
    predicted = load_predictor(result.bundle_dir).parse(dev_sentences)
    assert len(predicted) == len(dev_sentences)
    assert load_bundle(result.bundle_dir).manifest.quantization == quantize


def test_ud_int8_dynamic_quantizes_the_heads_geglu_outputs_per_token(trained, tmp_path, monkeypatch):
    """The UD head's eight GEGLU MLP outputs (four tag classifiers, arc and label scorers) get one scale
    per token in the int8 forms that need them: here, with the bar out of reach, the last form, whose
    FFN outputs stay fp32."""
    import onnx

    from builders import float_matmuls_fed_by_gelu
    from edge_time.exporters import onnx as onnx_target

    monkeypatch.setattr(onnx_target, "FFN_INT8_BAR", (1.1, float("inf"), 1.1))
    said = []
    result = export_model(model=trained["ud"].out, target="onnx", out=tmp_path / "ud", quantize="int8-dynamic",
                          progress=said.append)
    graph = onnx.load(str(result.bundle_dir / "model.onnx")).graph
    layers = json.loads((trained["ud"].out / "config.json").read_text())["num_hidden_layers"]
    assert sum(node.name.endswith("/per_token/matmul") for node in graph.node) == 8
    assert float_matmuls_fed_by_gelu(result.bundle_dir / "model.onnx") == layers
    assert "FFN outputs kept fp32, GEGLU outputs one scale per token (8 MatMuls)" in said
    assert result.parity["passed"]


def test_label_agreement_is_judged_over_all_parity_positions(bundles, trained, tmp_path):
    """Per case the single-text case holds only a few words; the pooled count is what the bound
    applies to, and it adds up the cases' positions."""
    from edge_time.exporters import ExportError, ParityThresholds

    parity = json.loads((bundles["ud"] / "parity.json").read_text())  # the full report beside the manifest
    upos = parity["label_agreement"]["upos"]
    cases = parity["cases"].values()
    assert upos["positions"] == sum(c["upos"]["label_positions"] for c in cases)
    assert upos["matches"] == sum(c["upos"]["label_matches"] for c in cases) == upos["positions"]
    assert parity["summary"]["min_label_agreement"] == 1.0
    with pytest.raises(ExportError, match=r"all cases/upos: label agreement 1\.000 \(\d+/\d+ positions\) < 1\.01"):
        export_model(model=trained["ud"].out, target="onnx", out=tmp_path / "strict", quantize="none",
                     thresholds=ParityThresholds(min_label_agreement=1.01))
    assert not (tmp_path / "strict").exists()


def test_profile_times_word_level_task_bundles(bundles, tmp_path):
    """The profiler's filler input carries the word inputs UD and NER graphs take (two subwords
    per word); before, onnxruntime refused the run ("Invalid rank for input: word_pool")."""
    from edge_time.profiler import RunConfig, profile
    from edge_time.profiler.local import LocalTarget

    report = profile([bundles["ud"], bundles["ner"]], LocalTarget(), RunConfig(runs=3, seq_len=12), tmp_path / "out")
    assert [(run["status"], run["error"]) for run in report["runs"]] == [("ok", None), ("ok", None)]
    assert all(run["latency"]["count"] == 3 for run in report["runs"])


def test_onnx_sessions_flush_denormals(bundles):
    """Padded batches feed softmax masked scores whose exp underflows to denormals, ~8x slower on
    x86 unless flushed (the UD xs bundle: +5-9% words/s at batch 8, docs/benchmarks.md)."""
    runner, _ = load_bundle(bundles["ud"])._runner(16)
    options = runner.session.get_session_options()
    assert options.get_session_config_entry("session.set_denormal_as_zero") == "1"


def test_onnx_session_workers_stop_spinning_when_a_run_returns(bundles):
    """Between runs a bundle's spinning intra-op workers would take a core from the decoding, the
    caller's code or another session (docs/benchmarks.md: -15% words/s at 2 threads after another
    session's run); they spin only within a run."""
    runner, _ = load_bundle(bundles["ud"], threads=2)._runner(16)
    options = runner.session.get_session_options()
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"


def test_an_onnx_export_opens_its_first_session_flushing_denormals(trained, tmp_path, monkeypatch):
    """onnxruntime applies the first session's denormal setting to the process's main thread, so the
    exporter's graph-optimization session asks for it too: an export followed by predictions in the same
    process (the quickstart, the Python API) runs them with denormals flushed."""
    import onnxruntime as ort

    real, flushing = ort.InferenceSession, []

    def recording(model, options=None, *args, **kwargs):
        flushing.append(options is not None and options.get_session_config_entry("session.set_denormal_as_zero") == "1")
        return real(model, options, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", recording)
    export_model(model=trained["ner"].out, target="onnx", out=tmp_path / "ner", quantize="none")
    assert flushing and flushing[0]
