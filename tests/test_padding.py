"""Prediction from a checkpoint runs rows cut to their words, and answers as the whole rows would."""

import random

import numpy as np
import pytest
import torch

from rnn_lightning.data.spec import TextSpec
from rnn_lightning.data.text import PAD_ID, TextEncoder, runs_cut_to_words
from rnn_lightning.models.classifier import class_probabilities
from rnn_lightning.models.padding import PaddingStates, padding_states

from .conftest import make_classifier

WORDS = [f"w{i}" for i in range(60)]


def padded_ids(count: int, seed: int = 0, longest: int = 60, maxlen: int = 500) -> np.ndarray:
    """Rows of 1 to ``longest`` word ids, padded in front to ``maxlen``."""
    rng = random.Random(seed)
    ids = np.zeros((count, maxlen), dtype=np.int64)
    for row in ids:
        length = rng.randint(1, longest)
        row[maxlen - length:] = [rng.randint(3, 49) for _ in range(length)]
    return ids


def whole_rows(module, ids: np.ndarray) -> np.ndarray:
    """The probabilities of the rows as they are, every column read: what cutting must not change."""
    module.eval()
    with torch.inference_mode():
        return class_probabilities(module(torch.from_numpy(ids)), module.binary).numpy()


def test_runs_are_rows_of_similar_length_cut_only_where_every_row_is_padding():
    ids = padded_ids(10, longest=9, maxlen=12)
    ids[3] = PAD_ID  # a row without words keeps its last column
    runs = list(runs_cut_to_words(ids, 4))
    assert sorted(np.concatenate([rows for rows, _ in runs]).tolist()) == list(range(10))
    assert [len(rows) for rows, _ in runs] == [4, 4, 2]
    for rows, start in runs:
        assert (ids[rows, :start] == PAD_ID).all()  # nothing but padding is cut
        assert (ids[rows, start] != PAD_ID).any() or start == 11  # and all of it that every row has
    starts = [start for _, start in runs]
    assert starts == sorted(starts)  # longest rows first: each run holds rows of similar length


@pytest.mark.parametrize(("cell", "more", "cuts"), [
    ("rnn", {}, True), ("lstm", {}, True), ("gru", {}, True), ("rnn", {"mask_padding": True}, True),
    ("rnn", {"ngram_buckets": 777, "num_layers": 2}, True), ("gru", {"num_layers": 1}, True),
    ("gru", {"mask_padding": True, "bidirectional": True, "pooling": "max", "ngram_buckets": 500}, True),
    ("rnn", {"bidirectional": True}, False), ("lstm", {"pooling": "max"}, False), ("rnn", {"members": 2}, False),
    ("gru", {"mask_padding": True, "members": 2}, True)])
def test_checkpoint_prediction_in_cut_runs_answers_as_the_whole_rows(monkeypatch, cell, more, cuts):
    torch.manual_seed(0)  # the study's shapes: 500 steps, Keras's initialisation
    spec = TextSpec(TextEncoder.from_ranked(WORDS, num_words=50, maxlen=500), ("negative", "positive"))
    module = make_classifier(spec=spec, cell=cell, **more)
    if module.model.ngrams is not None:  # as learnt: the padding's bucket stays zero
        torch.nn.init.normal_(module.model.ngrams.weight[1:], std=0.5)
    assert module.cuts_padding == cuts
    shapes = []
    run = module._probabilities
    monkeypatch.setattr(module, "_probabilities", lambda ids, width: shapes.append(ids.shape) or run(ids, width))
    ids = padded_ids(150)
    assert np.abs(module.probabilities_of(ids) - whole_rows(module, ids)).max() <= 1e-5
    # Runs of ROWS_PER_RUN rows at the most, cut or not: memory does not grow with the batch.
    assert [rows for rows, _ in shapes] == [64, 64, 22]
    assert max(width for _, width in shapes) <= 60 if cuts else {width for _, width in shapes} == {500}


def test_the_padding_states_follow_the_weights_as_they_change():
    torch.manual_seed(0)
    module = make_classifier(spec=TextSpec(TextEncoder.from_ranked(WORDS, num_words=50, maxlen=500),
                                           ("negative", "positive")))
    ids = padded_ids(64, seed=2)
    before = module.probabilities_of(ids)
    with torch.no_grad():  # as an optimizer step does: in place
        module.model.embedding.weight[PAD_ID].add_(0.3)
        module.model.rnn.weight_hh_l0.mul_(0.9)
    after = module.probabilities_of(ids)
    assert np.abs(after - before).max() > 1e-3
    assert np.abs(after - whole_rows(module, ids)).max() <= 1e-5


def test_padding_states_are_the_states_after_so_many_padding_steps():
    torch.manual_seed(0)
    network = make_classifier(cell="lstm", num_layers=2).model
    hidden, cell = PaddingStates(network)(7)
    padding = torch.zeros(1, 7, dtype=torch.long)
    with torch.no_grad():
        _, (final_hidden, final_cell) = network.rnn(network.embedding(padding[:, :3]))
    torch.testing.assert_close(hidden[3], final_hidden[:, 0])
    torch.testing.assert_close(cell[3], final_cell[:, 0])
    assert hidden.shape == (8, 2, network.rnn.hidden_size) and not hidden[0].any()
    assert padding_states(network, 7)[0].equal(hidden)
