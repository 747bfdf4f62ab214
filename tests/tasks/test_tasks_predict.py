"""Graph inputs built outside the graph (edge_time.runtime.predict): word pooling matrices."""

import numpy as np
import pytest

from edge_time.runtime.predict import word_inputs

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
