"""The fine-tuned task model folder: HF encoder files + ``edge_time_task.json`` + ``head.safetensors``.

Any Hugging Face tool can still load the encoder from the folder; edge-time reads the task
description and head weights beside it. Writes are atomic (a temp folder renamed into place),
weights are safetensors only.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from edge_time.bundle import INCOMPLETE_NAME, staging_dir
from edge_time.errors import EdgeTimeError
from edge_time.modeling.spec import TASK_CONFIG_NAME, load_hf_encoder, load_tokenizer_files
from edge_time.runtime.predict import BATCH_SIZE, TaskPredictor
from edge_time.runtime.tokenize import TextEncoder
from edge_time.runtime.tasks import TASK_GRAPHS
from edge_time.tasks.data import get_task
from edge_time.tasks.heads import HFStack, TaskModel, task_model

HEAD_WEIGHTS = "head.safetensors"
FORMAT_VERSION = 1


class TaskModelError(EdgeTimeError):
    """A task model folder is missing files or is not a task model."""


@dataclass
class TaskSpec:
    """What ``edge_time_task.json`` holds: everything but weights."""

    task: str
    labels: dict[str, list[str]]
    head: dict[str, Any] = field(default_factory=dict)  # head sizes and dropout
    task_config: dict[str, Any] = field(default_factory=dict)  # what runtime decoding needs
    max_length: int = 512
    training: dict[str, Any] = field(default_factory=dict)  # provenance, dev scores
    format_version: int = FORMAT_VERSION

    @classmethod
    def read(cls, model_dir: Path) -> "TaskSpec":
        path = Path(model_dir) / TASK_CONFIG_NAME
        if (Path(model_dir) / INCOMPLETE_NAME).exists():
            raise TaskModelError(f"{model_dir} is an unfinished task model (its run was interrupted); run "
                                 f"`edge-time finetune` again")
        if not path.is_file():
            raise TaskModelError(f"{model_dir} has no {TASK_CONFIG_NAME}; pass a folder written by `edge-time finetune`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            spec = cls(**data)
        except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
            raise TaskModelError(f"{path} is malformed ({exc}); re-run `edge-time finetune`") from exc
        if spec.format_version != FORMAT_VERSION or spec.task not in TASK_GRAPHS:
            raise TaskModelError(f"{path}: task {spec.task!r} / format {spec.format_version} is not supported by this "
                                 f"edge-time; re-run `edge-time finetune`")
        return spec


@dataclass
class LoadedTaskModel:
    spec: TaskSpec
    hf_model: torch.nn.Module
    head: torch.nn.Module
    text_encoder: TextEncoder
    model_dir: Path

    def training_module(self) -> TaskModel:
        return task_model(self.spec.task, HFStack(self.hf_model), self.head)

    def predictor(self, batch_size: int = BATCH_SIZE) -> TaskPredictor:
        """Predictions from the PyTorch model through the same input building and decoding as bundles."""
        return torch_predictor(self.training_module(), self.spec, self.text_encoder, batch_size)


def torch_predictor(module: TaskModel, spec: TaskSpec, text_encoder: TextEncoder,
                    batch_size: int = BATCH_SIZE) -> TaskPredictor:
    graph = TASK_GRAPHS[spec.task]
    input_names = ("input_ids", "attention_mask") + graph.word_inputs
    output_names = graph.outputs

    def run(arrays):
        was_training = module.training
        module.eval()
        with torch.no_grad():
            outputs = module(*[torch.from_numpy(arrays[name]) for name in input_names])
        module.train(was_training)
        return {name: out.float().numpy() for name, out in zip(output_names, outputs)}

    return TaskPredictor(spec.task, spec.labels, spec.task_config, text_encoder, run, batch_size=batch_size)


def text_encoder_for(model_dir: Path, work_dir: Path, max_length: int, max_positions: int | None = None) -> TextEncoder:
    """The model's tokenizer as the runtime uses it; ``max_length`` capped by the position table."""
    info = load_tokenizer_files(model_dir, work_dir)
    if max_positions is not None:
        max_length = min(max_length, max_positions - info.position_offset)
    return TextEncoder(work_dir / info.file, info, max_length)


def load_task_model(model_dir: str | Path, tokenizer_dir: Path | None = None) -> LoadedTaskModel:
    """The task model of ``model_dir``; ``tokenizer_dir`` keeps the tokenizer files it writes (the exporter
    copies them into the bundle), else they go to a temporary folder."""
    model_dir = Path(model_dir)
    spec = TaskSpec.read(model_dir)
    if not (model_dir / HEAD_WEIGHTS).is_file():
        raise TaskModelError(f"{model_dir} has no {HEAD_WEIGHTS}; the task model folder is incomplete")
    hf_model = load_hf_encoder(model_dir)
    num_states = hf_model.config.num_hidden_layers + 1
    head = get_task(spec.task).build_head(hf_model.config.hidden_size, num_states, spec.labels, spec.head)
    head.load_state_dict(load_file(str(model_dir / HEAD_WEIGHTS)))
    head.eval()
    if tokenizer_dir is not None:
        text_encoder = text_encoder_for(model_dir, tokenizer_dir, spec.max_length)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            text_encoder = text_encoder_for(model_dir, Path(tmp), spec.max_length)
    return LoadedTaskModel(spec, hf_model, head, text_encoder, model_dir)


def save_task_model(out: Path, spec: TaskSpec, hf_model: torch.nn.Module, head: torch.nn.Module, tokenizer,
                    overwrite: bool = True) -> None:
    """Write the whole folder to a temp folder beside ``out`` and rename it into place."""
    with staging_dir(out, overwrite=overwrite, marker=TASK_CONFIG_NAME) as tmp:
        hf_model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        state = {k: v.detach().contiguous().cpu() for k, v in head.state_dict().items()}
        save_file(state, str(tmp / HEAD_WEIGHTS))
        (tmp / TASK_CONFIG_NAME).write_text(json.dumps(asdict(spec), indent=2, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
