import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnn_lightning.serving.inference import CheckpointError, iter_probabilities, load_model, predict, predict_proba

from .conftest import make_classifier, make_datamodule, make_spec, run_command

ROOT = Path(__file__).resolve().parents[1]
REVIEWS = ["Brilliant, moving and wonderful.", "Awful dull boring terrible plot.", "the film the actor the scene"]


def test_checkpoint_loads_with_weights_only_and_carries_plain_text_settings(tiny_run):
    _, result = tiny_run
    checkpoint = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    assert set(hparams) == {"model", "optimizer"}
    assert all(v is None or isinstance(v, (int, float, str, bool)) for group in hparams.values()
               for v in group.values())
    text = checkpoint["text_spec"]["encoder"]
    assert isinstance(text["words"], list) and (text["num_words"], text["maxlen"]) == (30, 24)
    assert (text["start_id"], text["oov_id"], text["index_from"]) == (1, 2, 3)


@pytest.mark.slow
def test_round_trip_in_a_fresh_process_gives_identical_probabilities(tiny_run):
    module, result = tiny_run
    expected = predict(module, REVIEWS)
    code = ("import json, sys; from rnn_lightning.serving.inference import load_model, predict; "
            f"print(json.dumps(predict(load_model(sys.argv[1]), {REVIEWS!r})))")
    out = subprocess.run([sys.executable, "-c", code, result.last_checkpoint], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout) == expected
    assert len(set(expected)) == len(REVIEWS)  # three different answers, so the comparison says something


def test_predict_gives_the_probability_of_positive(tiny_run):
    model = load_model(tiny_run[1].last_checkpoint)
    ids = torch.from_numpy(model.encoder.encode(REVIEWS))
    with torch.no_grad():
        logits = model(ids)
    assert predict(model, REVIEWS) == pytest.approx(torch.sigmoid(logits).tolist(), abs=1e-6)


def test_loaded_model_is_in_eval_mode_and_batches_do_not_change_results(tiny_run):
    _, result = tiny_run
    model = load_model(result.last_checkpoint)
    assert not model.training
    assert predict(model, REVIEWS, batch_size=1) == pytest.approx(predict(model, REVIEWS, batch_size=3), abs=1e-6)


def test_long_reviews_keep_their_last_words_as_in_training(tiny_run):
    model = load_model(tiny_run[1].last_checkpoint)
    words = ["awful"] * 30 + ["great", "wonderful", "the", "film", "brilliant"] * 6  # first and last 24 differ
    review = " ".join(words)
    expected_ids = [model.encoder.word_to_id.get(word, 2) for word in words[-24:]]  # maxlen 24: start id cut off
    assert model.encoder.encode([review])[0].tolist() == expected_ids
    assert predict(model, [review]) == predict(model, [" ".join(words[-24:])])
    assert predict(model, [review]) != predict(model, [" ".join(words[:24])])


def test_predict_names_the_empty_review(tiny_run):
    model = load_model(tiny_run[1].last_checkpoint)
    with pytest.raises(ValueError, match="review 1 has no words"):
        predict(model, ["good film", " \t "])
    with pytest.raises(ValueError, match="review 4 has no words"):  # counted across batches
        predict(model, ["good", "film", "great", "awful", "..."], batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        predict(model, ["good film"], batch_size=0)


def test_the_model_saves_its_text_spec_and_refuses_to_resume_on_other_data(tiny_run):
    from rnn_lightning.models.saved import CheckpointError as Refused

    spec = load_model(tiny_run[1].last_checkpoint).text
    checkpoint = {"hyper_parameters": {"model": {}, "optimizer": {}}}
    make_classifier(spec=spec).on_save_checkpoint(checkpoint)
    assert checkpoint["text_spec"] == spec.to_dict()
    make_classifier(spec=spec).on_load_checkpoint(checkpoint)  # the same data resumes
    with pytest.raises(Refused, match="another vocabulary"):
        make_classifier(spec=make_spec(30, maxlen=24)).on_load_checkpoint(checkpoint)
    other_classes = dataclasses.replace(spec, label_names=("bad", "good"))
    with pytest.raises(Refused, match="trained on the classes"):
        make_classifier(spec=other_classes).on_load_checkpoint(checkpoint)


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such checkpoint file"),
    (lambda p: p.write_text("just some text"), "not a checkpoint file"),
    (lambda p: torch.save({"weight": torch.zeros(2)}, p), "not a Lightning checkpoint"),
    (lambda p: torch.save({"state_dict": {}, "hyper_parameters": {"n_heads": 8}}, p), "another model"),
    (lambda p: torch.save({"state_dict": {}, "hyper_parameters": {"encoder": "x"}}, p), "another model"),
    (lambda p: torch.save({"state_dict": {}, "hyper_parameters": {"cell": "gru"}}, p), "holds no vocabulary"),
    (lambda p: torch.save({"state_dict": {}, "hyper_parameters": {"cell": "gru"}, "TextDataModule": {}}, p),
     "holds no vocabulary"),
    (lambda p: torch.save({"state_dict": {}, "hyper_parameters": {"cell": "gru"}, "text_encoder": {}}, p),
     "does not fit this model: text settings"),
])
def test_bad_checkpoints_get_a_clear_error(tmp_path, make, message):
    path = tmp_path / "model.ckpt"
    make(path)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


