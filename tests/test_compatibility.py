"""The restructured code does what the code of bc6124b does: its checkpoints load and predict the same, and the
same seed trains the same weights (``tests/bc6124b.py`` runs that commit's code to make what these compare with)."""

import json

import pytest
import torch

from rnn_lightning.models.saved import read_checkpoint
from rnn_lightning.serving.inference import load_model, predict_proba
from rnn_lightning.settings import ModelSettings, OptimizerSettings
from rnn_lightning.training.module import TextClassifier

from .bc6124b import TINY_RUN, WEIGHT_RUNS
from .conftest import run_command


@pytest.mark.parametrize("name, cell", [("imdb_rnn_bc6124b.ckpt", "rnn"), ("topics_gru_bc6124b.ckpt", "gru")])
def test_a_checkpoint_made_before_predicts_the_same(release_fixtures, name, cell):
    expected = json.loads((release_fixtures / "predictions_bc6124b.json").read_text(encoding="utf-8"))[name]
    model = load_model(release_fixtures / name)
    assert model.class_names == tuple(expected["class_names"])
    # Its flat hyperparameters read as today's settings (fast_cpu_path was fast_path's name).
    assert model.settings == ModelSettings(cell=cell)
    assert TextClassifier.from_checkpoint(release_fixtures / name).optimizer_settings == OptimizerSettings()
    torch.testing.assert_close(torch.tensor(predict_proba(model, expected["texts"])),
                               torch.tensor(expected["probabilities"]), rtol=0, atol=1e-6)


def test_class_names_saved_beside_the_flat_hyperparameters_alone_are_found(release_fixtures, tmp_path):
    checkpoint = read_checkpoint(release_fixtures / "topics_gru_bc6124b.ckpt")
    checkpoint["TextDataModule"].pop("label_names")  # as a module handed its names saved them, without the data's
    torch.save(checkpoint, tmp_path / "names.ckpt")
    assert load_model(tmp_path / "names.ckpt").class_names == ("sports", "business", "tech")


def test_a_checkpoint_from_before_class_names_were_saved_loads_as_negative_positive(release_fixtures, tmp_path):
    checkpoint = read_checkpoint(release_fixtures / "imdb_rnn_bc6124b.ckpt")
    assert "label_names" in checkpoint  # one layout of bc6124b: the names beside the flat hyperparameters
    for state in (checkpoint, checkpoint["TextDataModule"]):
        state.pop("label_names")
    checkpoint["hyper_parameters"].pop("num_classes")
    torch.save(checkpoint, tmp_path / "older.ckpt")
    model = load_model(tmp_path / "older.ckpt")
    assert model.class_names == ("negative", "positive") and model.num_classes == 2
    assert predict_proba(model, ["great film"]) == predict_proba(load_model(release_fixtures / "imdb_rnn_bc6124b.ckpt"),
                                                                 ["great film"])


@pytest.mark.slow
@pytest.mark.parametrize("name", WEIGHT_RUNS)
def test_the_same_seed_trains_the_same_weights_as_before(release_fixtures, tiny_archive, tmp_path, name):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--logdir", str(tmp_path),
            *TINY_RUN, *WEIGHT_RUNS[name]]
    assert run_command("fit", args) == 0
    weights = read_checkpoint(tmp_path / "version_0" / "checkpoints" / "last.ckpt")["state_dict"]
    expected = torch.load(release_fixtures / "weights_bc6124b.pt", weights_only=True)["weights"][name]
    assert weights.keys() == expected.keys()
    # Both made here, by the same CPU, instruction set and torch build: the same to the last bit.
    for key, tensor in expected.items():
        assert torch.equal(weights[key], tensor), key


@pytest.mark.slow
def test_a_run_repeats_exactly_from_its_saved_config(tiny_archive, tmp_path, capsys):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--logdir",
            str(tmp_path / "logs"), *TINY_RUN, "--cell", "gru", "--model.embed_dim", "8"]
    assert run_command("fit", args) == 0
    config = tmp_path / "logs" / "version_0" / "config.yaml"
    assert f"config: {config}" in capsys.readouterr().out
    assert run_command("fit", ["--config", str(config)]) == 0
    first, again = (read_checkpoint(tmp_path / "logs" / f"version_{n}" / "checkpoints" / "last.ckpt")
                    for n in (0, 1))
    assert first["hyper_parameters"] == again["hyper_parameters"]
    assert first["hyper_parameters"]["model"]["embed_dim"] == 8 and first["text_spec"] == again["text_spec"]
    assert all(torch.equal(first["state_dict"][key], again["state_dict"][key]) for key in first["state_dict"])
