"""Bad input to `edge-time distill` gives one line naming the problem, exit 2, and no output folder."""

import pytest
from click.testing import CliRunner
from transformers import DistilBertConfig, DistilBertModel

from edge_time.cli import main


@pytest.fixture(scope="module")
def distilbert_teacher(tmp_path_factory, teachers):
    import shutil

    folder = tmp_path_factory.mktemp("distilbert")
    DistilBertModel(DistilBertConfig(vocab_size=700, dim=32, n_layers=1, n_heads=2, hidden_dim=64)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(teachers["bert"] / name, folder / name)
    return folder


def run(args):
    return CliRunner().invoke(main, ["distill", *args, "--quiet"])


def one_line_error(result, message: str) -> bool:
    lines = result.stderr.strip().splitlines()
    return result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


@pytest.mark.parametrize("case, extra, message", [
    ("layer", ["--teacher-layer", "9"], "teacher layer 9 is out of range"),
    ("student heads", ["--hidden", "30", "--layers", "2", "--heads", "4"], "not divisible by 4 heads"),
    ("relation heads", ["--relation-heads", "5"], "5 relation heads do not divide"),
    ("relations", ["--relations", "qq,xy"], "relation 'xy'"),
    ("batch", ["--batch-size", "0"], "0 is not in the range x>=1"),
])
def test_bad_settings(teachers, corpus_file, tmp_path, case, extra, message):
    out = tmp_path / "out"
    result = run(["--teacher", str(teachers["bert"]), "--corpus", str(corpus_file), "--out", str(out), *extra])
    assert one_line_error(result, message), result.output
    assert not out.exists()


def test_empty_corpus(teachers, tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    result = run(["--teacher", str(teachers["xlmr"]), "--corpus", str(tmp_path / "empty.txt"),
                  "--out", str(tmp_path / "out")])
    assert one_line_error(result, "has no text"), result.output


def test_teacher_without_attention_projections(distilbert_teacher, corpus_file, tmp_path):
    result = run(["--teacher", str(distilbert_teacher), "--corpus", str(corpus_file), "--out", str(tmp_path / "o")])
    assert one_line_error(result, "'distilbert' is not supported"), result.output
    assert "deberta-v2" in result.stderr


def test_existing_output_is_never_clobbered(teachers, corpus_file, tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    result = run(["--teacher", str(teachers["bert"]), "--corpus", str(corpus_file), "--out", str(tmp_path)])
    assert one_line_error(result, "--resume"), result.output
    result = run(["--teacher", str(teachers["bert"]), "--corpus", str(corpus_file), "--out", str(tmp_path),
                  "--overwrite"])
    assert one_line_error(result, "not a distillation run folder"), result.output
    assert (tmp_path / "mine.txt").read_text() == "precious"
