"""Subnormal floats are flushed in the thread that trains and in the one that predicts, and nowhere else."""

import json

import pytest
import torch

from rnn_lightning.models.denormals import denormals_are_flushed, denormals_flushed, flush_denormals
from rnn_lightning.models.network import TextRNN
from rnn_lightning.serving.inference import load_model, predict

from .conftest import run_command, run_in_fresh_thread


@pytest.fixture()
def flushing_seen_by_forward(monkeypatch):
    """Record, at every pass of the network, whether its thread flushes subnormals.

    Every pass ends in ``parts_of_features``: the whole rows' forward and prediction's rows cut to their words.
    """
    seen = []
    original = TextRNN.parts_of_features

    def parts_of_features(self, features, ids):
        seen.append(denormals_are_flushed())
        return original(self, features, ids)

    monkeypatch.setattr(TextRNN, "parts_of_features", parts_of_features)
    return seen


def test_the_probe_tells_flushing_apart():
    torch.set_flush_denormal(False)
    assert not denormals_are_flushed()
    assert flush_denormals() and denormals_are_flushed()


def test_the_scoped_switch_restores_the_previous_setting():
    torch.set_flush_denormal(False)
    with denormals_flushed():
        assert denormals_are_flushed()
    assert not denormals_are_flushed()


def test_fit_script_trains_with_subnormals_flushed(tiny_archive, tmp_path, flushing_seen_by_forward):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--logdir",
            str(tmp_path / "logs"), "--num-words", "30", "--maxlen", "24", "--fast-dev-run", "--accelerator", "cpu"]
    assert run_in_fresh_thread(run_command, "fit", args) == 0
    assert flushing_seen_by_forward and all(flushing_seen_by_forward)


def test_predict_script_predicts_with_subnormals_flushed(tiny_run, capsys, flushing_seen_by_forward):
    args = ["--ckpt", tiny_run[1].last_checkpoint, "--json", "great film"]
    assert run_in_fresh_thread(run_command, "predict", args) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "great film"
    assert flushing_seen_by_forward == [True]


def test_predict_flushes_while_it_runs_and_restores_the_thread_after(tiny_run, flushing_seen_by_forward):
    model = load_model(tiny_run[1].last_checkpoint)

    def predict_then_look():
        predict(model, ["great film", "awful film"], batch_size=1)
        return denormals_are_flushed()

    assert run_in_fresh_thread(predict_then_look) is False
    assert flushing_seen_by_forward == [True, True]
