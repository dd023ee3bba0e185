"""The user's own data through the whole pipeline: cache, splits, multi-class training, testing and prediction."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from rnn_lightning.data.corpus import EMPTY_TEXT, UNKNOWN_LABEL, BadRowError
from rnn_lightning.data.datamodule import SkippedRowsWarning, TextDataModule
from rnn_lightning.models.saved import CheckpointError, read_checkpoint
from rnn_lightning.serving.inference import classify, load_model, predict, predict_proba, word_influence
from rnn_lightning.training.confusion import Confusion

from .conftest import TOPICS, make_classifier, make_datamodule, run_command, split_labels, write_topics_csv


@pytest.fixture()
def topics(tmp_path) -> Path:
    folder = tmp_path / "topics"
    write_topics_csv(folder / "train.csv", 150, seed=0)
    write_topics_csv(folder / "test.csv", 60, seed=1)
    (folder / "classes.txt").write_text("\n".join(TOPICS) + "\n", encoding="utf-8")
    return folder


def datamodule(source: Path | str, data_dir: Path, **settings) -> TextDataModule:
    module = make_datamodule(source=str(source), data_dir=str(data_dir), num_words=40, maxlen=16, batch_size=16,
                            **settings)
    module.prepare_data()
    module.setup()
    return module


def test_a_multi_class_collection_gives_class_indices_and_a_held_out_validation_split(topics, tmp_path):
    data = datamodule(topics, tmp_path / "data")
    assert data.label_names == ("sports", "business", "tech")
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (120, 30, 60)
    ids, labels = next(iter(data.train_dataloader()))
    assert ids.shape == (16, 16) and ids.dtype == torch.int32
    assert labels.dtype == torch.int64 and set(labels.tolist()) <= {0, 1, 2}
    assert data.spec.label_names == ("sports", "business", "tech")
    assert "striker" in data.encoder.words  # ranked on the training split


def test_a_validation_file_is_used_as_it_is(topics, tmp_path):
    write_topics_csv(topics / "dev.csv", 21, seed=2)
    data = datamodule(topics, tmp_path / "data")
    assert (len(data.train_set), len(data.val_set)) == (150, 21)


def test_the_vocabulary_comes_from_the_training_split_only(topics, tmp_path):
    (topics / "test.csv").write_text('"zyzzyva zyzzyva zyzzyva",0\n"zyzzyva",1\n"zyzzyva",2\n', encoding="utf-8")
    data = datamodule(topics, tmp_path / "data")
    assert "zyzzyva" not in data.encoder.words


def test_encoding_in_chunks_gives_what_encoding_at_once_gives(topics, tmp_path, monkeypatch):
    whole = datamodule(topics, tmp_path / "whole")
    # 150 rows: 21 full chunks and a partial one
    monkeypatch.setattr("rnn_lightning.data.datamodule.ENCODE_CHUNK_ROWS", 7)
    chunked = datamodule(topics, tmp_path / "chunked")
    for split in ("train", "test"):
        assert np.array_equal(np.load(chunked.cache_path() / f"x_{split}.npy"),
                              np.load(whole.cache_path() / f"x_{split}.npy"))
        assert np.array_equal(split_labels(chunked, split), split_labels(whole, split))


def test_the_cache_is_reused_and_rebuilt_when_the_content_or_a_read_setting_changes(topics, tmp_path, monkeypatch):
    first = datamodule(topics, tmp_path / "data")
    cache = first.cache_path()
    monkeypatch.setattr(TextDataModule, "_build_cache", lambda self: pytest.fail("cache was rebuilt"))
    assert datamodule(topics, tmp_path / "data").cache_path() == cache
    monkeypatch.undo()
    with (topics / "train.csv").open("a", encoding="utf-8") as handle:
        handle.write('"Another goal for the striker",0\n')
    changed = datamodule(topics, tmp_path / "data")
    assert changed.cache_path() != cache and split_labels(changed, "train").shape == (151,)
    renamed = datamodule(topics, tmp_path / "data", labels=["S", "B", "T"])
    assert renamed.cache_path() != changed.cache_path() and renamed.label_names == ("S", "B", "T")


def test_bad_rows_stop_preparation_and_leave_nothing_behind(topics, tmp_path):
    with (topics / "train.csv").open("a", encoding="utf-8") as handle:
        handle.write('"",1\n')
    data = make_datamodule(source=str(topics), data_dir=str(tmp_path / "data"), num_words=40, maxlen=16)
    with pytest.raises(BadRowError, match=f"train.csv, line 151: {EMPTY_TEXT}"):
        data.prepare_data()
    assert [path.name for path in (tmp_path / "data").iterdir()] == [".prepare.lock"]


def test_skipped_rows_are_counted_per_reason_and_reported(topics, tmp_path):
    with (topics / "train.csv").open("a", encoding="utf-8") as handle:
        handle.write('"",1\n"a new goal",7\n"",2\n')
    data = make_datamodule(source=str(topics), data_dir=str(tmp_path / "data"), num_words=40, maxlen=16,
                          skip_bad_rows=True)
    with pytest.warns(SkippedRowsWarning, match=f"skipped 3 bad row\\(s\\): 2 {EMPTY_TEXT}, 1 {UNKNOWN_LABEL}"):
        data.prepare_data()
    data.setup()
    assert data.skipped_rows == {EMPTY_TEXT: 2, UNKNOWN_LABEL: 1} and len(split_labels(data, "train")) == 150


def test_a_split_with_no_usable_rows_is_refused(topics, tmp_path):
    (topics / "test.csv").write_text('"",1\n', encoding="utf-8")
    data = make_datamodule(source=str(topics), data_dir=str(tmp_path / "data"), skip_bad_rows=True)
    with pytest.raises(ValueError, match="test split .* has no usable rows"), warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedRowsWarning)
        data.prepare_data()


def test_options_for_ones_own_data_are_refused_with_imdb(tiny_archive, tmp_path):
    with pytest.raises(ValueError, match="labels apply to your own data files"):
        make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path), labels=["a", "b"])
    with pytest.raises(ValueError, match="test_source apply"):
        make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path), test_source=str(tmp_path))


# Digests of the tiny archive's encoding (full splits in file order, then the seeded train/val split), made
# with the code before own data was supported (commit a80e4b3): IMDB must encode and split exactly as it did.
IMDB_DIGESTS = {"x_train": "1e3922c48dd07d63", "x_test": "4664ce0378b4e547", "y_train": "b60dbf3c8dbc8b27",
                "words": "39e9fa988105b710", "val_x": "d2e5b87a254fe1e8", "train_x": "b09397da653da169",
                "val_y": "2d7f72cd33afabd8"}


def test_imdb_is_encoded_and_split_exactly_as_before(tiny_archive, tmp_path):
    def digest(array) -> str:
        return hashlib.sha256(np.ascontiguousarray(np.asarray(array)).tobytes()).hexdigest()[:16]

    data = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path), num_words=30, maxlen=24)
    data.prepare_data()
    data.setup()
    found = {"x_train": digest(np.load(data.cache_path() / "x_train.npy")),
             "x_test": digest(np.load(data.cache_path() / "x_test.npy")),
             "y_train": digest(split_labels(data, "train").astype(np.int64)),
             "words": digest(np.asarray(data.encoder.words)),
             "val_x": digest(data.val_set.tensors[0].numpy()), "train_x": digest(data.train_set.tensors[0].numpy()),
             "val_y": digest(data.val_set.tensors[1].numpy())}
    assert found == IMDB_DIGESTS
    assert data.label_names == ("negative", "positive") and data.train_set.targets.dtype == torch.float32


def test_a_multi_class_run_learns_and_reports_per_class_test_metrics(topics_run):
    run, best, output = topics_run
    accuracy = float(next(line.split()[-1] for line in output.splitlines() if line.startswith("test/acc")))
    assert accuracy > 0.8  # three topics with their own words: far above the 1/3 of chance
    assert any(line.startswith("test/f1 of the best checkpoint") for line in output.splitlines())
    table = output[output.index("class "):].splitlines()[1:4]
    assert [line.split()[0] for line in table] == ["sports", "business", "tech"]
    confusion = json.loads((run / "test_confusion.json").read_text())
    assert confusion["label_names"] == ["sports", "business", "tech"]
    assert [sum(row) for row in confusion["matrix"]] == [50, 30, 30]  # rows are the true classes
    diagonal = sum(confusion["matrix"][i][i] for i in range(3))
    assert diagonal / 110 == pytest.approx(accuracy, abs=1e-4)  # accuracy over all texts, not a mean of classes


def test_the_checkpoint_carries_the_class_names_and_predicts_every_class(topics_run):
    _, best, _ = topics_run
    checkpoint = read_checkpoint(best)
    assert checkpoint["text_spec"]["label_names"] == ["sports", "business", "tech"]
    model = load_model(best)
    texts = ["The striker scored a goal this season", "Shares and profit as investors watch rates",
             "A startup ships new chip software"]
    probabilities = predict_proba(model, texts)
    assert all(sum(row) == pytest.approx(1.0, abs=1e-5) and len(row) == 3 for row in probabilities)
    assert [result["label"] for result in classify(model, texts)] == ["sports", "business", "tech"]
    assert classify(model, texts)[0]["probabilities"] == pytest.approx(dict(zip(TOPICS, probabilities[0], strict=True)))
    with pytest.raises(ValueError, match="3 classes: use predict_proba"):
        predict(model, texts)
    influence = dict(word_influence(model, texts[1]))
    assert influence["investors"] > 0  # a business word pushes towards the predicted class, business (class 1)


def test_predict_cli_prints_the_label_and_every_class(topics_run, capsys):
    _, best, _ = topics_run
    assert run_command("predict", ["--ckpt", str(best), "The coach praised the league"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == ["label", "p(sports)", "p(business)", "p(tech)", "review"]
    assert line.split()[0] == "sports" and sum(map(float, line.split()[1:4])) == pytest.approx(1.0, abs=2e-3)
    assert run_command("predict", ["--ckpt", str(best), "--json", "Investors sold shares"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["label"] == "business" and set(record["probabilities"]) == set(TOPICS)


def test_plot_draws_the_confusion_matrix_of_a_tested_run(topics_run, tmp_path, capsys):
    run, _, _ = topics_run
    assert run_command("plot", [str(run), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "confusion.png").stat().st_size > 10_000
    assert f"wrote {tmp_path / 'confusion.png'}" in capsys.readouterr().out


@pytest.mark.parametrize("matrix", [[[3, 1, 0], [0, 2, 2]], [[3, 1, 0], [0, 2], [1, 1, 4]]],
                         ids=["a row short", "a row of two"])
def test_a_saved_confusion_matrix_loads_as_saved_and_one_of_another_shape_is_refused(tmp_path, matrix):
    saved = Confusion.of(["a", "b", "c"], [[3, 1, 0], [0, 2, 2], [1, 1, 4]])
    saved.save(tmp_path)
    assert Confusion.load(tmp_path) == saved and Confusion.load(tmp_path / "untested") is None
    (tmp_path / "test_confusion.json").write_text(json.dumps({"label_names": ["a", "b", "c"], "matrix": matrix}))
    with pytest.raises(ValueError, match="test_confusion.json: 3 class names but a matrix of another shape"):
        Confusion.load(tmp_path)


def test_testing_data_without_a_test_split_is_refused_before_training(topics, tmp_path, capsys):
    (topics / "test.csv").unlink()
    args = ["--data-source", str(topics), "--data-dir", str(tmp_path / "data"), "--logdir", str(tmp_path / "logs"),
            "--accelerator", "cpu", "--test"]
    assert run_command("fit", args) == 2
    assert capsys.readouterr().err.strip().endswith("has no test split to test on: give one (--test-data)")
    assert not (tmp_path / "logs").exists()


def test_resuming_onto_other_classes_is_refused(topics, tmp_path):
    data = datamodule(topics, tmp_path / "data")
    checkpoint = {"hyper_parameters": {"model": {}, "optimizer": {}}}
    make_classifier(spec=data.spec).on_save_checkpoint(checkpoint)
    other = datamodule(topics, tmp_path / "data", labels=["a", "b", "c"])
    with pytest.raises(CheckpointError, match="classes"):
        make_classifier(spec=other.spec).on_load_checkpoint(checkpoint)
    make_classifier(spec=data.spec).on_load_checkpoint(checkpoint)  # its own classes are accepted


def test_a_classifier_needs_two_classes_or_more(tiny_datamodule):
    with pytest.raises(ValueError, match="at least 2 classes"):
        dataclasses.replace(tiny_datamodule.spec, label_names=("only",))



ROWS_300 = "text,label\n" + "".join(f"{('good', 'bad')[i % 2]} film number {i},{i % 2}\n" for i in range(300))


@pytest.mark.parametrize("rows, flags, message", [
    ("text,label\n", ["--labels", "neg,pos"], "the train split of {source} has no usable rows"),
    ("text,label\ngood film,pos\nbad film,neg\n", ["--text-column", "nope", "--labels", "neg,pos"],
     "{source}: no column 'nope' (columns: text, label)"),
    (ROWS_300, ["--val-fraction", "0.001"],
     "val_fraction 0.001 of 300 training rows leaves 0 for validation and 300 for training: both need some"),
], ids=["only a header", "no such column", "no validation row"])
def test_fit_refuses_unusable_data_in_one_line_and_starts_no_run(tmp_path, capsys, rows, flags, message):
    source = tmp_path / "data.csv"
    source.write_text(rows, encoding="utf-8")
    args = ["--data-source", str(source), "--data-dir", str(tmp_path / "cache"), "--logdir", str(tmp_path / "logs"),
            "--accelerator", "cpu", *flags]
    assert run_command("fit", args) == 2
    assert capsys.readouterr().err.splitlines() == [f"fit.py: error: {message.format(source=source)}"]
    assert not (tmp_path / "logs").exists()  # no version_N holding only an events file
    assert not [path for path in (tmp_path / "cache").glob(".*") if path.name != ".prepare.lock"]
