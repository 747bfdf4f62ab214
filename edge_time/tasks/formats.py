"""Task data formats: CoNLL-U (UD), CoNLL BIO (NER), JSONL (classification), SQuAD JSON (QA).

CoNLL-U is parsed and written with the `conllu` package (its TokenList keeps comments,
multi-word token ranges and empty nodes, so predictions are written back around them). Each
sentence block is also checked line by line first, because `conllu` does not report line
numbers: every malformed input gives one :class:`DataError` line naming file and line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import conllu

from edge_time.errors import EdgeTimeError
from edge_time.textfiles import TextFileError, read_text

UPOS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
             "PUNCT", "SCONJ", "SYM", "VERB", "X")
_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)


def simple_tokenize(text: str) -> list[str]:
    """Words and single punctuation marks (a plain stand-in; pass pre-tokenized input for treebank tokens)."""
    return _WORD.findall(text)


class DataError(EdgeTimeError):
    """A data file is malformed; the message names file, line and the fix."""


def _where(path: str | Path, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else str(path)


def _read_text(path: str | Path) -> str:
    try:
        return read_text(path, "data")
    except TextFileError as exc:
        raise DataError(str(exc)) from None


def _is_id(text: str) -> bool:
    """A CoNLL-U word ID or HEAD: ASCII digits only (``str.isdigit`` also accepts e.g. Arabic-Indic digits)."""
    return text.isascii() and text.isdigit()


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks as (first line number, lines)."""
    blocks, current, start = [], [], None
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            if start is None:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current, start = [], None
    if current:
        blocks.append((start, current))
    return blocks


# ---------------------------------------------------------------------------------------------
# CoNLL-U
# ---------------------------------------------------------------------------------------------


@dataclass
class UDWord:
    """One syntactic word (multi-word token parts are words; ranges and empty nodes are not)."""

    form: str
    lemma: str = "_"
    upos: str = "_"
    xpos: str = "_"
    feats: str = "_"
    head: int | None = None  # None: unannotated ('_')
    deprel: str = "_"


@dataclass
class UDSentence:
    words: list[UDWord]
    tokens: conllu.TokenList | None = None  # the parsed block, for writing predictions back
    line: int | None = None  # first line of the block in its file
    word_lines: list[int] = field(default_factory=list)  # line of each word in its file

    @property
    def forms(self) -> list[str]:
        return [w.form for w in self.words]


def _field(value) -> str:
    if value is None:
        return "_"
    if isinstance(value, str):
        return value
    return conllu.serializer.serialize_field(value)


def _check_conllu_block(path: Path, start: int, lines: list[str]) -> None:
    expected, heads = 1, []
    for offset, line in enumerate(lines):
        number = start + offset
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise DataError(f"{_where(path, number)}: {len(cols)} tab-separated columns, CoNLL-U needs 10; "
                            f"separate columns with single tabs")
        ident = cols[0]
        if "." in ident or "-" in ident:
            parts = ident.replace(".", "-").split("-")
            if len(parts) != 2 or not all(_is_id(p) for p in parts):
                raise DataError(f"{_where(path, number)}: bad ID {ident!r}; use N, N-M or N.K")
            continue
        if not _is_id(ident) or int(ident) != expected:
            raise DataError(f"{_where(path, number)}: word ID {ident!r} where {expected} was expected; "
                            f"number the words of each sentence 1, 2, 3, ...")
        expected += 1
        if cols[1] == "":
            raise DataError(f"{_where(path, number)}: empty FORM column; use '_' for an underscore token")
        head = cols[6]
        if head != "_" and not _is_id(head):
            raise DataError(f"{_where(path, number)}: HEAD {head!r} is not a word ID; use a number or '_'")
        heads.append((number, None if head == "_" else int(head)))
    if expected == 1:
        raise DataError(f"{_where(path, start)}: empty sentence (comments but no words); remove the block "
                        f"or add its words")
    n = expected - 1
    for number, head in heads:
        if head is not None and head > n:
            raise DataError(f"{_where(path, number)}: HEAD {head} points past the last word ({n}) of the sentence")
    _check_tree(path, heads)


def _check_tree(path: Path, heads: list[tuple[int, int | None]]) -> None:
    """Gold heads must form a tree: no cycles, also among the annotated words of a partly annotated
    sentence (a path that reaches an unannotated word stops there)."""
    parent = [0] + [h for _, h in heads]
    for word in range(1, len(parent)):
        seen, node = set(), word
        while node not in (0, None):
            if node in seen:
                raise DataError(f"{_where(path, heads[word - 1][0])}: HEAD values form a cycle through word "
                                f"{word}; fix the HEAD column so every word reaches the root (0)")
            seen.add(node)
            node = parent[node]


