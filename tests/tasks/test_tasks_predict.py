"""Graph inputs built outside the graph (edge_time.runtime.predict): word pooling matrices, batching,
decoding, and the time each stage of a call takes."""


import numpy as np
import pytest

from edge_time.runtime.decode import bio_spans, decode_tree
from edge_time.runtime.predict import TaskPredictor, word_inputs
from edge_time.runtime.stages import STAGES

# [CLS] w0 w1 w1 w2 [SEP] [PAD]: word 1 has two subwords
WORD_IDS = [[None, 0, 1, 1, 2, None, None]]


def test_mean_pooling_with_root_row():
    arrays = word_inputs(WORD_IDS, [3], "mean", root_row=True)
    pool, mask = arrays["word_pool"][0], arrays["word_mask"][0]
    expected = np.zeros((4, 7), dtype=np.float32)
    expected[0, 0] = 1.0            # root = [CLS]
    expected[1, 1] = 1.0
    expected[2, 2:4] = 0.5          # mean of the two subwords
    expected[3, 4] = 1.0
    np.testing.assert_array_equal(pool, expected)
    assert mask.tolist() == [1, 1, 1, 1] and arrays["word_pool"].dtype == np.float32


def test_first_subword_pooling_and_padding_to_a_fixed_width():
    arrays = word_inputs(WORD_IDS + [[None, 0, None, None, None, None, None]], [3, 1], "first", root_row=False, width=7)
    pool, mask = arrays["word_pool"], arrays["word_mask"]
    assert pool.shape == (2, 7, 7)
    assert pool[0, 1].tolist() == [0, 0, 1, 0, 0, 0, 0]   # word 1 -> its first subword only
    assert mask.tolist() == [[1, 1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]]
    assert pool[1, 1:].sum() == 0


def test_words_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="do not fit"):
        word_inputs(WORD_IDS, [3], "mean", root_row=True, width=3)


def _reference_word_inputs(word_ids, n_words, pooling, root_row, width=None):
    """The per-sentence, per-token loop the vectorised builder replaced."""
    offset = 1 if root_row else 0
    needed = max([n + offset for n in n_words] + [1])
    width = needed if width is None else width
    pool = np.zeros((len(word_ids), width, len(word_ids[0])), dtype=np.float32)
    mask = np.zeros((len(word_ids), width), dtype=np.int64)
    for b, ids in enumerate(word_ids):
        if root_row:
            pool[b, 0, 0] = 1.0
        mask[b, : n_words[b] + offset] = 1
        for t, w in enumerate(ids):
            if w is None or w >= n_words[b] or (pooling == "first" and pool[b, w + offset].any()):
                continue
            pool[b, w + offset, t] = 1.0
        if pooling == "mean":
            counts = pool[b].sum(axis=1, keepdims=True)
            np.divide(pool[b], counts, out=pool[b], where=counts > 0)
    return {"word_pool": pool, "word_mask": mask}


@pytest.mark.parametrize("pooling", ["mean", "first"])
@pytest.mark.parametrize("root_row", [True, False])
def test_word_inputs_equal_the_per_token_loop(pooling, root_row):
    rng = np.random.default_rng(3)
    word_ids, n_words = [], []
    for _ in range(12):  # up to 5 subwords a word, [CLS]/[SEP], padding; some sentences cut short (n < words)
        words = int(rng.integers(1, 9))
        ids = [None] + [w for w in range(words) for _ in range(int(rng.integers(1, 6)))] + [None]
        word_ids.append(ids)
        n_words.append(words if rng.random() < 0.8 else int(rng.integers(1, words + 1)))
    seq = max(map(len, word_ids)) + 2
    word_ids = [ids + [None] * (seq - len(ids)) for ids in word_ids]
    for width in (None, seq):
        got, want = word_inputs(word_ids, n_words, pooling, root_row, width), _reference_word_inputs(
            word_ids, n_words, pooling, root_row, width)
        for name in want:
            assert got[name].dtype == want[name].dtype
            np.testing.assert_array_equal(got[name], want[name])


UD_LABELS = {"upos": ["NOUN", "VERB", "DET"], "xpos": ["a", "b"], "feats": ["_", "X=1"],
             "lemma_rule": [";d¦", ";ago"], "deprel": ["dep", "root", "obj", "nsubj"]}


def _reference_decode_ud(outputs, row, words, labels):
    """The per-sentence decoder the batched one replaced (lemmas aside)."""
    n = len(words)
    pick = lambda name: [labels[name][i] for i in outputs[name][row, 1: n + 1].argmax(-1)]  # noqa: E731
    heads = decode_tree(outputs["arc"][row, : n + 1, : n + 1])
    label_scores = outputs["deprel"][row, np.arange(1, n + 1), heads[1:]].astype(np.float64)
    root_id = labels["deprel"].index("root")
    label_scores[:, root_id] = -np.inf
    best = label_scores.argmax(-1)
    best[heads[1:] == 0] = root_id
    return pick("upos"), pick("xpos"), pick("feats"), heads[1:].tolist(), [labels["deprel"][i] for i in best]


