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