def read_conllu(path: str | Path) -> list[UDSentence]:
    """Sentences of a CoNLL-U file, with syntactic words; raises DataError naming file and line."""
    path = Path(path)
    sentences = []
    for start, lines in _blocks(_read_text(path)):
        _check_conllu_block(path, start, lines)
        try:
            (tokens,) = conllu.parse("\n".join(lines) + "\n\n")
        except (conllu.exceptions.ParseException, ValueError) as exc:
            raise DataError(f"{_where(path, start)}: cannot parse sentence ({exc})") from exc
        word_lines = [start + i for i, line in enumerate(lines)
                      if not line.startswith("#") and _is_id(line.split("\t", 1)[0])]
        words = []
        for token in tokens:
            if not isinstance(token["id"], int):
                continue  # multi-word token range or empty node
            head = token["head"]
            words.append(UDWord(form=token["form"], lemma=_field(token["lemma"]), upos=_field(token["upos"]),
                                xpos=_field(token["xpos"]), feats=_field(token["feats"]),
                                head=head if isinstance(head, int) else None, deprel=_field(token["deprel"])))
        for word, number in zip(words, word_lines):
            if word.upos not in UPOS_TAGS and word.upos != "_":
                raise DataError(f"{_where(path, number)}: UPOS {word.upos!r} is not a Universal Dependencies tag; "
                                f"use one of {' '.join(UPOS_TAGS)}")
        sentences.append(UDSentence(words=words, tokens=tokens, line=start, word_lines=word_lines))
    if not sentences:
        raise DataError(f"{path}: no sentences; a CoNLL-U file needs word lines separated by blank lines")
    return sentences


def sentence_from_words(words: list[str], text: str | None = None) -> UDSentence:
    """A fresh sentence (for prediction) from pre-tokenized words."""
    tokens = conllu.TokenList([
        {"id": i, "form": w, "lemma": "_", "upos": "_", "xpos": "_", "feats": None, "head": None,
         "deprel": "_", "deps": None, "misc": None} for i, w in enumerate(words, start=1)
    ], metadata={"text": text if text is not None else " ".join(words)})
    return UDSentence(words=[UDWord(form=w) for w in words], tokens=tokens)


def conllu_text(sentences: list[UDSentence]) -> str:
    """Serialize sentences; the words' fields replace those of the original syntactic words."""
    out = []
    for sentence in sentences:
        tokens = sentence.tokens if sentence.tokens is not None else sentence_from_words(sentence.forms).tokens
        tokens = conllu.TokenList([dict(t) for t in tokens], metadata=tokens.metadata)
        words = iter(sentence.words)
        for token in tokens:
            if not isinstance(token["id"], int):
                continue
            word = next(words)
            token.update(lemma=word.lemma, upos=word.upos, xpos=word.xpos,
                         feats=word.feats,
                         head=word.head, deprel=word.deprel)
        out.append(tokens.serialize())
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# CoNLL BIO NER: "token tag" (2 columns) or "token POS chunk tag" (4 columns), tab or space
# ---------------------------------------------------------------------------------------------


@dataclass
class NERSentence:
    words: list[str]
    tags: list[str]
    lines: list[int] = field(default_factory=list)  # line number of each word


def _valid_tag(tag: str) -> bool:
    return tag == "O" or (len(tag) > 2 and tag[0] in "BIES" and tag[1] == "-")


def read_conll_ner(path: str | Path) -> list[NERSentence]:
    path = Path(path)
    sentences, columns = [], None
    for start, lines in _blocks(_read_text(path)):
        words, tags, numbers = [], [], []
        for offset, line in enumerate(lines):
            number = start + offset
            cols = line.split("\t") if "\t" in line else line.split()
            if cols[0] == "-DOCSTART-":
                continue
            if len(cols) not in (2, 4):
                raise DataError(f"{_where(path, number)}: {len(cols)} columns; CoNLL NER needs 'token TAG' or "
                                f"'token POS CHUNK TAG'")
            if columns is None:
                columns = len(cols)
            elif len(cols) != columns:
                raise DataError(f"{_where(path, number)}: {len(cols)} columns after lines with {columns}; "
                                f"use one layout for the whole file")
            tag = cols[-1]
            if not _valid_tag(tag):
                raise DataError(f"{_where(path, number)}: tag {tag!r} is not BIO; use O, B-TYPE or I-TYPE")
            words.append(cols[0])
            tags.append(tag)
            numbers.append(number)
        if words:
            sentences.append(NERSentence(words, tags, numbers))
    if not sentences:
        raise DataError(f"{path}: no sentences; CoNLL NER needs 'token TAG' lines and blank lines between sentences")
    return sentences


def conll_ner_text(sentences: list[NERSentence]) -> str:
    return "".join("".join(f"{w}\t{t}\n" for w, t in zip(s.words, s.tags)) + "\n" for s in sentences)


# ---------------------------------------------------------------------------------------------
# JSONL classification: {"text": ..., "label": ...} per line
# ---------------------------------------------------------------------------------------------


