"""Typed Python API for evaluation and prediction, from a PyTorch task model or an exported bundle.

    >>> from edge_time.tasks import evaluate, predict_file, load_predictor
    >>> evaluate("out/cs-ud", "cs_pud-dev.conllu").scores["LAS"]
    >>> tagger = load_predictor("out/cs-ud-onnx")          # a bundle folder works the same
    >>> tagger.parse([["Praha", "je", "hezká", "."]])[0].upos
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edge_time.atomic import write_text_atomic
from edge_time.bundle import MANIFEST_NAME
from edge_time.errors import EdgeTimeError
from edge_time.runtime import PARALLEL_MODES
from edge_time.runtime.predict import BATCH_SIZE, BATCH_TOKENS, TaskPredictor
from edge_time.tasks.data import get_task
from edge_time.textfiles import read_lines


def load_predictor(model: str | Path, batch_size: int = BATCH_SIZE, threads: int | None = None,
                   parallel: str = "ops", batch_tokens: int | None = BATCH_TOKENS) -> TaskPredictor:
    """A predictor for a task model folder (PyTorch) or an exported bundle folder (manifest.json inside).

    ``parallel="batches"`` (ONNX bundles): ``threads`` batches at once, one thread each, for throughput
    over many batches; "ops" (default) spreads one batch's operators over the threads (lowest latency per
    call); "auto" is "batches" for an ONNX bundle with more than one thread, else "ops" (the default of
    :func:`evaluate` and :func:`predict_file`, which run many batches).
    ``batch_tokens`` (UD, NER): a batch of ``batch_size`` sentences at most also holds at most this many
    padded tokens, so long sentences run in smaller batches whose activations stay in the CPU's cache
    (None: sentence count only).
    """
    if parallel not in PARALLEL_MODES:
        raise EdgeTimeError(f"parallel={parallel!r}: use one of {', '.join(PARALLEL_MODES)}")
    predictor = _load_predictor(Path(model), batch_size, threads, parallel)
    predictor.batch_tokens = batch_tokens
    return predictor


def _load_predictor(path: Path, batch_size: int, threads: int | None, parallel: str) -> TaskPredictor:
    if (path / MANIFEST_NAME).is_file():
        from edge_time.runtime import load_bundle

        return TaskPredictor.from_bundle(load_bundle(path, threads=threads, parallel=parallel), batch_size=batch_size)
    if parallel == "batches":
        raise EdgeTimeError(f"parallel={parallel!r} is for ONNX bundles; {path} is a PyTorch task model folder "
                            f"(export it with `edge-time export --target onnx`, or use parallel='ops')")
    from edge_time.tasks.checkpoint import load_task_model

    if threads:
        import torch

        from edge_time.runtime.tokenize import cap_tokenizer_threads

        torch.set_num_threads(threads)
        cap_tokenizer_threads(threads)
    return load_task_model(path).predictor(batch_size=batch_size)


@dataclass
class EvalResult:
    scores: dict[str, float]
    sentences: int
    words: int
    seconds: float
    stage_seconds: dict[str, float]  # of ``seconds``: inputs / graph / decode (edge_time.runtime.stages)

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds if self.seconds else 0.0


def evaluate(model: str | Path, data: str | Path, batch_size: int = BATCH_SIZE,
             threads: int | None = None, parallel: str = "auto", batch_tokens: int | None = BATCH_TOKENS) -> EvalResult:
    """Score a task model or bundle on a labelled file in its task's format (``parallel``,
    ``batch_tokens``: see :func:`load_predictor`)."""
    predictor = load_predictor(model, batch_size, threads, parallel, batch_tokens)
    task = get_task(predictor.task)
    examples = task.read(Path(data))
    task.check_eval(Path(data), examples, predictor.labels)
    task.predict(predictor, examples[:1])  # warm-up: runtimes initialise on the first call (ExecuTorch: seconds)
    predictor.stages.pop()
    began = time.perf_counter()
    predictions = task.predict(predictor, examples)
    seconds = time.perf_counter() - began
    words = sum(len(task.words(e)) for e in examples)
    return EvalResult(task.score(examples, predictions), len(examples), words, seconds, predictor.stages.pop())


def write_atomic(out: Path | None, text: str) -> None:
    if out is None:
        print(text, end="")
        return
    write_text_atomic(out, text)


def predict_texts(predictor: TaskPredictor, texts: list[str], pretokenized: bool = False) -> str:
    """Predictions for raw lines: CoNLL-U for UD, JSON lines otherwise."""
    return get_task(predictor.task).predict_texts(predictor, texts, pretokenized)


def predict_file(model: str | Path, data: str | Path, out: str | Path | None = None, pretokenized: bool = False,
                 batch_size: int = BATCH_SIZE, threads: int | None = None, parallel: str = "auto",
                 batch_tokens: int | None = BATCH_TOKENS) -> str:
    """Predict for a file and write the result (atomically) to ``out``, or return it when ``out`` is None.

    Input by task and suffix: UD ``.conllu`` (words and MWT/empty-node lines kept) or text lines;
    NER ``.conll`` or text lines; classification ``.jsonl`` ({"text"}) or text lines; QA
    ``.jsonl`` ({"question", "context"}) or SQuAD ``.json``. Text lines are tokenized with
    :func:`~edge_time.tasks.formats.simple_tokenize` unless ``pretokenized`` (split on whitespace).
    """
    predictor = load_predictor(model, batch_size, threads, parallel, batch_tokens)
    task, path = get_task(predictor.task), Path(data)
    if task.reads(path):
        text = task.predict_file(predictor, path)
    else:
        text = task.predict_texts(predictor, read_lines(path, "input"), pretokenized)
    if out is not None:
        write_atomic(Path(out), text)
    return text
