"""What a bench run compares and how, with its defaults, without torch: the CLI builds its options from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_time.errors import EdgeTimeError
from edge_time.runtime.predict import BATCH_TOKENS

# spaCy's matrix products: blis (thinc's default), numpy (numpy's BLAS), or auto: numpy where blis would run its
# generic, unoptimised kernels on this CPU (edge_time.bench.spacy_baseline.blis_kernels)
SPACY_GEMMS = ("auto", "blis", "numpy")


@dataclass
class BenchConfig:
    """What to compare and how; the CLI fills it from its options."""

    models: list[str | Path] = field(default_factory=list)  # task model folders and bundle folders
    task_data: str | Path = ""  # labelled evaluation file in the task's format
    out: str | Path = "bench-out"
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    repeats: int = 3  # timed passes per system and batch size (medians reported)
    threads: int = 1  # the same CPU thread cap for every system
    metric: str | None = None  # default: LAS (UD), F1 (NER, QA), accuracy (cls)
    spacy: str | None = None  # spaCy package name or saved pipeline folder (UD only)
    spacy_gemm: str = "auto"  # one of SPACY_GEMMS
    power: str = "auto"  # the profiler's sensor choice: auto | none | battery[:DIR] | rapl[:DIR] | pmic | hwmon:DIR
    energy_seconds: float = 5.0  # back-to-back passes per system while power is sampled
    thread_scaling: bool = False  # also time each system at 1, 2 and all cores (its best batch size)
    parallel: str = "ops"  # "batches": ONNX bundles run `threads` batches at once, one thread each
    batch_tokens: int | None = BATCH_TOKENS  # edge-time UD/NER: padded tokens per graph run at most
    progress: bool = True

    def validate(self) -> None:
        if not self.models and not self.spacy:
            raise EdgeTimeError("nothing to bench: pass --models FOLDER... (task models or bundles) and/or "
                                "--spacy PIPELINE")
        if not Path(self.task_data).is_file():
            raise EdgeTimeError(f"--task-data {self.task_data}: no such file; pass the labelled evaluation file")
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise EdgeTimeError("--batch-sizes must be positive integers, e.g. --batch-sizes 1 8 32")
        if self.repeats < 1 or self.threads < 1:
            raise EdgeTimeError("--repeats and --threads must be at least 1")
        if self.spacy_gemm not in SPACY_GEMMS:
            raise EdgeTimeError(f"--spacy-gemm {self.spacy_gemm}: use one of {', '.join(SPACY_GEMMS)}")
        if self.parallel not in ("ops", "batches"):
            raise EdgeTimeError(f"--parallel {self.parallel}: use ops or batches")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise EdgeTimeError("--batch-tokens must be a positive number of tokens (0 on the command line: no bound)")
        if self.energy_seconds <= 0:
            raise EdgeTimeError("--energy-seconds must be a positive number of seconds")
