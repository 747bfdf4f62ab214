"""`edge-time bench` on tiny real models: every output, the plot's series, the spaCy column,
energy from a power sensor file, and the one-line errors."""

from __future__ import annotations

import csv
import json
import platform
import sys

import pytest
from click.testing import CliRunner

from edge_time.bench import BenchConfig, bench
from edge_time.bench.api import thread_counts
from edge_time.bench.measure import Timing
from edge_time.bench.plot import FRONT, pareto_front
from edge_time.bench.spacy_baseline import (SpacySystem, blis_kernels, gold_words_and_spaces, make_doc,
                                            parse_blis_kernels, spacy_gemm_choice)
from edge_time.cli import main
from edge_time.compute import cpu_description, cpu_summary
from edge_time.errors import EdgeTimeError
from edge_time.runtime.stages import STAGES
from edge_time.tasks import evaluate
from edge_time.tasks.formats import read_conllu


def test_bench_measures_every_system_and_writes_every_output(ud_model, ud_bundle, spacy_pipeline, data, tmp_path):
    out = tmp_path / "out"
    result = bench(BenchConfig(models=[ud_model, ud_bundle], task_data=data["ud_dev"], spacy=str(spacy_pipeline),
                               batch_sizes=(4, 1), repeats=2, power="none", out=out, progress=False))
    torch_row, bundle_row, spacy_row = result.rows
    assert [r.name for r in result.rows] == ["tagger", "tagger-onnx", "tiny_spacy 0.0.0"]
    assert [r.kind for r in result.rows][:2] == ["PyTorch", "onnx fp32"] and spacy_row.kind.startswith("spaCy 3.8")
    assert (result.task, result.metric, result.unit) == ("ud", "LAS", "words")
    assert result.data == {"path": str(data["ud_dev"]), "examples": 10, "words": 60}

    # accuracy: the task's own scorer, exactly what `edge-time evaluate` reports; the bundle equals PyTorch
    assert torch_row.scores == evaluate(ud_model, data["ud_dev"]).scores
    assert bundle_row.scores == torch_row.scores and torch_row.metric_value == torch_row.scores["LAS"]
    # spaCy on gold words, mapped to UD: the toy grammar is learnt; no tagger, so XPOS (and the mean) is n/a
    assert spacy_row.scores["UPOS"] >= 90 and spacy_row.scores["LAS"] >= 80
    assert spacy_row.scores["XPOS"] is None and spacy_row.scores["LAS+tags"] is None
    assert any("morphologizer, parser, trainable_lemmatizer" in n for n in spacy_row.notes)

    for row in result.rows:
        assert set(row.throughput) == {1, 4} and row.latency_ms["p50"] > 0
        assert row.throughput_best == max(t["median"] for t in row.throughput.values())
        assert row.throughput[4]["min"] <= row.throughput[4]["median"] <= row.throughput[4]["max"]
        assert row.energy == {"available": False, "source": None, "reason": "disabled with --power none"}
        assert row.size_mb > 0 and row.parameters > 0
    assert torch_row.parameters == bundle_row.parameters  # the bundle's source folder is unchanged
    for row in (torch_row, bundle_row):  # where a pass goes: edge-time systems split their time, spaCy does not
        assert set(row.stages_ms) == {"pass", *STAGES, "other"} and 0 < row.stages_ms["graph"] < row.stages_ms["pass"]
    assert spacy_row.stages_ms is None
    assert result.energy_note == "disabled with --power none"

    assert sorted(p.name for p in out.iterdir()) == ["bench.csv", "bench.json", "bench.md", "bench.png"]  # no temp files
    markdown = (out / "bench.md").read_text(encoding="utf-8")
    assert "| model | kind | LAS | UPOS | ms/sentence @1 | words/s | batch | mJ/word | MB | params |" in markdown
    assert all(f"| {r.name} | {r.kind} |" in markdown for r in result.rows)
    assert "unavailable: disabled with --power none" in markdown and "](bench.png)" in markdown
    stages = markdown.split("## Where a pass goes")[1].split("##")[0]
    assert all(f"| {r.name} | {r.best_batch} | " in stages for r in (torch_row, bundle_row))
    assert spacy_row.name not in stages
    assert f"cores, {cpu_summary(cpu_description())} ·" in markdown  # int8 speed depends on the CPU's kernels
    rows = list(csv.DictReader((out / "bench.csv").open(encoding="utf-8")))
    assert [r["name"] for r in rows] == [r.name for r in result.rows]
    assert rows[0]["metric_value"] == str(torch_row.metric_value) and rows[2]["score_XPOS"] == ""
    assert float(rows[1]["throughput_b4"]) == bundle_row.throughput[4]["median"]
    assert float(rows[1]["graph_ms"]) == bundle_row.stages_ms["graph"] and rows[2]["graph_ms"] == ""
    saved = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert saved["schema"] == "edge-time/bench" and saved["config"]["batch_sizes"] == [4, 1]
    assert saved["machine"]["cpu"] == cpu_description()
    assert [r["name"] for r in saved["rows"]] == [r.name for r in result.rows]
    assert saved["rows"][2]["scores"]["XPOS"] is None and saved["plot"]["path"] == str(out / "bench.png")

    png = (out / "bench.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    plot = result.plot
    assert plot.series_names("throughput") == ["edge-time PyTorch", "edge-time bundle", "spaCy", FRONT]
    for name, row in zip(["edge-time PyTorch", "edge-time bundle", "spaCy"], result.rows):
        assert plot.points("throughput", name) == [(row.throughput_best, row.metric_value, row.name)]
    drawn = {p for r in result.rows for p in [(r.throughput_best, r.metric_value, r.name)]}
    assert plot.points("throughput", FRONT) and set(plot.points("throughput", FRONT)) <= drawn
    assert plot.series_names("energy") == []
    assert plot.notes["energy"] == ["no system has an energy figure: disabled with --power none"]


def test_cli_takes_several_values_per_option_and_prints_the_table(ud_model, ud_bundle, data, tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["bench", "--models", str(ud_model), str(ud_bundle), "--task-data",
                                       str(data["ud_dev"]), "--batch-sizes", "1", "2", "--repeats", "1",
                                       "--power", "none", "--out", str(out), "--quiet", "--thread-scaling"])
    assert result.exit_code == 0, result.output
    assert "edge-time bench: ud on dev.conllu" in result.stdout and "tagger-onnx" in result.stdout
    assert "energy unavailable: disabled with --power none" in result.stdout
    assert f"thread(s) of {cpu_summary(cpu_description())}" in " ".join(result.stdout.split())  # title may wrap
    saved = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in saved["rows"]] == ["tagger", "tagger-onnx"]
    assert saved["config"]["batch_sizes"] == [1, 2] and saved["config"]["repeats"] == 1
    # --thread-scaling: words/s at 1, 2 and all cores per system, in the JSON and the Markdown
    counts = [str(n) for n in thread_counts()]
    assert saved["config"]["thread_scaling"] and counts[0] == "1"
    assert all(list(r["throughput_by_threads"]) == counts and min(r["throughput_by_threads"].values()) > 0
               for r in saved["rows"])
    assert "## Throughput by threads" in (out / "bench.md").read_text(encoding="utf-8")
    help_text = CliRunner().invoke(main, ["bench", "--help"]).output
    assert "Examples:" in help_text and "--spacy cs_core_news_sm" in help_text


