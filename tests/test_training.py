import random
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnn_lightning.data.spec import TextSpec
from rnn_lightning.models.saved import CheckpointError, read_checkpoint
from rnn_lightning.serving.inference import load_model, predict
from rnn_lightning.settings import OptimizerSettings
from rnn_lightning.training.module import VAL_ACC, TextClassifier

from .conftest import FILLER, make_classifier, make_datamodule, make_spec, run_command, run_fit

QUIET = {"accelerator": "cpu", "enable_progress_bar": False, "log_every_n_steps": 1}


def tiny_module(spec: TextSpec) -> TextClassifier:
    """A small model of the data's spec; :func:`fit` builds it once the data is prepared."""
    return make_classifier(spec=spec, embed_dim=8, hidden_size=8, num_layers=2)


def test_fast_dev_run_wires_everything_and_writes_nothing(tiny_datamodule, tmp_path, monkeypatch):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # Lightning's fallback location for checkpoints is the working directory
    result = run_fit(tiny_module, tiny_datamodule, logdir=str(tmp_path / "logs"), fast_dev_run=True, **QUIET)
    assert result.best_checkpoint is None
    assert not list((tmp_path / "logs").rglob("*.ckpt"))
    assert not list(workdir.iterdir())


@pytest.mark.slow
def test_short_run_writes_checkpoints_and_tensorboard_curves(tiny_datamodule, tmp_path):
    torch.manual_seed(0)
    result = run_fit(tiny_module, tiny_datamodule, logdir=str(tmp_path / "logs"), max_epochs=2, test=True, **QUIET)
    run = Path(result.log_dir)
    assert Path(result.best_checkpoint).is_file() and Path(result.last_checkpoint).name == "last.ckpt"

    events = EventAccumulator(str(run))
    events.Reload()
    scalars = events.Tags()["scalars"]
    for tag in ("train/loss", "train/acc", "val/loss", VAL_ACC):
        assert tag in scalars
    assert len(events.Scalars(VAL_ACC)) == 2 and len(events.Scalars("train/acc")) == 2
    assert result.best_val_acc == pytest.approx(max(event.value for event in events.Scalars(VAL_ACC)))

    model = load_model(result.best_checkpoint)
    assert model.settings.cell == "rnn" and model.encoder == tiny_datamodule.encoder
    ids, labels = tiny_datamodule.test_set.tensors
    with torch.no_grad():
        test_acc = float(((model(ids) >= 0).float() == labels).float().mean())  # logit >= 0 is p >= 0.5
    assert result.test_metrics["test/acc"] == pytest.approx(test_acc, abs=1e-6)


@pytest.mark.slow
def test_resume_from_last_continues_the_same_run(tiny_datamodule, tmp_path):
    logdir = str(tmp_path / "logs")
    first = run_fit(tiny_module, tiny_datamodule, logdir=logdir, max_epochs=1, **QUIET)
    resumed = run_fit(tiny_module, tiny_datamodule, logdir=logdir, max_epochs=2, ckpt_path="last", **QUIET)
    assert resumed.log_dir == first.log_dir
    last = torch.load(resumed.last_checkpoint, map_location="cpu", weights_only=True)
    assert last["epoch"] == 1 and last["global_step"] == 2 * len(tiny_datamodule.train_dataloader())


def test_resume_without_a_checkpoint_fails_instead_of_starting_over(tiny_datamodule, tmp_path):
    with pytest.raises(FileNotFoundError, match="no last.ckpt"):
        run_fit(tiny_module, tiny_datamodule, logdir=str(tmp_path), ckpt_path="last", max_epochs=1, **QUIET)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        run_fit(tiny_module, tiny_datamodule, logdir=str(tmp_path), ckpt_path=str(tmp_path / "x.ckpt"), **QUIET)


def test_optimizer_is_keras_rmsprop_over_trainable_parameters_only():
    module = make_classifier()
    optimizer = module.configure_optimizers()
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.RMSprop)
    assert (group["lr"], group["alpha"], group["eps"]) == (1e-3, 0.9, 1e-7)
    assert sum(p.numel() for p in group["params"]) == 328_353


