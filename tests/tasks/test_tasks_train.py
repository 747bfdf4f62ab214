"""Fine-tuning: every task learns, the best checkpoint is kept and reloads, early stopping, seeds, CLI."""

import json

import pytest
from click.testing import CliRunner
from safetensors.torch import load_file

from edge_time.cli import main
from edge_time.errors import EdgeTimeError
from edge_time.tasks import evaluate, load_predictor
from edge_time.tasks.train import FinetuneConfig, finetune

from tasks_helpers import SMALL_HEAD


@pytest.mark.parametrize("task", ["ud", "ner", "cls", "qa"])
def test_each_task_trains_and_its_loss_falls(trained, task):
    losses = trained[task].losses
    assert len(losses) == 20
    assert sum(losses[-4:]) / 4 < 0.9 * sum(losses[:4]) / 4, losses


def test_ud_learns_the_toy_grammar(trained):
    scores = trained["ud"].best_scores
    assert scores["UPOS"] >= 90.0 and scores["UAS"] > 50.0, scores


@pytest.mark.parametrize("task", ["ud", "ner"])
def test_best_checkpoint_is_kept_and_reloads_to_its_dev_scores(trained, task_data, task):
    result = trained[task]
    folder = result.out
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "edge_time_task.json", "head.safetensors"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".tmp"))]
    spec = json.loads((folder / "edge_time_task.json").read_text())
    assert spec["task"] == task and spec["training"]["best_step"] == result.best_step
    record = json.loads((folder / "finetune_result.json").read_text())  # the finished run's record
    assert (record["best_step"], record["steps"], record["dev"]) == (result.best_step, result.steps, result.best_scores)
    assert [h["step"] for h in record["history"]] == [h["step"] for h in result.history]
    assert load_file(str(folder / "head.safetensors"))
    reloaded = evaluate(folder, task_data[task][1]).scores
    assert reloaded == result.best_scores


def test_early_stopping_when_dev_stops_improving(tiny_encoder, task_data, tmp_path):
    train, dev = task_data["ner"]
    result = finetune(FinetuneConfig(task="ner", model=tiny_encoder, train=train, dev=dev, out=tmp_path / "m",
                                     epochs=50, batch_size=8, learning_rate=0.0, head_learning_rate=0.0,
                                     eval_every=2, patience=2, head=dict(SMALL_HEAD), progress=False))
    assert result.steps == 6 and len(result.history) == 3 and result.best_step == 2


def test_same_seed_same_run(tiny_encoder, task_data, tmp_path):
    train, dev = task_data["cls"]
    runs = [finetune(FinetuneConfig(task="cls", model=tiny_encoder, train=train, dev=dev, out=tmp_path / f"m{i}",
                                    max_steps=3, batch_size=8, seed=7, head=dict(SMALL_HEAD), progress=False))
            for i in range(2)]
    assert runs[0].losses == runs[1].losses


def test_existing_output_is_never_replaced_without_overwrite(tiny_encoder, task_data, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    train, dev = task_data["ner"]
    with pytest.raises(EdgeTimeError, match="already exists"):
        finetune(FinetuneConfig(task="ner", model=tiny_encoder, train=train, dev=dev, out=out, progress=False))
    assert (out / "precious.txt").read_text() == "keep"


def test_overwrite_refuses_a_folder_that_is_not_a_task_model(tiny_encoder, task_data, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    train, dev = task_data["ner"]
    with pytest.raises(EdgeTimeError, match=r"--overwrite refuses to replace .*mine: it is not a folder edge-time "
                                            r"wrote \(no edge_time_task.json inside\)"):
        finetune(FinetuneConfig(task="ner", model=tiny_encoder, train=train, dev=dev, out=out, overwrite=True,
                                progress=False))
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"] and (out / "precious.txt").read_text() == "keep"


def test_training_file_needs_annotation(tiny_encoder, tmp_path, task_data):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tcats\tcat\tNOUN\t_\t_\t_\t_\t_\t_\n\n", encoding="utf-8")
    with pytest.raises(EdgeTimeError, match=rf"{bad}:1: labelled words need UPOS, HEAD and DEPREL"):
        finetune(FinetuneConfig(task="ud", model=tiny_encoder, train=bad, dev=task_data["ud"][1],
                                out=tmp_path / "m", progress=False))


def test_cli_predict_and_evaluate(trained, task_data, tmp_path):
    runner = CliRunner()
    ud = str(trained["ud"].out)
    result = runner.invoke(main, ["predict", "--model", ud, "--text", "The cats sees a dog."])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.output.splitlines() if line and not line.startswith("#")]
    assert [r[1] for r in rows] == ["The", "cats", "sees", "a", "dog", "."]
    assert sum(r[6] == "0" for r in rows) == 1  # one root

    out = tmp_path / "pred.conllu"
    result = runner.invoke(main, ["predict", "--model", ud, "--input", str(task_data["ud"][1]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "4-5\t" in text and "3.1\t" in text  # multi-word token ranges and empty nodes are written back

    result = runner.invoke(main, ["evaluate", "--model", str(trained["ner"].out), "--data", str(task_data["ner"][1])])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["scores"] == trained["ner"].best_scores
    stages = report["stage_seconds"]  # where the timed pass went: a part of it, every stage seen
    assert set(stages) == {"inputs", "graph", "decode"} and all(v >= 0 for v in stages.values())
    assert stages["graph"] > 0 and sum(stages.values()) <= report["seconds"] + 0.002  # each rounded to ms

    qa_input = tmp_path / "q.jsonl"
    qa_input.write_text(json.dumps({"question": "who lives in rome ?", "context": "anna lives in rome ."}) + "\n")
    result = runner.invoke(main, ["predict", "--model", str(trained["qa"].out), "--input", str(qa_input)])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["text"] == "anna lives in rome ."[answer["start"]:answer["end"]]


def test_cli_errors_are_one_line(trained, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["predict", "--text", "hi"])
    assert result.exit_code == 2 and "exactly one of --model" in result.output
    result = runner.invoke(main, ["predict", "--model", str(tmp_path), "--text", "hi"])
    assert result.exit_code == 2 and "edge_time_task.json" in result.output
    assert len(result.output.strip().splitlines()) == 1
    ner_train = str(trained["ner"].out / "edge_time_task.json")  # never read: the option is refused first
    result = runner.invoke(main, ["finetune", "--task", "ner", "--model", str(tmp_path), "--train", ner_train,
                                  "--dev", ner_train, "--out", str(tmp_path / "ner"), "--head-mlp", "128"])
    assert result.exit_code == 2 and "the ner head has none: drop --head-mlp" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "ner").exists()


def test_predictor_api_for_classification(trained):
    predictor = load_predictor(trained["cls"].out)
    (result,) = predictor.classify(["the cat is very good"])
    assert result.label in ("pos", "neg") and sum(result.scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_freeze_embeddings_keeps_the_embedding_matrix(tiny_encoder, task_data, tmp_path):
    train, dev = task_data["ner"]
    out = tmp_path / "frozen"
    finetune(FinetuneConfig(task="ner", model=tiny_encoder, train=train, dev=dev, out=out, max_steps=2,
                            learning_rate=1e-2, freeze_embeddings=True, head=dict(SMALL_HEAD), progress=False))
    key = "embeddings.word_embeddings.weight"
    before, after = load_file(str(tiny_encoder / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert (before[key] == after[key]).all()
    assert not (before["embeddings.position_embeddings.weight"] == after["embeddings.position_embeddings.weight"]).all()
