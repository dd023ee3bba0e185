import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from rnn_lightning.settings import LINKS, SETTINGS_GROUPS

from .conftest import run_command

ROOT = Path(__file__).resolve().parents[1]
LINKED = {target for _, target in LINKS}  # set through their source: not flags of their own
FIT_FLAGS = [f"--{group}.{field.name}" for group, settings in SETTINGS_GROUPS.items() if group != "server"
             for field in dataclasses.fields(settings) if f"{group}.{field.name}" not in LINKED]


def run_script(name: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_fit_help_documents_every_setting_from_its_one_definition():
    result = run_script("fit.py", "--help")
    assert result.returncode == 0
    assert len(FIT_FLAGS) > 40
    for flag in FIT_FLAGS:
        assert flag in result.stdout, flag
    help_text = " ".join(result.stdout.split())
    assert "Vocabulary size, ids included" in help_text  # the help is the docstring under the field


@pytest.mark.slow
def test_fit_cli_trains_a_tiny_model_and_reports_where_things_are(tiny_archive, tmp_path):
    result = run_script("fit.py", "--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"),
                        "--logdir", str(tmp_path / "logs"), "--num-words", "30", "--maxlen", "24",
                        "--max-epochs", "1", "--limit-train-batches", "2", "--accelerator", "cpu", "--test")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Trainable params: 9,313" in result.stdout  # the Keras-style summary, with this run's num_words
    assert "best val/acc:" in result.stdout and "test/acc of the best checkpoint:" in result.stdout
    assert f"tensorboard --logdir {tmp_path / 'logs'}" in result.stdout
    assert list((tmp_path / "logs").glob("version_0/checkpoints/epoch=00-val_acc=*.ckpt"))
    assert list((tmp_path / "logs").glob("version_0/events.out.tfevents.*"))


@pytest.mark.parametrize("name", ["nope.tar.gz", "reviews.csv", "folder"])
def test_fit_cli_reports_a_missing_source_in_one_line(tmp_path, name):
    result = run_script("fit.py", "--data-source", str(tmp_path / name), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"fit.py: error: {tmp_path / name}: no such file or folder (the data "
                                                  "source: an IMDB archive or aclImdb/ folder, or your own .csv, .tsv, "
                                                  ".jsonl or .parquet file or folder)"]
    assert not (tmp_path / "data").exists()