def test_the_ngram_branch_learns_at_its_own_rate_in_a_group_of_its_own():
    from rnn_lightning.settings import OptimizerSettings

    module = make_classifier(ngram_buckets=1000, optimizer=OptimizerSettings(ngram_lr=0.05))
    rest, linear = module.configure_optimizers().param_groups
    assert linear["params"] == [module.model.ngrams.weight] and linear["lr"] == 0.05 and rest["lr"] == 1e-3
    assert sum(p.numel() for p in rest["params"]) == 328_353
    # Without a rate of its own, or without the branch, one group as before (the study's runs are unchanged).
    assert len(make_classifier(ngram_buckets=1000).configure_optimizers().param_groups) == 1
    assert len(make_classifier(optimizer=OptimizerSettings(ngram_lr=0.05)).configure_optimizers().param_groups) == 1


@pytest.mark.slow
def test_gradient_norms_and_epoch_times_reach_tensorboard(tiny_datamodule, tmp_path):
    from rnn_lightning.training.callbacks import RecurrentGradNorms

    result = run_fit(tiny_module, tiny_datamodule, logdir=str(tmp_path), max_epochs=2,
                 callbacks=[RecurrentGradNorms(every_n_steps=2)], **QUIET)
    events = EventAccumulator(result.log_dir)
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"grad_norm/weight_ih_l0", "grad_norm/weight_hh_l1", "grad_norm/total"} <= set(scalars)
    assert "grad_norm/bias_hh_l0" not in scalars  # frozen: it has no gradient
    steps = [event.step for event in events.Scalars("grad_norm/weight_hh_l0")]
    assert steps == list(range(0, 2 * len(tiny_datamodule.train_dataloader()), 2))
    assert all(event.value > 0 for event in events.Scalars("grad_norm/total"))
    assert [event.value > 0 for event in events.Scalars("time/epoch_s")] == [True, True]


@pytest.mark.slow
def test_mask_padding_trains_on_length_grouped_batches(tiny_archive, tmp_path):

    datamodule = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path / "data"), num_words=30, maxlen=24,
                                batch_size=8, group_by_length=True)
    datamodule.prepare_data()
    datamodule.setup("fit")
    batches = list(datamodule.val_dataloader())
    assert sum(len(labels) for _, labels in batches) == 16
    lengths = [(ids != 0).sum(1) for ids, _ in batches]
    assert lengths[0].max() <= lengths[-1].min()  # validation batches come in length order
    module = make_classifier(spec=datamodule.spec, embed_dim=8, hidden_size=8, num_layers=2, mask_padding=True)
    result = run_fit(module, datamodule, logdir=str(tmp_path / "logs"), max_epochs=1, **QUIET)
    assert Path(result.best_checkpoint).is_file()
    assert torch.load(result.best_checkpoint, weights_only=True)["hyper_parameters"]["model"]["mask_padding"] is True


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_trains(tiny_datamodule, tmp_path, precision):
    torch.manual_seed(0)
    module = tiny_module(tiny_datamodule.spec)
    initial = {name: tensor.clone() for name, tensor in module.state_dict().items()}
    result = run_fit(module, tiny_datamodule, logdir=str(tmp_path), max_epochs=1, precision=precision, **QUIET)
    assert result.best_val_acc is not None
    weights = torch.load(result.last_checkpoint, weights_only=True)["state_dict"]
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in weights.values())  # fp32 master weights
    assert not torch.equal(weights["model.rnn.weight_hh_l0"], initial["model.rnn.weight_hh_l0"])  # it trained


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_gpu_training_uses_cudnn_and_loads_on_cpu(tiny_datamodule, tmp_path, precision):
    torch.manual_seed(0)
    module = tiny_module(tiny_datamodule.spec)
    result = run_fit(module, tiny_datamodule, logdir=str(tmp_path), max_epochs=1, precision=precision,
                 accelerator="gpu", devices=1, enable_progress_bar=False)
    on_gpu = load_model(result.last_checkpoint, map_location="cuda")
    ids = tiny_datamodule.val_set.tensors[0][:8].cuda()
    with torch.autograd.profiler.profile(use_device="cuda") as profile:
        on_gpu(ids)
    assert any("cudnn_rnn" in event.key for event in profile.key_averages())  # cuDNN ran the recurrence
    on_cpu = load_model(result.last_checkpoint)  # a GPU checkpoint runs on the CPU fast path unchanged
    reviews = ["great wonderful film", "awful dull boring film"]
    torch.testing.assert_close(torch.tensor(predict(on_cpu, reviews)), torch.tensor(predict(on_gpu, reviews)),
                               rtol=1e-4, atol=1e-5)


