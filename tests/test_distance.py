"""The distance task puts each review's words exactly where it says; the distance and depth experiments run."""

import json

import numpy as np
import pytest
import torch

from rnn_lightning.analysis.distance import filler_pool, place_at_distance, review_words
from rnn_lightning.analysis.distance_study import placed_word_gradient
from rnn_lightning.analysis.probe import gradient_profile
from rnn_lightning.data.text import PAD_ID, START_ID

from .conftest import model_without_recurrence, run_command

WORDS = [np.arange(10, 20, dtype=np.int32), np.arange(30, 45, dtype=np.int32)]


def test_review_words_drop_padding_and_the_start_id():
    rows = np.array([[0, 0, START_ID, 7, 8], [9, 9, 4, 5, 6]])
    assert [w.tolist() for w in review_words(rows)] == [[7, 8], [9, 9, 4, 5, 6]]


@pytest.mark.parametrize("distance", [0, 1, 7, 12])
def test_the_last_k_words_end_exactly_distance_steps_before_the_end(distance):
    rows = place_at_distance(WORDS, k=4, distance=distance, maxlen=16, variant="padding")
    for row, words in zip(rows, WORDS, strict=True):
        start = 16 - distance - 4
        assert row[start:start + 4].tolist() == words[-4:].tolist()
        assert (row[:start] == PAD_ID).all() and (row[start + 4:] == PAD_ID).all()


def test_the_filler_pool_counts_each_word():
    ids, counts = filler_pool([np.array([5, 7, 5], dtype=np.int32), np.array([7, 9], dtype=np.int32)])
    assert ids.tolist() == [5, 7, 9] and counts.tolist() == [2, 2, 1]


def test_neutral_filler_fills_the_distance_with_none_of_the_reviews_own_words():
    pool = filler_pool([np.arange(12, 40, dtype=np.int32), np.array([99, 98], dtype=np.int32)])
    rows = place_at_distance(WORDS, k=4, distance=8, maxlen=16, variant="neutral", pool=pool, seed=3)
    for row, words in zip(rows, WORDS, strict=True):
        filler = row[8:]
        assert row[4:8].tolist() == words[-4:].tolist()
        assert (filler != PAD_ID).all() and set(filler.tolist()) <= set(pool[0].tolist())
        assert not set(filler.tolist()) & set(words[-4:].tolist())
    again = place_at_distance(WORDS, k=4, distance=8, maxlen=16, variant="neutral", pool=pool, seed=3)
    assert np.array_equal(rows, again)  # seeded


@pytest.mark.parametrize("settings, message", [
    ({"variant": "noise"}, "variant must be one of"),
    ({"distance": 13}, "do not fit a window of 16"),
    ({"k": 11}, "fewer than k=11"),
    ({"variant": "neutral"}, "needs a pool"),
])
def test_impossible_tasks_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        place_at_distance(WORDS, **{"k": 4, "distance": 2, "maxlen": 16, "variant": "padding", **settings})


def test_the_distance_experiment_runs_end_to_end_on_the_tiny_archive(tiny_archive, tmp_path, capsys):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--num-words", "30",
            "--maxlen", "24", "--k", "3", "--distances", "0", "12", "--cells", "rnn", "gru", "--seeds", "0", "1",
            "--train-reviews", "24", "--val-reviews", "16", "--pool-reviews", "8", "--epochs", "1",
            "--out", str(tmp_path / "out")]
    assert run_command("distance", args) == 0
    results = json.loads((tmp_path / "out" / "distance.json").read_text())
    assert len(results) == 2 * 2 * 2 * 2 * 2  # cells x fillers x masking arms x distances x seeds
    assert all(0.0 <= r["val_acc"] <= 1.0 for r in results)
    accuracy = {(r["cell"], r["variant"], r["masked"], r["distance"], r["seed"]): r["val_acc"] for r in results}
    for cell, seed in [("rnn", 0), ("rnn", 1), ("gru", 0), ("gru", 1)]:
        # Masked, padding filler is skipped: the same task as d = 0, so the same seeded run, to the last digit.
        assert accuracy[cell, "padding", True, 12, seed] == accuracy[cell, "padding", True, 0, seed]
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert table[0].split("|")[4:6] == [" d = 0 ", " d = 12 "] and len(table) == 1 + 8  # header, a row each
    assert {line.split("|")[3].strip() for line in table[1:]} == {"through padding", "padding masked"}
    assert (tmp_path / "out" / "distance.png").stat().st_size > 10_000


