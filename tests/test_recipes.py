"""Recipes: shipped configs chosen by name, read where they stand; the strong one runs end to end."""

import json
import sys
import urllib.request

import numpy as np
import pytest
import torch
import yaml

from rnn_lightning.cli.main import parse
from rnn_lightning.models.network import TextRNN
from rnn_lightning.recipes import names, recipe_path
from rnn_lightning.serving.inference import load_model, predict_proba
from rnn_lightning.serving.loadtest import free_port, running_server
from rnn_lightning.settings import ModelSettings

from .conftest import run_command


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    return {key: value for name, part in config.items()
            for key, value in (flatten(part, f"{prefix}{name}.").items() if isinstance(part, dict)
                               else [(f"{prefix}{name}", part)])}


@pytest.mark.parametrize("name", names())
def test_a_recipe_sets_its_values_where_it_stands_and_later_flags_override_it(name):
    values = flatten(yaml.safe_load(recipe_path(name).read_text()))
    key, value = next((key, value) for key, value in values.items() if isinstance(value, int)
                      and not isinstance(value, bool))
    settings = parse(["fit", "--recipe", name]).settings()
    assert all(getattr(settings[key.split(".")[0]], key.split(".")[1]) == value for key, value in values.items())
    later = parse(["fit", f"--recipe={name}", f"--{key}", str(value + 1)])
    earlier = parse(["fit", f"--{key}", str(value + 1), "--recipe", name])
    group, field = key.split(".")
    assert (getattr(later.settings()[group], field), getattr(earlier.settings()[group], field)) == (value + 1, value)
    assert yaml.safe_load(later.dump())["recipe"] == name  # the run's config.yaml says where it started


def test_an_unknown_recipe_is_refused_in_one_line_naming_those_there_are(capsys):
    assert run_command("fit", ["--recipe", "fastest"]) == 2
    assert capsys.readouterr().err == f"fit.py: error: no recipe 'fastest' (recipes: {', '.join(names())})\n"
    assert run_command("fit", ["--recipe"]) == 2
    assert "--recipe needs a name" in capsys.readouterr().err


def test_dropout_is_off_by_default_and_only_in_training():
    assert TextRNN(ModelSettings()).dropout is None  # no module, no random numbers drawn: the study's run as before
    torch.manual_seed(0)
    network = TextRNN(ModelSettings(dropout=0.5, num_layers=1), num_words=50)
    torch.nn.init.normal_(network.head.weight)
    ids = torch.randint(4, 50, (8, 12))
    network.train()
    assert not torch.equal(network(ids), network(ids))
    network.eval()
    assert torch.equal(network(ids), network(ids))


def test_the_ensemble_recipe_is_the_strong_one_with_a_wider_recurrent_part_of_three_members():
    strong, ensemble = (flatten(yaml.safe_load(recipe_path(name).read_text()))
                        for name in ("strong", "strong-ensemble"))
    changed = {key: value for key, value in ensemble.items() if strong.get(key) != value}
    assert changed == {"model.hidden_size": 128, "model.embed_dim": 128, "model.members": 3}
    assert set(strong) <= set(ensemble)  # nothing of strong's left out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["strong", "strong-ensemble"])
def test_the_strong_recipes_fit_with_their_baselines_test_predict_and_serve(tiny_archive, tmp_path, capsys, name):
    logs = tmp_path / "logs"
    small = ["--data.source", str(tiny_archive), "--data.data_dir", str(tmp_path / "data"), "--data.num_words", "30",
             "--data.maxlen", "24", "--data.batch_size", "16", "--trainer.max_epochs", "2", "--trainer.accelerator",
             "cpu", "--trainer.logdir", str(logs), "--model.hidden_size", "8", "--model.embed_dim", "8",
             "--model.ngram_buckets", "101"]
    assert run_command("fit", ["--recipe", name, *small]) == 0
    report = capsys.readouterr().out
    assert "baseline, TF-IDF (1-2 grams) + logistic regression on the same rows: val/acc" in report
    assert "baseline, fastText (words and word pairs, 10 epochs) on the same rows: val/acc" in report
    checkpoint = logs / "version_0" / "checkpoints" / "last.ckpt"
    model = load_model(checkpoint)
    recipe = yaml.safe_load(recipe_path(name).read_text())["model"]
    assert all(getattr(model.settings, key) == value for key, value in recipe.items()
               if key not in ("hidden_size", "embed_dim", "ngram_buckets"))
    assert model.model.ngram_scale.any()  # the n-grams' weights, counted on the training texts, in the checkpoint
    assert run_command("test", ["--ckpt", str(checkpoint), "--data.source", str(tiny_archive), "--data.data_dir",
                                str(tmp_path / "data"), "--data.num_words", "30", "--data.maxlen", "24",
                                "--accelerator", "cpu"]) == 0
    assert "test/acc" in capsys.readouterr().out
    sample = ["a great film with a great cast", "awful dull plot"]
    assert run_command("predict", ["--ckpt", str(checkpoint), "--json", *sample]) == 0
    predicted = [json.loads(line)["probabilities"] for line in capsys.readouterr().out.splitlines()]
    expected = predict_proba(model, sample)
    assert np.abs(np.array([list(row.values()) for row in predicted]) - np.array(expected)).max() <= 1e-6
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_server([sys.executable, "-m", "rnn_lightning.cli.main", "serve", "--ckpt", str(checkpoint),
                         "--server.port", str(port)], url):
        request = urllib.request.Request(f"{url}/predict", data=json.dumps({"texts": sample}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            served = [list(result["probabilities"].values()) for result in json.load(response)["results"]]
    assert np.abs(np.array(served) - np.array(expected)).max() <= 1e-5