def test_last_ckpt_holds_the_final_epoch_even_without_improvement(tiny_datamodule, tmp_path):
    # Steps far below float32's resolution of the weights: they never change, so val/acc is flat.
    module = make_classifier(spec=tiny_datamodule.spec, embed_dim=8, hidden_size=8, num_layers=2,
                             optimizer=OptimizerSettings(lr=1e-30))
    result = run_fit(module, tiny_datamodule, logdir=str(tmp_path), max_epochs=3, **QUIET)
    steps_per_epoch = len(tiny_datamodule.train_dataloader())
    assert Path(result.best_checkpoint).name.startswith("epoch=00-")  # the best never moved...
    assert torch.load(result.last_checkpoint, weights_only=True)["global_step"] == 3 * steps_per_epoch  # ...last did


def test_exactly_the_studys_curves_are_logged_once_per_epoch(tiny_datamodule, tmp_path):
    result = run_fit(tiny_module, tiny_datamodule, logdir=str(tmp_path), max_epochs=1, limit_train_batches=2, **QUIET)
    events = EventAccumulator(result.log_dir)
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"train/loss", "train/acc", "val/loss", "val/acc", "time/epoch_s", "epoch"}
    assert all(len(events.Scalars(tag)) == 1 for tag in ("train/loss", "train/acc", "val/loss", "val/acc"))


def test_a_model_built_for_other_data_is_refused_before_training(tiny_datamodule, tmp_path):
    from rnn_lightning.training.trainer import RunConfigError

    other = make_classifier(spec=make_spec(30, maxlen=24))  # the same sizes, another vocabulary
    with pytest.raises(RunConfigError, match="the model was built for other data"):
        run_fit(other, tiny_datamodule, logdir=str(tmp_path), max_epochs=1, **QUIET)
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.slow
def test_a_resumed_run_keeps_the_config_it_started_with(tiny_datamodule, tmp_path):
    first = run_fit(tiny_module, tiny_datamodule, logdir=str(tmp_path), max_epochs=1, config="started: 1\n", **QUIET)
    run_fit(tiny_module, tiny_datamodule, logdir=str(tmp_path), max_epochs=2, ckpt_path="last", config="again: 2\n",
            **QUIET)
    assert (Path(first.log_dir) / "config.yaml").read_text() == "started: 1\n"
    assert not list(Path(first.log_dir).glob(".config.yaml.*"))  # written atomically: no temp file left


def test_the_raw_texts_of_a_split_are_the_rows_the_model_is_given(tiny_datamodule):
    for split, dataset in (("train", tiny_datamodule.train_set), ("val", tiny_datamodule.val_set),
                           ("test", tiny_datamodule.test_set)):
        texts, labels = tiny_datamodule.raw_texts(split)
        ids, targets = dataset.tensors
        assert len(texts) == len(dataset) and labels.tolist() == targets.long().tolist()
        assert torch.equal(torch.from_numpy(tiny_datamodule.encoder.encode(texts)), ids)  # the same rows, in order