def test_energy_from_a_power_sensor(ud_bundle, data, tmp_path):
    """A hwmon-style sensor folder read through the profiler's sampler: constant 2.5 W, so the
    passes cost nothing above the idle baseline."""
    sensor = tmp_path / "hwmon0"
    sensor.mkdir()
    (sensor / "power1_input").write_text("2500000\n")  # µW
    result = bench(BenchConfig(models=[ud_bundle], task_data=data["ud_dev"], batch_sizes=(4,), repeats=1,
                               power=f"hwmon:{sensor}", energy_seconds=0.3, out=tmp_path / "out", progress=False))
    (row,) = result.rows
    energy = row.energy
    assert energy["available"] and energy["source"] == f"hwmon:{sensor}" and energy["batch_size"] == 4
    assert energy["samples_in_window"] >= 2 and energy["window_s"] >= 0.3
    assert energy["run_mean_w"] == pytest.approx(2.5) and energy["idle_mean_w"] == pytest.approx(2.5)
    assert row.energy_mj == pytest.approx(0.0, abs=1e-6) and result.energy_note is None
    assert result.plot.points("energy", "edge-time bundle") == [(row.energy_mj, row.metric_value, row.name)]
    assert result.plot.points("energy", FRONT) == [(row.energy_mj, row.metric_value, row.name)]


