"""What `edge-time bench` measures: fine-tuned task models and their bundles, behind one small interface.

Every contender (an edge-time task model folder, an exported bundle, a spaCy pipeline) is a
:class:`System`: ``prepare`` turns gold examples into what the system reads (outside the timed
region), ``predict`` runs one batch of them to task predictions (timed: tokenization, graph and
decoding), ``score`` scores predictions with the task's standard scorer. Folders are inspected
before anything heavy loads, so a wrong path, a plain encoder or a task mix fails at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_time.bundle import MANIFEST_NAME, read_manifest
from edge_time.errors import EdgeTimeError
from edge_time.modeling.spec import TASK_CONFIG_NAME, weights_sha256
from edge_time.tasks.data import get_task

@dataclass
class System:
    """One contender. Subclasses fill the figures that do not need timing (size, parameters)."""

    name: str
    path: str
    family: str  # "edge-time" | "spaCy"
    kind: str  # "PyTorch", "onnx int8-dynamic", "spaCy 3.8.18", ...
    task: str
    size_mb: float | None = None
    parameters: int | None = None
    notes: list[str] = field(default_factory=list)

    def load(self, batch_size: int, threads: int, parallel: str = "ops", batch_tokens: int | None = None) -> None:
        """(Re)load with ``threads``; a system capped from outside (threadpoolctl) has nothing to do."""

    @property
    def batch_workers(self) -> int:
        """Batches the measurement may keep in flight at once (see run_pass)."""
        return 1

    def prepare(self, examples: list) -> list:
        return examples

    def batch_lengths(self, examples: list) -> list[int] | None:
        """The length per example that this system's cost follows, which its batches are sorted by
        (None: the task's word count)."""
        return None

    def predict(self, batch: list) -> list:
        raise NotImplementedError

    def pop_stage_seconds(self) -> dict[str, float] | None:
        """Seconds per pipeline stage (edge_time.runtime.stages.STAGES) of the predict calls since the
        last pop; None for a system that does not split its time so."""
        return None

    def score(self, examples: list, predictions: list) -> dict[str, float | None]:
        raise NotImplementedError


@dataclass
class ModelInfo:
    """A task model folder or bundle as read from its JSON, before any weights load."""

    path: Path
    task: str
    labels: dict[str, list[str]]
    kind: str
    size_mb: float
    parameters: int | None


def _megabytes(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def _safetensors_parameters(folder: Path) -> int:
    """Parameter count from the safetensors headers (no weights are read)."""
    from safetensors import safe_open

    total = 0
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), "np") as handle:
            total += sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
    return total


