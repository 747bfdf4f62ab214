"""The fine-tuning recipe: encoder + task head, AdamW, warmup + cosine, dev evaluation, early stopping.

Read top to bottom: load data and encoder -> build the head -> train, scoring dev after each
epoch (or every ``eval_every`` steps) -> keep the best checkpoint (atomic save) -> stop after
``patience`` evaluations without improvement.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_time.atomic import write_json_atomic
from edge_time.bundle import BundleError
from edge_time.errors import EdgeTimeError
from edge_time.modeling.spec import load_hf_encoder, resolve_model_dir
from edge_time.tasks.checkpoint import TaskSpec, save_task_model, text_encoder_for, torch_predictor
from edge_time.tasks.data import get_task
from edge_time.tasks.heads import WORD_INPUTS, HFStack, build_head, task_model

RESULT_NAME = "finetune_result.json"  # the finished run's record; absent while training still runs


@dataclass
class FinetuneConfig:
    """Everything a fine-tuning run needs; the CLI fills it from its options."""

    task: str  # ud | ner | cls | qa
    model: Path  # HF encoder folder (a distilled student or a teacher)
    train: Path
    dev: Path
    out: Path
    epochs: int = 10
    batch_size: int = 16
    learning_rate: float = 5e-5  # encoder
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    label_smoothing: float = 0.1  # UD taggers and classification; not NER/QA spans
    patience: int = 3  # evaluations without dev improvement before stopping
    eval_every: int | None = None  # steps between dev evaluations (default: once per epoch)
    max_steps: int | None = None
    max_length: int = 512
    max_train_examples: int | None = None
    seed: int = 42
    head: dict[str, Any] = field(default_factory=dict)  # head sizes: mlp, arc, rel, dropout
    freeze_embeddings: bool = False  # keep the (vocabulary x hidden) matrices fixed: much faster for big vocabularies
    overwrite: bool = False
    progress: bool = True


@dataclass
class FinetuneResult:
    out: Path
    best_scores: dict[str, float]
    best_step: int
    steps: int
    train_seconds: float
    train_words_per_second: float
    history: list[dict[str, Any]]
    losses: list[float]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _schedule(total: int, warmup: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def finetune(config: FinetuneConfig) -> FinetuneResult:
    """Fine-tune ``config.model`` on ``config.train``; the best dev checkpoint ends up in ``config.out``."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    if not config.progress:
        hf_logging.disable_progress_bar()  # weight loading/saving bars
    out = Path(config.out)
    if out.exists() and not config.overwrite:
        raise EdgeTimeError(f"output {out} already exists; choose another --out or pass --overwrite")
    seed_everything(config.seed)
    task = get_task(config.task)
    model_dir = resolve_model_dir(config.model)
    train = task.read(Path(config.train), for_training=True)
    dev = task.read(Path(config.dev))
    if config.max_train_examples:
        train = train[: config.max_train_examples]
    labels = task.build_labels(train)
    task.check_eval(Path(config.dev), dev, labels)

    hf_model = load_hf_encoder(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=True)
    with tempfile.TemporaryDirectory() as tmp:
        text_encoder = text_encoder_for(model_dir, Path(tmp), config.max_length,
                                        getattr(hf_model.config, "max_position_embeddings", None))
    num_states = hf_model.config.num_hidden_layers + 1
    head = build_head(task.name, hf_model.config.hidden_size, num_states, labels, config.head)
    module = task_model(task.name, HFStack(hf_model), head)
    spec = TaskSpec(task=task.name, labels=labels, head=dict(config.head), task_config=dict(task.task_config),
                    max_length=text_encoder.max_length,
                    training={"base_model": str(config.model), "train": str(config.train), "dev": str(config.dev),
                              "seed": config.seed, "freeze_embeddings": config.freeze_embeddings})
    predictor = torch_predictor(module, spec, text_encoder, batch_size=max(config.batch_size, 32))
    input_names = ("input_ids", "attention_mask") + WORD_INPUTS[task.name]

    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total = config.max_steps or steps_per_epoch * config.epochs
    if config.freeze_embeddings:
        hf_model.get_input_embeddings().weight.requires_grad_(False)
    encoder_params = [p for p in hf_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": encoder_params, "lr": config.learning_rate},
         {"params": head.parameters(), "lr": config.head_learning_rate}],
        weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total, int(config.warmup_ratio * total)))
    eval_every = config.eval_every or steps_per_epoch

    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=f"finetune {task.name}", unit="step", disable=not config.progress)
    best_score, best_step, bad_evals = -math.inf, 0, 0
    best_scores: dict[str, float] = {}
    history, losses = [], []
    step, words_seen, train_seconds = 0, 0, 0.0
    rng = random.Random(config.seed)
    stop = False
    while not stop:
        order = list(range(len(train)))
        rng.shuffle(order)
        for start in range(0, len(order), config.batch_size):
            batch = [train[i] for i in order[start:start + config.batch_size]]
            began = time.perf_counter()
            module.train()
            arrays = task.inputs(predictor, batch)
            targets = task.targets(batch, arrays, labels)
            outputs = module(*[torch.from_numpy(arrays[name]) for name in input_names])
            loss = task.loss(outputs, targets, config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            train_seconds += time.perf_counter() - began
            words_seen += sum(len(task.words(e)) for e in batch)
            step += 1
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", best=f"{best_score:.2f}" if best_scores else "-")
            if step % eval_every == 0 or step == total:
                scores = task.score(dev, task.predict(predictor, dev))
                history.append({"step": step, "loss": losses[-1], **scores})
                if scores[task.main_metric] > best_score:
                    best_score, best_step, best_scores, bad_evals = scores[task.main_metric], step, scores, 0
                    spec.training.update(best_step=best_step, dev_scores=scores)
                    _save(out, spec, hf_model, head, tokenizer)
                else:
                    bad_evals += 1
                bar.write(f"step {step}: dev {json.dumps(scores)}")
                if bad_evals >= config.patience:
                    bar.write(f"no dev improvement in {config.patience} evaluations: stopping early")
                    stop = True
            if step >= total or stop:
                stop = True
                break
    bar.close()
    result = FinetuneResult(out, best_scores, best_step, step, train_seconds,
                            words_seen / train_seconds if train_seconds else 0.0, history, losses)
    if out.is_dir():  # written last: a folder with it holds a finished run, not a mid-run best checkpoint
        write_json_atomic(out / RESULT_NAME, {
            "best_step": best_step, "steps": step, "train_seconds": round(train_seconds, 1),
            "train_words_per_second": round(result.train_words_per_second, 1), "dev": best_scores,
            "history": history})
    return result


def _save(out: Path, spec: TaskSpec, hf_model, head, tokenizer) -> None:
    try:
        save_task_model(out, spec, hf_model, head, tokenizer, overwrite=True)
    except BundleError as exc:
        raise EdgeTimeError(f"cannot save the checkpoint to {out}: {exc}") from exc