def test_the_gradient_at_initialisation_reaches_masked_padding_filler_undiminished(tiny_archive, tmp_path, capsys):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--num-words", "30",
            "--maxlen", "24", "--k", "3", "--distances", "0", "12", "--cells", "rnn", "gru", "--seeds", "0",
            "--train-reviews", "24", "--val-reviews", "16", "--pool-reviews", "8", "--gradients-at-init",
            "--out", str(tmp_path / "out")]
    assert run_command("distance", args) == 0
    results = json.loads((tmp_path / "out" / "distance_gradients.json").read_text())
    ratio = {(r["cell"], r["variant"], r["masked"], r["distance"]): r["relative_grad"] for r in results}
    assert len(ratio) == 2 * 2 * 2 * 2 and "val_acc" not in results[0]
    for cell in ("rnn", "gru"):
        assert ratio[cell, "neutral", False, 0] == ratio[cell, "padding", True, 0] == 1.0
        assert ratio[cell, "padding", True, 12] == pytest.approx(1.0, rel=1e-12)  # skipped: nothing to cross
        for variant in ("padding", "neutral"):
            assert ratio[cell, variant, False, 12] != pytest.approx(1.0, rel=1e-3)  # 12 steps to cross change it
    # A fresh GRU's update gate stands near 0.5: each step passes back about half of the gradient.
    assert all(ratio["gru", variant, False, 12] < 0.2 for variant in ("padding", "neutral"))
    assert "| gru | padding | padding masked | 1.0e+00 (1e+00-1e+00) |" in capsys.readouterr().out
    assert (tmp_path / "out" / "distance_gradients.png").stat().st_size > 10_000


def test_the_placed_words_gradient_is_read_where_the_words_are():
    # Only words placed at d = 0 (the last of them at the last step) receive any gradient.
    model = model_without_recurrence(num_words=50)
    labels = np.array([0, 1])
    at_end = place_at_distance(WORDS, 4, 0, 16, "padding")
    assert placed_word_gradient(model, at_end, labels, 4, 0) > 0
    assert placed_word_gradient(model, place_at_distance(WORDS, 4, 2, 16, "padding"), labels, 4, 2) == 0
    assert placed_word_gradient(model, at_end, labels, 4, 0) == pytest.approx(
        gradient_profile(model, torch.from_numpy(at_end), torch.tensor(labels, dtype=torch.float32), "").at(1) / 4)


def test_the_distance_experiment_refuses_a_distance_past_the_window(tiny_archive, tmp_path, capsys):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path), "--maxlen", "24", "--k", "3",
            "--distances", "22"]
    assert run_command("distance", args) == 2
    assert "every distance must lie in [0, 21]" in capsys.readouterr().err


def test_the_depth_experiment_records_accuracy_and_a_gradient_norm_per_layer(tiny_archive, tmp_path, capsys):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--num-words", "30",
            "--maxlen", "24", "--depths", "1", "3", "--cells", "rnn", "--seeds", "0", "--train-reviews", "32",
            "--val-reviews", "16", "--epochs", "1", "--out", str(tmp_path / "out")]
    assert run_command("depth", args) == 0
    results = json.loads((tmp_path / "out" / "depth.json").read_text())
    assert [(r["masked"], r["depth"], len(r["grad_norms"])) for r in results] == [
        (False, 1, 1), (False, 3, 3), (True, 1, 1), (True, 3, 3)]
    assert all(norm > 0 for r in results for norm in r["grad_norms"])
    assert "| rnn |" in capsys.readouterr().out
    assert (tmp_path / "out" / "depth.png").stat().st_size > 10_000
