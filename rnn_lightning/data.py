"""The IMDB ``LightningDataModule``: fetch, extract, encode once into a cache, then split and serve batches."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import lightning as L
import numpy as np
import torch
from filelock import FileLock
from torch.utils.data import DataLoader, TensorDataset
from torchdata.stateful_dataloader import StatefulDataLoader

from rnn_lightning.archive import safe_extract
from rnn_lightning.download import DownloadError, download, file_digest
from rnn_lightning.fileio import atomic_write
from rnn_lightning.sampling import EpochSeededRandomSampler, LengthGroupedBatchSampler
from rnn_lightning.text import PAD_ID, TOKENIZER_VERSION, TextEncoder, pad_sequences, rank_words, tokenize

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"
SOURCE_ENV = "IMDB_SOURCE"
OFFLINE_ENV = "IMDB_OFFLINE"
SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}
_LOCAL_HINT = f"pass --data-source or set {SOURCE_ENV} to a local aclImdb_v1.tar.gz or extracted aclImdb/ folder"


def default_source() -> str:
    """The archive to use when none is given: ``$IMDB_SOURCE`` if set, else the official download."""
    return os.environ.get(SOURCE_ENV) or OFFICIAL_URL


def _is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https", "ftp", "file")


def _is_labeled_review(path: PurePosixPath) -> bool:
    # aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt; the unlabeled reviews and .feat files are not needed.
    parts = path.parts
    return len(parts) == 4 and parts[1] in SPLITS and parts[2] in LABELS and parts[3].endswith(".txt")


def read_split(root: Path, split: str) -> tuple[list[str], np.ndarray]:
    """Read one split of an extracted ``aclImdb/`` folder, negatives then positives, files in name order.

    Raises:
        FileNotFoundError: If the folder lacks the official ``{split}/{neg,pos}`` layout.
    """
    texts, labels = [], []
    for name, label in LABELS.items():
        folder = root / split / name
        files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
        if not files:
            raise FileNotFoundError(f"{root} is not an aclImdb folder: no reviews in {split}/{name}/")
        for file in files:
            texts.append(file.read_text(encoding="utf-8"))
        labels += [label] * len(files)
    return texts, np.asarray(labels, dtype=np.int8)


class IMDBDataModule(L.LightningDataModule):
    """IMDB reviews encoded as ``keras.datasets.imdb`` does and padded as ``pad_sequences`` does.

    ``prepare_data`` (one process per node, under a file lock) downloads or reads the archive, extracts it
    safely and writes one ``.npz`` cache of encoded reviews and vocabulary, named after every setting that
    shaped it. ``setup`` loads that cache and splits the training reviews into train/val with a seeded
    permutation.

    Args:
        source: Archive URL, local ``.tar.gz`` or extracted ``aclImdb/`` folder; defaults to ``$IMDB_SOURCE``,
            else the official URL.
        data_dir: Download, extraction and cache folder.
        num_words: Vocabulary size, ids included (ids at or above it become out-of-vocabulary).
        maxlen: Every review is padded or truncated (keeping its end) to this many ids.
        batch_size: Reviews per batch.
        val_fraction: Share of the 25,000 training reviews held out for validation.
        split_seed: Seed of the train/val permutation, independent of the training seed.
        num_workers: DataLoader worker processes (the data sits in memory, so 0 is usually fastest).
        group_by_length: Batch reviews of similar length together (for a model that trims and masks padding).
    """

    def __init__(
        self,
        source: str | None = None,
        data_dir: str = "data",
        num_words: int = 10_000,
        maxlen: int = 500,
        batch_size: int = 128,
        val_fraction: float = 0.2,
        split_seed: int = 42,
        num_workers: int = 0,
        group_by_length: bool = False,
    ) -> None:
        super().__init__()
        source = str(source) if source else default_source()
        data_dir = str(data_dir)
        self.save_hyperparameters()
        self.encoder: TextEncoder | None = None
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None
        self._arrays: dict[str, np.ndarray] | None = None

    # ----------------------------------------------------------------------------------------- sources
    @property
    def data_dir(self) -> Path:
        return Path(self.hparams.data_dir)

    def _download_target(self) -> Path:
        return self.data_dir / (Path(urlparse(self.hparams.source).path).name or "aclImdb_v1.tar.gz")

    @functools.cached_property
    def _source_identity(self) -> str:
        """What the encoded data depends on, without extracting anything (hashed once per instance)."""
        source = self.hparams.source
        if _is_url(source):
            return f"url:{source}"
        path = Path(source).expanduser().resolve()
        if path.is_dir():
            return f"folder:{path}"
        if path.is_file():
            return f"archive-sha256:{file_digest(path)}"
        raise FileNotFoundError(f"IMDB source {source!r} is neither a URL nor an existing archive or folder")

    def cache_path(self) -> Path:
        """Path of the encoded cache for the current source and text settings."""
        return self.data_dir / f"imdb-encoded-{_digest(self._cache_settings())[:16]}.npz"

    def _cache_settings(self) -> dict[str, object]:
        return {
            "source": self._source_identity,
            "num_words": self.hparams.num_words,
            "maxlen": self.hparams.maxlen,
            "tokenizer_version": TOKENIZER_VERSION,
        }

    def _extracted_folder(self) -> Path:
        """Return an extracted ``aclImdb/`` folder for the source, downloading and extracting when needed."""
        source = self.hparams.source
        if not _is_url(source) and Path(source).expanduser().is_dir():
            return Path(source).expanduser()
        destination = self.data_dir / f"extracted-{_digest(self._source_identity)[:16]}"
        if (destination / "aclImdb").is_dir():  # only ever created by an atomic rename of a full extraction
            return destination / "aclImdb"
        archive = Path(source).expanduser() if not _is_url(source) else self._fetch_archive()
        return safe_extract(archive, destination, keep=_is_labeled_review)

    def _fetch_archive(self) -> Path:
        source = self.hparams.source
        target = self._download_target()
        md5 = OFFICIAL_MD5 if source == OFFICIAL_URL else None
        if target.is_file() and (md5 is None or file_digest(target, "md5") == md5):
            return target
        if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
            raise FileNotFoundError(f"{OFFLINE_ENV} is set and {target} is not downloaded: {_LOCAL_HINT}")
        try:
            return download(source, target, md5)
        except DownloadError as error:
            raise DownloadError(f"{error} (offline? {_LOCAL_HINT})") from error

    # ---------------------------------------------------------------------------------------- the cache
    def prepare_data(self) -> None:
        """Make sure a valid encoded cache exists; safe to call from several processes at once."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.data_dir / ".prepare.lock")):
            if load_cache(self.cache_path(), self._cache_settings()) is None:
                self._build_cache()

    def _build_cache(self) -> None:
        root = self._extracted_folder()
        tokens, labels = {}, {}
        for split in SPLITS:
            texts, labels[split] = read_split(root, split)
            tokens[split] = [tokenize(text) for text in texts]
        # The vocabulary is ranked on the training split only, so the test set never shapes the inputs.
        encoder = TextEncoder.from_ranked(rank_words(tokens["train"]), self.hparams.num_words, self.hparams.maxlen)
        lookup = encoder.word_to_id
        arrays = {"words": np.asarray(encoder.words, dtype=str),
                  "settings": np.asarray(json.dumps(self._cache_settings(), sort_keys=True))}
        for split in SPLITS:
            arrays[f"x_{split}"] = pad_sequences([encoder.encode_tokens(t, lookup) for t in tokens[split]],
                                                 encoder.maxlen)
            arrays[f"y_{split}"] = labels[split]
        _atomic_savez(self.cache_path(), arrays)

    # ------------------------------------------------------------------------------------------ serving
    def setup(self, stage: str | None = None) -> None:
        """Load the cache and split the training reviews into train/val (seeded, so every run agrees)."""
        if self._arrays is None:
            arrays = load_cache(self.cache_path(), self._cache_settings())
            if arrays is None:
                raise RuntimeError(f"no valid encoded cache at {self.cache_path()}: call prepare_data() first")
            self._arrays = arrays
            self.encoder = TextEncoder(tuple(arrays["words"].tolist()), self.hparams.num_words, self.hparams.maxlen)
            train = _tensor_dataset(arrays["x_train"], arrays["y_train"])
            permutation = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.hparams.split_seed))
            n_val = round(len(train) * self.hparams.val_fraction)
            self.val_set = TensorDataset(*train[permutation[:n_val]])
            self.train_set = TensorDataset(*train[permutation[n_val:]])
            self.test_set = _tensor_dataset(arrays["x_test"], arrays["y_test"])

    def review(self, index: int, split: str = "train") -> tuple[np.ndarray, int]:
        """Encoded ids and label of one review of the full ``train`` or ``test`` split, in file order."""
        if self._arrays is None:
            raise RuntimeError("call prepare_data() and setup() first")
        return self._arrays[f"x_{split}"][index], int(self._arrays[f"y_{split}"][index])

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)

    def _loader(self, dataset: TensorDataset | None, shuffle: bool = False) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() first")
        workers = {"num_workers": self.hparams.num_workers, "persistent_workers": self.hparams.num_workers > 0}
        # Shuffling is seeded from the training seed (set by seed_everything) and the epoch alone, so a resumed
        # run sees the same batches as an uninterrupted one, and every DDP rank agrees on the order.
        seed = torch.initial_seed() % 2**62
        if not self.hparams.group_by_length:
            if not shuffle:
                return DataLoader(dataset, batch_size=self.hparams.batch_size, **workers)
            # Stateful: Lightning saves how far into the epoch it got, so a run resumed from a mid-epoch
            # checkpoint continues with the very batches it would have seen.
            return StatefulDataLoader(dataset, batch_size=self.hparams.batch_size,
                                      sampler=EpochSeededRandomSampler(dataset, seed), **workers)
        trainer = self.trainer  # None outside a Trainer
        sampler = LengthGroupedBatchSampler(
            (dataset.tensors[0] != PAD_ID).sum(1), self.hparams.batch_size, shuffle, seed=seed,
            num_replicas=trainer.world_size if trainer else 1, rank=trainer.global_rank if trainer else 0)
        loader = StatefulDataLoader if shuffle else DataLoader
        return loader(dataset, batch_sampler=sampler, **workers)


def _tensor_dataset(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    # int32 ids are accepted by nn.Embedding and halve the memory of int64.
    return TensorDataset(torch.from_numpy(x.astype(np.int32)), torch.from_numpy(y.astype(np.float32)))


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_write(path) as out:
        np.savez(out, **arrays)


def load_cache(path: Path, settings: dict[str, object]) -> dict[str, np.ndarray] | None:
    """Load an encoded cache, or return None if it is missing, corrupt or made with other settings."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    try:
        if json.loads(str(arrays["settings"])) != json.loads(json.dumps(settings)):
            return None
        num_words, maxlen = int(settings["num_words"]), int(settings["maxlen"])
        for split in SPLITS:
            x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
            if x.ndim != 2 or x.shape[1] != maxlen or len(x) != len(y) or len(x) == 0:
                return None
            if x.min() < 0 or x.max() >= num_words or not np.isin(y, (0, 1)).all():
                return None
        if len(arrays["words"]) > num_words:
            return None
    except (KeyError, ValueError, TypeError):
        return None
    return arrays