def inspect_model(path: str | Path) -> ModelInfo:
    """Read a task model folder (edge_time_task.json) or bundle (manifest.json); one-line errors otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise EdgeTimeError(f"--models {path}: no such folder; pass a task model folder (`edge-time finetune`) "
                            f"or a bundle folder (`edge-time export`)")
    if (path / MANIFEST_NAME).is_file():
        manifest = read_manifest(path, verify=False)  # load_bundle verifies the sha256s when it loads
        if manifest.task == "encoder":
            raise EdgeTimeError(f"{path} is a plain encoder bundle without a task head; fine-tune the encoder first "
                                f"(`edge-time finetune --task ud|ner|cls|qa --model ENCODER ...`) and export that "
                                f"task model")
        graphs = [path / rel for rel in manifest.files if rel != manifest.tokenizer.file and not rel.endswith(".json")]
        quantization = "fp32" if manifest.quantization == "none" else manifest.quantization
        return ModelInfo(path, manifest.task, manifest.labels, f"{manifest.target} {quantization}",
                         _megabytes(graphs), _source_parameters(manifest.source))
    if (path / TASK_CONFIG_NAME).is_file():
        from edge_time.tasks.checkpoint import TaskSpec

        spec = TaskSpec.read(path)
        return ModelInfo(path, spec.task, spec.labels, "PyTorch", _megabytes(sorted(path.glob("*.safetensors"))),
                         _safetensors_parameters(path))
    if (path / "config.json").is_file():
        raise EdgeTimeError(f"{path} is a plain encoder without a task head; fine-tune it first: `edge-time finetune "
                            f"--task ud|ner|cls|qa --model {path} --train TRAIN --dev DEV --out {path.name}-task`")
    raise EdgeTimeError(f"{path} is neither a task model folder ({TASK_CONFIG_NAME}) nor a bundle ({MANIFEST_NAME}); "
                        f"pass what `edge-time finetune` or `edge-time export` wrote")


def _source_parameters(source: dict[str, Any]) -> int | None:
    """A bundle's parameters are its source model's, known when that folder is still there unchanged."""
    folder = Path(str(source.get("model", "")))
    if not source.get("sha256") or not (folder / TASK_CONFIG_NAME).is_file():
        return None
    if weights_sha256(folder) != source["sha256"]:
        return None
    return _safetensors_parameters(folder)


class EdgeTimeSystem(System):
    """A fine-tuned task model (PyTorch) or its bundle, run through the shared TaskPredictor."""

    def __init__(self, info: ModelInfo, name: str):
        super().__init__(name=name, path=str(info.path), family="edge-time", kind=info.kind, task=info.task,
                         size_mb=info.size_mb, parameters=info.parameters)
        self.info = info
        self.predictor = None

    def load(self, batch_size: int, threads: int, parallel: str = "ops", batch_tokens: int | None = None) -> None:
        from edge_time.tasks.api import load_predictor

        # under --parallel batches, "auto" runs batches at once where the runtime can (ONNX), else one at a time
        self.predictor = load_predictor(self.info.path, batch_size=batch_size, threads=threads,
                                        parallel="auto" if parallel == "batches" else "ops", batch_tokens=batch_tokens)
        if parallel == "batches" and threads > 1:
            self._note(f"--parallel batches: {self.batch_workers} batches at once, one thread each"
                       if self.batch_workers > 1 else
                       f"runs one batch at a time under --parallel batches ({self.kind}: one call at a time)")
        if batch_tokens and self.task in ("ud", "ner"):
            self._note(f"each batch also holds at most {batch_tokens} padded tokens (--batch-tokens): long "
                       f"sentences run in smaller graph calls")
        if self.predictor.batch_size < batch_size:  # loaded again per thread count: noted once
            self._note(f"the bundle's batch axis stops at {self.predictor.batch_size}; larger batches run as "
                       f"several graph calls")

    @property
    def batch_workers(self) -> int:
        return getattr(self.predictor, "batch_workers", 1)

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def batch_lengths(self, examples: list) -> list[int] | None:
        """Token counts for word-level tasks: the graph's cost follows tokens, and the predictor sorts its
        own batches by them (TaskPredictor._map_word_batches), so the bench batches as a user's whole-file
        ``parse`` would."""
        reader = get_task(self.task)
        if not reader.graph.word_level:
            return None
        encodings = self.predictor.text_encoder.tokenize_words([reader.words(e) for e in examples])
        return [len(e.ids) for e in encodings]

    def predict(self, batch: list) -> list:
        return get_task(self.task).predict(self.predictor, batch)

    def pop_stage_seconds(self) -> dict[str, float] | None:
        return self.predictor.stages.pop()

    def score(self, examples: list, predictions: list) -> dict[str, float | None]:
        return get_task(self.task).score(examples, predictions)


def read_task_data(path: str | Path, task: str, models: list[ModelInfo]) -> list:
    """The labelled evaluation examples, read by the task's reader; format mistakes become one line."""
    path = Path(path)
    reader = get_task(task)
    try:
        examples = reader.read(path)
        for info in models:
            reader.check_eval(path, examples, info.labels)
    except EdgeTimeError as exc:
        raise EdgeTimeError(f"--task-data {path}: these are {task!r} models, which need {reader.data_format} data: "
                            f"{exc}") from exc
    if task == "ud" and not any(w.head is not None for s in examples for w in s.words):
        raise EdgeTimeError(f"--task-data {path} has no gold HEAD/DEPREL annotation; bench needs a labelled "
                            f"CoNLL-U file to score against")
    return examples