@pytest.mark.slow
def test_the_baseline_is_reported_beside_the_network_and_in_tensorboard(tiny_archive, tmp_path, capsys):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--logdir", str(tmp_path),
            "--num-words", "30", "--maxlen", "24", "--max-epochs", "1", "--accelerator", "cpu", "--test",
            "--trainer.baseline", "true"]
    assert run_command("fit", args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("baseline")]
    assert [line.split(" on the same rows")[0] for line in lines] == [
        "baseline, TF-IDF (1-2 grams) + logistic regression", "baseline, fastText (words and word pairs, 10 epochs)"]
    events = EventAccumulator(str(tmp_path / "version_0"))
    events.Reload()
    for line, prefix in zip(lines, ("baseline", "fasttext"), strict=True):
        scores = dict(part.split() for part in line.split(": ", 1)[1].split(", "))
        assert set(scores) == {"val/acc", "test/acc"} and all(0.5 < float(value) <= 1 for value in scores.values())
        logged = {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"]
                  if tag.startswith(f"{prefix}/")}
        assert logged.keys() == {f"{prefix}/val/acc", f"{prefix}/test/acc"}
        assert logged[f"{prefix}/test/acc"] == pytest.approx(float(scores["test/acc"]), abs=1e-4)


def test_the_tfidf_baseline_learns_from_the_training_rows_alone_and_scores_each_held_out_split(tiny_datamodule,
                                                                                            monkeypatch):
    from rnn_lightning.training.baseline import fit_baseline

    scores = fit_baseline(tiny_datamodule)
    assert set(scores) == {"val/acc", "test/acc"} and min(scores.values()) > 0.6  # binary: no F1
    # Trained on the validation rows' labels turned round, it must get them wrong: it reads the rows it is given,
    # and scores each split against that split's own labels.
    read = tiny_datamodule.raw_texts
    monkeypatch.setattr(tiny_datamodule, "raw_texts", lambda split: (
        read("val")[0], 1 - read("val")[1]) if split == "train" else read(split))
    assert fit_baseline(tiny_datamodule)["val/acc"] < 0.4
    monkeypatch.setattr(tiny_datamodule, "test_set", None)  # a collection without a test split
    assert set(fit_baseline(tiny_datamodule)) == {"val/acc"}


def word_order_collection(folder: Path) -> Path:
    """Two classes told apart by word pairs alone: each word is as often in one class as in the other."""
    rng = random.Random(0)
    pairs = {"positive": ["very good", "not bad"], "negative": ["not good", "very bad"]}
    for split, rows in (("train", 240), ("test", 80)):
        lines = [f"{rng.choice(FILLER)} {rng.choice(pairs[label])} {rng.choice(FILLER)},{label}"
                 for label in ("positive", "negative") for _ in range(rows // 2)]
        rng.shuffle(lines)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}.csv").write_text("text,label\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("baseline", ["fit_baseline", "fit_fasttext"])
def test_both_baselines_read_word_pairs(tmp_path, baseline):
    from rnn_lightning.training import baseline as baselines

    datamodule = make_datamodule(source=str(word_order_collection(tmp_path / "pairs")),
                                 data_dir=str(tmp_path / "data"), maxlen=8)
    datamodule.prepare_data()
    datamodule.setup("fit")
    scores = getattr(baselines, baseline)(datamodule)
    assert scores["val/acc"] > 0.95 and scores["test/acc"] > 0.95  # words alone would score about half


def test_the_baselines_of_more_than_two_classes_add_macro_f1(tmp_path):
    from rnn_lightning.training.baseline import fit_baseline

    from .conftest import TOPICS, write_topics_csv

    folder = tmp_path / "topics"
    write_topics_csv(folder / "train.csv", 300, seed=0)
    write_topics_csv(folder / "test.csv", 90, seed=1)
    (folder / "classes.txt").write_text("\n".join(TOPICS) + "\n", encoding="utf-8")
    datamodule = make_datamodule(source=str(folder), data_dir=str(tmp_path / "data"), num_words=40, maxlen=16)
    datamodule.prepare_data()
    datamodule.setup("fit")
    scores = fit_baseline(datamodule)
    assert set(scores) == {"val/acc", "test/acc", "val/f1", "test/f1"}
    assert all(0.6 < value <= 1 for value in scores.values())


def test_fasttext_learns_from_the_training_rows_alone_and_answers_the_same_for_a_seed(tiny_datamodule, monkeypatch):
    from rnn_lightning.training.baseline import fit_fasttext

    scores = fit_fasttext(tiny_datamodule)
    assert scores == fit_fasttext(tiny_datamodule) and scores["val/acc"] > 0.6  # one thread: one answer per seed
    # Trained on the validation rows' labels turned round, it must get them wrong: it reads the rows it is given.
    read = tiny_datamodule.raw_texts
    monkeypatch.setattr(tiny_datamodule, "raw_texts", lambda split: (
        read("val")[0], 1 - read("val")[1]) if split == "train" else read(split))
    assert fit_fasttext(tiny_datamodule)["val/acc"] < 0.4


@pytest.mark.parametrize("missing", ["sklearn", "fasttext"])
def test_the_baseline_without_its_extra_is_refused_before_training(tiny_archive, tmp_path, monkeypatch, capsys,
                                                                   missing):
    monkeypatch.setitem(sys.modules, missing, None)  # as if it were not installed
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--logdir", str(tmp_path / "l"),
            "--accelerator", "cpu", "--trainer.baseline", "true"]
    assert run_command("fit", args) == 2
    assert capsys.readouterr().err.splitlines() == [
        "fit.py: error: the baseline needs scikit-learn and fastText: pip install 'rnn-lightning[baseline]'"]
    assert not (tmp_path / "l").exists()


