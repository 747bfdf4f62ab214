"""A fine-tuning run's settings and their defaults, without torch: the CLI builds its options from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEAD_INITS = ("auto", "teacher", "random")


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
    freeze_embeddings: bool | None = None  # keep the word embeddings fixed; None: freeze >= 100k rows (much faster)
    layer_decay: float = 1.0  # layer-wise lr decay: block i (1..L) gets lr x decay^(L - i), embeddings decay^L
    precision: str = "auto"  # fp32 | bf16 | auto (bf16 where the hardware has native bf16)
    teacher_model: Path | None = None  # a fine-tuned task model whose soft outputs the student learns first
    unlabeled: list[Path] = field(default_factory=list)  # raw text for task distillation (one document per line)
    distill_steps: int = 300  # task-distillation steps before gold fine-tuning
    max_unlabeled: int = 50_000  # sentences sampled from --unlabeled
    distill_temperature: float = 1.0
    head_init: str = "auto"  # teacher | random | auto (the --teacher-model's head, cut, when the student was cut from it)
    ema_decay: float = 0.0  # gold stage: score and save an EMA of the weights (0: the weights themselves)
    lemma_lexicon: bool = True  # UD: a training form's lemma is chosen among the rules seen with it
    overwrite: bool = False
    progress: bool = True