def test_cli_prints_verdicts_and_json(tiny_run, capsys):
    assert run_command("predict", ["--ckpt", tiny_run[1].last_checkpoint, *REVIEWS[:2]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["label", "p(negative)", "p(positive)", "review"] and len(lines) == 3
    assert lines[1].split()[0] in ("positive", "negative") and lines[1].endswith("Brilliant, moving and wonderful.")
    assert run_command("predict", ["--ckpt", tiny_run[1].last_checkpoint, "--json", *REVIEWS]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in records] == REVIEWS
    for record in records:
        positive = record["probabilities"]["positive"]
        assert record["label"] == ("positive" if positive >= 0.5 else "negative")
        assert record["probabilities"]["negative"] == pytest.approx(1 - positive, abs=2e-6)


def test_cli_prints_the_same_probabilities_as_predict(tiny_run, capsys):
    expected = predict(load_model(tiny_run[1].last_checkpoint), REVIEWS)
    assert len({round(p, 3) for p in expected}) == len(REVIEWS)  # distinct, so an order mix-up would show
    assert run_command("predict", ["--ckpt", tiny_run[1].last_checkpoint, "--json", "--batch-size", "2", *REVIEWS]) == 0
    printed = [json.loads(line)["probabilities"]["positive"] for line in capsys.readouterr().out.splitlines()]
    assert printed == pytest.approx(expected, abs=1e-6)
    assert run_command("predict", ["--ckpt", tiny_run[1].last_checkpoint, *REVIEWS]) == 0
    table = [line.split()[1:3] for line in capsys.readouterr().out.splitlines()[1:]]
    assert [float(positive) for _, positive in table] == pytest.approx(expected, abs=5e-4)
    assert [float(negative) for negative, _ in table] == pytest.approx([1 - p for p in expected], abs=5e-4)


def test_a_plain_trainer_on_the_datamodule_writes_self_contained_checkpoints(tiny_datamodule, tmp_path):
    import lightning as L


    trainer = L.Trainer(default_root_dir=tmp_path, max_epochs=1, accelerator="cpu", logger=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(make_classifier(spec=tiny_datamodule.spec, embed_dim=8, hidden_size=8, num_layers=2),
                datamodule=tiny_datamodule)
    model = load_model(trainer.checkpoint_callback.best_model_path)
    assert model.text == tiny_datamodule.spec  # vocabulary, class names and training lengths
    assert model.text.review_words == tiny_datamodule.review_words
    assert {"val/loss", "val/acc"} <= trainer.progress_bar_metrics.keys()  # validation on the bar...
    assert not {"train/loss", "train/acc"} & trainer.progress_bar_metrics.keys()  # ...training in the logs
    assert len(predict(model, ["great film", "awful film"])) == 2


def test_cli_defaults_to_the_best_checkpoint_of_the_newest_run(tiny_run, capsys, monkeypatch):
    assert run_command("predict", ["--logdir", str(Path(tiny_run[1].log_dir).parent), "--json", "good film"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "good film"


def test_cli_keeps_good_lines_and_reports_bad_ones(tiny_run, tmp_path, capsys):
    reviews = tmp_path / "reviews.txt"
    reviews.write_bytes(b"great wonderful film\n   \nawful dull\n\xff\xfe broken bytes\n")
    assert run_command("predict", ["--ckpt", tiny_run[1].last_checkpoint, "--file", str(reviews), "--json"]) == 2
    captured = capsys.readouterr()
    assert [json.loads(line)["text"] for line in captured.out.splitlines()] == ["great wonderful film", "awful dull"]
    assert captured.err.splitlines() == ["predict.py: error: line 2: empty review: no words to classify",
                                         "predict.py: error: line 4: not valid UTF-8"]


@pytest.mark.parametrize("overlaps_encoding", [False, True], ids=["in-turn", "on-a-thread"])
def test_batches_before_an_empty_text_are_answered_before_it_is_refused(tiny_run, monkeypatch, overlaps_encoding):
    model = tiny_run[0]
    monkeypatch.setattr(model, "overlaps_encoding", overlaps_encoding)
    answered = []
    with pytest.raises(ValueError, match="review 4 has no words"):
        for batch in iter_probabilities(model, ["great film", "awful", "dull plot", "fine", " ", "good"], batch_size=2):
            answered.append(batch)
    assert [len(batch) for batch in answered] == [2, 2]
    assert sum(answered, []) == predict_proba(model, ["great film", "awful", "dull plot", "fine"])


def test_cli_reads_standard_input(tiny_run, capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"great film\nawful film\n")))
    assert run_command("predict", ["--ckpt", tiny_run[1].last_checkpoint, "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_cli_streams_a_file_longer_than_a_batch_and_prints_nothing_without_reviews(tiny_run, tmp_path, capsys):
    reviews = tmp_path / "reviews.txt"
    reviews.write_bytes(b"".join(b"great film number %d\r\n" % i for i in range(7)))  # Windows line ends
    args = ["--ckpt", tiny_run[1].last_checkpoint, "--file", str(reviews), "--batch-size", "3"]
    assert run_command("predict", args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 7 and [line.rsplit(" ", 1)[1] for line in lines[1:]] == [str(i) for i in range(7)]
    (tmp_path / "empty.txt").write_bytes(b"")
    assert run_command("predict", ["--ckpt", tiny_run[1].last_checkpoint, "--file", str(tmp_path / "empty.txt")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "predict.py: error: no reviews given (arguments, --file or standard input)\n"


@pytest.mark.parametrize("args, message", [
    (["--ckpt", "missing.ckpt", "good"], "missing.ckpt: no such checkpoint file"),
    (["--logdir", "no-such-logdir", "good"], "no checkpoint under no-such-logdir"),
])
def test_cli_errors_are_one_line_with_status_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert run_command("predict", args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err


def test_cli_rejects_a_non_checkpoint_file_without_a_traceback(tmp_path):
    bogus = tmp_path / "notes.ckpt"
    bogus.write_text("not a checkpoint")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "predict.py"), "--ckpt", str(bogus), "good"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line == f"predict.py: error: {bogus} is not a checkpoint file (not what torch.save writes)"


@pytest.mark.slow
def test_cli_output_pipes_as_json_and_stderr_stays_silent(tiny_run, tmp_path):
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\n".join(REVIEWS * 400) + "\n")  # enough batches for a progress bar, were it shown
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "predict.py"), "--ckpt",
                             tiny_run[1].last_checkpoint, "--json", "--file", str(reviews), "--batch-size", "64"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == REVIEWS * 400


def test_classify_gives_every_class_and_flags_texts_shorter_than_the_training_reviews(tiny_run):
    from rnn_lightning.serving.inference import classify

    model = load_model(tiny_run[1].last_checkpoint)
    words = model.text.review_words
    assert words is not None and 1 < words["p5"] <= words["median"] <= words["p95"] <= 24  # maxlen
    texts = ["great", " ".join(["film"] * words["p5"])]
    results = classify(model, texts)
    for result, probability in zip(results, predict(model, texts), strict=True):
        assert result["probabilities"] == pytest.approx({"negative": 1 - probability, "positive": probability})
        assert result["label"] == ("positive" if probability >= 0.5 else "negative")
    assert [r["short"] for r in results] == [True, False] and [r["words"] for r in results] == [1, words["p5"]]
    assert results[0]["note"].startswith("1 word(s): shorter than 95% of the texts the model learnt from")
    model.text = dataclasses.replace(model.text, review_words=None)
    assert classify(model, texts)[0]["short"] is None  # without the training lengths, no verdict on length


def test_the_note_on_short_texts_depends_on_whether_the_model_skips_padding(tiny_archive, tmp_path):
    from rnn_lightning.serving.inference import classify

    datamodule = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path), num_words=30, maxlen=24)
    datamodule.prepare_data()
    datamodule.setup()
    spec = dataclasses.replace(datamodule.spec, review_words={"p5": 8, "median": 20, "p95": 40})
    for mask, says in ((False, "reads every text as 24 steps"), (True, "The model skips padding")):
        model = make_classifier(mask_padding=mask, spec=spec)
        assert says in classify(model, ["great film"])[0]["note"]


def test_word_influence_is_the_change_without_each_word(tiny_run):
    from rnn_lightning.serving.inference import word_influence

    model = load_model(tiny_run[1].last_checkpoint)
    full = predict(model, ["wonderful film awful"])[0]
    without = predict(model, ["film awful", "wonderful awful", "wonderful film"])
    influence = word_influence(model, "Wonderful film, awful!", batch_size=2)
    assert [word for word, _ in influence] == ["wonderful", "film", "awful"]
    assert [change for _, change in influence] == pytest.approx([full - p for p in without], abs=1e-6)
    # maxlen 24: the model sees the last 24 of these 31 words (the start id is cut, as in training).
    long_text = " ".join(["great"] * 7 + ["film"] * 23 + ["awful"])
    changes = [change for _, change in word_influence(model, long_text)]
    assert changes[:7] == [0.0] * 7  # unseen: without one of them the model sees the same 24 words
    assert changes[7] != 0.0 and changes[-1] != 0.0  # without the first seen word, a "great" slides into view


def test_training_lengths_are_read_only_when_complete(tiny_datamodule):
    from rnn_lightning.models.saved import checkpoint_parts

    encoder = tiny_datamodule.encoder.to_dict()
    for words, expected in ((None, None), ({"p5": 3, "median": 9}, None),
                            ({"p5": 3, "median": 9, "p95": 20}, {"p5": 3, "median": 9, "p95": 20})):
        spec = {"encoder": encoder, "label_names": ["negative", "positive"], "review_words": words}
        nested = {"hyper_parameters": {"model": {}, "optimizer": {}}, "text_spec": spec}
        assert checkpoint_parts(nested)[2].review_words == expected
        # The layout of bc6124b and before: the lengths in the DataModule's state.
        data_state = {"text_encoder": encoder, "review_words": words}
        flat = {"hyper_parameters": {"num_words": 30}, "TextDataModule": data_state}
        assert checkpoint_parts(flat)[2].review_words == expected


def test_timepredict_times_a_fresh_predict_process_and_counts_its_answers(tiny_run, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("great film\nawful film\ndull\n", encoding="utf-8")
    assert run_command("timepredict", ["--models", tiny_run[1].last_checkpoint, "--texts", str(texts),
                                       "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    row = out.strip().splitlines()[-1].split("|")
    assert out.startswith("CPU: ") and row[1].strip() == tiny_run[1].last_checkpoint and row[4].strip() == "3"
    assert 0 < float(row[2]) <= float(row[3])  # the first answer comes before the end
    assert run_command("timepredict", ["--models", str(tmp_path / "none.ckpt"), "--texts", str(texts),
                                       "--repeat", "1"]) == 2
    assert "predict failed on" in capsys.readouterr().err


def test_the_first_batches_are_small_and_double_up_to_the_batch_size(tiny_run):
    from rnn_lightning.data.text import chunked

    assert [len(chunk) for chunk in chunked(range(20), 8, first=2)] == [2, 4, 8, 6]
    assert [len(chunk) for chunk in chunked(range(20), 8)] == [8, 8, 4]
    model = tiny_run[0]
    texts = [f"great film number {i}" if i % 3 else "awful dull plot" for i in range(300)]
    assert [len(batch) for batch in iter_probabilities(model, texts, batch_size=100)] == [64, 100, 100, 36]
    batches = list(iter_probabilities(model, texts, batch_size=1000))
    assert [len(batch) for batch in batches] == [64, 128, 108]
    torch.testing.assert_close(torch.tensor(sum(batches, [])), torch.tensor(predict_proba(model, texts, batch_size=7)))


def test_a_checkpoint_encodes_and_runs_in_turn_and_an_exported_model_on_a_thread_of_its_own(tiny_run, monkeypatch):
    import threading

    model = tiny_run[0]
    threads = []
    run = model.probabilities_of
    monkeypatch.setattr(model, "probabilities_of", lambda ids: threads.append(threading.current_thread()) or run(ids))
    texts = ["great film"] * 200
    expected = predict_proba(model, texts, batch_size=64)
    assert model.overlaps_encoding is False and set(threads) == {threading.current_thread()}
    threads.clear()
    monkeypatch.setattr(model, "overlaps_encoding", True)  # as an exported model does
    assert predict_proba(model, texts, batch_size=64) == expected
    assert threading.current_thread() not in threads and len(set(threads)) == 1