@pytest.mark.parametrize("args, message", [
    (["--models", "{encoder}"], "is a plain encoder without a task head; fine-tune it first: `edge-time finetune"),
    (["--models", "{ud_model}", "{ner_model}"], "models of different tasks (tagger is 'ud', ner is 'ner')"),
    (["--models", "{ud_model}", "--task-data", "{ner_dev}"], "these are 'ud' models, which need CoNLL-U (.conllu) data"),
    (["--models", "{ner_model}", "--spacy", "whatever"], "--spacy puts a spaCy pipeline beside UD models"),
    (["--models", "{ud_model}", "--metric", "f1"], "--metric f1: ud scores are UPOS, XPOS"),
    (["--spacy", "no_such_spacy_pipeline"], "--spacy no_such_spacy_pipeline: cannot load the pipeline"),
    (["--spacy", "x", "--spacy-gemm", "mkl"], "'mkl' is not one of 'auto', 'blis', 'numpy'"),
])
def test_one_line_errors(args, message, request, data, tmp_path):
    paths = {"encoder": request.getfixturevalue("encoder"), "ner_dev": data["ner_dev"]}
    for name in ("ud_model", "ner_model"):
        if "{" + name + "}" in args:
            paths[name] = request.getfixturevalue(name)
    if "--task-data" not in args:
        args = [*args, "--task-data", str(data["ud_dev"])]
    args = [a.format(**paths) for a in args]
    result = CliRunner().invoke(main, ["bench", *args, "--power", "none", "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_missing_spacy_names_the_extra(monkeypatch, data):
    monkeypatch.setitem(sys.modules, "spacy", None)  # what `import spacy` meets where spaCy is not installed
    with pytest.raises(EdgeTimeError, match=r"^--spacy needs spaCy, which is not installed .*; "
                                            r"pip install 'edge-time\[spacy\]'$"):
        bench(BenchConfig(spacy="cs_core_news_sm", task_data=data["ud_dev"], power="none", progress=False))


def test_spacy_gets_gold_words_with_their_spacing_and_one_sentence_per_doc(spacy_pipeline, data):
    sentences = read_conllu(data["ud_dev"])
    first = sentences[0]  # words 4-5 are one multi-word token ("thecats"); 3.1 is an empty node
    words, spaces = gold_words_and_spaces(first)
    assert words == first.forms and len(words) == 6
    assert spaces == [True, True, True, False, True, True]
    system = SpacySystem(str(spacy_pipeline), threads=1)
    doc = make_doc(system.nlp.vocab, words, spaces)
    assert doc.text == f"{words[0]} {words[1]} {words[2]} {words[3]}{words[4]} . "
    parses = system.predict(system.prepare(sentences))
    assert [p.words for p in parses] == [s.forms for s in sentences]
    assert all(p.heads.count(0) == 1 for p in parses)  # the parser never split a sentence in two


def test_spacy_gemm_auto_leaves_blis_only_where_it_would_run_generic_kernels():
    # blis's own line under BLIS_ARCH_DEBUG=1 (blis 1.3.4 on an AMD Zen 5 EPYC, family 26)
    assert parse_blis_kernels("libblis: selecting sub-configuration 'generic'.\n") == "generic"
    assert parse_blis_kernels("libblis: selecting sub-configuration 'zen3'.") == "zen3"
    assert parse_blis_kernels("") is None
    assert spacy_gemm_choice("auto", "generic")[0] == "numpy"
    assert "generic, unoptimised kernels" in spacy_gemm_choice("auto", "generic")[1]
    assert [spacy_gemm_choice("auto", k)[0] for k in ("skx", "zen3", None)] == ["blis"] * 3
    assert spacy_gemm_choice("blis", "generic")[0] == "blis" and spacy_gemm_choice("numpy", "skx")[0] == "numpy"
    if platform.machine() == "x86_64":  # blis's x86-64 wheels pick kernels at run time and say which
        assert blis_kernels() is not None


def test_spacy_on_numpy_gemm_predicts_what_it_does_on_blis(spacy_pipeline, data):
    sentences = read_conllu(data["ud_dev"])
    on_blis, on_numpy = (SpacySystem(str(spacy_pipeline), threads=1, gemm=g) for g in ("blis", "numpy"))
    assert (on_blis.gemm, on_numpy.gemm) == ("blis", "numpy")
    assert "matrix products: numpy's BLAS (--spacy-gemm numpy)" in on_numpy.notes
    assert any(n.startswith("matrix products: blis (--spacy-gemm blis") for n in on_blis.notes)
    uses_blis = [getattr(node.ops, "use_blis", False) for name in on_numpy.nlp.pipe_names
                 for node in on_numpy.nlp.get_pipe(name).model.walk()]
    assert uses_blis.count(False) > uses_blis.count(True)  # thinc's layers; the parser's output layer keeps blis
    predicted = {system.gemm: system.predict(system.prepare(sentences)) for system in (on_blis, on_numpy)}
    assert on_numpy.score(sentences, predicted["numpy"]) == on_blis.score(sentences, predicted["blis"])


def test_pareto_front_keeps_exactly_the_undominated_points():
    faster = [(1.0, 90.0), (2.0, 80.0), (3.0, 70.0), (1.5, 85.0), (2.0, 70.0), (3.0, 70.0), (0.5, 89.0)]
    assert pareto_front(faster, maximize_x=True) == [0, 3, 1, 2, 5]  # equal points do not dominate each other
    frugal = [(1.0, 70.0), (2.0, 80.0), (0.5, 60.0), (3.0, 75.0)]
    assert pareto_front(frugal, maximize_x=False) == [2, 0, 1]


def test_parallel_batches_keeps_several_onnx_batches_in_flight(ud_model, ud_bundle, data, tmp_path, monkeypatch):
    """--parallel batches at 2 threads: the ONNX bundle's batches overlap (run from worker threads, pass
    timed by the wall clock), its scores stay those of one batch at a time; the PyTorch folder says it
    runs one batch at a time."""
    import threading

    from edge_time.bench import measure

    callers = []
    real = measure.run_pass

    def watching(system, *args):
        result = real(system, *args)
        callers.append((system.name, system.batch_workers))
        return result

    monkeypatch.setattr("edge_time.bench.api.run_pass", watching)
    config = dict(models=[ud_model, ud_bundle], task_data=data["ud_dev"], batch_sizes=(2,), repeats=1, threads=2,
                  power="none", progress=False)
    parallel = bench(BenchConfig(**config, parallel="batches", out=tmp_path / "p"))
    ops = bench(BenchConfig(**config, out=tmp_path / "o"))
    assert ("tagger-onnx", 2) in callers and ("tagger", 1) in callers
    assert [r.scores for r in parallel.rows] == [r.scores for r in ops.rows]
    torch_row, bundle_row = parallel.rows
    assert any("2 batches at once" in n for n in bundle_row.notes)
    assert "other" not in bundle_row.stages_ms and "other" in torch_row.stages_ms  # overlapping stages add up
    assert any("one batch at a time" in n for n in torch_row.notes)

    from edge_time.bench.models import EdgeTimeSystem, inspect_model, read_task_data

    system = EdgeTimeSystem(inspect_model(ud_bundle), "b")
    system.load(2, 2, "batches")
    seen = set()
    predict = system.predict
    system.predict = lambda batch: seen.add(threading.get_ident()) or predict(batch)
    inputs = system.prepare(read_task_data(data["ud_dev"], "ud", []))
    predictions, calls, wall = measure.run_pass(system, inputs, list(range(len(inputs))), 2)
    assert threading.get_ident() not in seen and len(calls) == (len(inputs) + 1) // 2 and wall > 0
    assert all(p is not None for p in predictions)



def test_each_system_is_batched_along_the_length_its_cost_follows(ud_bundle, spacy_pipeline, data, tmp_path,
                                                                   monkeypatch):
    """edge-time bundles read batches sorted by token count (as their own whole-file parse sorts), spaCy
    by word count; both see every example exactly once per pass."""
    from edge_time.bench import measure
    from edge_time.bench.models import EdgeTimeSystem, inspect_model, read_task_data

    examples = read_task_data(data["ud_dev"], "ud", [])
    system = EdgeTimeSystem(inspect_model(ud_bundle), "b")
    system.load(2, 1)
    tokens = [len(e.ids) for e in system.predictor.text_encoder.tokenize_words([s.forms for s in examples])]
    assert system.batch_lengths(examples) == tokens

    words = [len(s.forms) for s in examples]
    assert measure.length_order(tokens) != measure.length_order(words)  # the toy data tells them apart
    orders = {}
    real = measure.run_pass

    def watching(system, inputs, order, batch_size):
        orders.setdefault(system.family, order)
        return real(system, inputs, order, batch_size)

    monkeypatch.setattr("edge_time.bench.api.run_pass", watching)
    bench(BenchConfig(models=[ud_bundle], task_data=data["ud_dev"], spacy=str(spacy_pipeline), batch_sizes=(2,),
                      repeats=1, power="none", out=tmp_path / "o", progress=False))
    assert orders["edge-time"] == measure.length_order(tokens)
    assert orders["spaCy"] == measure.length_order(words)


def test_stage_times_per_pass_are_medians_and_the_rest_is_what_the_stages_leave():
    passes = [1.0, 2.0, 3.0]
    stages = [{"inputs": 0.1, "graph": 0.5, "decode": 0.2}, {"inputs": 0.2, "graph": 1.0, "decode": 0.3},
              {"inputs": 0.3, "graph": 2.0, "decode": 0.4}]  # rests: 0.2, 0.5, 0.3
    ms = Timing(8, passes, [], stages).stages_ms(concurrent=False)
    assert ms == pytest.approx({"pass": 2000.0, "inputs": 200.0, "graph": 1000.0, "decode": 300.0, "other": 300.0})
    assert "other" not in Timing(8, passes, [], stages).stages_ms(concurrent=True)
    assert Timing(8, passes, []).stages_ms(concurrent=False) is None  # a system without stages (spaCy)
