"""Every command against bad input: one `error:` line naming the problem, a non-zero exit, no
traceback, and every file that existed before untouched (sha256 before and after), with nothing
new left beside them.

Each row builds its inputs in a fresh folder from the session's tiny encoder / UD model / ONNX
bundle (copied where a row corrupts them) and runs the real CLI in-process.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from reliability_data import UD_SENTENCE
from edge_time.cli import main

LATIN2_CZECH = "Příliš žluťoučký kůň úpěl ďábelské ódy.\n".encode("iso-8859-2") * 50
RANDOM_BYTES = bytes(range(256)) * 40


@dataclass
class Ctx:
    """What a row may use: its own folder and the session's models (read-only unless copied)."""

    tmp: Path
    encoder: Path
    ud_model: Path
    ud_bundle: Path
    ud_file: Path

    def file(self, name: str, content: str | bytes) -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return str(path)

    def notes(self, name: str = "notes") -> str:
        """A folder of the user's own files, which no command may delete or change."""
        (self.tmp / name).mkdir()
        (self.tmp / name / "todo.txt").write_text("my notes\n")
        return str(self.tmp / name)

    def bundle_with_manifest(self, manifest: str | bytes | Callable[[dict], object]) -> str:
        """A copy of the ONNX bundle whose manifest.json is replaced (text/bytes) or edited (function)."""
        copy = self.tmp / "bundle"
        shutil.copytree(self.ud_bundle, copy)
        path = copy / "manifest.json"
        if callable(manifest):
            data = json.loads(path.read_text())
            result = manifest(data)
            path.write_text(json.dumps(data if result is None else result))
        elif isinstance(manifest, bytes):
            path.write_bytes(manifest)
        else:
            path.write_text(manifest)
        return str(copy)

    def tampered_bundle(self) -> str:
        copy = self.tmp / "bundle"
        shutil.copytree(self.ud_bundle, copy)
        model = next(p for p in copy.iterdir() if p.suffix == ".onnx")
        model.write_bytes(model.read_bytes()[:-16] + b"\0" * 16)
        return str(copy)

    def model_copy(self, edit: Callable[[Path], None], source: str = "encoder") -> str:
        copy = self.tmp / "model"
        shutil.copytree(getattr(self, source), copy)
        edit(copy)
        return str(copy)


def _conllu(rows: list[str]) -> str:
    return "\n".join(rows) + "\n\n" + UD_SENTENCE


def _set(data: dict, key: str, value) -> None:
    data[key] = value


def _unknown_model_type(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="my-secret-arch", auto_map={"AutoModel": "modeling_secret.SecretModel"})
    (folder / "config.json").write_text(json.dumps(config))


def _pickle_beside_safetensors(folder: Path) -> None:
    (folder / "model.safetensors").rename(folder / "stray.safetensors")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04\x95 pickle payload")


@dataclass
class Case:
    id: str
    argv: Callable[[Ctx], list[str]]
    message: str  # a fragment of the one error line (case-insensitive)
    exit_code: int = 2


def _finetune(c: Ctx, train: str, task: str = "ud", out: str | None = None, extra=()) -> list[str]:
    return ["finetune", "--task", task, "--model", str(c.encoder), "--train", train, "--dev", train,
            "--out", out or str(c.tmp / "out"), "--max-steps", "1", "--quiet", *extra]


def _distill(c: Ctx, corpus: str, extra=(), teacher: str | None = None) -> list[str]:
    return ["distill", "--teacher", teacher or str(c.encoder), "--corpus", corpus, "--hidden", "32",
            "--layers", "1", "--heads", "2", "--max-steps", "1", "--out", str(c.tmp / "student"), "--quiet", *extra]


def _export(c: Ctx, extra=(), model: str | None = None, out: str | None = None) -> list[str]:
    return ["export", "--model", model or str(c.ud_model), "--target", "onnx", "--max-length", "32",
            "--out", out or str(c.tmp / "bundle_out"), *extra]


def _predict_bundle(c: Ctx, bundle: str) -> list[str]:
    return ["predict", "--bundle", bundle, "--text", "the fox jumps ."]


def _ud_text(c: Ctx) -> str:
    return c.file("good.conllu", UD_SENTENCE * 4)


