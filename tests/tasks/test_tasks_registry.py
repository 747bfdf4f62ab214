"""One list of tasks: the host-side Task classes, their device-side graphs, the manifest and the CLI agree."""

from __future__ import annotations

import pytest

from edge_time import bundle
from edge_time.cli.tasks import finetune
from edge_time.runtime.tasks import TASK_GRAPHS
from edge_time.tasks.data import TASK_CLASSES, get_task


def test_tasks_graphs_manifest_and_cli_list_the_same_tasks():
    assert list(TASK_CLASSES) == list(TASK_GRAPHS) == list(bundle.TASKS[1:])  # bundle.TASKS[0]: plain encoders
    choices = next(p for p in finetune.params if p.name == "task").type.choices
    assert list(choices) == list(TASK_GRAPHS)


@pytest.mark.parametrize("name", list(TASK_CLASSES))
def test_each_task_owns_consistent_facts(name):
    task = get_task(name)
    assert task.name == name and task.graph.name == name
    assert {task.main_metric, task.bench_metric, *task.bench_columns} <= set(task.score_names)
    assert task.unit in ("words", "examples") and task.data_format and task.file_suffix.startswith(".")
    assert task.graph.word_level == (task.unit == "words")