def test_inspect_data_decodes_a_review(tiny_archive, tmp_path):
    result = run_script("inspect_data.py", "--data-source", str(tiny_archive), "--data-dir", str(tmp_path),
                        "--num-words", "30", "--maxlen", "24", "--index", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("text 3 of train: label 0 (negative)")
    assert lines[1].startswith("first ids: [")
    words = set(lines[2].split())
    assert words and words <= {"?", "the", "film", "a", "plot", "actor", "scene", "movie", "it's", "story", "and",
                                "awful", "boring", "dull", "terrible", "hated", "pointless", "great", "wonderful",
                                "moving", "brilliant", "loved", "superb"}


FIT_BAD_VALUES = [
    (["--batch-size", "0"], "batch_size must be at least 1, got 0"),
    (["--lr", "0"], "lr must be positive, got 0.0"),
    (["--lr", "-0.1"], "lr must be positive, got -0.1"),
    (["--maxlen", "0"], "maxlen must be at least 1, got 0"),
    (["--num-words", "4"], "num_words must be larger than 4"),
    (["--max-epochs", "-2"], "`max_epochs` must be a non-negative integer or -1"),
    (["--model.num_layers", "0"], "num_layers must be at least 1, got 0"),
    (["--optimizer.rho", "1"], "rho must be in [0, 1), got 1"),
    (["--limit-train-batches", "-1"], "invalid value -1 for limit_train_batches"),
    (["--limit-val-batches", "-0.5"], "invalid value -0.5 for limit_val_batches"),
    (["--precision", "17"], "Precision '17' is invalid"),
    (["--devices", "4096", "--accelerator", "cpu"], "4096 CPU devices requested, this machine has"),
    (["--log-grad-norms", "-1"], "log_grad_norms must be at least 0, got -1"),
    (["--batch-size", "many"], "Parser key \"data.batch_size\": Expected a <class 'int'>. Got value: many"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
]


@pytest.mark.parametrize("flags, message", FIT_BAD_VALUES, ids=[" ".join(flags) for flags, _ in FIT_BAD_VALUES])
def test_fit_refuses_bad_values_in_one_line_before_touching_anything(tiny_archive, tmp_path, capsys, flags, message):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"),
            "--logdir", str(tmp_path / "logs"), *flags]
    assert run_command("fit", args) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("fit.py: error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []  # nothing downloaded, extracted, logged or saved


def test_parse_errors_exit_2_in_one_line(capsys):
    assert run_command("fit", ["--cell", "transformer"]) == 2
    [line] = capsys.readouterr().err.splitlines()  # no usage block: one line
    assert line.startswith('fit.py: error: Parser key "model.cell": Expected a typing.Literal')


def test_a_subcommand_parses_with_its_own_parser_alone_and_the_root_help_lists_every_one(monkeypatch, capsys):
    from rnn_lightning.cli import main as cli

    built = []
    module_of = cli.command_module
    monkeypatch.setattr(cli, "command_module", lambda name: built.append(name) or module_of(name))
    invocation = cli.parse(["predict", "--json", "great film"])
    assert invocation.name == "predict" and invocation.config.reviews == ["great film"] and invocation.config.json
    assert set(built) == {"predict"}  # no other subcommand's module imported, nor its parser built
    with pytest.raises(SystemExit):
        cli.parse(["--help"])
    listed = capsys.readouterr().out
    assert all(name in listed for name in cli.COMMANDS)


@pytest.mark.parametrize("flags, message", [
    (["--batch-size", "0"], "--batch_size must be at least 1, got 0"),
    (["--accelerator", "gpu"], "--accelerator gpu: no CUDA device is visible"),
])
def test_predict_refuses_bad_values_in_one_line(tiny_run, capsys, flags, message):
    if "gpu" in flags and torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    assert run_command("predict", ["--ckpt", tiny_run[1].last_checkpoint, *flags, "good film"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"predict.py: error: {message}"] and captured.out == ""


@pytest.mark.parametrize("flags, fast_path_runs", [([], True), (["--no-fast-path"], False)])
def test_fit_honours_no_fast_path(tiny_archive, tmp_path, monkeypatch, flags, fast_path_runs):
    from rnn_lightning.models import recurrences as fast_rnn

    calls = []
    monkeypatch.setattr("rnn_lightning.models.network.fast_stack",
                        lambda *args, **kwargs: calls.append(1) or fast_rnn.fast_stack(*args, **kwargs))
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--logdir",
            str(tmp_path / "logs"), "--num-words", "30", "--maxlen", "24", "--fast-dev-run", "--accelerator", "cpu",
            *flags]
    assert run_command("fit", args) == 0
    assert bool(calls) is fast_path_runs


def test_fit_hands_mask_padding_to_the_model_and_the_batches(tiny_archive, tmp_path, monkeypatch):
    from rnn_lightning.training.trainer import fit as real_fit

    seen = {}

    def spy(build, datamodule, settings, **kwargs):
        def recording(spec):
            module = build(spec)
            seen.update(mask=module.model.mask_padding, grouped=datamodule.settings.group_by_length,
                        seed=datamodule.settings.shuffle_seed)
            return module

        return real_fit(recording, datamodule, settings, **kwargs)

    monkeypatch.setattr("rnn_lightning.training.trainer.fit", spy)
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--logdir",
            str(tmp_path / "logs"), "--num-words", "30", "--maxlen", "24", "--fast-dev-run", "--accelerator", "cpu",
            "--mask-padding", "--seed", "7"]
    assert run_command("fit", args) == 0
    assert seen == {"mask": True, "grouped": True, "seed": 7}


@given(st.lists(st.sampled_from(["word", "a", " ", "  ", "\t", "\n", "\u00a0", "é", "longerwordthanmost"]), max_size=80)
       .map("".join), st.integers(1, 70))
@example("x" + " " * 500 + "y", 60)  # whitespace that outlasts the first look at the text's start
@example("x" * 60 + " " * 62 + "y", 60)  # the first look ends exactly at the width, and the text goes on
def test_a_verdict_shows_the_opening_of_the_text_with_its_whitespace_collapsed(text, width):
    from rnn_lightning.cli.predict import opening

    collapsed = " ".join(text.split())
    assert opening(text, width) == collapsed[:width] + ("..." if len(collapsed) > width else "")
