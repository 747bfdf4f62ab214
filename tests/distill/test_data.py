"""Corpus readers, max-length chunking and the deterministic, resumable sample order."""

import gzip
import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from edge_time.distill.data import CorpusError, SampleOrder, collate, read_documents, tokenize_corpus


def test_text_jsonl_and_gzip_sources(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\n  two  \n")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as handle:
        handle.write(json.dumps({"content": "three"}) + "\n\n" + json.dumps({"content": "four"}) + "\n")
    assert list(read_documents(str(tmp_path / "a.txt"))) == ["one", "two"]
    assert list(read_documents(str(tmp_path / "b.jsonl.gz"), text_field="content")) == ["three", "four"]
    with pytest.raises(CorpusError, match="--text-field"):
        list(read_documents(str(tmp_path / "b.jsonl.gz")))
    with pytest.raises(CorpusError, match="does not exist"):
        list(read_documents(str(tmp_path / "missing.txt")))


def test_parquet_needs_the_extra_or_reads_the_column(tmp_path):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        (tmp_path / "c.parquet").write_bytes(b"PAR1")
        with pytest.raises(CorpusError, match=r"edge-time\[parquet\]"):
            list(read_documents(str(tmp_path / "c.parquet")))
        return
    pq.write_table(pa.table({"text": ["x", "y"]}), tmp_path / "c.parquet")
    assert list(read_documents(str(tmp_path / "c.parquet"))) == ["x", "y"]


CONLLU = """# sent_id = 1
# text = Praha je město.
1	Praha	Praha	PROPN	_	_	3	nsubj	_	_
2	je	být	AUX	_	_	3	cop	_	_
3	město	město	NOUN	_	_	0	root	_	SpaceAfter=No
4	.	.	PUNCT	_	_	3	punct	_	_

# sent_id = 2
1-2	Dals	_	_	_	_	_	_	_	SpaceAfter=No
1	Dal	dát	VERB	_	_	0	root	_	_
2	jsi	být	AUX	_	_	1	aux	_	_
3	-	-	PUNCT	_	_	1	punct	_	SpaceAfter=No
3.1	x	x	X	_	_	_	_	_	_
4	mu	on	PRON	_	_	1	iobj	_	_
5	to	ten	DET	_	_	1	obj	_	_

"""


def test_conllu_sources_give_each_sentences_text(tmp_path):
    """`# text` where a sentence has it; else its surface tokens (a multi-word token once, no empty
    nodes), spaced as SpaceAfter=No says."""
    with gzip.open(tmp_path / "train.conllu.gz", "wt", encoding="utf-8") as handle:
        handle.write(CONLLU)
    assert list(read_documents(str(tmp_path / "train.conllu.gz"))) == ["Praha je město.", "Dals-mu to"]
    (tmp_path / "bad.conllu").write_text("1\tPraha\n\n")
    with pytest.raises(CorpusError, match="not valid CoNLL-U"):
        list(read_documents(str(tmp_path / "bad.conllu")))


def test_long_documents_are_split_not_truncated(teachers, texts, tmp_path):
    tok = AutoTokenizer.from_pretrained(teachers["xlmr"])
    backend = tok.backend_tokenizer
    docs = texts["train_a"][:30]  # the first one is a long document
    corpus = tokenize_corpus_from(docs, tok, tmp_path)
    expected = [i for d in docs for i in backend.encode(d, add_special_tokens=False).ids]
    lengths = corpus.chunks.lengths()
    assert lengths.max() == 32 and len(corpus.chunks) > len(docs)
    body = np.concatenate([corpus.chunks.chunk(i)[1:-1] for i in range(len(corpus.chunks))])
    assert body.tolist() == expected  # every token kept, in order
    assert all(corpus.chunks.chunk(i)[0] == tok.cls_token_id for i in range(len(corpus.chunks)))


def tokenize_corpus_from(docs, tok, folder, pack=False):
    path = folder / "docs.txt"
    path.write_text("\n".join(docs))
    return tokenize_corpus([str(path)], tok.backend_tokenizer, tok.cls_token_id, tok.sep_token_id, max_length=32,
                           pack=pack)


def test_packing_fills_chunks_and_keeps_every_token(teachers, texts, tmp_path):
    tok = AutoTokenizer.from_pretrained(teachers["bert"])
    docs = texts["train_a"][1:40]
    corpus = tokenize_corpus_from(docs, tok, tmp_path, pack=True)
    lengths = corpus.chunks.lengths()
    assert (lengths[:-1] == 32).all() and lengths[-1] <= 32
    body = np.concatenate([corpus.chunks.chunk(i)[1:-1] for i in range(len(corpus.chunks))])
    assert body.tolist() == [i for d in docs for i in tok.backend_tokenizer.encode(d, add_special_tokens=False).ids]


def test_empty_corpus_is_an_error(tmp_path, teachers):
    tok = AutoTokenizer.from_pretrained(teachers["bert"])
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(CorpusError, match="no text"):
        tokenize_corpus([str(tmp_path / "empty.txt")], tok.backend_tokenizer, 2, 3, 32)


def test_sample_order_is_a_pure_function_of_position():
    order = SampleOrder(10, seed=3)
    stream = order.indices(0, 35)
    assert sorted(stream[:10].tolist()) == list(range(10))  # each epoch is a permutation
    assert stream[:10].tolist() != stream[10:20].tolist()  # reshuffled per epoch
    assert SampleOrder(10, seed=3).indices(17, 9).tolist() == stream[17:26].tolist()


def test_collate_pads_with_the_tokenizer_pad_and_maps_student_ids(teachers, texts, tmp_path):
    tok = AutoTokenizer.from_pretrained(teachers["xlmr"])
    corpus = tokenize_corpus_from(texts["train_a"][1:5], tok, tmp_path)
    to_student = np.arange(len(tok)) + 100
    to_student[tok.pad_token_id] = 7
    batch = collate(corpus.chunks, np.array([0, 1, 2]), tok.pad_token_id, to_student)
    mask = batch["attention_mask"].bool()
    assert (batch["teacher_ids"][~mask] == 1).all() and (batch["student_ids"][~mask] == 7).all()
    assert (batch["student_ids"][mask] == batch["teacher_ids"][mask] + 100).all()


def test_hf_datasets_source_is_optional():
    try:
        import datasets  # noqa: F401
    except ImportError:
        with pytest.raises(CorpusError, match="pip install datasets"):
            list(read_documents("hf:some/corpus:cs"))
    else:
        pytest.skip("datasets is installed; streaming needs the network, which tests never use")
