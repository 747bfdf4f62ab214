"""The tasks: one class per task owns everything about it, and :data:`TASK_CLASSES` lists them.

A task reads its data format, builds its label sets and head, batches training targets and
losses, writes predictions, scores them, and names its bench columns; its graph signature
(inputs, outputs, output specs) is the device-side slice in :mod:`edge_time.runtime.tasks`. The
fine-tuning recipe, evaluation, prediction, bench and the CLI read them through :func:`get_task`.
Only the training methods use torch, and import it when called: reading, decoding and scoring
with a bundle need no torch.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import numpy as np

from edge_time.errors import EdgeTimeError
from edge_time.runtime.decode import lemma_rule
from edge_time.runtime.predict import TaskPredictor, encode_pairs, to_jsonable
from edge_time.runtime.tasks import TASK_GRAPHS, TaskGraph
from edge_time.tasks import formats, metrics
from edge_time.tasks.formats import DataError, simple_tokenize

IGNORE = -100


def _index(labels: list[str]) -> dict[str, int]:
    return {label: i for i, label in enumerate(labels)}


def _by_frequency(counter: collections.Counter) -> list[str]:
    return [label for label, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def soft_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean over rows of KL(softmax(teacher / T) || softmax(student / T)) x T^2 (Hinton et al.)."""
    import torch.nn.functional as F

    if student.numel() == 0:
        return student.sum() * 0.0
    t = F.log_softmax(teacher.detach() / temperature, dim=-1)
    s = F.log_softmax(student / temperature, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature ** 2


def _word_rows(arrays, root_row: bool) -> torch.Tensor:
    import torch

    mask = torch.from_numpy(arrays["word_mask"]).bool()
    if root_row:
        mask[:, 0] = False  # the artificial root has no tags and no head
    return mask


def _json_lines(rows) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


class Task:
    """One task's facts and steps; by default a training forward runs the head as it is exported."""

    name: str
    main_metric: str  # the dev score that keeps the best checkpoint
    score_names: tuple[str, ...]  # every score :meth:`score` reports
    bench_metric: str  # bench's default --metric (tables and Pareto plots)
    bench_columns: tuple[str, ...] = ()  # further scores bench tables show
    unit = "examples"  # what bench counts per second
    data_format: str  # the labelled files it reads, for messages
    file_suffix: str  # of input files in the task's own format (other files are text lines)
    task_config: dict[str, Any] = {}

    @property
    def graph(self) -> TaskGraph:
        return TASK_GRAPHS[self.name]

    def build_head(self, hidden: int, num_states: int, labels: dict[str, list[str]], config: dict):
        raise NotImplementedError

    def sentences(self, texts: list[str], pretokenized: bool) -> list[list[str]]:
        """Raw lines as words: split on whitespace when ``pretokenized``, else by :func:`simple_tokenize`."""
        sentences = [t.split() if pretokenized else simple_tokenize(t) for t in texts]
        empty = [i + 1 for i, s in enumerate(sentences) if not s]
        if empty:
            raise EdgeTimeError(f"input line {empty[0]} has no words")
        return sentences

    def predict_texts(self, predictor: TaskPredictor, texts: list[str], pretokenized: bool = False) -> str:
        """Predictions for raw lines, as the task writes them (CoNLL-U for UD, JSON lines otherwise)."""
        raise NotImplementedError

    def reads(self, path: Path) -> bool:
        """Whether :meth:`predict_file` reads ``path`` (else it holds text lines for :meth:`predict_texts`)."""
        return path.suffix.lower() == self.file_suffix

    def predict_file(self, predictor: TaskPredictor, path: Path) -> str:
        """Predictions for an input file in the task's own format."""
        raise NotImplementedError

    def sample_inputs(self, predictor: TaskPredictor, texts: list[str], seq_len: int | None = None):
        """Graph inputs for plain texts, built as the device builds them (parity and calibration)."""
        if self.graph.word_level:
            return predictor.word_batch([t.split() or ["."] for t in texts], seq_len)
        return predictor.text_batch(list(texts), seq_len)

    def head_options(self, targets=None, teacher=None) -> dict[str, Any]:
        """Extra head arguments for a training forward on gold ``targets`` or towards ``teacher`` outputs."""
        return {}

    def decoding_config(self, train, labels, lemma_lexicon: bool = True) -> dict[str, Any]:
        """What runtime decoding needs (``task_config`` of the model folder and the bundle manifest)."""
        return dict(self.task_config)


class UDTask(Task):
    """UPOS, XPOS, UFeats, lemma rules and labelled dependency trees from CoNLL-U."""

    name = "ud"
    main_metric = "LAS+tags"  # mean of UPOS, XPOS, UFeats, Lemmas and LAS F1
    score_names = (*metrics.UD_METRICS, main_metric)
    bench_metric = "LAS"
    bench_columns = ("UPOS",)
    unit = "words"
    data_format = "CoNLL-U (.conllu)"
    file_suffix = ".conllu"
    task_config = {"pooling": "mean", "root_row": True}

    def build_head(self, hidden, num_states, labels, config):
        from edge_time.tasks.heads import UDHead

        sizes = {name: len(values) for name, values in labels.items()}
        return UDHead(hidden, num_states, sizes, mlp=config.get("mlp", 256), arc=config.get("arc", 256),
                      rel=config.get("rel", 64), dropout=config.get("dropout", 0.2))

    def predict_texts(self, predictor, texts, pretokenized=False):
        sentences = self.sentences(texts, pretokenized)
        parsed = predictor.parse(sentences)
        ud = [formats.sentence_from_words(words, text) for words, text in zip(sentences, texts)]
        return formats.conllu_text(self.apply(ud, parsed))

    def predict_file(self, predictor, path):
        sentences = formats.read_conllu(path)
        return formats.conllu_text(self.apply(sentences, predictor.parse([s.forms for s in sentences])))

    def read(self, path: Path):
        """Labelled data (training, dev, evaluation): every word needs the gold annotation it is scored on."""
        sentences = formats.read_conllu(path)
        for sentence in sentences:
            for word, line in zip(sentence.words, sentence.word_lines):
                if word.upos == "_" or word.deprel == "_" or word.head is None:
                    raise DataError(f"{path}:{line}: labelled words need UPOS, HEAD and DEPREL (found '_'); train "
                                    f"and score on fully annotated CoNLL-U (`edge-time predict` takes raw text)")
        return sentences

    def build_labels(self, train) -> dict[str, list[str]]:
        counts = {name: collections.Counter() for name in ("upos", "xpos", "feats", "lemma_rule", "deprel")}
        for sentence in train:
            for w in sentence.words:
                counts["upos"][w.upos] += 1
                counts["xpos"][w.xpos] += 1
                counts["feats"][w.feats] += 1
                counts["deprel"][w.deprel] += 1
                if w.lemma != "_":
                    counts["lemma_rule"][lemma_rule(w.form, w.lemma)] += 1
        labels = {name: _by_frequency(counter) for name, counter in counts.items()}
        if not labels["lemma_rule"]:
            labels["lemma_rule"] = [lemma_rule("x", "x")]  # identity: no lemmas in the data
        if "root" not in labels["deprel"]:
            labels["deprel"].append("root")
        return labels

    def decoding_config(self, train, labels, lemma_lexicon: bool = True) -> dict[str, Any]:
        """Adds the lemma lexicon: every training form -> the indices of the lemma rules seen with it.

        Decoding picks a seen form's lemma among those rules only (the classifier still decides
        between them and alone handles unseen forms). Measured on Czech: 75% of PUD-dev words occur
        in cs_ud-train, and for 99.8% of them the gold rule is among the rules seen with the form.
        """
        config = dict(self.task_config)
        if lemma_lexicon:
            index = _index(labels["lemma_rule"])
            seen: dict[str, set[int]] = collections.defaultdict(set)
            for sentence in train:
                for w in sentence.words:
                    rule = index.get(lemma_rule(w.form, w.lemma)) if w.lemma != "_" else None
                    if rule is not None:
                        seen[w.form].add(rule)
            config["lemma_lexicon"] = {form: sorted(rules) for form, rules in sorted(seen.items())}
        return config

    def check_eval(self, path: Path, examples, labels) -> None:
        """UD labels unseen in training are scored as errors, not rejected (UPOS is checked on read)."""

    def words(self, example) -> list[str]:
        return example.forms

    def inputs(self, predictor: TaskPredictor, batch) -> dict[str, np.ndarray]:
        return predictor.word_batch([s.forms for s in batch])

    def targets(self, batch, arrays, labels) -> dict[str, torch.Tensor]:
        import torch

        width = arrays["word_mask"].shape[1]
        index = {name: _index(values) for name, values in labels.items()}
        out = {name: torch.full((len(batch), width), IGNORE, dtype=torch.long)
               for name in ("upos", "xpos", "feats", "lemma_rule", "head", "deprel")}
        for b, sentence in enumerate(batch):
            for i, w in enumerate(sentence.words, start=1):
                out["upos"][b, i] = index["upos"].get(w.upos, IGNORE)
                out["xpos"][b, i] = index["xpos"].get(w.xpos, IGNORE)
                out["feats"][b, i] = index["feats"].get(w.feats, IGNORE)
                if w.lemma != "_":
                    out["lemma_rule"][b, i] = index["lemma_rule"].get(lemma_rule(w.form, w.lemma), IGNORE)
                out["head"][b, i] = w.head if w.head is not None else IGNORE
                out["deprel"][b, i] = index["deprel"].get(w.deprel, IGNORE)
        return out

    def head_options(self, targets=None, teacher=None) -> dict[str, Any]:
        """Label scores at one head per word: the gold head, the teacher's best head, or (neither) the model's own."""
        if targets is not None:
            return {"label_heads": targets["head"].clamp(min=0)}
        if teacher is not None:
            return {"label_heads": teacher[4].argmax(dim=-1)}
        return {"label_heads": "predicted"}

    def loss(self, outputs, targets, label_smoothing: float) -> torch.Tensor:
        """``outputs`` of a forward with ``head_options(targets)``: label scores at the gold heads."""
        import torch
        import torch.nn.functional as F

        upos, xpos, feats, lemma, arc, at_gold = outputs
        total = 0.0
        for scores, name in ((upos, "upos"), (xpos, "xpos"), (feats, "feats"), (lemma, "lemma_rule")):
            total = total + F.cross_entropy(scores.flatten(0, 1), targets[name].flatten(), ignore_index=IGNORE,
                                            label_smoothing=label_smoothing)
        heads = targets["head"]
        total = total + F.cross_entropy(arc.flatten(0, 1), heads.flatten(), ignore_index=IGNORE)
        rel_target = torch.where(heads == IGNORE, torch.full_like(heads, IGNORE), targets["deprel"])
        total = total + F.cross_entropy(at_gold.flatten(0, 1), rel_target.flatten(), ignore_index=IGNORE,
                                        label_smoothing=label_smoothing)
        return total

    def soft_loss(self, outputs, teacher, arrays, temperature: float = 1.0) -> torch.Tensor:
        """Task distillation: tag, lemma-rule, arc and label distributions; both sides' label scores are at
        the teacher's best heads (the teacher ran with ``head_options()``, the student with
        ``head_options(teacher=...)``)."""
        rows = _word_rows(arrays, root_row=True)
        total = sum(soft_kl(s[rows], t[rows], temperature) for s, t in zip(outputs[:5], teacher[:5]))
        return total + soft_kl(outputs[5][rows], teacher[5][rows], temperature)

    def predict(self, predictor: TaskPredictor, examples):
        return predictor.parse([s.forms for s in examples])

    def apply(self, examples, predictions) -> list[formats.UDSentence]:
        out = []
        for sentence, parse in zip(examples, predictions):
            words = [formats.UDWord(form, lemma, upos, xpos, feats, head, deprel) for form, lemma, upos, xpos, feats,
                     head, deprel in zip(parse.words, parse.lemmas, parse.upos, parse.xpos, parse.feats, parse.heads,
                                         parse.deprels)]
            out.append(formats.UDSentence(words, sentence.tokens, sentence.line, sentence.word_lines))
        return out

    def score(self, examples, predictions) -> dict[str, float]:
        report = metrics.ud_report(metrics.ud_scores(examples, self.apply(examples, predictions)))
        report[self.main_metric] = round(sum(report[k] for k in ("UPOS", "XPOS", "UFeats", "Lemmas", "LAS")) / 5, 2)
        return report


class NERTask(Task):
    """BIO entity tags, one per word, predicted from the word's first subword."""

    name = "ner"
    main_metric = "f1"
    score_names = ("precision", "recall", "f1")
    bench_metric = "f1"
    unit = "words"
    data_format = "CoNLL BIO (.conll, 2 or 4 columns)"
    file_suffix = ".conll"
    task_config = {"pooling": "first", "root_row": False}

    def build_head(self, hidden, num_states, labels, config):
        from edge_time.tasks.heads import NERHead

        return NERHead(hidden, num_states, len(labels["tags"]), config.get("dropout", 0.1))

    def predict_texts(self, predictor, texts, pretokenized=False):
        return _json_lines(to_jsonable(r) for r in predictor.tag(self.sentences(texts, pretokenized)))

    def predict_file(self, predictor, path):
        return _json_lines(to_jsonable(r) for r in predictor.tag([s.words for s in formats.read_conll_ner(path)]))

    def read(self, path: Path):
        return formats.read_conll_ner(path)

    def build_labels(self, train) -> dict[str, list[str]]:
        tags = {t for s in train for t in s.tags} | {"O"}
        types = sorted({t[2:] for t in tags if t != "O"})
        # every B-/I- pair of a seen type, so the label set is closed under BIO
        return {"tags": ["O"] + [f"{p}-{k}" for k in types for p in ("B", "I")]}

    def check_eval(self, path: Path, examples, labels) -> None:
        known = set(labels["tags"])
        for sentence in examples:
            for tag, line in zip(sentence.tags, sentence.lines):
                if tag not in known:
                    raise DataError(f"{path}:{line}: tag {tag!r} was not in the training data; the model knows "
                                    f"{', '.join(sorted(known))}")

    def words(self, example) -> list[str]:
        return example.words

    def inputs(self, predictor, batch):
        return predictor.word_batch([s.words for s in batch])

    def targets(self, batch, arrays, labels):
        import torch

        index = _index(labels["tags"])
        out = torch.full(arrays["word_mask"].shape, IGNORE, dtype=torch.long)
        for b, sentence in enumerate(batch):
            for i, tag in enumerate(sentence.tags):
                out[b, i] = index.get(tag, IGNORE)
        return {"tags": out}

    def loss(self, outputs, targets, label_smoothing: float):
        import torch.nn.functional as F

        return F.cross_entropy(outputs[0].flatten(0, 1), targets["tags"].flatten(), ignore_index=IGNORE)

    def soft_loss(self, outputs, teacher, arrays, temperature: float = 1.0) -> torch.Tensor:
        rows = _word_rows(arrays, root_row=False)
        return soft_kl(outputs[0][rows], teacher[0][rows], temperature)

    def predict(self, predictor, examples):
        return predictor.tag([s.words for s in examples])

    def score(self, examples, predictions) -> dict[str, float]:
        return metrics.ner_scores([s.tags for s in examples], [p.tags for p in predictions])


class ClsTask(Task):
    name = "cls"
    main_metric = "accuracy"
    score_names = ("accuracy", "macro_f1")
    bench_metric = "accuracy"
    data_format = "JSONL {\"text\", \"label\"} (.jsonl)"
    file_suffix = ".jsonl"
    task_config = {"pooling": "mean_tokens"}

    def build_head(self, hidden, num_states, labels, config):
        from edge_time.tasks.heads import ClsHead

        return ClsHead(hidden, num_states, len(labels["labels"]), config.get("dropout", 0.1))

    def predict_texts(self, predictor, texts, pretokenized=False):
        return _json_lines({"text": t, **to_jsonable(r)} for t, r in zip(texts, predictor.classify(texts)))

    def predict_file(self, predictor, path):
        return self.predict_texts(predictor, [e.text for e in formats.read_jsonl_cls(path, require_labels=False)])

    def read(self, path: Path):
        return formats.read_jsonl_cls(path)

    def build_labels(self, train):
        return {"labels": sorted({e.label for e in train})}

    def check_eval(self, path, examples, labels):
        known = set(labels["labels"])
        for e in examples:
            if e.label not in known:
                raise DataError(f"{path}:{e.line}: label {e.label!r} was not in the training data; the model knows "
                                f"{', '.join(sorted(known))}")

    def words(self, example):
        return example.text.split()

    def inputs(self, predictor, batch):
        return predictor.text_batch([e.text for e in batch])

    def targets(self, batch, arrays, labels):
        import torch

        index = _index(labels["labels"])
        return {"label": torch.tensor([index.get(e.label, IGNORE) for e in batch], dtype=torch.long)}

    def loss(self, outputs, targets, label_smoothing: float):
        import torch.nn.functional as F

        return F.cross_entropy(outputs[0], targets["label"], ignore_index=IGNORE, label_smoothing=label_smoothing)

    def soft_loss(self, outputs, teacher, arrays, temperature: float = 1.0) -> torch.Tensor:
        return soft_kl(outputs[0], teacher[0], temperature)

    def predict(self, predictor, examples):
        return predictor.classify([e.text for e in examples])

    def score(self, examples, predictions):
        return metrics.cls_scores([e.label for e in examples], [p.label for p in predictions])


class QATask(Task):
    name = "qa"
    main_metric = "f1"
    score_names = ("exact_match", "f1")
    bench_metric = "f1"
    data_format = "SQuAD v1.1 JSON (.json)"
    file_suffix = ".json"
    task_config = {"max_answer_tokens": 30}

    def build_head(self, hidden, num_states, labels, config):
        from edge_time.tasks.heads import QAHead

        return QAHead(hidden, num_states, config.get("dropout", 0.1))

    def reads(self, path):
        return True  # SQuAD .json, or any other file as {"question", "context"} JSON lines

    def predict_texts(self, predictor, texts, pretokenized=False):
        raise EdgeTimeError("QA predictions need question/context pairs: pass a .jsonl file with "
                            "{\"question\": ..., \"context\": ...} lines or SQuAD JSON")

    def predict_file(self, predictor, path):
        questions, contexts, ids = formats.read_qa_inputs(path)
        answers = predictor.answer(questions, contexts)
        return _json_lines({"id": i, **to_jsonable(a)} for i, a in zip(ids, answers))

    def read(self, path: Path):
        return formats.read_squad(path)

    def build_labels(self, train):
        return {}

    def check_eval(self, path, examples, labels):
        pass

    def words(self, example):
        return example.context.split()

    def sample_inputs(self, predictor, texts, seq_len=None):
        """Each text asks about itself: parity and calibration need inputs, not answers."""
        return encode_pairs(predictor.text_encoder, list(texts), list(texts), seq_len)[0].arrays()

    def inputs(self, predictor, batch):
        encoded, sequence_ids = predictor.pair_batch([e.question for e in batch], [e.context for e in batch])
        arrays = encoded.arrays()
        arrays["_offsets"], arrays["_sequence_ids"] = encoded.offsets, sequence_ids
        return arrays

    def targets(self, batch, arrays, labels):
        import torch

        starts, ends = [], []
        for b, example in enumerate(batch):
            text, begin = example.answers[0]
            finish = begin + len(text)
            start = end = IGNORE  # answer truncated away: the example teaches nothing
            for t, (seq, (a, z)) in enumerate(zip(arrays["_sequence_ids"][b], arrays["_offsets"][b])):
                if seq != 1 or z <= a:
                    continue
                if start == IGNORE and z > begin:
                    start = t
                if a < finish:
                    end = t
            if start == IGNORE or end == IGNORE or end < start:
                start = end = IGNORE
            starts.append(start)
            ends.append(end)
        return {"start": torch.tensor(starts), "end": torch.tensor(ends)}

    def loss(self, outputs, targets, label_smoothing: float):
        import torch.nn.functional as F

        start, end = outputs
        if bool((targets["start"] == IGNORE).all()):
            return start.sum() * 0.0
        return (F.cross_entropy(start, targets["start"], ignore_index=IGNORE)
                + F.cross_entropy(end, targets["end"], ignore_index=IGNORE)) / 2

    def predict(self, predictor, examples):
        return predictor.answer([e.question for e in examples], [e.context for e in examples])

    def score(self, examples, predictions):
        return metrics.squad_scores([[t for t, _ in e.answers] for e in examples], [p.text for p in predictions])


TASK_CLASSES: dict[str, Any] = {"ud": UDTask, "ner": NERTask, "cls": ClsTask, "qa": QATask}


def get_task(name: str):
    if name not in TASK_CLASSES:
        raise DataError(f"unknown task {name!r}; choose one of {', '.join(TASK_CLASSES)}")
    return TASK_CLASSES[name]()
