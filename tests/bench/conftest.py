"""Fixtures for the bench tests: a tiny UD task model, its ONNX bundle, a tiny NER model and a tiny
spaCy pipeline trained on the same generated treebank (all built here; no downloads)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tasks"))  # the tasks room's data/model builders

from tasks_helpers import SMALL_HEAD, make_encoder, write_ner, write_ud  # noqa: E402


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bench-data")
    return {"ud_train": write_ud(root / "train.conllu", 40, 1), "ud_dev": write_ud(root / "dev.conllu", 10, 2),
            "ner_train": write_ner(root / "train.conll", 20, 1), "ner_dev": write_ner(root / "dev.conll", 6, 2)}


@pytest.fixture(scope="session")
def encoder(tmp_path_factory) -> Path:
    return make_encoder(tmp_path_factory.mktemp("bench-encoder") / "tiny-bert")


def _finetune(task: str, encoder: Path, train: Path, dev: Path, out: Path, epochs: int) -> Path:
    from edge_time.tasks.train import FinetuneConfig, finetune

    return finetune(FinetuneConfig(task=task, model=encoder, train=train, dev=dev, out=out, epochs=epochs,
                                   batch_size=8, learning_rate=1e-3, head_learning_rate=3e-3, warmup_ratio=0.0,
                                   patience=10, seed=0, head=dict(SMALL_HEAD), progress=False)).out


@pytest.fixture(scope="session")
def ud_model(encoder, data, tmp_path_factory) -> Path:
    return _finetune("ud", encoder, data["ud_train"], data["ud_dev"], tmp_path_factory.mktemp("bench-ud") / "tagger", 4)


@pytest.fixture(scope="session")
def ner_model(encoder, data, tmp_path_factory) -> Path:
    return _finetune("ner", encoder, data["ner_train"], data["ner_dev"], tmp_path_factory.mktemp("bench-ner") / "ner", 1)


@pytest.fixture(scope="session")
def ud_bundle(ud_model, tmp_path_factory) -> Path:
    from edge_time.exporters import export_model

    return export_model(model=ud_model, target="onnx", out=tmp_path_factory.mktemp("bench-onnx") / "tagger-onnx",
                        quantize="none").bundle_dir


@pytest.fixture(scope="session")
def spacy_pipeline(data, tmp_path_factory) -> Path:
    """spacy.blank + morphologizer, parser and trainable lemmatizer trained on the generated treebank, saved."""
    import spacy
    from spacy.tokens import Doc
    from spacy.training import Example

    from edge_time.tasks.formats import read_conllu

    nlp = spacy.blank("xx")
    for name in ("morphologizer", "parser", "trainable_lemmatizer"):
        nlp.add_pipe(name)
    examples = []
    for sentence in read_conllu(data["ud_train"]):
        words = sentence.words
        reference = Doc(nlp.vocab, words=[w.form for w in words], pos=[w.upos for w in words],
                        morphs=["" if w.feats == "_" else w.feats for w in words], lemmas=[w.lemma for w in words],
                        heads=[w.head - 1 if w.head else i for i, w in enumerate(words)],
                        deps=[w.deprel if w.head else "ROOT" for w in words])
        examples.append(Example(Doc(nlp.vocab, words=[w.form for w in words]), reference))
    spacy.util.fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    rng = random.Random(0)
    for _ in range(8):
        rng.shuffle(examples)
        for batch in spacy.util.minibatch(examples, 8):
            nlp.update(batch, sgd=optimizer)
    out = tmp_path_factory.mktemp("bench-spacy") / "tiny_spacy"
    nlp.to_disk(out)
    return out