@pytest.mark.slow
def test_early_stopping_ends_a_run_that_stops_improving_and_cosine_ends_at_zero(tiny_archive, tmp_path):
    args = ["--data.source", str(tiny_archive), "--data.data_dir", str(tmp_path / "data"), "--data.num_words", "30",
            "--data.maxlen", "24", "--data.batch_size", "16", "--trainer.accelerator", "cpu",
            "--trainer.max_epochs", "6"]
    # lr 1e-12: validation accuracy never improves after the first epoch, so patience 2 stops after the third.
    assert run_command("fit", [*args, "--trainer.logdir", str(tmp_path / "stopped"), "--optimizer.lr", "1e-12",
                               "--trainer.early_stopping", "2"]) == 0
    assert read_checkpoint(tmp_path / "stopped" / "version_0" / "checkpoints" / "last.ckpt")["epoch"] == 2
    assert run_command("fit", [*args, "--trainer.logdir", str(tmp_path / "cosine"), "--optimizer.lr_schedule",
                               "cosine", "--trainer.max_epochs", "2"]) == 0
    last = read_checkpoint(tmp_path / "cosine" / "version_0" / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 1 and last["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0, abs=1e-9)
    assert last["lr_schedulers"][0]["T_max"] == last["global_step"]  # every step the Trainer took, planned for


@pytest.mark.parametrize("binary", [True, False])
def test_parts_trained_apart_each_learn_from_their_own_loss_and_answer_with_their_mean(binary):
    """The branch's gradient is its own loss's alone, as if the recurrent part were not there (an ensemble)."""
    torch.manual_seed(0)
    spec = make_spec(50, num_classes=2 if binary else 3)
    classifier = make_classifier(spec=spec, ngram_buckets=101, ngram_training="apart", num_layers=1,
                                 embed_dim=4, hidden_size=4)
    with torch.no_grad():
        classifier.model.ngrams.weight.normal_()
    ids = torch.randint(4, 50, (6, 7))
    labels = torch.tensor([0, 1, 0, 1, 1, 0], dtype=torch.float32 if binary else torch.long)
    recurrent, branch = classifier.model.parts(ids)
    squeeze = (lambda logits: logits.squeeze(-1)) if binary else (lambda logits: logits)
    torch.testing.assert_close(classifier(ids), squeeze((recurrent + branch) / 2))

    loss = classifier.training_step((ids, labels), 0)
    torch.testing.assert_close(loss, classifier.loss(squeeze(recurrent), labels)
                               + classifier.loss(squeeze(branch), labels))
    loss.backward()
    trained_apart = classifier.model.ngrams.weight.grad.clone()
    classifier.zero_grad()
    classifier.loss(squeeze(classifier.model.parts(ids)[1]), labels).backward()
    torch.testing.assert_close(trained_apart, classifier.model.ngrams.weight.grad)


def test_an_ensembles_members_each_learn_from_their_own_loss_and_answer_with_their_mean():
    """Trained apart, member k's gradient is its own loss's alone, as if it had been trained as a seed of its own."""
    torch.manual_seed(0)
    classifier = make_classifier(spec=make_spec(50), ngram_buckets=101, ngram_training="apart", num_layers=1,
                                 embed_dim=4, hidden_size=4, members=3)
    network = classifier.model
    assert len(network.members) == 2 and network.members[0].ngrams is None  # recurrent networks alone
    assert not torch.equal(network.embedding.weight, network.members[0].embedding.weight)  # initialised apart
    ids = torch.randint(4, 50, (6, 7))
    labels = torch.tensor([0, 1, 0, 1, 1, 0], dtype=torch.float32)
    members, branch = network.member_parts(ids)
    assert len(members) == 3 and all(not torch.equal(members[0], other) for other in members[1:])
    torch.testing.assert_close(network.parts(ids)[0], torch.stack(members).mean(0))
    torch.testing.assert_close(members[1], network.members[0].parts(ids)[0])

    loss = classifier.training_step((ids, labels), 0)
    torch.testing.assert_close(loss, sum(classifier.loss(member.squeeze(-1), labels) for member in members)
                               + classifier.loss(branch.squeeze(-1), labels))
    loss.backward()
    ensemble_gradient = network.members[1].rnn.weight_hh_l0.grad.clone()
    classifier.zero_grad()
    classifier.loss(network.members[1].parts(ids)[0].squeeze(-1), labels).backward()
    torch.testing.assert_close(ensemble_gradient, network.members[1].rnn.weight_hh_l0.grad)


def test_one_member_draws_the_weights_it_always_drew_and_more_draw_theirs_after():
    torch.manual_seed(0)
    one = make_classifier(spec=make_spec(50)).model
    torch.manual_seed(0)
    three = make_classifier(spec=make_spec(50), members=3).model
    assert one.members is None and set(one.state_dict()) == {key for key in three.state_dict()
                                                             if not key.startswith("members.")}
    for key, value in one.state_dict().items():
        assert torch.equal(value, three.state_dict()[key]), key


def test_a_model_trained_apart_logs_each_parts_accuracy_and_the_ablation_reads_them(tiny_datamodule, tiny_run,
                                                                                    tmp_path, capsys):
    """On the tiny data, each part's val and test accuracy goes to TensorBoard; ``ablation`` tabulates two seeds."""
    from rnn_lightning.analysis.ablation import read_parts_score
    from rnn_lightning.settings import ModelSettings

    model = ModelSettings(embed_dim=8, hidden_size=8, num_layers=1, ngram_buckets=101, ngram_training="apart")
    runs = [run_fit(lambda spec: TextClassifier(model, OptimizerSettings(), spec), tiny_datamodule, max_epochs=1,
                    seed=seed, accelerator="cpu", logdir=str(tmp_path / f"seed-{seed}"), test=True,
                    enable_progress_bar=False).log_dir for seed in (1, 2)]
    events = EventAccumulator(runs[0])
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {f"{stage}/part_acc/{part}" for stage in ("val", "test") for part in ("recurrent", "ngrams")} <= scalars
    assert "val/acc" in scalars

    scores = [read_parts_score(run) for run in runs]
    figure = tmp_path / "ablation.png"
    assert run_command("ablation", [f"tiny={run}" for run in runs] + ["--out", str(figure)]) == 0
    table = capsys.readouterr().out
    for column in ("recurrent", "ngrams", "both"):
        values = [100 * score.accuracy[column] for score in scores]
        assert f"**{sum(values) / 2:.2f}%** ({values[0]:.2f}, {values[1]:.2f})" in table
    assert "| tiny | 2 |" in table and figure.stat().st_size > 0
    assert run_command("ablation", [runs[0]]) == 2
    assert "give each run as DATA=RUN_DIR" in capsys.readouterr().err
    assert run_command("ablation", [f"tiny={tiny_run[1].log_dir}"]) == 2  # one trained jointly, and not tested
    assert "no test/acc, test/part_acc/ngrams, test/part_acc/recurrent" in capsys.readouterr().err


def test_a_naive_bayes_branch_counts_the_training_rows_and_a_resumed_run_keeps_the_checkpoints_counts(
        tiny_datamodule, tmp_path):
    from rnn_lightning.models.network import TextRNN
    from rnn_lightning.settings import ModelSettings

    model = ModelSettings(embed_dim=8, hidden_size=8, num_layers=1, ngram_buckets=101, ngram_weighting="nb",
                          ngram_training="apart", ngram_subwords=True)
    build = lambda spec: TextClassifier(model, OptimizerSettings(), spec)  # noqa: E731
    first = run_fit(build, tiny_datamodule, max_epochs=1, accelerator="cpu", logdir=str(tmp_path),
                    enable_progress_bar=False)
    counted = TextRNN(model, tiny_datamodule.spec.num_words)
    counted.fit_subwords(tiny_datamodule.spec.encoder.words)  # the words' pieces first: they are n-grams too
    counted.fit_ngram_weights(tiny_datamodule.train_set.chunks())  # the training rows only, not validation's
    checkpoint = read_checkpoint(first.last_checkpoint)
    assert counted.ngram_scale.any() and counted.subword_buckets.any()
    torch.testing.assert_close(load_model(first.last_checkpoint).model.subword_buckets, counted.subword_buckets)
    torch.testing.assert_close(checkpoint["state_dict"]["model.ngram_scale"], counted.ngram_scale)
    torch.testing.assert_close(load_model(first.last_checkpoint).model.ngram_scale, counted.ngram_scale)

    # A resumed run goes on with the counts it was trained with (here, doubled on purpose), not a new count.
    checkpoint["state_dict"]["model.ngram_scale"] *= 2
    edited = tmp_path / "edited.ckpt"
    torch.save(checkpoint, edited)
    resumed = run_fit(build, tiny_datamodule, max_epochs=2, accelerator="cpu", logdir=str(tmp_path),
                      ckpt_path=str(edited), enable_progress_bar=False)
    torch.testing.assert_close(read_checkpoint(resumed.last_checkpoint)["state_dict"]["model.ngram_scale"],
                               2 * counted.ngram_scale)


def test_parts_trained_apart_get_the_share_of_the_answer_with_the_least_validation_loss(tiny_datamodule, tmp_path):
    """After each validation epoch the recurrent part's share is the one whose mixture fits validation best, and
    val/acc and val/loss are that mixture's: what the checkpoint answers with."""
    from rnn_lightning.models.network import mix_parts, squeeze_single_logit
    from rnn_lightning.settings import ModelSettings
    from rnn_lightning.training.module import PART_WEIGHTS

    model = ModelSettings(embed_dim=8, hidden_size=8, num_layers=1, ngram_buckets=101, ngram_training="apart")
    result = run_fit(lambda spec: TextClassifier(model, OptimizerSettings(ngram_lr=0.3), spec), tiny_datamodule,
                     max_epochs=2, accelerator="cpu", logdir=str(tmp_path), enable_progress_bar=False)
    trained = load_model(result.last_checkpoint).model
    ids, labels = tiny_datamodule.val_set.tensors
    with torch.no_grad():
        recurrent, branch = trained.parts(ids.long())
    mixed = [squeeze_single_logit(mix_parts(recurrent, branch, weight)) for weight in PART_WEIGHTS]
    losses = torch.stack([torch.nn.functional.binary_cross_entropy_with_logits(logits, labels) for logits in mixed])
    best = int(losses.argmin())
    assert float(trained.part_weight) == pytest.approx(PART_WEIGHTS[best])
    assert PART_WEIGHTS[best] != 0.5  # chosen, not the even mean it starts from
    events = EventAccumulator(result.log_dir)
    events.Reload()
    last = {tag: events.Scalars(tag)[-1].value for tag in ("val/acc", "val/loss", "val/part_weight")}
    assert last["val/part_weight"] == pytest.approx(PART_WEIGHTS[best])
    assert last["val/loss"] == pytest.approx(float(losses[best]), abs=1e-5)
    assert last["val/acc"] == pytest.approx(float(((mixed[best] > 0).float() == labels).float().mean()), abs=1e-6)


def test_models_trained_apart_before_the_share_was_chosen_answer_with_the_even_mean():
    from .conftest import make_network

    torch.manual_seed(0)
    network = make_network(num_words=50, ngram_buckets=101, ngram_training="apart", num_layers=1)
    with torch.no_grad():
        network.ngrams.weight.normal_()
    state = {key: value for key, value in network.state_dict().items() if key != "part_weight"}
    network.part_weight.fill_(0.2)
    network.load_state_dict(state)  # as saved before: no share in it
    ids = torch.randint(4, 50, (6, 7))
    recurrent, branch = network.parts(ids)
    assert float(network.part_weight) == 0.5
    assert torch.equal(network(ids), ((recurrent + branch) / 2).squeeze(-1))  # to the bit, as they answered
    assert make_network(ngram_buckets=101).part_weight is None  # trained jointly: the parts' sum, no share


@pytest.mark.parametrize("binary", [True, False])
def test_the_validation_figures_of_parts_trained_apart_are_those_of_the_chosen_mixture(binary, monkeypatch):
    """Parts whose mixtures differ in accuracy: val/acc and val/loss are the least-loss mixture's, nothing else's."""
    from rnn_lightning.models.network import mix_parts, squeeze_single_logit
    from rnn_lightning.training.module import PART_WEIGHTS

    torch.manual_seed(1)
    classes = 2 if binary else 3
    classifier = make_classifier(spec=make_spec(50, num_classes=classes), ngram_buckets=101, ngram_training="apart",
                                 num_layers=1, embed_dim=4, hidden_size=4)
    outputs = 1 if binary else classes
    recurrent, branch = 3 * torch.randn(40, outputs), 3 * torch.randn(40, outputs)
    labels = torch.randint(0, classes, (40,))
    labels = labels.float() if binary else labels
    monkeypatch.setattr(classifier.model, "parts", lambda ids: (recurrent[: len(ids)], branch[: len(ids)]))
    logged: dict[str, object] = {}  # what is logged, as given (the parts' accuracies are metric objects)
    monkeypatch.setattr(classifier, "log", lambda name, value, **_: logged.__setitem__(name, value))
    monkeypatch.setattr(classifier, "log_dict", lambda values, **_: logged.update(values))
    classifier.validation_step((torch.zeros(40, 5, dtype=torch.long), labels), 0)
    classifier.on_validation_epoch_end()

    mixed = [squeeze_single_logit(mix_parts(recurrent, branch, weight)) for weight in PART_WEIGHTS]
    losses = torch.stack([classifier.loss(logits, labels) for logits in mixed])
    predicted = [(logits > 0).float() if binary else logits.argmax(-1) for logits in mixed]
    accuracies = [float((guess == labels).float().mean()) for guess in predicted]
    best = int(losses.argmin())
    assert len(set(accuracies)) > 1 and accuracies[best] != accuracies[0]  # the test can tell the mixtures apart
    assert logged["val/part_weight"] == PART_WEIGHTS[best] == pytest.approx(float(classifier.model.part_weight))
    assert float(logged["val/loss"]) == pytest.approx(float(losses[best]))
    assert float(logged["val/acc"]) == pytest.approx(accuracies[best])
