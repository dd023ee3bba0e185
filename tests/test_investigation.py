import math
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

from rnn_lightning.analysis.curves import read_run
from rnn_lightning.analysis.probe import format_table, gradient_profile

from .conftest import make_network, model_without_recurrence, run_command


def test_run_metrics_come_from_the_event_files(tiny_run):
    run = read_run(Path(tiny_run[1].log_dir).parent)  # a log folder: its newest run is taken
    assert run.label.startswith("rnn (")
    for tag in ("train/acc", "val/acc", "train/loss", "val/loss", "time/epoch_s"):
        epochs, values = run.series(tag)
        assert epochs == [1, 2] and all(math.isfinite(v) for v in values), tag
    assert max(run.series("val/acc")[1]) == pytest.approx(tiny_run[1].best_val_acc, abs=1e-6)


def test_plot_writes_both_figures_as_real_images(tiny_run, tmp_path, capsys):
    assert run_command("plot", [tiny_run[1].log_dir, tiny_run[1].log_dir, "--out", str(tmp_path)]) == 0
    for name in ("accuracy", "loss"):
        image = matplotlib.image.imread(tmp_path / f"{name}.png")
        assert image.shape[0] >= 300 and image.shape[1] >= 500 and image.std() > 0.01  # not blank
    out = capsys.readouterr().out
    assert "| epoch | train/acc | val/acc |" in out and "best val/acc" in out


def test_plot_draws_beside_the_run_unless_told_where(tiny_run, tmp_path, monkeypatch, capsys):
    run = Path(tiny_run[1].log_dir)
    monkeypatch.chdir(tmp_path)  # a checkout's docs/ must never be written by default
    assert run_command("plot", [str(run)]) == 0
    assert (run / "accuracy.png").is_file() and (run / "loss.png").is_file() and not list(tmp_path.iterdir())
    assert f"wrote {run / 'accuracy.png'}" in capsys.readouterr().out


def test_plot_explains_a_run_without_epochs(tmp_path, capsys):
    writer = SummaryWriter(str(tmp_path / "version_0"))
    writer.add_scalar("something/else", 1.0, 0)
    writer.close()
    assert run_command("plot", [str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "no epoch was logged yet" in capsys.readouterr().err
    assert run_command("plot", [str(tmp_path / "missing")]) == 2
    assert "no TensorBoard event files" in capsys.readouterr().err


def test_probe_gives_finite_norms_at_every_distance_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = make_network(num_words=30, embed_dim=8, hidden_size=8, num_layers=2)
    ids, labels = torch.randint(0, 30, (6, 40)), torch.tensor([0.0, 1.0] * 3)
    profile = gradient_profile(model, ids, labels, "rnn")
    assert profile.norms.shape == (40,) and np.isfinite(profile.norms).all() and (profile.norms > 0).all()
    assert next(model.parameters()).dtype == torch.float32 and model.embedding.weight.grad is None
    assert math.isnan(profile.at(41))


def test_probe_table_for_fresh_rnn_versus_lstm():
    ids, labels = torch.randint(0, 30, (4, 60)), torch.tensor([0.0, 1.0, 0.0, 1.0])
    profiles = []
    for cell in ("rnn", "lstm"):
        torch.manual_seed(0)
        profiles.append(gradient_profile(make_network(num_words=30, embed_dim=8, hidden_size=8, cell=cell), ids,
                                         labels, f"{cell} fresh init"))
    lines = format_table(profiles, distances=(1, 10, 50)).splitlines()
    assert lines[0].split() == ["model", "d=1", "d=10", "d=50", "d=50/d=1"] and len(lines) == 4
    for line, profile in zip(lines[2:], profiles, strict=True):
        values = [float(v) for v in line[len(profile.label):].split()]
        assert line.startswith(profile.label) and len(values) == 4
        assert values[-1] == pytest.approx(profile.at(50) / profile.at(1), rel=1e-3)


def test_probe_script_on_the_tiny_archive(tiny_archive, tmp_path, capsys):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path), "--num-words", "30", "--maxlen", "24",
            "--cell", "rnn", "gru", "--reviews", "8", "--out", str(tmp_path)]
    assert run_command("probe", args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("rnn fresh init") and out[3].startswith("gru fresh init")
    assert matplotlib.image.imread(tmp_path / "gradient_probe.png").shape[0] >= 300


def test_probe_distance_one_is_the_last_step():
    model = model_without_recurrence(num_words=30)
    profile = gradient_profile(model, torch.randint(1, 30, (4, 12)), torch.tensor([0.0, 1.0, 0.0, 1.0]), "rnn")
    assert profile.at(1) > 0 and (profile.norms[1:] == 0).all()


def _reviews_of_lengths(lengths: list[int], steps: int = 10) -> torch.Tensor:
    torch.manual_seed(1)
    ids = torch.zeros(len(lengths), steps, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, steps - length:] = torch.randint(1, 30, (length,))
    return ids


def test_real_word_probe_averages_each_distance_over_the_reviews_with_a_word_there():
    torch.manual_seed(0)
    model = make_network(num_words=30, embed_dim=8, hidden_size=8, num_layers=2)
    ids, labels = _reviews_of_lengths([3, 5, 8]), torch.tensor([0.0, 1.0, 1.0])
    real = gradient_profile(model, ids, labels, "rnn", real_words_only=True)
    everything = gradient_profile(model, ids, labels, "rnn")
    assert [real.reviews_at(d) for d in range(1, 12)] == [3, 3, 3, 2, 2, 1, 1, 1, 0, 0, 0]
    assert (everything.reviews == 3).all()
    np.testing.assert_allclose(real.norms[:3], everything.norms[:3])  # every review has a word there
    assert not np.isclose(real.at(6), everything.at(6))  # one review's word against the mean with two paddings
    assert np.isfinite(real.norms[:8]).all() and np.isnan(real.norms[8:]).all()  # no review reaches 9 or 10
    table = format_table([real], distances=(1, 6, 10), show_reviews=True).splitlines()
    assert table[3].split() == ["reviews", "counted", "3", "1", "0"]


def test_a_masked_model_is_probed_on_each_review_alone_and_has_no_gradient_at_padding():
    torch.manual_seed(0)
    model = make_network(num_words=30, embed_dim=8, hidden_size=8, num_layers=2, mask_padding=True)
    ids, labels = _reviews_of_lengths([3, 5, 8]), torch.tensor([0.0, 1.0, 1.0])
    batch = gradient_profile(model, ids, labels, "rnn masked", real_words_only=True)
    alone = [gradient_profile(model, ids[row:row + 1], labels[row:row + 1], "one", real_words_only=True)
             for row in range(3)]
    # The batch's loss is the mean of three: each review's gradient is a third of its gradient alone.
    assert batch.at(1) == pytest.approx(np.mean([profile.at(1) for profile in alone]) / 3, rel=1e-9)
    assert batch.at(7) == pytest.approx(alone[2].at(7) / 3, rel=1e-9)
    padded = gradient_profile(model, ids, labels, "rnn masked")
    assert padded.at(9) == 0 and padded.at(7) == pytest.approx(batch.at(7) / 3, rel=1e-9)  # padding counts as 0
    model.mask_padding = False
    assert gradient_profile(model, ids, labels, "rnn").at(9) > 0  # unmasked, the padding does reach the loss
