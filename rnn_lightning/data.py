"""The IMDB ``LightningDataModule``: encode the reviews once into a cache, then split them and serve batches."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from filelock import FileLock
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from torchdata.stateful_dataloader import StatefulDataLoader
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler

from rnn_lightning.checkpoints import CheckpointError
from rnn_lightning.fileio import atomic_write
from rnn_lightning.sampling import LengthGroupedBatchSampler
from rnn_lightning.sources import SPLITS, IMDBSource, default_source, read_split, short_digest
from rnn_lightning.text import (
    INDEX_FROM,
    PAD_ID,
    START_ID,
    TOKENIZER_VERSION,
    TextEncoder,
    pad_sequences,
    rank_words,
    tokenize,
)

ENCODER_STATE_KEY = "text_encoder"
REVIEW_WORDS_STATE_KEY = "review_words"


class IMDBDataModule(L.LightningDataModule):
    """IMDB reviews encoded as ``keras.datasets.imdb`` does and padded as ``pad_sequences`` does.

    ``prepare_data`` (one process per node, under a file lock) has :class:`~rnn_lightning.sources.IMDBSource`
    fetch and extract the reviews, then writes one ``.npz`` cache of encoded reviews and vocabulary, named
    after every setting that shaped it. ``setup`` loads that cache and splits the training reviews into
    train/val with a seeded permutation. The vocabulary travels in every checkpoint through
    :meth:`state_dict`, so a model trained on this DataModule can classify raw text from its checkpoint alone.

    The DataModule shards its own batches across DDP ranks (train with ``use_distributed_sampler=False``):
    training batches are shuffled per epoch from ``shuffle_seed`` alone, so a resumed run, even one resumed
    halfway through an epoch, sees exactly the batches an uninterrupted run would.

    Args:
        source: Archive URL, local ``.tar.gz`` or extracted ``aclImdb/`` folder; defaults to ``$IMDB_SOURCE``,
            else the official URL.
        data_dir: Download, extraction and cache folder.
        num_words: Vocabulary size, ids included (ids at or above it become out-of-vocabulary).
        maxlen: Every review is padded or truncated (keeping its end) to this many ids.
        batch_size: Reviews per batch.
        val_fraction: Share of the 25,000 training reviews held out for validation.
        split_seed: Seed of the train/val permutation, independent of the training seed.
        shuffle_seed: Seed of the per-epoch shuffling of training batches.
        num_workers: DataLoader worker processes (the data sits in memory, so 0 is usually fastest).
        group_by_length: Batch reviews of similar length together (for a model that trims and masks padding).

    Raises:
        ValueError: If a setting is out of range; nothing has been read or written then.
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
        shuffle_seed: int = 42,
        num_workers: int = 0,
        group_by_length: bool = False,
    ) -> None:  # pragma: no mutate block (save_hyperparameters reads this frame)
        super().__init__()
        _check_settings(num_words=num_words, maxlen=maxlen, batch_size=batch_size, val_fraction=val_fraction,
                        num_workers=num_workers)
        source = str(source) if source else default_source()
        data_dir = str(data_dir)
        self.save_hyperparameters()
        self.source = IMDBSource(source, data_dir)
        self.encoder: TextEncoder | None = None
        self.review_words: dict[str, int] | None = None
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None
        self._arrays: dict[str, np.ndarray] | None = None

    @property
    def data_dir(self) -> Path:
        return Path(self.hparams.data_dir)

    # ---------------------------------------------------------------------------------------- the cache
    def cache_path(self) -> Path:
        """Path of the encoded cache for the current source and text settings."""
        return self.data_dir / f"imdb-encoded-{short_digest(self._cache_settings())}.npz"

    def _cache_settings(self) -> dict[str, object]:
        return {
            "source": self.source.identity,
            "num_words": self.hparams.num_words,
            "maxlen": self.hparams.maxlen,
            "tokenizer_version": TOKENIZER_VERSION,
        }

    def prepare_data(self) -> None:
        """Make sure a valid encoded cache exists; safe to call from several processes at once."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.data_dir / ".prepare.lock")):
            if load_cache(self.cache_path(), self._cache_settings()) is None:
                self._build_cache()

    def _build_cache(self) -> None:
        root = self.source.extracted_folder()
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
        with atomic_write(self.cache_path()) as out:
            np.savez(out, **arrays)

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
            self.review_words = review_word_percentiles(self.train_set.tensors[0])

    def review(self, index: int, split: str = "train") -> tuple[np.ndarray, int]:
        """Encoded ids and label of one review of the full ``train`` or ``test`` split, in file order."""
        if self._arrays is None:
            raise RuntimeError("call prepare_data() and setup() first")
        return self._arrays[f"x_{split}"][index], int(self._arrays[f"y_{split}"][index])

    def labels(self, split: str) -> np.ndarray:
        """Labels of the full ``train`` or ``test`` split, in file order."""
        if self._arrays is None:
            raise RuntimeError("call prepare_data() and setup() first")
        return self._arrays[f"y_{split}"]

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
        # Stateful for training: Lightning saves how far into the epoch it got, so a run resumed from a
        # mid-epoch checkpoint continues with the very batches it would have seen.
        loader = _stateful_loader if shuffle else DataLoader
        replicas, rank = self._ranks()
        if self.hparams.group_by_length:
            sampler = LengthGroupedBatchSampler((dataset.tensors[0] != PAD_ID).sum(1), self.hparams.batch_size,
                                                shuffle, seed=self.hparams.shuffle_seed, num_replicas=replicas,
                                                rank=rank)
            return loader(dataset, batch_sampler=sampler, **workers)
        if shuffle:  # order from the seed and the epoch alone (Lightning calls set_epoch), the same on every rank
            sampler = StatefulDistributedSampler(dataset, replicas, rank, shuffle=True, seed=self.hparams.shuffle_seed)
        elif replicas > 1:
            sampler = DistributedSampler(dataset, replicas, rank, shuffle=False)
        else:
            sampler = None
        return loader(dataset, batch_size=self.hparams.batch_size, sampler=sampler, **workers)

    def _ranks(self) -> tuple[int, int]:
        """World size and this process's rank, from the Trainer running us (a single process outside one)."""
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    # ----------------------------------------------------------------------------- checkpointed state
    def state_dict(self) -> dict[str, Any]:
        """The vocabulary, text settings and training review lengths as plain values, for every checkpoint.

        The lengths let a served model say when a text is far shorter than anything it learnt from.
        """
        if self.encoder is None:
            return {}
        return {ENCODER_STATE_KEY: self.encoder.to_dict(), REVIEW_WORDS_STATE_KEY: self.review_words}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Refuse to resume a run whose vocabulary differs from this data's (it would silently mean other words).

        Raises:
            CheckpointError: If the checkpoint's vocabulary or text settings differ from the prepared data's.
        """
        if ENCODER_STATE_KEY in state_dict and self.encoder is not None:
            if TextEncoder.from_dict(state_dict[ENCODER_STATE_KEY]) != self.encoder:
                raise CheckpointError("the checkpoint was trained on another vocabulary or text settings than "
                                      "this data: resume it with the data it was trained on")


def review_word_percentiles(ids: torch.Tensor) -> dict[str, int]:
    """5th, 50th and 95th percentile of the words per review the model sees (padding and start id excluded)."""
    words = ((ids != PAD_ID).sum(1) - (ids == START_ID).sum(1)).float()
    p5, median, p95 = torch.quantile(words, torch.tensor([0.05, 0.5, 0.95])).round().int().tolist()
    return {"p5": p5, "median": median, "p95": p95}


def _stateful_loader(*args: Any, **kwargs: Any) -> StatefulDataLoader:
    with warnings.catch_warnings():
        # torchdata 0.11 calls torch.set_vital, which torch 2.13 deprecates: nothing for us to change.
        warnings.filterwarnings("ignore", message="'set_vital' is deprecated", category=UserWarning)
        return StatefulDataLoader(*args, **kwargs)


def _check_settings(*, num_words: int, maxlen: int, batch_size: int, val_fraction: float, num_workers: int) -> None:
    """Refuse values that cannot work, before anything is read or written."""
    if num_words <= INDEX_FROM + 1:
        raise ValueError(f"num_words must be larger than {INDEX_FROM + 1} (ids 0-{INDEX_FROM} are reserved), "
                         f"got {num_words}")
    if maxlen < 1:
        raise ValueError(f"maxlen must be at least 1, got {maxlen}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    if num_workers < 0:
        raise ValueError(f"num_workers must not be negative, got {num_workers}")


def _tensor_dataset(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    # int32 ids are accepted by nn.Embedding and halve the memory of int64.
    return TensorDataset(torch.from_numpy(x.astype(np.int32)), torch.from_numpy(y.astype(np.float32)))


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
