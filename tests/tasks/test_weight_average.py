"""The EMA of the weights (`finetune --ema`): the average's arithmetic, the swap in and out, and a fine-tuning
run that scores and saves the average while training exactly as it would without it."""

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from edge_time.errors import EdgeTimeError
from edge_time.tasks import evaluate
from edge_time.tasks.train import FinetuneConfig, finetune
from edge_time.tasks.weight_average import WeightAverage

from tasks_helpers import SMALL_HEAD


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2))
    model[0].weight.requires_grad_(False)  # frozen: never averaged
    return model


def test_the_average_follows_the_weights_at_the_decay():
    model = _model()
    start = model[1].weight.detach().clone()
    average = WeightAverage(model, decay=0.75)
    assert len(average.params) == 2  # the linear's weight and bias, not the frozen embedding
    steps = [start + 1.0, start + 3.0]
    for weights in steps:
        with torch.no_grad():
            model[1].weight.copy_(weights)
        average.update()
    expected = 0.75 * (0.75 * start + 0.25 * steps[0]) + 0.25 * steps[1]
    torch.testing.assert_close(average.average[0], expected)


def test_applied_swaps_the_average_in_and_the_training_weights_back():
    model = _model()
    average = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model[1].weight.add_(2.0)
    trained = model[1].weight.detach().clone()
    average.update()
    with average.applied():
        torch.testing.assert_close(model[1].weight, trained - 1.0)  # halfway between start and now
    assert torch.equal(model[1].weight, trained)
    with pytest.raises(RuntimeError), average.applied():
        raise RuntimeError("evaluation failed")
    assert torch.equal(model[1].weight, trained)  # restored on errors too


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1])
def test_decay_outside_the_open_interval_is_refused(decay):
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(_model(), decay)


def test_finetune_scores_and_saves_the_average_and_trains_as_without_it(tiny_encoder, task_data, tmp_path):
    train, dev = task_data["ud"]

    def run(name: str, ema: float):
        return finetune(FinetuneConfig(task="ud", model=tiny_encoder, train=train, dev=dev, out=tmp_path / name,
                                       max_steps=8, eval_every=8, batch_size=8, learning_rate=1e-3,
                                       head_learning_rate=3e-3, patience=10, seed=3, ema_decay=ema,
                                       head=dict(SMALL_HEAD), progress=False))

    plain, averaged = run("plain", 0.0), run("ema", 0.5)
    assert plain.losses == averaged.losses  # scoring the average leaves the training weights as they were
    assert [h["raw"]["LAS"] for h in averaged.history] == [h["LAS"] for h in plain.history]
    assert "raw" not in plain.history[0]
    spec = json.loads((tmp_path / "ema" / "edge_time_task.json").read_text())
    assert spec["training"]["ema_decay"] == 0.5
    assert plain.best_step == averaged.best_step == 8  # one evaluation, at the last step
    saved = load_file(str(tmp_path / "ema" / "model.safetensors"))
    trained = load_file(str(tmp_path / "plain" / "model.safetensors"))  # the training weights at the same step
    assert any(not torch.equal(saved[k], trained[k]) for k in saved)  # the average was saved
    assert evaluate(tmp_path / "ema", dev).scores == averaged.best_scores  # what was scored is what was saved


def test_finetune_refuses_a_decay_of_one_before_any_work(tiny_encoder, task_data, tmp_path):
    train, dev = task_data["ud"]
    with pytest.raises(EdgeTimeError, match=r"--ema 1.0 must be in \[0, 1\)"):
        finetune(FinetuneConfig(task="ud", model=tiny_encoder, train=train, dev=dev, out=tmp_path / "m",
                                max_steps=2, ema_decay=1.0, head=dict(SMALL_HEAD), progress=False))
    assert not (tmp_path / "m").exists()
