"""A distillation's settings and their defaults, without torch: the CLI builds its options from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from edge_time.errors import EdgeTimeError

RELATIONS = ("qq", "kk", "vv")  # MiniLMv2's query-query, key-key and value-value relations
DEFAULT_BLOCK_ELEMENTS = 1 << 22  # floats per logits block (16 MiB); about 6 such temporaries live at once

# Fields that may change between a run and its --resume.
RESUMABLE_CHANGES = {"max_steps", "save_every", "log_every", "resume", "overwrite", "progress"}


class DistillError(EdgeTimeError):
    """A distillation setting or run folder that cannot be used; the message names the fix."""


@dataclass
class DistillConfig:
    teacher: str  # HF folder or hub id
    corpus: list[str]  # text / JSONL / Parquet files (.gz ok) or hf:NAME[:CONFIG[:SPLIT]]
    out: str
    size: str | None = "s"  # xs / s / m; hidden/layers/heads/ffn override it
    hidden: int | None = None
    layers: int | None = None
    heads: int | None = None
    ffn: int | None = None
    teacher_layer: int | None = None  # 1-based; default min(12, teacher layers)
    relation_heads: int | None = None  # default 64 (teacher hidden >= 1024), 48 (>= 768), else teacher heads;
    # lowered to divide both hidden sizes
    relations: list[str] = field(default_factory=lambda: list(RELATIONS))
    init: str = "auto"  # teacher | random | auto (teacher weights whenever the student fits in the teacher)
    hidden_loss: float = 0.0  # weight of the hidden-state loss (teacher-initialised students: units correspond)
    init_sample: int = 64  # corpus chunks whose teacher activations choose the kept units
    preset: str = "auto"  # cpu | gpu | auto (by device): fills the budget fields left None below
    precision: str = "auto"  # fp32 | bf16 | auto (bf16 where the hardware has it natively)
    dropout: float = 0.1  # student hidden + attention dropout (BERT's default)
    max_length: int | None = None  # preset: 128 on CPU, 512 on GPU
    pack_documents: bool = False  # concatenate short documents into full-length chunks
    batch_size: int | None = None  # global: across processes and accumulation steps; preset: 32 CPU, 256 GPU
    grad_accum: int = 1
    max_steps: int | None = None  # preset: 300 CPU, 10k GPU
    lr: float | None = None  # preset: 1e-4 for teacher-initialised students, 6e-4 for random ones
    warmup_steps: int | None = None  # default 2% of max_steps (the paper: 4k of 200k)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-6
    weight_decay: float = 0.01
    clip: float = 1.0
    seed: int = 0
    valid: list[str] | None = None  # held-out files; default: a slice of the corpus
    valid_fraction: float = 0.01
    max_valid_chunks: int = 256
    save_every: int | None = None  # validate + checkpoint interval (steps); preset: 100 CPU, 500 GPU
    log_every: int = 10
    trim_vocab: bool = True
    vocab_coverage: float = 1.0
    max_vocab: int | None = None
    min_count: int = 1
    text_field: str = "text"
    encoding: str = "utf-8"  # of text/JSONL corpus files
    max_documents: int | None = None
    block_elements: int = DEFAULT_BLOCK_ELEMENTS
    resume: bool = False
    overwrite: bool = False
    trust_remote_code: bool = False
    progress: bool = True

    def to_json(self) -> dict:
        return asdict(self)