@dataclass
class ClsExample:
    text: str
    label: str | None
    line: int | None = None


def _json_lines(path: Path):
    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{_where(path, number)}: invalid JSON ({exc.msg}); write one JSON object per line") from exc


def read_jsonl_cls(path: str | Path, require_labels: bool = True) -> list[ClsExample]:
    path = Path(path)
    examples = []
    for number, row in _json_lines(path):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise DataError(f"{_where(path, number)}: needs a string 'text' field, e.g. "
                            f'{{"text": "...", "label": "positive"}}')
        if not row["text"].strip():
            raise DataError(f"{_where(path, number)}: empty 'text'; remove the line")
        label = row.get("label")
        if label is None and require_labels:
            raise DataError(f"{_where(path, number)}: no 'label' field; every training/eval line needs one")
        examples.append(ClsExample(row["text"], None if label is None else str(label), number))
    if not examples:
        raise DataError(f"{path}: no examples; write one JSON object per line")
    return examples


# ---------------------------------------------------------------------------------------------
# SQuAD JSON (v1.1 style; v2 unanswerable questions are rejected with a clear error)
# ---------------------------------------------------------------------------------------------


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: list[tuple[str, int]]  # (text, character start)


def _squad_list(path: Path, node: dict, key: str, where: str) -> list:
    value = node.get(key, [])
    if not isinstance(value, list):
        raise DataError(f"{path}: {where}.{key} is {type(value).__name__}, SQuAD needs a list there")
    return value


def _squad_object(path: Path, value, where: str) -> dict:
    if not isinstance(value, dict):
        raise DataError(f"{path}: {where} is {type(value).__name__}, SQuAD needs an object there")
    return value


def read_squad(path: str | Path, require_answers: bool = True) -> list[QAExample]:
    """SQuAD v1.1 JSON; every malformed field is named by its place (``data[0].paragraphs[2].qas[1]``)."""
    path = Path(path)
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{_where(path, exc.lineno)}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: not SQuAD JSON; expected {{\"data\": [{{\"paragraphs\": [...]}}]}}")
    examples = []
    for a, article in enumerate(data["data"]):
        article = _squad_object(path, article, f"data[{a}]")
        for p, paragraph in enumerate(_squad_list(path, article, "paragraphs", f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            paragraph = _squad_object(path, paragraph, where)
            context = paragraph.get("context")
            if not isinstance(context, str) or not context.strip():
                raise DataError(f"{path}: {where} has no 'context' text")
            for q, qa in enumerate(_squad_list(path, paragraph, "qas", where)):
                qa = _squad_object(path, qa, f"{where}.qas[{q}]")
                qid = str(qa.get("id", len(examples)))
                if not isinstance(qa.get("question"), str) or not qa["question"].strip():
                    raise DataError(f"{path}: question id {qid} has no 'question' text")
                answers = []
                for n, answer in enumerate(_squad_list(path, qa, "answers", f"{where}.qas[{q}]")):
                    answer = _squad_object(path, answer, f"question id {qid}: answers[{n}]")
                    text, begin = answer.get("text"), answer.get("answer_start")
                    if not isinstance(text, str) or not text:
                        raise DataError(f"{path}: question id {qid}: answers[{n}] needs a non-empty 'text' string")
                    if not isinstance(begin, int) or isinstance(begin, bool):
                        raise DataError(f"{path}: question id {qid}: answers[{n}].answer_start is {begin!r}; it "
                                        f"must be the answer's character offset as an integer")
                    if context[begin:begin + len(text)] != text:
                        raise DataError(f"{path}: question id {qid}: answer {text!r} is not at answer_start {begin} "
                                        f"of its context; fix answer_start")
                    answers.append((text, begin))
                if require_answers and not answers:
                    raise DataError(f"{path}: question id {qid} has no answer; extractive QA here needs one "
                                    f"(SQuAD v2 unanswerable questions are not supported)")
                examples.append(QAExample(qid, qa["question"], context, answers))
    if not examples:
        raise DataError(f"{path}: no questions found under data[].paragraphs[].qas[]")
    return examples


def read_qa_inputs(path: Path) -> tuple[list[str], list[str], list[str]]:
    """Questions, contexts and ids to answer: SQuAD ``.json`` (answers optional) or JSON lines
    ``{"question", "context"[, "id"]}``."""
    if path.suffix.lower() == ".json":
        examples = read_squad(path, require_answers=False)
        return [e.question for e in examples], [e.context for e in examples], [e.id for e in examples]
    questions, contexts, ids = [], [], []
    for number, line in enumerate(read_text(path, "input").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not isinstance(row.get("context"), str):
            raise DataError(f"{path}:{number}: needs 'question' and 'context' strings")
        questions.append(row["question"])
        contexts.append(row["context"])
        ids.append(str(row.get("id", number)))
    return questions, contexts, ids
