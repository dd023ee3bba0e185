"""Shared fixtures: a tiny IMDB archive with the official layout, generated per test session."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import random
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from rnn_lightning.cli.main import main
from rnn_lightning.data.datamodule import TextDataModule
from rnn_lightning.data.spec import TextSpec
from rnn_lightning.data.text import TextEncoder
from rnn_lightning.models.network import TextRNN
from rnn_lightning.settings import DataSettings, ModelSettings, OptimizerSettings, TrainSettings
from rnn_lightning.training.module import TextClassifier
from rnn_lightning.training.trainer import FitResult, fit

ROOT = Path(__file__).resolve().parents[1]
REAL_ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "aclImdb_v1_labeled.tar.gz"

POSITIVE = ["great", "wonderful", "moving", "brilliant", "loved", "superb"]
NEGATIVE = ["awful", "boring", "dull", "terrible", "hated", "pointless"]
NEUTRAL = ["the", "film", "a", "plot", "actor", "scene", "movie", "it's", "story", "and"]


def make_review(rng: random.Random, positive: bool, length: int) -> str:
    """A review whose sentiment words make the label learnable; some carry <br /> breaks and capitals."""
    pool = POSITIVE if positive else NEGATIVE
    words = [rng.choice(pool) if rng.random() < 0.3 else rng.choice(NEUTRAL) for _ in range(length)]
    words[0] = words[0].capitalize()
    if length > 4:
        words[length // 2] += "<br /><br />"
    return " ".join(words) + "."


def add_file(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode("utf-8")
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_tiny_archive(path: Path, per_class: int = 40, seed: int = 0, extra: dict[str, str] | None = None) -> Path:
    """Write an ``aclImdb_v1.tar.gz`` look-alike: ``per_class`` reviews per label and split."""
    rng = random.Random(seed)
    with tarfile.open(path, "w:gz") as tar:
        add_file(tar, "aclImdb/README", "tiny test copy\n")
        for split in ("train", "test"):
            for label in ("neg", "pos"):
                for i in range(per_class):
                    rating = rng.randint(7, 10) if label == "pos" else rng.randint(1, 4)
                    text = make_review(rng, label == "pos", rng.randint(3, 40))
                    add_file(tar, f"aclImdb/{split}/{label}/{i}_{rating}.txt", text)
        add_file(tar, "aclImdb/train/unsup/0_0.txt", "unlabeled reviews are not extracted")
        for name, text in (extra or {}).items():
            add_file(tar, name, text)
    return path


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_archive(tmp_path_factory.mktemp("archive") / "aclImdb_v1.tar.gz")


@pytest.fixture()
def tiny_datamodule(tiny_archive: Path, tmp_path: Path) -> TextDataModule:
    """A prepared and set-up DataModule on the tiny archive, with small text settings for speed."""
    datamodule = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path / "data"), num_words=30, maxlen=24,
                                 batch_size=16)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_archive: Path) -> tuple[TextClassifier, FitResult]:
    """A tiny model trained for two epochs on the tiny archive, and where its run went."""
    tmp = tmp_path_factory.mktemp("tiny_run")
    datamodule = make_datamodule(source=str(tiny_archive), data_dir=str(tmp / "data"), num_words=30, maxlen=24,
                                 batch_size=16)
    datamodule.prepare_data()
    datamodule.setup("fit")
    torch.manual_seed(0)
    module = TextClassifier(ModelSettings(embed_dim=8, hidden_size=8, num_layers=2), OptimizerSettings(),
                            datamodule.spec)
    result = run_fit(module, datamodule, logdir=str(tmp / "logs"), max_epochs=2, accelerator="cpu",
                     enable_progress_bar=False)
    return module, result


TOPICS = {
    "sports": ["match", "goal", "striker", "league", "coach", "season"],
    "business": ["shares", "profit", "market", "bank", "investors", "rates"],
    "tech": ["software", "chip", "internet", "startup", "code", "laptop"],
}
FILLER = ["the", "a", "today", "new", "said", "after", "week", "report"]


def topic_text(rng: random.Random, topic: str) -> str:
    words = [rng.choice(TOPICS[topic]) if rng.random() < 0.4 else rng.choice(FILLER) for _ in range(rng.randint(4, 14))]
    return " ".join(words).capitalize() + "."


def write_topics_csv(path: Path, rows: int, seed: int) -> Path:
    """A headerless ``"text",label`` CSV of three learnable topics, labels as indices (as AG News ships)."""
    rng = random.Random(seed)
    lines = []
    for i in range(rows):
        index = i % 3
        lines.append(f'"{topic_text(rng, list(TOPICS)[index])}",{index}')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def topics_run(tmp_path_factory) -> tuple[Path, Path, str]:
    """fit.py on three topics, tested after fitting: the run folder, its best checkpoint and its output."""
    tmp = tmp_path_factory.mktemp("topics_run")
    folder = tmp / "topics"
    write_topics_csv(folder / "train.csv", 300, seed=0)
    write_topics_csv(folder / "test.csv", 90, seed=1)
    with (folder / "test.csv").open("a", encoding="utf-8") as handle:  # unbalanced: 50 sports, 30 of the others
        rng = random.Random(2)
        handle.writelines(f'"{topic_text(rng, "sports")}",0\n' for _ in range(20))
    (folder / "classes.txt").write_text("\n".join(TOPICS) + "\n", encoding="utf-8")
    args = ["--data-source", str(folder), "--data-dir", str(tmp / "data"), "--logdir", str(tmp / "logs"),
            "--num-words", "40", "--maxlen", "16", "--batch-size", "16", "--max-epochs", "6", "--cell", "gru",
            "--accelerator", "cpu", "--test", "--seed", "0"]
    torch.manual_seed(0)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["fit", *args]) == 0
    run = next((tmp / "logs").glob("version_*"))
    best = next(line.split(": ", 1)[1] for line in out.getvalue().splitlines() if line.startswith("best checkpoint"))
    return run, Path(best), out.getvalue()


@pytest.fixture(scope="session")
def release_fixtures(tmp_path_factory: pytest.TempPathFactory, tiny_archive: Path) -> Path:
    """The checkpoints, predictions and weights of commit bc6124b, made by its own code (``tests/bc6124b.py``)."""
    from .bc6124b import ReleaseUnavailable, build_release_fixtures

    tmp = tmp_path_factory.mktemp("bc6124b")
    topics = tmp / "topics"
    write_topics_csv(topics / "train.csv", 300, seed=0)
    write_topics_csv(topics / "test.csv", 90, seed=1)
    (topics / "classes.txt").write_text("\n".join(TOPICS) + "\n", encoding="utf-8")
    try:
        return build_release_fixtures(tiny_archive, topics, tmp / "out")
    except ReleaseUnavailable as error:  # a shallow clone: the release's code is not there to run
        pytest.skip(f"needs the project's history back to bc6124b (a full clone): {error}")


@pytest.fixture(autouse=True)
def _restore_denormal_flushing():
    """Scripts run in-process flush subnormals on the test's thread; later tests must not inherit that."""
    yield
    torch.set_flush_denormal(False)


