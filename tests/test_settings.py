"""Every setting defined once: bounds, the command line generated from them, old flag names, config files."""

import dataclasses
import math

import pytest
import yaml

from rnn_lightning.cli.main import build_parser
from rnn_lightning.cli.parsing import modern_flags
from rnn_lightning.data.text import INDEX_FROM
from rnn_lightning.settings import (
    LINKS,
    SETTINGS_GROUPS,
    Bound,
    DataSettings,
    ModelSettings,
    TrainSettings,
    data_for_model,
)


def fit_parser():
    return build_parser()._subcommands_action._name_parser_map["fit"]


@pytest.mark.parametrize("old, new", [
    (["--num-words", "30"], ["--data.num_words", "30"]),
    (["--data-source", "x.csv", "--val-data", "v.csv", "--test-data=t.csv"],
     ["--data.source", "x.csv", "--data.val_source", "v.csv", "--data.test_source=t.csv"]),
    (["--mask-padding", "--seed", "7"], ["--model.mask_padding=true", "--trainer.seed", "7"]),
    (["--no-fast-path"], ["--model.fast_path=false"]),
    (["--header"], ["--data.header=true"]),
    (["--no-header"], ["--data.header=false"]),
    (["--skip-bad-rows", "false"], ["--data.skip_bad_rows=false"]),
    (["--labels", "neg,pos"], ['--data.labels=["neg", "pos"]']),
    (["--labels", "[neg, pos]"], ["--data.labels=[neg, pos]"]),
    (["--lr", "0.01", "--max-epochs", "3"], ["--optimizer.lr", "0.01", "--trainer.max_epochs", "3"]),
    (["--data.maxlen", "64", "--no-such-flag", "x"], ["--data.maxlen", "64", "--no-such-flag", "x"]),
])
def test_the_flags_of_earlier_releases_become_todays(old, new):
    assert modern_flags(old, fit_parser()) == new


def test_old_flags_parse_to_the_settings_they_always_set():
    args = ["fit", *modern_flags(["--num-words", "30", "--mask-padding", "--no-fast-path", "--labels", "a,b",
                                  "--limit-train-batches", "0.5", "--devices", "2", "--seed", "3"], fit_parser())]
    config = build_parser().parse_args(args).fit
    assert (config.data.num_words, config.data.labels, config.model.mask_padding, config.model.fast_path) == (
        30, ["a", "b"], True, False)
    assert (config.trainer.limit_train_batches, config.trainer.devices) == (0.5, 2)
    # The links: the batches follow the model's masking, the shuffling the run's seed.
    assert (config.data.group_by_length, config.data.shuffle_seed) == (True, 3)


def test_a_config_file_sets_what_flags_set_and_flags_after_it_win(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"data": {"maxlen": 64}, "model": {"cell": "lstm"}, "trainer": {"seed": 5}}))
    parsed = build_parser().parse_args(["fit", "--config", str(config), "--model.cell", "gru"]).fit
    assert (parsed.data.maxlen, parsed.model.cell, parsed.trainer.seed, parsed.data.shuffle_seed) == (64, "gru", 5, 5)


def test_print_config_shows_the_resolved_settings(capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["fit", "--data.maxlen", "64", "--print_config"])
    assert done.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["maxlen"] == 64 and printed["model"] == dataclasses.asdict(ModelSettings())


@pytest.mark.parametrize("settings, message", [
    (lambda: DataSettings(num_words=INDEX_FROM + 1), "num_words must be larger than 4, got 4"),
    (lambda: DataSettings(val_fraction=0.0), r"val_fraction must be in \(0, 1\), got 0.0"),
    (lambda: ModelSettings(cell="transformer"), r"cell must be one of \['rnn', 'lstm', 'gru'\]"),
    (lambda: ModelSettings(num_layers=0), "num_layers must be at least 1, got 0"),
    (lambda: TrainSettings(log_grad_norms=-1), "log_grad_norms must be at least 0, got -1"),
])
def test_settings_refuse_values_outside_their_bounds_on_construction(settings, message):
    with pytest.raises(ValueError, match=message):
        settings()


def test_the_edges_of_the_bounds_are_accepted():
    assert DataSettings(num_words=INDEX_FROM + 2, maxlen=1, batch_size=1, num_workers=0).num_words == 5
    assert Bound(low=0, high=1, high_open=True).admits(0.0) and not Bound(low=0, high=1, high_open=True).admits(1.0)
    assert Bound(low=0, low_open=True).describe() == "positive" and Bound(low=1).describe() == "at least 1"
    assert Bound(low=0, high=1, low_open=True, high_open=True).describe() == "in (0, 1)"
    assert not Bound(low=0, low_open=True).admits(0.0) and Bound().admits(-math.inf)


def test_every_setting_has_help_and_every_link_joins_two_settings():
    from rnn_lightning.cli.flags import reference

    text = reference()
    for group, settings in SETTINGS_GROUPS.items():
        for field in dataclasses.fields(settings):
            row = next(line for line in text.splitlines() if line.startswith(f"| `--{group}.{field.name}` |"))
            assert row.rstrip(" |").split("|")[-1].strip(), f"{group}.{field.name} has no help"
    fields = {f"{group}.{field.name}" for group, settings in SETTINGS_GROUPS.items()
              for field in dataclasses.fields(settings)}
    assert all(source in fields and target in fields for source, target in LINKS)


def test_a_model_that_masks_padding_gets_length_grouped_batches():
    assert data_for_model(DataSettings(), ModelSettings(mask_padding=True)).group_by_length is True
    assert data_for_model(DataSettings(group_by_length=True), ModelSettings()).group_by_length is False