@pytest.mark.parametrize("seed", range(5))
def test_batched_ud_decoding_equals_the_per_sentence_decoder(seed):
    rng = np.random.default_rng(seed)
    sentences = [["w"] * int(n) for n in rng.integers(1, 30, size=24)]
    sentences[0] = ["w"]
    width = max(map(len, sentences)) + 1
    outputs = {name: rng.normal(size=(len(sentences), width, len(UD_LABELS[name]))).astype(np.float32)
               for name in ("upos", "xpos", "feats", "lemma_rule")}
    outputs["arc"] = (rng.normal(size=(len(sentences), width, width)) * 3).astype(np.float32)
    outputs["deprel"] = rng.normal(size=(len(sentences), width, width, 4)).astype(np.float32)
    predictor = TaskPredictor("ud", UD_LABELS, {"pooling": "first", "root_row": True}, None, run=lambda a: {})
    parses = predictor.decode_ud(outputs, sentences)
    for row, (words, parse) in enumerate(zip(sentences, parses)):
        assert (parse.upos, parse.xpos, parse.feats, parse.heads, parse.deprels) == _reference_decode_ud(
            outputs, row, words, UD_LABELS)
        assert parse.lemmas == predictor.decode_ud({k: v[row: row + 1] for k, v in outputs.items()}, [words])[0].lemmas


def test_batched_ner_decoding_equals_per_sentence_argmax():
    rng = np.random.default_rng(0)
    labels = {"tags": ["O", "B-PER", "I-PER", "B-LOC"]}
    sentences = [[f"w{i}" for i in range(n)] for n in (1, 7, 3)]
    outputs = {"tags": rng.normal(size=(3, 7, 4))}
    predictor = TaskPredictor("ner", labels, {"pooling": "first"}, None, run=lambda a: {})
    for row, (words, result) in enumerate(zip(sentences, predictor.decode_ner(outputs, sentences))):
        tags = [labels["tags"][i] for i in outputs["tags"][row, : len(words)].argmax(-1)]
        assert result.tags == tags and [(e.type, e.start, e.end) for e in result.entities] == bio_spans(tags)


def test_ud_words_may_contain_spaces(trained):
    """UD allows forms like '12 000'; the word still gets exactly one row."""
    from edge_time.tasks import load_predictor

    (parse,) = load_predictor(trained["ud"].out).parse([["The", "12 000", "cats", "."]])
    assert parse.words == ["The", "12 000", "cats", "."] and len(parse.heads) == 4


def _is_tree(heads: list[int]) -> bool:
    for word in range(1, len(heads) + 1):
        seen, node = set(), word
        while node:
            if node in seen:
                return False
            seen.add(node)
            node = heads[node - 1]
    return heads.count(0) == 1


def test_sentences_beyond_the_model_bounds_are_parsed_in_pieces_as_one_tree(trained, caplog):
    """A sentence longer than max_length never reaches the runtime whole: it is cut into pieces that
    fit, and the pieces' roots hang under the first one, so the output is still one tree per sentence."""
    from edge_time.tasks import load_predictor

    predictor = load_predictor(trained["ud"].out)
    words = (["the", "cat", "sees", "a", "dog", "."] * 200)[:1111]
    fits = ["the", "cat", "sees", "a", "dog", "."]
    with caplog.at_level("WARNING", logger="edge_time"):
        long_parse, short_parse = predictor.parse([words, fits])
    assert "1 sentence(s) exceed" in caplog.text
    assert long_parse.words == words and len(long_parse.heads) == len(words) == len(long_parse.deprels)
    assert _is_tree(long_parse.heads) and long_parse.deprels.count("parataxis") >= len(words) // predictor.max_words
    assert short_parse == predictor.parse([fits])[0]  # a sentence that fits is untouched by its neighbour


def test_sentences_that_fit_are_tokenized_once(trained, monkeypatch):
    """One tokenizer call tells which sentences fit and gives their encodings; only the pieces of the
    sentences cut need a second one."""
    from edge_time.tasks import load_predictor

    predictor = load_predictor(trained["ud"].out)
    calls = []
    real = predictor.text_encoder.tokenize_words
    monkeypatch.setattr(predictor.text_encoder, "tokenize_words", lambda s: calls.append(len(s)) or real(s))
    fits = [["the", "cat", "sees", "a", "dog", "."], ["a", "dog", "."]]
    predictor.parse(fits)
    assert calls == [2]
    calls.clear()
    long = (["the", "cat", "sees", "a", "dog", "."] * 200)[:1111]
    predictor.parse(fits + [long])
    assert calls[0] == 3 and len(calls) == 2 and calls[1] >= len(long) // predictor.max_words


def test_ner_pieces_are_joined_in_order(trained):
    from edge_time.tasks import load_predictor

    predictor = load_predictor(trained["ner"].out)
    words = ["anna", "lives", "in", "paris"] * 300
    (result,) = predictor.tag([words])
    assert result.words == words and len(result.tags) == len(words)
    assert all(" ".join(words[e.start:e.end + 1]) == e.text for e in result.entities)


