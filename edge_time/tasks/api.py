"""Typed Python API for evaluation and prediction, from a PyTorch task model or an exported bundle.

    >>> from edge_time.tasks import evaluate, predict_file, load_predictor
    >>> evaluate("out/cs-ud", "cs_pud-dev.conllu")["LAS"]
    >>> tagger = load_predictor("out/cs-ud-onnx")          # a bundle folder works the same
    >>> tagger.parse([["Praha", "je", "hezká", "."]])[0].upos
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from edge_time.atomic import write_text_atomic
from edge_time.bundle import MANIFEST_NAME
from edge_time.errors import EdgeTimeError
from edge_time.runtime.predict import TaskPredictor, to_jsonable
from edge_time.tasks import formats
from edge_time.tasks.data import get_task
from edge_time.textfiles import read_lines, read_text

_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)


def simple_tokenize(text: str) -> list[str]:
    """Words and single punctuation marks (a plain stand-in; pass pre-tokenized input for treebank tokens)."""
    return _WORD.findall(text)


def load_predictor(model: str | Path, batch_size: int = 32, threads: int | None = None) -> TaskPredictor:
    """A predictor for a task model folder (PyTorch) or an exported bundle folder (manifest.json inside)."""
    path = Path(model)
    if (path / MANIFEST_NAME).is_file():
        from edge_time.runtime import load_bundle

        return TaskPredictor.from_bundle(load_bundle(path, threads=threads), batch_size=batch_size)
    from edge_time.tasks.checkpoint import load_task_model

    if threads:
        import torch

        torch.set_num_threads(threads)
    return load_task_model(path).predictor(batch_size=batch_size)


@dataclass
class EvalResult:
    scores: dict[str, float]
    sentences: int
    words: int
    seconds: float

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds if self.seconds else 0.0


def evaluate(model: str | Path, data: str | Path, batch_size: int = 32, threads: int | None = None) -> EvalResult:
    """Score a task model or bundle on a labelled file in its task's format."""
    predictor = load_predictor(model, batch_size, threads)
    task = get_task(predictor.task)
    examples = task.read(Path(data))
    task.check_eval(Path(data), examples, predictor.labels)
    task.predict(predictor, examples[:1])  # warm-up: runtimes initialise on the first call (ExecuTorch: seconds)
    began = time.perf_counter()
    predictions = task.predict(predictor, examples)
    seconds = time.perf_counter() - began
    words = sum(len(task.words(e)) for e in examples)
    return EvalResult(task.score(examples, predictions), len(examples), words, seconds)


def write_atomic(out: Path | None, text: str) -> None:
    if out is None:
        print(text, end="")
        return
    write_text_atomic(out, text)


def predict_texts(predictor: TaskPredictor, texts: list[str], pretokenized: bool = False) -> str:
    """Predictions for raw lines: CoNLL-U for UD, JSON lines otherwise."""
    if predictor.task in ("ud", "ner"):
        sentences = [t.split() if pretokenized else simple_tokenize(t) for t in texts]
        empty = [i + 1 for i, s in enumerate(sentences) if not s]
        if empty:
            raise EdgeTimeError(f"input line {empty[0]} has no words")
        if predictor.task == "ud":
            parsed = predictor.parse(sentences)
            ud = [formats.sentence_from_words(words, text) for words, text in zip(sentences, texts)]
            return formats.conllu_text(get_task("ud").apply(ud, parsed))
        return "".join(json.dumps(to_jsonable(r), ensure_ascii=False) + "\n" for r in predictor.tag(sentences))
    if predictor.task == "cls":
        return "".join(json.dumps({"text": t, **to_jsonable(r)}, ensure_ascii=False) + "\n"
                       for t, r in zip(texts, predictor.classify(texts)))
    raise EdgeTimeError("QA predictions need question/context pairs: pass a .jsonl file with "
                        "{\"question\": ..., \"context\": ...} lines or SQuAD JSON")


def predict_file(model: str | Path, data: str | Path, out: str | Path | None = None, pretokenized: bool = False,
                 batch_size: int = 32, threads: int | None = None) -> str:
    """Predict for a file and write the result (atomically) to ``out``, or return it when ``out`` is None.

    Input by task and suffix: UD ``.conllu`` (words and MWT/empty-node lines kept) or text lines;
    NER ``.conll`` or text lines; classification ``.jsonl`` ({"text"}) or text lines; QA
    ``.jsonl`` ({"question", "context"}) or SQuAD ``.json``. Text lines are tokenized with
    :func:`simple_tokenize` unless ``pretokenized`` (split on whitespace).
    """
    predictor = load_predictor(model, batch_size, threads)
    path = Path(data)
    suffix = path.suffix.lower()
    if predictor.task == "ud" and suffix == ".conllu":
        sentences = formats.read_conllu(path)
        text = formats.conllu_text(get_task("ud").apply(sentences, predictor.parse([s.forms for s in sentences])))
    elif predictor.task == "ner" and suffix == ".conll":
        sentences = formats.read_conll_ner(path)
        results = predictor.tag([s.words for s in sentences])
        text = "".join(json.dumps(to_jsonable(r), ensure_ascii=False) + "\n" for r in results)
    elif predictor.task == "cls" and suffix == ".jsonl":
        examples = formats.read_jsonl_cls(path, require_labels=False)
        text = predict_texts(predictor, [e.text for e in examples])
    elif predictor.task == "qa":
        questions, contexts, ids = _qa_inputs(path)
        answers = predictor.answer(questions, contexts)
        text = "".join(json.dumps({"id": i, **to_jsonable(a)}, ensure_ascii=False) + "\n" for i, a in zip(ids, answers))
    else:
        text = predict_texts(predictor, read_lines(path, "input"), pretokenized)
    if out is not None:
        write_atomic(Path(out), text)
    return text


def _qa_inputs(path: Path) -> tuple[list[str], list[str], list[str]]:
    if path.suffix.lower() == ".json":
        examples = formats.read_squad(path, require_answers=False)
        return [e.question for e in examples], [e.context for e in examples], [e.id for e in examples]
    questions, contexts, ids = [], [], []
    for number, line in enumerate(read_text(path, "input").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise formats.DataError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not isinstance(row.get("context"), str):
            raise formats.DataError(f"{path}:{number}: needs 'question' and 'context' strings")
        questions.append(row["question"])
        contexts.append(row["context"])
        ids.append(str(row.get("id", number)))
    return questions, contexts, ids
