"""`edge-time export --for android`: what the Android demo app needs inside a bundle.

The app (``android_demo/``) re-implements tokenization in Kotlin from the bundle's own
``tokenizer.json``. This module checks that the tokenizer uses only components the Kotlin core
supports, and writes ``test_vectors.json``: texts -> the ids/mask/positions Python's TextEncoder
makes -> what the exported graph returns in its real runtime. The app checks itself against those
vectors on the phone, and ``tests/android`` checks the Kotlin core against vectors made by the
same functions, so there is one definition of "the ids are right".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from edge_time.bundle import MANIFEST_NAME, TokenizerInfo
from edge_time.errors import EdgeTimeError
from edge_time.runtime.predict import word_inputs
from edge_time.runtime.tokenize import TextEncoder

TEST_VECTORS_NAME = "test_vectors.json"
TEST_VECTORS_FORMAT = "edge-time/android-test-vectors"
ANDROID_PACKAGE = "dev.edgetime.demo"
# Android 8.0: the ExecuTorch and LiteRT AARs need API 24+, 26 adds java.nio.file and
# java.util.Base64 and covers ~97% of active devices; the app's minSdk (android_demo/app).
MIN_SDK = 26
# Inputs the app can build from text (anything else, e.g. token_type_ids, is a graph it cannot feed).
APP_INPUTS = ("input_ids", "attention_mask", "position_ids", "word_pool", "word_mask")
# Tasks the app runs: encoders (latency only), classification, and the word tasks it decodes.
APP_TASKS = ("encoder", "cls", "ner", "ud")

# tokenizer.json components the Kotlin core implements (android_demo/core/.../Tokenizer.kt).
SUPPORTED = {
    "model": {"WordPiece", "Unigram"},
    "normalizer": {"Sequence", "BertNormalizer", "Precompiled", "NFC", "NFD", "NFKC", "NFKD", "Lowercase",
                   "StripAccents", "Strip", "Replace", "Prepend"},
    "pre_tokenizer": {"Sequence", "BertPreTokenizer", "Metaspace", "WhitespaceSplit", "Whitespace"},
    "post_processor": {"TemplateProcessing", "BertProcessing", "RobertaProcessing"},
}

# Texts for the vectors: casing, accents (composed and decomposed), punctuation, digits, long and
# unknown words, CJK, emoji, ligatures/full-width forms (NFKC), repeated spaces, special tokens.
DEFAULT_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Angela Merkel met Emmanuel Macron in Paris on Monday.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy!",
    "Ünïcödé façade, naïve café; déjà vu?",
    "Cafe\u0301 and re\u0301sume\u0301 use combining accents.",
    "HELLO World, hello WORLD... (really?) — yes: 'quoted' \"twice\".",
    "Numbers: 3.14159, 1,000,000 and 42nd street #7 @home 50%",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "東京は日本の首都です。 北京 and 서울 too",
    "Emoji 😀 and symbols ∑ ∞ ≠ ✓ in text 🇨🇿",
    "ﬁnance ﬂow ＦＵＬＬ ｗｉｄｔｈ ①②③ ㎏",
    "  leading   and   repeated\tspaces\nand lines  ",
    "e-mail: someone@example.com, url https://example.org/a?b=c",
    "x" * 120,
    "İstanbul ΣΊΣΥΦΟΣ straße ǅ",
]


class AndroidExportError(EdgeTimeError):
    """The bundle cannot serve the Android app (unsupported tokenizer or inputs); names the fix."""


def check_tokenizer_supported(tokenizer_json: dict[str, Any]) -> None:
    """Raise AndroidExportError when ``tokenizer.json`` uses a component the Kotlin core lacks."""
    def walk(kind: str, node: Any) -> None:
        if not node:
            return
        node_type = node.get("type")
        if node_type not in SUPPORTED[kind]:
            raise AndroidExportError(
                f"the tokenizer's {kind} {node_type!r} is not implemented by the Android app "
                f"(supported: {', '.join(sorted(SUPPORTED[kind]))}); export without --for android")
        for child in node.get("normalizers") or node.get("pretokenizers") or []:
            walk(kind, child)

    model = tokenizer_json.get("model") or {}
    model_type = model.get("type") or ("WordPiece" if "continuing_subword_prefix" in model else "Unigram")
    if model_type not in SUPPORTED["model"]:
        raise AndroidExportError(f"the tokenizer model {model_type!r} is not implemented by the Android app "
                                 f"(WordPiece, Unigram); export without --for android")
    if model.get("byte_fallback"):
        raise AndroidExportError("Unigram byte_fallback is not implemented by the Android app; "
                                 "export without --for android")
    for kind in ("normalizer", "pre_tokenizer", "post_processor"):
        walk(kind, tokenizer_json.get(kind))
    odd = [t["content"] for t in tokenizer_json.get("added_tokens", []) if t.get("normalized")]
    if odd:
        raise AndroidExportError(f"added tokens {odd[:3]} match on normalized text, which the Android app "
                                 f"does not implement; export without --for android")


def tokenizer_cases(text_encoder: TextEncoder, texts: Iterable[str],
                    seq_len_for: Callable[[int], int | None] = lambda n: None,
                    word_config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One vector case per text: ids, mask, positions, word ids (-1 = none), tokens, padded width.

    ``seq_len_for(n_tokens)`` picks the padded width (a fixed bucket); None pads to the text itself.
    With ``word_config`` ({"pooling", "root_row"}, a word task's task_config) the text is split on
    whitespace and encoded as pre-tokenized words, and the case adds ``words`` and ``word_mask``
    (built by the runtime's own ``word_inputs``); ``case["arrays"]`` holds every graph input.
    """
    cases = []
    for text in texts:
        words = text.split() if word_config is not None else None
        if words is not None:
            words = words or ["."]
            tokens = text_encoder.tokenizer.encode(words, is_pretokenized=True).tokens
            seq_len = seq_len_for(len(tokens))
            enc = text_encoder.encode_words([words], seq_len)
        else:
            tokens = text_encoder.tokenizer.encode(text).tokens
            seq_len = seq_len_for(len(tokens))
            enc = text_encoder.encode([text], seq_len)
        case = {
            "text": text,
            "seq_len": int(enc.input_ids.shape[1]),
            "input_ids": enc.input_ids[0].tolist(),
            "attention_mask": enc.attention_mask[0].tolist(),
            "position_ids": enc.position_ids[0].tolist(),
            "word_ids": [-1 if w is None else int(w) for w in enc.word_ids[0]],
            "tokens": list(tokens),
        }
        arrays = enc.arrays()
        if words is not None:
            arrays.update(word_inputs(enc.word_ids, [len(words)], word_config["pooling"],
                                      bool(word_config.get("root_row")),
                                      width=enc.input_ids.shape[1] if seq_len is not None else None))
            case["words"] = words
            case["word_mask"] = arrays["word_mask"][0].tolist()
        case["arrays"] = arrays
        cases.append(case)
    return cases