CASES = [
    # ---- distill
    Case("distill-teacher-missing", lambda c: _distill(c, c.file("c.txt", "a b c\n"), teacher=str(c.tmp / "nope")),
         "nope"),
    Case("distill-corpus-missing", lambda c: _distill(c, str(c.tmp / "missing.txt")), "missing.txt"),
    Case("distill-corpus-random-bytes", lambda c: _distill(c, c.file("c.txt", RANDOM_BYTES)), "utf-8"),
    Case("distill-corpus-latin2", lambda c: _distill(c, c.file("c.txt", LATIN2_CZECH)), "--encoding"),
    Case("distill-corpus-empty", lambda c: _distill(c, c.file("c.txt", "\n\n")), "c.txt"),
    Case("distill-max-steps-negative", lambda c: _distill(c, c.file("c.txt", "a b\n"), ["--max-steps", "-3"]),
         "--max-steps"),
    Case("distill-batch-size-zero", lambda c: _distill(c, c.file("c.txt", "a b\n"), ["--batch-size", "0"]),
         "--batch-size"),
    Case("distill-overwrite-user-folder",
         lambda c: ["distill", "--teacher", str(c.encoder), "--corpus", c.file("c.txt", "a b\n"), "--hidden", "32",
                    "--layers", "1", "--heads", "2", "--out", c.notes(), "--overwrite", "--quiet"], "notes"),
    Case("distill-teacher-unknown-model-type", lambda c: _distill(c, c.file("c.txt", "a b\n"),
                                                                 teacher=c.model_copy(_unknown_model_type)),
         "trust-remote-code"),
    Case("distill-teacher-pickle-only", lambda c: _distill(c, c.file("c.txt", "a b\n"),
                                                          teacher=c.model_copy(_pickle_beside_safetensors)),
         "safetensors"),
    Case("distill-heads-do-not-divide", lambda c: _distill(c, c.file("c.txt", "a b\n"), ["--heads", "5"]), "heads"),
    # ---- finetune
    Case("finetune-train-missing", lambda c: _finetune(c, str(c.tmp / "absent.conllu")), "absent.conllu"),
    Case("finetune-conllu-not-utf8", lambda c: _finetune(c, c.file("t.conllu", UD_SENTENCE.encode("utf-16"))),
         "utf-8"),
    Case("finetune-conllu-arabic-digit-id",
         lambda c: _finetune(c, c.file("t.conllu", _conllu(["\u0661\tthe\tthe\tDET\t_\t_\t0\troot\t_\t_"]))),
         "t.conllu:1"),
    Case("finetune-conllu-arabic-digit-head",
         lambda c: _finetune(c, c.file("t.conllu", _conllu(["1\tthe\tthe\tDET\t_\t_\t\u0660\troot\t_\t_"]))),
         "t.conllu:1"),
    Case("finetune-conllu-cycle-with-missing-head",
         lambda c: _finetune(c, c.file("t.conllu", _conllu([
             "1\ta\ta\tDET\t_\t_\t2\tdet\t_\t_", "2\tb\tb\tNOUN\t_\t_\t1\tnsubj\t_\t_",
             "3\tc\tc\tVERB\t_\t_\t_\t_\t_\t_"]))), "cycle"),
    Case("finetune-conllu-head-past-end",
         lambda c: _finetune(c, c.file("t.conllu", _conllu(["1\ta\ta\tDET\t_\t_\t7\tdet\t_\t_"]))), "t.conllu:1"),
    Case("finetune-conllu-nine-columns",
         lambda c: _finetune(c, c.file("t.conllu", _conllu(["1\ta\ta\tDET\t_\t_\t0\troot\t_"]))), "10"),
    Case("finetune-conllu-bad-upos",
         lambda c: _finetune(c, c.file("t.conllu", _conllu(["1\ta\ta\tNOUNY\t_\t_\t0\troot\t_\t_"]))), "UPOS"),
    Case("finetune-ner-bad-tag", lambda c: _finetune(c, c.file("t.conll", "John\tPERSON\n\n"), task="ner"), "BIO"),
    Case("finetune-cls-no-label", lambda c: _finetune(c, c.file("t.jsonl", '{"text": "hi"}\n'), task="cls"),
         "label"),
    Case("finetune-cls-not-json", lambda c: _finetune(c, c.file("t.jsonl", "{text: hi}\n"), task="cls"),
         "t.jsonl:1"),
    Case("finetune-squad-null-data", lambda c: _finetune(c, c.file("t.json", '{"data": null}'), task="qa"),
         "squad"),
    Case("finetune-squad-null-article",
         lambda c: _finetune(c, c.file("t.json", '{"data": [null]}'), task="qa"), "data[0]"),
    Case("finetune-squad-null-answer",
         lambda c: _finetune(c, c.file("t.json", json.dumps({"data": [{"paragraphs": [{"context": "a b", "qas": [
             {"id": "q1", "question": "a?", "answers": [None]}]}]}]})), task="qa"), "q1"),
    Case("finetune-squad-qas-not-list",
         lambda c: _finetune(c, c.file("t.json", json.dumps({"data": [{"paragraphs": [{"context": "a b",
                                                                                     "qas": "x"}]}]})), task="qa"),
         "qas"),
    Case("finetune-squad-string-start",
         lambda c: _finetune(c, c.file("t.json", json.dumps({"data": [{"paragraphs": [{"context": "a b", "qas": [
             {"id": "q1", "question": "a?", "answers": [{"text": "a", "answer_start": "0"}]}]}]}]})), task="qa"),
         "answer_start"),
    Case("finetune-epochs-zero", lambda c: _finetune(c, _ud_text(c), extra=["--epochs", "0"]), "--epochs"),
    Case("finetune-batch-size-zero", lambda c: _finetune(c, _ud_text(c), extra=["--batch-size", "0"]),
         "--batch-size"),
    Case("finetune-overwrite-user-folder",
         lambda c: _finetune(c, _ud_text(c), out=c.notes(), extra=["--overwrite"]), "notes"),
    Case("finetune-model-not-a-model",
         lambda c: ["finetune", "--task", "ud", "--model", c.notes(), "--train", _ud_text(c), "--dev", _ud_text(c),
                    "--out", str(c.tmp / "out"), "--quiet"], "notes"),
    Case("finetune-unlabeled-not-utf8",
         lambda c: _finetune(c, _ud_text(c), extra=["--teacher-model", str(c.ud_model), "--unlabeled",
                                                   c.file("u.txt", LATIN2_CZECH)]), "u.txt"),
    # ---- export
    Case("export-overwrite-user-folder", lambda c: _export(c, ["--overwrite"], out=c.notes()), "notes"),
    Case("export-overwrite-regular-file", lambda c: _export(c, ["--overwrite"], out=c.file("f.bin", b"keep")),
         "f.bin"),
    Case("export-parity-texts-not-utf8", lambda c: _export(c, ["--parity-texts", c.file("p.txt", LATIN2_CZECH)]),
         "p.txt"),
    Case("export-calibration-not-utf8",
         lambda c: _export(c, ["--quantize", "int8-static", "--calibration", c.file("cal.txt", LATIN2_CZECH)]),
         "cal.txt"),
    Case("export-model-missing", lambda c: _export(c, model=str(c.tmp / "no_model")), "no_model"),
    Case("export-max-length-zero", lambda c: _export(c, ["--max-length", "0"]), "--max-length"),
    Case("export-unknown-model-type", lambda c: _export(c, model=c.model_copy(_unknown_model_type)),
         "trust-remote-code"),
    # ---- predict / evaluate / inspect on bad bundles and inputs
    Case("predict-manifest-string", lambda c: _predict_bundle(c, c.bundle_with_manifest('"a string"')),
         "manifest"),
    Case("predict-manifest-list", lambda c: _predict_bundle(c, c.bundle_with_manifest("[1, 2]")), "manifest"),
    Case("predict-manifest-random-bytes", lambda c: _predict_bundle(c, c.bundle_with_manifest(RANDOM_BYTES)),
         "manifest"),
    Case("predict-manifest-graphs-mapping",
         lambda c: _predict_bundle(c, c.bundle_with_manifest(lambda d: _set(d, "graphs", {"file": "x"}))),
         "graphs"),
    Case("predict-manifest-scalar-shape",
         lambda c: _predict_bundle(c, c.bundle_with_manifest(lambda d: _set(d["inputs"][0], "shape", 7))),
         "shape"),
    Case("predict-manifest-axes-list",
         lambda c: _predict_bundle(c, c.bundle_with_manifest(lambda d: _set(d, "axes", ["batch"]))), "axes"),
    Case("predict-manifest-max-length-string",
         lambda c: _predict_bundle(c, c.bundle_with_manifest(lambda d: _set(d, "max_length", "big"))),
         "max_length"),
    Case("predict-manifest-escaping-path",
         lambda c: _predict_bundle(c, c.bundle_with_manifest(lambda d: _set(d, "files", {**d["files"],
                                                                                        "../evil": "0" * 64}))),
         "escapes"),
    Case("predict-tampered-graph", lambda c: _predict_bundle(c, c.tampered_bundle()), "sha256"),
    Case("predict-input-not-utf8",
         lambda c: ["predict", "--bundle", str(c.ud_bundle), "--input", c.file("in.txt", LATIN2_CZECH)], "in.txt"),
    Case("predict-input-missing", lambda c: ["predict", "--model", str(c.ud_model), "--input", str(c.tmp / "x.txt")],
         "x.txt"),
    Case("predict-model-and-bundle",
         lambda c: ["predict", "--model", str(c.ud_model), "--bundle", str(c.ud_bundle), "--text", "a"], "--bundle"),
    Case("evaluate-cycle", lambda c: ["evaluate", "--bundle", str(c.ud_bundle), "--data", c.file("d.conllu", _conllu([
        "1\ta\ta\tDET\t_\t_\t2\tdet\t_\t_", "2\tb\tb\tNOUN\t_\t_\t1\tnsubj\t_\t_"]))], "cycle"),
    Case("evaluate-unannotated-heads",
         lambda c: ["evaluate", "--model", str(c.ud_model), "--data",
                    c.file("d.conllu", "1\ta\ta\tDET\t_\t_\t_\t_\t_\t_\n\n")], "d.conllu"),
    Case("inspect-not-a-bundle", lambda c: ["inspect", c.notes()], "manifest.json"),
    Case("inspect-manifest-random-bytes", lambda c: ["inspect", c.bundle_with_manifest(RANDOM_BYTES)], "manifest"),
    # ---- quickstart
    Case("quickstart-overwrite-user-folder", lambda c: ["quickstart", "--out", c.notes(), "--overwrite"], "notes"),
    Case("quickstart-unknown-target", lambda c: ["quickstart", "--out", str(c.tmp / "qs"), "--targets", "coreml"],
         "coreml"),
    Case("quickstart-steps-zero", lambda c: ["quickstart", "--out", str(c.tmp / "qs"), "--steps", "0"], "--steps"),
    # ---- profile / bench
    Case("profile-bundle-missing", lambda c: ["profile", str(c.tmp / "gone"), "--out", str(c.tmp / "prof")], "gone"),
    Case("bench-model-missing",
         lambda c: ["bench", "--models", str(c.tmp / "gone"), "--task-data", _ud_text(c), "--out", str(c.tmp / "b")],
         "gone"),
]


def _snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file and a mark for every folder (an empty staging folder left behind counts)."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for root in roots for p in sorted(root.rglob("*"))}


@pytest.fixture
def ctx(tmp_path, encoder, ud_model, ud_bundle, ud_file) -> Ctx:
    return Ctx(tmp_path, encoder, ud_model, ud_bundle, ud_file)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_in_one_line(case: Case, ctx: Ctx):
    argv = case.argv(ctx)
    shared = (ctx.encoder, ctx.ud_model, ctx.ud_bundle, ctx.ud_file.parent)
    before, before_tmp = _snapshot(*shared), _snapshot(ctx.tmp)

    result = CliRunner().invoke(main, argv)

    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        f"traceback instead of an error line: {result.exception!r}")
    assert result.exit_code == case.exit_code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output
    assert case.message.lower() in errors[0].lower(), errors[0]
    assert _snapshot(*shared) == before
    assert _snapshot(ctx.tmp) == before_tmp, "a refused command changed or left files in its folder"
