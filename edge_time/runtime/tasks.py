"""The device-side slice of each task: the graph's inputs and outputs (no torch).

A task's graph takes ``input_ids``, ``attention_mask`` (``position_ids`` in the tflite-runtime
form), then its ``word_inputs``, and returns its ``outputs`` in order. The exporter writes these
into the manifest, the runtime builds and reads them (:class:`edge_time.runtime.predict.TaskPredictor`
decodes them), and :class:`edge_time.tasks.data.Task` adds everything the host needs on top.
"""

from __future__ import annotations

from typing import ClassVar

from edge_time.bundle import TensorSpec

WORD_INPUTS = ("word_pool", "word_mask")  # built outside the graph: runtime.predict.word_inputs


class TaskGraph:
    """One task's graph signature."""

    name: ClassVar[str]
    outputs: ClassVar[tuple[str, ...]]
    word_inputs: ClassVar[tuple[str, ...]] = ()
    min_words: ClassVar[int] = 1  # lower bound of the words axis (UD: the root row and a word)

    @property
    def word_level(self) -> bool:
        return bool(self.word_inputs)

    @property
    def output_mask(self) -> str | None:
        """The input that marks the real positions of every output (parity compares those only)."""
        return "word_mask" if self.word_level else None

    def input_specs(self, names: list[str]) -> list[TensorSpec]:
        """``names``: the token inputs of the graph; the word inputs follow them."""
        specs = [TensorSpec(n, "int64", ["batch", "seq"]) for n in names]
        if self.word_level:
            specs += [TensorSpec("word_pool", "float32", ["batch", "words", "seq"]),
                      TensorSpec("word_mask", "int64", ["batch", "words"])]
        return specs

    def output_specs(self, labels: dict[str, list[str]]) -> list[TensorSpec]:
        raise NotImplementedError


class UDGraph(TaskGraph):
    name = "ud"
    outputs = ("upos", "xpos", "feats", "lemma_rule", "arc", "deprel")
    word_inputs = WORD_INPUTS
    min_words = 2

    def output_specs(self, labels):
        tags = [TensorSpec(n, "float32", ["batch", "words", len(labels[n])]) for n in self.outputs[:4]]
        return tags + [TensorSpec("arc", "float32", ["batch", "words", "words"]),
                       TensorSpec("deprel", "float32", ["batch", "words", "words", len(labels["deprel"])])]


class NERGraph(TaskGraph):
    name = "ner"
    outputs = ("tags",)
    word_inputs = WORD_INPUTS

    def output_specs(self, labels):
        return [TensorSpec("tags", "float32", ["batch", "words", len(labels["tags"])])]


class ClsGraph(TaskGraph):
    name = "cls"
    outputs = ("logits",)

    def output_specs(self, labels):
        return [TensorSpec("logits", "float32", ["batch", len(labels["labels"])])]


class QAGraph(TaskGraph):
    name = "qa"
    outputs = ("start_logits", "end_logits")

    @property
    def output_mask(self) -> str | None:
        return "attention_mask"

    def output_specs(self, labels):
        return [TensorSpec(n, "float32", ["batch", "seq"]) for n in self.outputs]


# the one list of tasks: bundle.TASKS reads it, edge_time.tasks.data.TASK_CLASSES is tested against it
TASK_GRAPHS: dict[str, TaskGraph] = {graph.name: graph for graph in (UDGraph(), NERGraph(), ClsGraph(), QAGraph())}