def test_piece_starts_respect_tokens_and_words(tiny_encoder):
    from edge_time.bundle import TokenizerInfo
    from edge_time.runtime.tokenize import TextEncoder

    encoder = TextEncoder(tiny_encoder / "tokenizer.json", TokenizerInfo(cls_id=2, sep_id=3), max_length=16)
    assert encoder.piece_starts(["the", "cat"], max_words=10) == [0]
    words = ["the", "cat", "sees", "a", "dog"] * 10
    starts = encoder.piece_starts(words, max_words=4)
    assert starts[0] == 0 and all(b - a <= 4 for a, b in zip(starts, starts[1:] + [len(words)]))
    for a, b in zip(starts, starts[1:] + [len(words)]):
        assert len(encoder.encode_words([words[a:b]]).input_ids[0]) <= 16


def test_word_batches_are_sorted_by_token_count_and_results_keep_input_order(trained):
    """The graph's cost follows tokens, not words: batches are cut from sentences sorted by token count
    (each tokenized once), and predictions come back in the caller's order."""
    from edge_time.tasks import load_predictor

    predictor = load_predictor(trained["ud"].out, batch_size=2)
    # word counts rise while token counts fall: long words split into many subwords
    sentences = [["unbelievably"] * 4, ["unbelievably", "cat", "x"], ["a", "cat", "sees", "x", "dog"],
                 ["a", "x", "x", "x", "x", "x", "a"]]
    tokens = [len(e.ids) for e in predictor.text_encoder.tokenize_words(sentences)]
    assert sorted(tokens) != [tokens[i] for i in sorted(range(4), key=lambda i: len(sentences[i]))]
    widths, run = [], predictor._run
    predictor._run = lambda arrays: widths.append(arrays["input_ids"].shape) or run(arrays)
    parses = predictor.parse(sentences)
    ascending = sorted(tokens)
    assert widths == [(2, ascending[1]), (2, ascending[3])]  # the padding a token-sorted batching leaves
    assert [p.words for p in parses] == sentences
    assert parses == [predictor.parse([s])[0] for s in sentences]


def test_a_token_budget_ends_batches_before_their_padded_size_passes_it(trained):
    """``batch_tokens``: short sentences share large batches and long ones run in small ones; every
    batch is as large as the budget and the sentence cap allow, and a sentence over the budget runs
    alone rather than being refused."""
    from edge_time.tasks import load_predictor

    predictor = load_predictor(trained["ud"].out, batch_size=4)
    sentences = [["a", "cat", "sees", "x", "dog", "."][: 1 + i % 6] * (1 + i // 6) for i in range(18)]
    tokens = sorted(len(e.ids) for e in predictor.text_encoder.tokenize_words(sentences))
    predictor.batch_tokens = 3 * tokens[len(tokens) // 2]
    batches, run = [], predictor._run  # real tokens per row of every batch
    predictor._run = lambda arrays: batches.append(arrays["attention_mask"].sum(axis=1).tolist()) or run(arrays)
    parses = predictor.parse(sentences)
    assert sorted(sum(batches, [])) == tokens and len({len(b) for b in batches}) > 1
    assert all(len(b) * max(b) <= predictor.batch_tokens for b in batches)
    for batch, following in zip(batches, batches[1:]):  # the next batch's shortest sentence did not fit
        assert len(batch) == 4 or (len(batch) + 1) * min(following) > predictor.batch_tokens
    predictor.batch_tokens = tokens[-1] - 1  # the longest sentence is over the budget: a batch of its own
    batches.clear()
    assert predictor.parse(sentences) == parses
    assert batches[-1] == [tokens[-1]]


@pytest.mark.parametrize("task", ["ud", "ner", "cls", "qa"])
def test_each_stage_of_a_call_is_timed_where_it_runs(trained, task_data, task):
    """The predictor's stage clock (what `edge-time bench` reports per pass): a graph call slowed by a fixed sleep
    shows up as graph time, no stage is counted twice, and a pop starts a fresh count."""
    import time

    from edge_time.tasks import load_predictor
    from edge_time.tasks.data import get_task

    predictor = load_predictor(trained[task].out, batch_size=4)
    calls, run = [], predictor._run

    def slow_run(arrays):
        calls.append(1)
        time.sleep(0.02)
        return run(arrays)

    predictor._run = slow_run
    began = time.perf_counter()
    get_task(task).predict_file(predictor, task_data[task][1])
    wall = time.perf_counter() - began
    seconds = predictor.stages.pop()
    assert set(seconds) == set(STAGES) and all(value > 0 for value in seconds.values())
    assert len(calls) > 1 and seconds["graph"] >= 0.02 * len(calls)
    assert sum(seconds.values()) <= wall
    assert predictor.stages.pop() == dict.fromkeys(STAGES, 0.0)