def make_datamodule(**settings: object) -> TextDataModule:
    """A DataModule of these data settings (:class:`DataSettings` fields)."""
    return TextDataModule(DataSettings(**settings))


def make_spec(num_words: int = 10_000, num_classes: int = 2, maxlen: int = 500) -> TextSpec:
    """A text spec without words (every word is out of vocabulary), for models whose vocabulary does not matter."""
    names = ("negative", "positive") if num_classes == 2 else tuple(f"class{i}" for i in range(num_classes))
    return TextSpec(TextEncoder((), num_words, maxlen), names)


def make_network(num_words: int = 10_000, num_classes: int = 2, **model: object) -> TextRNN:
    """A network of these model settings (:class:`ModelSettings` fields)."""
    return TextRNN(ModelSettings(**model), num_words, num_classes)


def make_classifier(num_words: int = 10_000, *, spec: TextSpec | None = None,
                    optimizer: OptimizerSettings | None = None, **model: object) -> TextClassifier:
    """A classifier of these model settings, for ``spec`` (default: :func:`make_spec` of ``num_words``)."""
    return TextClassifier(ModelSettings(**model), optimizer or OptimizerSettings(), spec or make_spec(num_words))


_TRAIN_FIELDS = {field.name for field in dataclasses.fields(TrainSettings)}


def run_fit(module, datamodule: TextDataModule, **settings: object) -> FitResult:
    """:func:`fit` with :class:`TrainSettings` fields and further Trainer arguments mixed in one call."""
    train = TrainSettings(**{key: value for key, value in settings.items() if key in _TRAIN_FIELDS})
    return fit(module, datamodule, train, **{key: value for key, value in settings.items() if key not in _TRAIN_FIELDS})


def model_without_recurrence(num_words: int) -> TextRNN:
    """A two-layer tanh network with zero recurrent weights.

    Each state sees only its own step, so the loss depends on the last step's input alone.
    """
    torch.manual_seed(0)
    model = make_network(num_words, embed_dim=4, hidden_size=4, num_layers=2)
    with torch.no_grad():
        for layer in range(model.rnn.num_layers):
            getattr(model.rnn, f"weight_hh_l{layer}").zero_()
    return model


def run_in_fresh_thread(function, *args: object) -> object:
    """Call ``function(*args)`` on a new thread that starts with subnormal flushing off; return its result."""
    outcome: dict[str, object] = {}

    def target() -> None:
        torch.set_flush_denormal(False)
        try:
            outcome["result"] = function(*args)
        except BaseException as error:  # noqa: BLE001 - re-raised on the calling thread
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def run_command(name: str, args: list[str]) -> int:
    """``rnn-lightning <name> <args>`` in-process, with the old script's name in its messages."""
    return main([name, *args], prog=f"{name}.py")


def split_labels(datamodule: TextDataModule, split: str) -> np.ndarray:
    """Every label of a full split, in source order, read from the DataModule's cache."""
    return np.load(datamodule.cache_path() / f"y_{split}.npy")
