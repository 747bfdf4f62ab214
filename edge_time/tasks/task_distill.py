"""Task-level distillation: the student learns a fine-tuned teacher's output distributions on raw text.

A teacher fine-tuned on a few thousand gold sentences labels any amount of unlabelled text with
*soft* targets (tag distributions, lemma-rule distributions, arc and label scores), which carry far
more than the gold argmax. The student (same label inventory as the teacher) first matches them on
corpus sentences, then fine-tunes on gold as usual (:func:`edge_time.tasks.train.finetune`).

Teacher and student may tokenize differently (a trimmed vocabulary): their outputs are compared
per *word*, and both graphs pool subwords into the same word rows. Batches are length-bucketed
(:mod:`edge_time.tasks.batching`): both models then run on little padding.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Callable

import torch

from edge_time.errors import EdgeTimeError
from edge_time.runtime.tasks import TASK_GRAPHS
from edge_time.tasks.batching import bucketed_batches, text_length
from edge_time.tasks.formats import simple_tokenize
from edge_time.textfiles import read_text

DISTILLABLE = ("ud", "ner", "cls")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def read_unlabeled(paths: list[Path], task: str, max_items: int, max_words: int = 60, seed: int = 0) -> list:
    """Word lists (ud, ner) or texts (cls) from UTF-8 text files, one document per line, sampled.

    Lines are split into sentences at . ! ? and words with the same simple tokenizer that
    ``edge-time predict`` uses for raw text; sentences longer than ``max_words`` are cut.
    """
    items = []
    for path in paths:
        for line in read_text(path, "--unlabeled").splitlines():
            for sentence in _SENTENCE_END.split(line.strip()):
                words = simple_tokenize(sentence)[:max_words]
                if len(words) >= 2:
                    items.append(words if task != "cls" else " ".join(words))
    if not items:
        raise EdgeTimeError(f"--unlabeled {', '.join(map(str, paths))}: no sentence of two or more words")
    random.Random(seed).shuffle(items)
    return items[:max_items]


def _arrays(task: str, predictor, items: list) -> dict:
    return predictor.word_batch(items) if TASK_GRAPHS[task].word_level else predictor.text_batch(items)


def distill_task(task, module, predictor, teacher, items: list, steps: int, batch_size: int, make_optimizer,
                 autocast: Callable, temperature: float = 1.0, seed: int = 0, progress: bool = True) -> list[float]:
    """``steps`` updates of ``module`` towards ``teacher``'s soft outputs on ``items``; returns the losses.

    ``task`` is the task object (its ``soft_loss`` compares outputs), ``predictor`` builds the
    student's inputs, ``teacher`` is a :class:`~edge_time.tasks.checkpoint.LoadedTaskModel`.
    """
    from edge_time.progress import step_bar

    if task.name not in DISTILLABLE:
        raise EdgeTimeError(f"task distillation supports {', '.join(DISTILLABLE)}, not {task.name}; drop --teacher-model")
    teacher_module = teacher.training_module().eval()
    teacher_predictor = teacher.predictor(batch_size)
    optimizer, scheduler = make_optimizer(steps)
    rng = random.Random(seed)
    losses: list[float] = []
    bar = step_bar(steps, f"task-distill {task.name}", progress, unit="step")
    lengths = [text_length(item.split() if isinstance(item, str) else item) for item in items]
    batches: list[list[int]] = []
    began = time.perf_counter()
    while len(losses) < steps:
        if not batches:
            batches = bucketed_batches(lengths, batch_size, rng)
        batch = [items[i] for i in batches.pop()]
        teacher_arrays, student_arrays = _arrays(task.name, teacher_predictor, batch), _arrays(task.name, predictor, batch)
        with torch.no_grad(), autocast():
            target = [t.float() for t in teacher_module.train_scores(teacher_arrays, **task.head_options())]
        module.train()
        with autocast():
            outputs = module.train_scores(student_arrays, **task.head_options(teacher=target))
        loss = task.soft_loss([o.float() for o in outputs], target, student_arrays, temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    if progress:
        print(f"task distillation: {steps} steps in {time.perf_counter() - began:.0f} s, "
              f"loss {losses[0]:.3f} -> {sum(losses[-10:]) / len(losses[-10:]):.3f}")
    return losses
