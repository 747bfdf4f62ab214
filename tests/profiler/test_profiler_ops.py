"""`--op-profile`: per-operator tables from each runtime's real profiling mechanism (ONNX Runtime's
profiler trace, ExecuTorch's ETDump read by executorch.devtools.Inspector, LiteRT's node list after
delegation), on the tiny ONNX/TFLite/ExecuTorch bundles, through the real runner subprocess."""

import json

import pytest
from click.testing import CliRunner

from edge_time.cli.profile import profile as profile_cli
from edge_time.profiler import ProfileError, RunConfig, load_report, profile
from edge_time.profiler.local import LocalTarget
from edge_time.profiler.ops import OVERHEAD, summarise

CONFIG = dict(runs=3, warmup=1, seq_len=16, power="none")


@pytest.fixture(scope="module")
def op_report(target_bundles, tmp_path_factory):
    out = tmp_path_factory.mktemp("ops")
    bundles = [target_bundles[t] for t in ("onnx", "tflite", "executorch")]
    report = profile(bundles, LocalTarget(), RunConfig(op_profile=True, op_profile_runs=3, **CONFIG), out)
    return out, {run["bundle"]["target"]: run for run in report["runs"]}


def _rows(table, **match):
    return [r for r in table["ops"] if all(r[k] == v for k, v in match.items())]


def test_onnxruntime_table_from_its_profiler_trace(op_report):
    out, runs = op_report
    table = runs["onnx"]["op_profile"]
    assert runs["onnx"]["status"] == "ok" and table["available"], table
    assert table["runtime"] == "onnxruntime" and table["timed"] and table["runs"] == 3
    assert sum(r["share"] for r in table["ops"]) == pytest.approx(1.0, abs=1e-6)
    # per inference, not per trace: the 2-layer BERT runs one Softmax per layer
    assert _rows(table, op="Softmax")[0]["count"] == 2
    assert {"MatMul", "FusedMatMul", "Gemm"} & {r["op"] for r in table["ops"]}
    assert all(not r["delegated"] for r in table["ops"])  # CPUExecutionProvider only
    assert (out / table["trace"]).is_file()


def test_executorch_table_from_etdump_names_the_xnnpack_delegate(op_report):
    _, runs = op_report
    table = runs["executorch"]["op_profile"]
    assert table["available"], table
    assert table["runtime"] == "executorch" and table["timed"] and table["runs"] == 3
    assert table["method"] == "forward_batch1", "batch 1: the method the runtime runs for single rows"
    assert sum(r["share"] for r in table["ops"]) == pytest.approx(1.0, abs=1e-6)
    delegated = [r for r in table["ops"] if r["delegated"]]
    assert delegated and all(r["backend"] == "XNNPACK" for r in delegated)
    assert any("Fully Connected" in r["op"] for r in delegated)
    # the embedding lookups are not delegated: they run on ExecuTorch's CPU kernels
    cpu = [r for r in table["ops"] if not r["delegated"] and r["op"] != OVERHEAD]
    assert any(r["op"].startswith("embedding") for r in cpu)
    assert table["delegated_nodes"] == sum(r["count"] for r in delegated)
    assert 0 < table["delegated_share"] <= 1
    assert table["trace"].endswith(".etdump")


def test_litert_table_has_delegate_split_and_says_why_there_are_no_times(op_report):
    out, runs = op_report
    table = runs["tflite"]["op_profile"]
    assert table["available"], table
    assert table["runtime"] == "litert" and table["timed"] is False and table["total_ms"] is None
    assert all(r["total_ms"] is None and r["share"] is None for r in table["ops"])
    assert "no per-operator profiler" in table["note"]
    plan = json.loads((out / table["trace"]).read_text())["ops"]
    real = [op for op in plan if op["op"] != "DELEGATE"]
    assert table["delegated_nodes"] + table["cpu_nodes"] == len(real)
    assert _rows(table, op="FULLY_CONNECTED", delegated=True)[0]["count"] == 12  # 2 layers x 6 linear layers
    assert table["cpu_nodes"] > 0 and table["delegated_nodes"] > table["cpu_nodes"]
    assert _rows(table, op="SOFTMAX")[0]["count"] == 2


def test_report_files_carry_the_tables(op_report):
    out, runs = op_report
    report = load_report(out / "report.json")  # validates against report.schema.json
    assert all(run["op_profile"]["available"] for run in report["runs"])
    page = (out / "report.html").read_text()
    assert "Top operators" in page and "Fully Connected" in page and "FULLY_CONNECTED" in page
    assert "no per-operator profiler" in page
    # the timed figures come from the timed loop, before the profiler's session
    assert all(run["latency"]["count"] == 3 for run in report["runs"])


def test_op_profile_is_off_by_default_and_the_cli_flag_turns_it_on(tiny_bundle, tmp_path):
    report = profile([tiny_bundle], LocalTarget(), RunConfig(**CONFIG), tmp_path / "off")
    assert "op_profile" not in report["runs"][0] and "op_profile" not in report["runs"][0]["device_result"]
    assert not [p for p in (tmp_path / "off" / "raw").iterdir() if not p.name.endswith(".device.json")]
    out = tmp_path / "on"
    result = CliRunner().invoke(profile_cli, [str(tiny_bundle), "--runs", "2", "--seq-len", "8", "--power", "none",
                                              "--op-profile", "--op-profile-runs", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = load_report(out)["runs"][0]["op_profile"]
    assert table["available"] and table["runs"] == 2


def test_unreadable_traces_are_one_line_errors(tmp_path):
    bad = tmp_path / "x.ort.json"
    bad.write_text("{not json")
    with pytest.raises(ProfileError, match="not valid JSON"):
        summarise("onnxruntime-trace", bad)
    bad.write_text(json.dumps([{"cat": "Session", "name": "model_run", "ts": 0, "dur": 5}]))
    with pytest.raises(ProfileError, match="holds 1 inference"):
        summarise("onnxruntime-trace", bad)
    bad.write_text(json.dumps({"ops": []}))
    with pytest.raises(ProfileError, match="not an edge-time LiteRT op plan"):
        summarise("litert-op-plan", bad)
    junk = tmp_path / "x.etdump"
    junk.write_bytes(b"\0" * 64)
    with pytest.raises(ProfileError, match="ETDump") as info:
        summarise("etdump", junk)
    assert "\n" not in str(info.value)
    with pytest.raises(ProfileError, match="was not written"):
        summarise("etdump", tmp_path / "missing.etdump")
