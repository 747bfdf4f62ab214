"""benchmarks/ud_shape_speed.py's cut models: a trained UD model sliced to another student shape must
load as that shape and parse (its speed is what the benchmark reports; its accuracy is not)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from ud_shape_speed import cut_model, parse_variant  # noqa: E402


def test_variant_specs_parse_and_bad_ones_are_refused():
    assert parse_variant("base") == {}
    assert parse_variant("heads=4,mlp=128,layers=3") == {"heads": 4, "mlp": 128, "layers": 3}
    with pytest.raises(SystemExit, match="KEY=N"):
        parse_variant("width=3")


def test_a_cut_model_has_the_new_shape_and_parses(trained, tmp_path):
    from edge_time.tasks.checkpoint import load_task_model

    source = trained["ud"].out
    config = json.loads((source / "config.json").read_text())
    mlp = json.loads((source / "edge_time_task.json").read_text())["head"]["mlp"]
    cut_model(source, tmp_path / "cut", heads=1, mlp=mlp // 2, layers=config["num_hidden_layers"] - 1)
    loaded = load_task_model(tmp_path / "cut")
    encoder = loaded.hf_model.config
    assert (encoder.num_attention_heads, encoder.num_hidden_layers) == (1, config["num_hidden_layers"] - 1)
    assert loaded.head.tag["upos"].inner == mlp // 2
    parses = loaded.predictor().parse([["Praha", "je", "město", "."], ["Ahoj"]])
    assert [len(p.heads) for p in parses] == [4, 1]
    with pytest.raises(SystemExit, match="wider than"):
        cut_model(source, tmp_path / "wide", mlp=mlp * 2)
