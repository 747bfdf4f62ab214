"""The fine-tuning recipe: encoder + task head, AdamW, warmup + cosine, dev evaluation, early stopping.

Read top to bottom: load data and encoder -> build the head (the teacher's label inventory when
task-distilling) -> optionally learn a fine-tuned teacher's soft outputs on unlabelled text
(:mod:`edge_time.tasks.task_distill`) -> train on gold in length-bucketed batches
(:mod:`edge_time.tasks.batching`), scoring dev after each epoch (or every ``eval_every`` steps), with
an EMA of the weights when ``ema_decay`` is set (:mod:`edge_time.tasks.weight_average`)
-> keep the best checkpoint (atomic save) -> stop after ``patience`` evaluations without
improvement. bf16 autocast where the CPU/GPU has native bf16 (:mod:`edge_time.compute`); large
multilingual embedding matrices frozen by default.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_time.atomic import write_json_atomic
from edge_time.bundle import BundleError, check_replaceable
from edge_time.compute import autocast, resolve_precision
from edge_time.errors import EdgeTimeError
from edge_time.modeling.spec import TASK_CONFIG_NAME, load_hf_encoder, resolve_model_dir
from edge_time.tasks.checkpoint import TaskSpec, load_task_model, save_task_model, text_encoder_for, torch_predictor
from edge_time.tasks.config import FinetuneConfig
from edge_time.tasks.batching import bucketed_batches, text_length
from edge_time.tasks.data import get_task
from edge_time.tasks.head_init import init_head_from_teacher
from edge_time.tasks.task_distill import distill_task, read_unlabeled
from edge_time.tasks.heads import HFStack, build_head, task_model
from edge_time.tasks.vocab_check import check_segmentation
from edge_time.tasks.weight_average import WeightAverage

RESULT_NAME = "finetune_result.json"  # the finished run's record; absent while training still runs
FREEZE_EMBEDDINGS_ROWS = 100_000  # vocabularies this large (XLM-R: 250k) are frozen unless asked otherwise


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
    segmentation: dict[str, Any] | None = None  # the student's pieces per word vs its teacher's (tasks.vocab_check)


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


def param_groups(hf_model, head, config: FinetuneConfig) -> list[dict]:
    """Encoder groups (lr decayed per layer when ``layer_decay`` < 1) and the head group."""
    layers = hf_model.config.num_hidden_layers
    groups: dict[int, list] = {}
    for name, param in hf_model.named_parameters():
        if not param.requires_grad:
            continue
        match = [int(part) for part in name.split(".") if part.isdigit()]
        depth = match[0] + 1 if ".layer." in name and match else (0 if "embeddings" in name else layers + 1)
        groups.setdefault(min(depth, layers + 1), []).append(param)
    encoder = [{"params": params, "lr": config.learning_rate * config.layer_decay ** max(0, layers - depth)}
               for depth, params in sorted(groups.items())]
    return encoder + [{"params": list(head.parameters()), "lr": config.head_learning_rate}]


def finetune(config: FinetuneConfig) -> FinetuneResult:
    """Fine-tune ``config.model`` on ``config.train``; the best dev checkpoint ends up in ``config.out``."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    if not config.progress:
        hf_logging.disable_progress_bar()  # weight loading/saving bars
    out = Path(config.out)
    check_replaceable(out, config.overwrite, TASK_CONFIG_NAME)  # before training, not at the first save
    seed_everything(config.seed)
    precision = resolve_precision(config.precision)
    task = get_task(config.task)
    model_dir = resolve_model_dir(config.model)
    if not 0.0 < config.layer_decay <= 1.0:
        raise EdgeTimeError(f"--layer-decay {config.layer_decay} must be in (0, 1]; 1 disables it")
    if not 0.0 <= config.ema_decay < 1.0:  # checked before any work: the average is built after task distillation
        raise EdgeTimeError(f"--ema {config.ema_decay} must be in [0, 1); 0 disables it")
    if config.unlabeled and config.teacher_model is None:
        raise EdgeTimeError("--unlabeled needs --teacher-model (the fine-tuned model whose outputs the student learns)")
    teacher = load_task_model(config.teacher_model) if config.teacher_model else None
    if teacher is not None and teacher.spec.task != task.name:
        raise EdgeTimeError(f"--teacher-model {config.teacher_model} is a {teacher.spec.task} model; this run is "
                            f"--task {task.name}")
    train = task.read(Path(config.train))
    dev = task.read(Path(config.dev))
    if config.max_train_examples:
        train = train[: config.max_train_examples]
    labels = teacher.spec.labels if teacher is not None else task.build_labels(train)  # soft targets need its labels
    task.check_eval(Path(config.dev), dev, labels)

    hf_model = load_hf_encoder(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=True)
    segmentation = check_segmentation(tokenizer, model_dir, config.teacher_model, [task.words(e) for e in train])
    with tempfile.TemporaryDirectory() as tmp:
        text_encoder = text_encoder_for(model_dir, Path(tmp), config.max_length,
                                        getattr(hf_model.config, "max_position_embeddings", None))
    num_states = hf_model.config.num_hidden_layers + 1
    head = build_head(task.name, hf_model.config.hidden_size, num_states, labels, config.head)
    log = print if config.progress else (lambda message: None)
    head_init = init_head_from_teacher(config.head_init, head, teacher, model_dir, hf_model.config.hidden_size, log)
    module = task_model(task.name, HFStack(hf_model), head)
    freeze = config.freeze_embeddings
    if freeze is None:
        freeze = hf_model.get_input_embeddings().weight.shape[0] >= FREEZE_EMBEDDINGS_ROWS
    spec = TaskSpec(task=task.name, labels=labels, head=dict(config.head), task_config=task.decoding_config(train, labels, config.lemma_lexicon),
                    max_length=text_encoder.max_length,
                    training={"base_model": str(config.model), "train": str(config.train), "dev": str(config.dev),
                              "seed": config.seed, "freeze_embeddings": freeze, "layer_decay": config.layer_decay,
                              "precision": precision, "head_init": head_init, "ema_decay": config.ema_decay,
                              "teacher_model": str(config.teacher_model) if config.teacher_model else None,
                              "segmentation": segmentation})
    predictor = torch_predictor(module, spec, text_encoder, batch_size=max(config.batch_size, 32))

    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total = config.max_steps or steps_per_epoch * config.epochs
    if freeze:
        hf_model.get_input_embeddings().weight.requires_grad_(False)

    def make_optimizer(steps: int):
        optimizer = torch.optim.AdamW(param_groups(hf_model, head, config), weight_decay=config.weight_decay)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(steps, int(config.warmup_ratio * steps)))

    def amp():
        return autocast(precision)

    if teacher is not None and config.distill_steps > 0:
        if not config.unlabeled:
            raise EdgeTimeError("--teacher-model needs --unlabeled FILE: raw text the teacher labels for the student")
        items = read_unlabeled(list(config.unlabeled), task.name, config.max_unlabeled, seed=config.seed)
        distill_losses = distill_task(task, module, predictor, teacher, items, config.distill_steps,
                                      config.batch_size, make_optimizer, amp, config.distill_temperature,
                                      config.seed, config.progress)
        spec.training.update(distill_steps=config.distill_steps, unlabeled=[str(p) for p in config.unlabeled],
                             distill_loss_first=round(distill_losses[0], 4),
                             distill_loss_last=round(sum(distill_losses[-10:]) / len(distill_losses[-10:]), 4))
        del teacher
    optimizer, scheduler = make_optimizer(total)
    average = WeightAverage(module, config.ema_decay) if config.ema_decay else None  # scored and saved when set
    eval_every = config.eval_every or steps_per_epoch

    def dev_scores() -> dict[str, float]:
        return task.score(dev, task.predict(predictor, dev))

    from edge_time.progress import step_bar

    bar = step_bar(total, f"finetune {task.name}", config.progress, unit="step")
    best_score, best_step, bad_evals = -math.inf, 0, 0
    best_scores: dict[str, float] = {}
    history, losses = [], []
    step, words_seen, train_seconds = 0, 0, 0.0
    rng = random.Random(config.seed)
    lengths = [text_length(task.words(example)) for example in train]
    stop = False
    while not stop:
        for indices in bucketed_batches(lengths, config.batch_size, rng):
            batch = [train[i] for i in indices]
            began = time.perf_counter()
            module.train()
            arrays = task.inputs(predictor, batch)
            targets = task.targets(batch, arrays, labels)
            with amp():
                outputs = module.train_scores(arrays, **task.head_options(targets=targets))
            loss = task.loss([o.float() for o in outputs], targets, config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            if average is not None:
                average.update()
            train_seconds += time.perf_counter() - began
            words_seen += sum(len(task.words(e)) for e in batch)
            step += 1
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", best=f"{best_score:.2f}" if best_scores else "-")
            if step % eval_every == 0 or step == total:
                raw = dev_scores() if average is not None else None  # the training weights, for the record
                with average.applied() if average is not None else nullcontext():
                    scores = dev_scores()
                    history.append({"step": step, "loss": losses[-1], **scores, **({"raw": raw} if raw else {})})
                    if scores[task.main_metric] > best_score:
                        best_score, best_step, best_scores, bad_evals = scores[task.main_metric], step, scores, 0
                        spec.training.update(best_step=best_step, dev_scores=scores)
                        _save(out, spec, hf_model, head, tokenizer)
                    else:
                        bad_evals += 1
                note = f" (training weights: {task.main_metric} {raw[task.main_metric]:.2f})" if raw else ""
                bar.write(f"step {step}: dev {json.dumps(scores)}{note}")
                if bad_evals >= config.patience:
                    bar.write(f"no dev improvement in {config.patience} evaluations: stopping early")
                    stop = True
            if step >= total or stop:
                stop = True
                break
    bar.close()
    result = FinetuneResult(out, best_scores, best_step, step, train_seconds,
                            words_seen / train_seconds if train_seconds else 0.0, history, losses, segmentation)
    if out.is_dir():  # written last: a folder with it holds a finished run, not a mid-run best checkpoint
        write_json_atomic(out / RESULT_NAME, {
            "best_step": best_step, "steps": step, "train_seconds": round(train_seconds, 1),
            "train_words_per_second": round(result.train_words_per_second, 1), "dev": best_scores,
            "segmentation": segmentation, "history": history})
    return result


def _save(out: Path, spec: TaskSpec, hf_model, head, tokenizer) -> None:
    try:
        save_task_model(out, spec, hf_model, head, tokenizer, overwrite=True)
    except BundleError as exc:
        raise EdgeTimeError(f"cannot save the checkpoint to {out}: {exc}") from exc
