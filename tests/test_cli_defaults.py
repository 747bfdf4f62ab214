"""The CLI's defaults are the API's: every option named after a config field shows that field's default,
and building the commands (`edge-time --help`) loads no torch, because the configs live in torch-free modules."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import click
import pytest

from edge_time.bench.config import BenchConfig
from edge_time.cli import main
from edge_time.distill.config import DistillConfig
from edge_time.exporters.options import ExportOptions, ParityThresholds
from edge_time.profiler.target import ProfileConfig, RunConfig
from edge_time.quickstart import QuickstartConfig
from edge_time.runtime.predict import BATCH_SIZE
from edge_time.tasks.config import FinetuneConfig

# command, its config dataclasses, and the options named otherwise than their field (None: no field)
COMMANDS = [
    (("finetune",), (FinetuneConfig,), {"lr": "learning_rate", "head_lr": "head_learning_rate",
                                         "train_path": "train", "dev_path": "dev"}),
    (("export",), (ExportOptions, ParityThresholds), {"parity_texts": None}),  # a file of texts, not the texts
    (("distill",), (DistillConfig,), {}),
    (("bench",), (BenchConfig,), {"spacy_pipeline": "spacy"}),
    (("profile", "run"), (RunConfig, ProfileConfig),
     {"duration": "duration_s", "cooldown": "cooldown_s", "wait_cool": "wait_cool_s", "sample_period": "sample_period_s",
      "settle": "settle_s", "timeout": "timeout_s", "ssh_accept_new": "accept_new_host", "out_dir": "out"}),
    (("quickstart",), (QuickstartConfig,), {}),
]


def command_at(path: tuple[str, ...]) -> click.Command:
    command = main
    for name in path:
        command = command.commands[name]
    return command


def field_default(field: dataclasses.Field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def comparable(value, like):
    """The option's parsed default in the field's shape: paths as text, sequences as lists (an empty
    repeatable option is the field's None or []), comma-separated text split (--relations, --targets)."""
    if isinstance(value, str) and isinstance(like, (list, tuple)):
        value = value.split(",")
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, (list, tuple)):
        return list(value) or None
    return value


@pytest.mark.parametrize("path,configs,renamed", COMMANDS, ids=[" ".join(path) for path, _, _ in COMMANDS])
def test_option_defaults_are_the_config_defaults(path, configs, renamed):
    command = command_at(path)
    fields = {f.name: f for config in configs for f in dataclasses.fields(config)}
    received = command.make_context(path[-1], [], resilient_parsing=True).params  # what the command gets
    checked, wrong = [], []
    for param in command.params:
        name = renamed.get(param.name, param.name)
        if not isinstance(param, click.Option) or param.required or name not in fields:
            continue
        expected = field_default(fields[name])
        if expected is dataclasses.MISSING:
            continue
        checked.append(name)
        value = received[param.name]
        if comparable(value, expected) != comparable(expected, expected):
            wrong.append(f"--{param.name.replace('_', '-')}: CLI {value!r}, {name} {expected!r}")
    assert len(checked) >= 4, f"{' '.join(path)}: only {checked} matched a config field"
    assert not wrong, "\n".join(wrong)



@pytest.mark.parametrize("name", ["evaluate", "predict"])
def test_prediction_batch_size_is_the_runtimes(name):
    received = main.commands[name].make_context(name, [], resilient_parsing=True).params
    assert received["batch_size"] == BATCH_SIZE

def test_building_the_cli_and_its_help_loads_no_torch():
    """The commands' choices and defaults come from torch-free modules: `--help` works without torch."""
    helps = [[], *([*path] for path, _, _ in COMMANDS), ["evaluate"], ["predict"], ["inspect"]]
    code = ("import sys; sys.modules['torch'] = sys.modules['transformers'] = None; "
            "from edge_time.cli import main\n"
            f"for args in {helps!r}:\n"
            "    try:\n"
            "        main([*args, '--help'])\n"
            "    except SystemExit as exc:\n"
            "        assert exc.code == 0, (args, exc.code)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "edge-time distill" in done.stdout and "--head-init" in done.stdout