def vectors_document(info: TokenizerInfo, max_length: int, cases: list[dict[str, Any]],
                     word_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``test_vectors.json`` document the Kotlin ``TestVectors`` class reads."""
    return {
        "format": TEST_VECTORS_FORMAT,
        "version": 1,
        "tokenizer_file": info.file,
        "tokenizer": {"file": info.file, "kind": info.kind, "lowercase": info.lowercase, "pad_id": info.pad_id,
                      "cls_id": info.cls_id, "sep_id": info.sep_id, "unk_id": info.unk_id,
                      "position_style": info.position_style},
        "max_length": max_length,
        "word_inputs": None if word_config is None else {"pooling": word_config["pooling"],
                                                          "root_row": bool(word_config.get("root_row"))},
        "cases": [{k: v for k, v in case.items() if k != "arrays"} for case in cases],
    }


def _label_set_for(output: str, label_outputs: list[str], labels: dict[str, list[str]], num_labels: int) -> str | None:
    """The label set naming an output's classes: the set of the same name (ner "tags", ud "upos"),
    or, for a model with one label output and one label set of that size (cls "logits" ->
    "labels"), that set. Outputs such as UD's "arc" (scores over words) get none."""
    if output in labels:
        return output if len(labels[output]) == num_labels else None
    if len(label_outputs) == 1 and len(labels) == 1:
        name, values = next(iter(labels.items()))
        return name if len(values) == num_labels else None
    return None


def output_expectations(outputs: dict[str, np.ndarray], real_rows: dict[str, int], label_outputs: list[str],
                        labels: dict[str, list[str]], quantized: bool) -> dict[str, dict[str, Any]]:
    """What the phone must reproduce for one text (row 0): argmax labels or leading values.

    ``real_rows[name]`` is the number of real (unpadded) positions of a per-position output.
    Argmax positions whose top-2 margin is under 1e-3 are recorded as -1 (ignored): another CPU's
    kernels may legitimately flip a near tie.
    """
    expected: dict[str, dict[str, Any]] = {}
    for name, array in outputs.items():
        row = np.asarray(array, dtype=np.float64)[0]
        real = real_rows.get(name, row.shape[0] if row.ndim else 1)
        if name in label_outputs and row.ndim in (1, 2) and row.shape[-1] > 1:
            scores = row[:real] if row.ndim == 2 else row[None, :]
            top2 = np.sort(scores, axis=-1)[:, -2:]
            argmax = np.where(top2[:, 1] - top2[:, 0] >= 1e-3, scores.argmax(-1), -1)
            # int8 kernels round differently per CPU: a quantized bundle may flip a few labels
            entry: dict[str, Any] = {"argmax": argmax.astype(int).tolist(), "num_labels": int(row.shape[-1]),
                                     "min_agreement": 0.9 if quantized else 1.0}
            label_set = _label_set_for(name, label_outputs, labels, int(row.shape[-1]))
            if label_set is not None:
                entry["label_set"] = label_set
                entry["labels"] = [labels[label_set][i] if i >= 0 else None for i in entry["argmax"]]
            expected[name] = entry
        else:
            flat = row.reshape(-1)[:16]
            scale = max(1.0, float(np.max(np.abs(flat)))) if flat.size else 1.0
            expected[name] = {"shape": list(np.asarray(array).shape), "values": [float(v) for v in flat],
                              "atol": (5e-2 if quantized else 2e-3) * scale}
    return expected


def _fixed_buckets(stage_dir: Path) -> tuple[list[int], str]:
    """Fixed sequence buckets and quantization from the manifest already in the stage (if any)."""
    path = stage_dir / MANIFEST_NAME
    if not path.is_file():
        return [], "none"
    data = json.loads(path.read_text(encoding="utf-8"))
    buckets = sorted(g["seq_len"] for g in data.get("graphs", []) if g.get("seq_len") is not None)
    return buckets, data.get("quantization", "none")


def write_android_assets(stage_dir: Path, spec, run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
                         texts: list[str] | None = None) -> dict[str, Any]:
    """Write ``test_vectors.json`` into the bundle being staged; return the manifest's ``android`` dict.

    ``spec`` is the ExportSpec of the export, ``run`` runs the exported graph in its real runtime.
    Raises AndroidExportError when the app could not run this bundle.
    """
    stage_dir = Path(stage_dir)
    if spec.task not in APP_TASKS:
        raise AndroidExportError(f"the Android app does not run {spec.task!r} bundles (it runs "
                                 f"{', '.join(APP_TASKS)}); export without --for android")
    missing = [name for name in spec.input_names if name not in APP_INPUTS]
    if missing:
        raise AndroidExportError(f"the graph takes inputs {missing} that the Android app cannot build "
                                 f"(it builds {', '.join(APP_INPUTS)}); export without --for android")
    tokenizer_path = stage_dir / spec.tokenizer_info.file
    if not tokenizer_path.is_file():
        tokenizer_path = spec.tokenizer_dir / spec.tokenizer_info.file
    check_tokenizer_supported(json.loads(tokenizer_path.read_text(encoding="utf-8")))

    buckets, quantization = _fixed_buckets(stage_dir)

    def seq_len_for(n_tokens: int) -> int | None:
        if not buckets:
            return None
        fitting = [b for b in buckets if b >= n_tokens]
        return fitting[0] if fitting else None

    encoder = spec.text_encoder()
    word_config = spec.task_config if "word_pool" in spec.input_names else None
    if word_config is not None and "pooling" not in word_config:
        raise AndroidExportError("the task model's config has no word 'pooling'; re-export it with this edge-time")
    chosen = [t for t in (texts or DEFAULT_TEXTS) if not buckets or encoder.count_tokens(t) <= buckets[-1]]
    cases = tokenizer_cases(encoder, chosen, seq_len_for, word_config)
    for case in cases:
        arrays = case["arrays"]
        outputs = run({name: arrays[name] for name in spec.input_names})
        real_rows = {name: int(arrays[mask][0].sum()) for name, mask in spec.output_masks.items() if mask in arrays}
        case["outputs"] = output_expectations(
            {name: outputs[name] for name in spec.output_names if name in outputs},
            real_rows, list(spec.label_outputs), dict(spec.labels), quantized=quantization != "none")
    document = vectors_document(spec.tokenizer_info, spec.max_length, cases, word_config)
    (stage_dir / TEST_VECTORS_NAME).write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n",
                                               encoding="utf-8")
    label_sets = {}
    for name in spec.label_outputs:
        entry = cases[0]["outputs"].get(name, {}) if cases else {}
        if "label_set" in entry:
            label_sets[name] = entry["label_set"]
    return {
        "test_vectors": TEST_VECTORS_NAME,
        "package": ANDROID_PACKAGE,
        "min_sdk": MIN_SDK,
        "tokenizer_kind": spec.tokenizer_info.kind,
        "label_outputs": label_sets,
        "vector_cases": len(cases),
    }
