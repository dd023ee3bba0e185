import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rnn_lightning.data.text import (
    INDEX_FROM,
    OOV_ID,
    PAD_ID,
    START_ID,
    TextEncoder,
    has_words,
    pad_sequences,
    rank_counts,
    tokenize,
)


def test_tokenize_lowercases_drops_line_breaks_keeps_apostrophes():
    assert tokenize("Don't GO<br /><br />there!  It's 10/10") == ["don't", "go", "there", "it's", "10", "10"]


def test_tokenize_separates_words_joined_by_a_line_break():
    assert tokenize("end.<br />Start") == ["end", "start"]


# Texts made of what reviews hold: words, line breaks, punctuation, and letters beyond ASCII, among them some whose
# lower case is ASCII (the Kelvin sign) or two characters long (dotted I).
_REVIEW_PIECES = st.sampled_from(["<br />", "<BR>", "<br/>", "<br", " ", "\t", "'", "-", ".", "é", "\u212a", "\u0130",
                                  "ß", "日本", "\x00", "\udcff"])
_REVIEW_TEXTS = st.lists(st.one_of(_REVIEW_PIECES, st.text(max_size=8)), max_size=12).map("".join)


@given(_REVIEW_TEXTS)
@example("Don't<br />GO!  It's 10/10 \u212aelvin \u0130stanbul na\u00efve")
def test_tokenize_finds_the_runs_of_word_characters_in_the_lower_cased_text(text):
    # The definition, as a regular expression: what the faster translate-and-split must agree with, on any text.
    words = re.findall(r"[a-z0-9']+", re.sub(r"(?i)<br\s*/?>", " ", text.lower()))
    assert tokenize(text) == words


def test_rank_counts_by_frequency_with_alphabetical_ties():
    documents = [["b", "a", "c"], ["c", "b"], ["c", "d"]]
    assert rank_counts(Counter(word for doc in documents for word in doc)) == ["c", "b", "a", "d"]
    in_reverse = Counter(word for doc in reversed(documents) for word in reversed(doc))
    assert rank_counts(in_reverse) == ["c", "b", "a", "d"]  # file order does not matter


def test_encode_uses_keras_ids_start_oov_and_num_words():
    encoder = TextEncoder.from_ranked(["the", "film", "was", "rare"], num_words=7, maxlen=10)
    # Keras: rank r (from 1) gets id r + 3, ids >= num_words become OOV, so "rare" (id 8) is out.
    assert encoder.words == ("the", "film", "was")
    row = encoder.encode(["The film was rare unseen"])[0]
    assert row.tolist() == [PAD_ID] * 4 + [START_ID, 1 + INDEX_FROM, 2 + INDEX_FROM, 3 + INDEX_FROM, OOV_ID, OOV_ID]


@pytest.mark.parametrize("num_words, maxlen, message", [(4, 5, "num_words must be larger than 4, got 4"),
                                                       (5, 0, "maxlen must be positive, got 0")])
def test_encoder_settings_that_leave_nothing_are_refused(num_words, maxlen, message):
    with pytest.raises(ValueError, match=message):
        TextEncoder.from_ranked(["a"], num_words=num_words, maxlen=maxlen)


def test_the_smallest_encoder_has_one_word_and_one_step():
    encoder = TextEncoder.from_ranked(["a", "b"], num_words=5, maxlen=1)
    assert encoder.words == ("a",) and encoder.encode(["b a"]).tolist() == [[1 + INDEX_FROM]]


def test_encode_tokens_builds_its_own_lookup_when_none_is_given():
    encoder = TextEncoder.from_ranked(["the", "film"], num_words=10, maxlen=5)
    assert encoder.encode_tokens(["film", "unseen"]) == [START_ID, 2 + INDEX_FROM, OOV_ID]


def test_encode_names_the_empty_review_by_its_position_in_the_stream():
    encoder = TextEncoder.from_ranked(["a"], num_words=10, maxlen=5)
    with pytest.raises(ValueError, match="review 41 has no words"):
        encoder.encode(["a", "..."], first_position=40)


def test_encode_rejects_a_review_without_words():
    encoder = TextEncoder.from_ranked(["a"], num_words=10, maxlen=5)
    with pytest.raises(ValueError, match="review 1 has no words"):
        encoder.encode(["a a", "  <br /> ...  "])


def test_pad_sequences_pads_in_front_and_keeps_the_end():
    padded = pad_sequences([[5, 6], [1, 2, 3, 4, 5, 6, 7], []], maxlen=4)
    assert padded.dtype == np.int32
    assert padded.tolist() == [[0, 0, 5, 6], [4, 5, 6, 7], [0, 0, 0, 0]]


def test_decode_shows_unknown_ids_as_question_marks_and_drops_padding():
    encoder = TextEncoder.from_ranked(["good", "film"], num_words=6, maxlen=6)
    ids = encoder.encode(["good film indeed"])[0]
    assert encoder.decode(ids) == "? good film ?"


def test_encoder_dict_round_trip_is_plain_python():
    encoder = TextEncoder.from_ranked(["x", "y", "z"], num_words=6, maxlen=9)
    state = encoder.to_dict()
    assert all(type(word) is str for word in state["words"]) and type(state["words"]) is list
    assert TextEncoder.from_dict(state) == encoder


def test_encoder_refuses_state_from_another_tokenizer_version():
    state = TextEncoder.from_ranked(["x"], num_words=6, maxlen=9).to_dict()
    state["tokenizer_version"] = 999
    with pytest.raises(ValueError, match="do not match"):
        TextEncoder.from_dict(state)


@pytest.mark.parametrize("text", ["", "   ", "<br /><BR>", "<br/>!!", "--- ...", "a", "<br />Ok", "é è", "don't",
                                  "\t7\n", "<br", "br", "<b>x</b>"])
def test_the_cheap_word_check_agrees_with_tokenize(text):
    assert has_words(text) == bool(tokenize(text))
