"""The ``LightningDataModule``: encode labelled texts once into a memory-mapped cache, then split and batch them.

IMDB (the study's data) and the user's own collections (:mod:`rnn_lightning.data.corpus`) go through the same
pipeline: the vocabulary is ranked on the training split only, texts get Keras's ids and front padding,
and the encoded splits land in one cache folder named after every setting that shaped them.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from filelock import FileLock
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchdata.stateful_dataloader import StatefulDataLoader
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler

from rnn_lightning.data.corpus import CorpusSource, ReadOptions, is_corpus
from rnn_lightning.data.sampling import LengthGroupedBatchSampler
from rnn_lightning.data.sources import OFFICIAL_URL, IMDBSource, is_url, short_digest
from rnn_lightning.data.spec import TextSpec, is_binary
from rnn_lightning.data.text import (
    PAD_ID,
    START_ID,
    TOKENIZER_VERSION,
    TextEncoder,
    chunked,
    pad_sequences,
    rank_counts,
    tokenize,
)
from rnn_lightning.fileio import WriteError
from rnn_lightning.settings import DataSettings

CACHE_FORMAT = 2  # 1: one .npz read whole; 2: a folder of .npy files, memory-mapped
ENCODE_CHUNK_ROWS = 4096  # rows encoded at a time: memory stays flat however large the collection


def open_source(settings: DataSettings) -> IMDBSource | CorpusSource:
    """The IMDB archive, URL or ``aclImdb/`` folder, or else the user's own collection (a file or folder).

    Raises:
        ValueError: If an option for the user's own data is given with an IMDB source.
        FileNotFoundError: If the user's collection names a split that does not exist.
    """
    source = settings.source or OFFICIAL_URL
    if not is_url(source) and not Path(source).expanduser().exists():
        raise FileNotFoundError(f"{source}: no such file or folder (the data source: an IMDB archive or aclImdb/ "
                                "folder, or your own .csv, .tsv, .jsonl or .parquet file or folder)")
    options = ReadOptions(None if settings.text_column is None else str(settings.text_column),
                          None if settings.label_column is None else str(settings.label_column), settings.header,
                          settings.max_text_bytes)
    if is_url(source) or not is_corpus(source):
        given = {"val_source": settings.val_source, "test_source": settings.test_source, "labels": settings.labels,
                 "reading options (columns, header, text size)": options != ReadOptions()}
        if misplaced := [name for name, value in given.items() if value]:
            raise ValueError(f"{', '.join(misplaced)} apply to your own data files, not to the IMDB source {source}")
        return IMDBSource(source, settings.data_dir, settings.offline)
    return CorpusSource(source, settings.val_source, settings.test_source, settings.labels, options,
                        settings.skip_bad_rows)


class TextDataModule(L.LightningDataModule):
    """Labelled texts encoded as ``keras.datasets.imdb`` does and padded as ``pad_sequences`` does.

    ``prepare_data`` (one process per node, under a file lock) streams the source's rows twice, first to
    rank the vocabulary on the training split, then to encode every split in chunks into a cache folder of
    ``.npy`` files (written beside, renamed into place when complete). ``setup`` memory-maps that cache, so
    DDP ranks on one machine share its pages rather than each holding a copy, and splits the training rows
    into train/val with a seeded permutation when the source has no validation split of its own. What the
    model needs from the data (vocabulary, class names, text lengths) is :attr:`spec`, once set up: the model is
    built from it and saves it in every checkpoint.

    The DataModule shards its own batches across DDP ranks (train with ``use_distributed_sampler=False``):
    training batches are shuffled per epoch from ``shuffle_seed`` alone, so a resumed run, even one resumed
    halfway through an epoch, sees exactly the batches an uninterrupted run would.

    Args:
        settings: Every data setting (:class:`~rnn_lightning.settings.DataSettings`); without a source, the
            official IMDB download.

    Raises:
        ValueError: If an option for the user's own data is given with IMDB; nothing has been read or written.
        FileNotFoundError: If the user's collection names a split that does not exist.
    """

    def __init__(self, settings: DataSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or DataSettings()
        self.source = open_source(self.settings)
        self.encoder: TextEncoder | None = None
        self.review_words: dict[str, int] | None = None
        self.skipped_rows: dict[str, int] = {}
        self.train_set: EncodedSplit | None = None
        self.val_set: EncodedSplit | None = None
        self.test_set: EncodedSplit | None = None
        self._cache: EncodedCache | None = None
        self._prepared: EncodedCache | None = None

    @property
    def source_name(self) -> str:
        return self.settings.source or OFFICIAL_URL

    @property
    def spec(self) -> TextSpec:
        """The vocabulary, class names and text lengths a model of this data is built from and saves."""
        if self.encoder is None:
            raise RuntimeError("call prepare_data() and setup() first: the vocabulary comes from the data")
        return TextSpec(self.encoder, self.label_names, self.review_words)

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    @property
    def label_names(self) -> tuple[str, ...]:
        """Class names in class order (from the cache once set up, else from the source)."""
        return self._cache.label_names if self._cache is not None else tuple(self.source.label_names)

    def has_split(self, split: str) -> bool:
        """Whether the source has a ``"val"`` or ``"test"`` split of its own (``"train"`` it always has)."""
        return split in self.source.splits

    # ---------------------------------------------------------------------------------------- the cache
    def cache_path(self) -> Path:
        """Folder of the encoded cache for the current source and text settings."""
        kind = "imdb" if isinstance(self.source, IMDBSource) else "corpus"
        return self.data_dir / f"{kind}-encoded-{short_digest(self._cache_settings())}"

    def _cache_settings(self) -> dict[str, object]:
        settings: dict[str, object] = {
            "source": self.source.identity,
            "num_words": self.settings.num_words,
            "maxlen": self.settings.maxlen,
            "tokenizer_version": TOKENIZER_VERSION,
            "cache_format": CACHE_FORMAT,
        }
        if isinstance(self.source, CorpusSource):
            settings["read"] = {key: getattr(self.settings, key) for key in ("labels", "text_column", "label_column",
                                                                    "header", "skip_bad_rows", "max_text_bytes")}
        return settings

    def prepare_data(self) -> None:
        """Make sure a valid encoded cache exists; safe to call from several processes at once.

        Under the lock, whatever a killed process left half-written (a download, an extraction, a cache) is
        removed first: only the lock's holder writes those.

        Raises:
            BadRowError: At the first row of the user's data that cannot be used (without ``skip_bad_rows``).
            WriteError: If writing failed (a full disk, say); nothing half-written is left.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.data_dir / ".prepare.lock")):
            remove_stale_staging(self.data_dir)
            try:
                cache = EncodedCache.load(self.cache_path(), self._cache_settings())
                if cache is None:
                    cache = self._build_cache()
            except OSError as error:
                if isinstance(error, FileNotFoundError) or error.errno is None:
                    raise  # a missing source says so itself
                raise WriteError.of(error, f"the data in {self.data_dir}") from error
        self._prepared = cache  # setup() in this process maps it from here rather than validating it again
        if cache.skipped_rows:
            warnings.warn(f"skipped {sum(cache.skipped_rows.values()):,} bad row(s): "
                          f"{_describe_counts(cache.skipped_rows)}", SkippedRowsWarning, stacklevel=2)

    def _build_cache(self) -> EncodedCache:
        source, maxlen = self.source, self.settings.maxlen
        # First pass: check every row, count them, and rank the words of the training split only, so that
        # the test set never shapes the inputs.
        skipped: Counter[str] = Counter()
        word_counts: Counter[str] = Counter()
        rows = {}
        for split in source.splits:
            rows[split] = 0
            for text, _ in source.rows(split, skipped):
                if split == "train":
                    word_counts.update(tokenize(text))
                rows[split] += 1
            if rows[split] == 0:
                raise ValueError(f"the {split} split of {self.source_name} has no usable rows")
        encoder = TextEncoder.from_ranked(rank_counts(word_counts), self.settings.num_words, maxlen)
        lookup = encoder.word_to_id
        final = self.cache_path()
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=self.data_dir))
        try:
            # Second pass: encode chunk by chunk straight into memory-mapped files.
            for split, count in rows.items():
                x = _reserved_memmap(staging / f"x_{split}.npy", np.int32, (count, maxlen))
                y = _reserved_memmap(staging / f"y_{split}.npy", np.int16, (count,))
                done = 0
                for chunk in chunked(source.rows(split), ENCODE_CHUNK_ROWS):
                    ids = pad_sequences([encoder.encode_tokens(tokenize(text), lookup) for text, _ in chunk], maxlen)
                    x[done:done + len(chunk)] = ids
                    y[done:done + len(chunk)] = [label for _, label in chunk]
                    done += len(chunk)
                if done != count:
                    raise RuntimeError(f"the {split} split of {self.source_name} changed while it was encoded")
                x.flush()
                y.flush()
                del x, y
            meta = {"settings": self._cache_settings(), "words": list(encoder.words),
                    "label_names": list(source.label_names), "rows": rows, "skipped_rows": dict(skipped)}
            (staging / EncodedCache.META).write_text(json.dumps(meta), encoding="utf-8")
            if final.exists():  # an invalid cache of the same name: replaced whole
                shutil.rmtree(final)
            staging.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        cache = EncodedCache.load(final, self._cache_settings())
        if cache is None:
            raise RuntimeError(f"the cache just written at {final} does not load")
        return cache

    # ------------------------------------------------------------------------------------------ serving
    def setup(self, stage: str | None = None) -> None:
        """Map the cache and split the training rows into train/val (seeded, so every run agrees)."""
        if self._cache is not None:
            return
        cache = self._prepared or EncodedCache.load(self.cache_path(), self._cache_settings())
        if cache is None:
            raise RuntimeError(f"no valid encoded cache at {self.cache_path()}: call prepare_data() first")
        self._cache = cache
        self.encoder = TextEncoder(cache.words, self.settings.num_words, self.settings.maxlen)
        self.skipped_rows = dict(cache.skipped_rows)
        binary = is_binary(len(cache.label_names))
        if "val" in cache.rows:
            self.train_set, self.val_set = cache.split("train", binary), cache.split("val", binary)
        else:
            count = cache.rows["train"]
            permutation = torch.randperm(count, generator=torch.Generator().manual_seed(self.settings.split_seed))
            n_val = round(count * self.settings.val_fraction)
            if not 0 < n_val < count:
                raise ValueError(f"val_fraction {self.settings.val_fraction} of {count} training rows leaves "
                                 f"{n_val} for validation and {count - n_val} for training: both need some")
            self.val_set = cache.split("train", binary, permutation[:n_val].numpy())
            self.train_set = cache.split("train", binary, permutation[n_val:].numpy())
        self.test_set = cache.split("test", binary) if "test" in cache.rows else None
        self.review_words = word_count_percentiles(self.train_set.words_seen())

    def review(self, index: int, split: str = "train") -> tuple[np.ndarray, int]:
        """Encoded ids and label of one row of a full split (``train``, ``val`` or ``test``), in source order."""
        cache = self._set_up_cache()
        return np.asarray(cache.x[split][index]), int(cache.y[split][index])

    def raw_texts(self, split: str) -> tuple[list[str], np.ndarray]:
        """The raw texts and class indices of ``train``, ``val`` or ``test``: the very rows the model is given.

        The source is read again (streamed, then the split's rows kept), so the texts are as in the files, not
        as encoded: for a baseline that reads words the vocabulary left out, or whole texts the padding cut.
        """
        cache = self._set_up_cache()
        dataset = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[split]
        if dataset is None:
            raise ValueError(f"{self.source_name} has no {split} split")
        read_from = "train" if split == "val" and "val" not in cache.rows else split
        texts = [text for text, _ in self.source.rows(read_from, Counter())]  # bad rows skipped as when encoded
        return [texts[row] for row in dataset.rows], dataset.targets.long().numpy()

    def _set_up_cache(self) -> EncodedCache:
        if self._cache is None:
            raise RuntimeError("call prepare_data() and setup() first")
        return self._cache

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        if self._cache is not None and self.test_set is None:
            raise RuntimeError(f"{self.source_name} has no test split: give one (a test file, or --test-data)")
        return self._loader(self.test_set)

    def _loader(self, dataset: EncodedSplit | None, shuffle: bool = False) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() first")
        workers = {"num_workers": self.settings.num_workers, "persistent_workers": self.settings.num_workers > 0}
        # Stateful for training: Lightning saves how far into the epoch it got, so a run resumed from a
        # mid-epoch checkpoint continues with the very batches it would have seen.
        loader = StatefulDataLoader if shuffle else DataLoader
        replicas, rank = self._ranks()
        if self.settings.group_by_length:
            sampler = LengthGroupedBatchSampler(dataset.lengths(), self.settings.batch_size, shuffle,
                                                seed=self.settings.shuffle_seed, num_replicas=replicas, rank=rank)
            return loader(dataset, batch_sampler=sampler, **workers)
        if shuffle:  # order from the seed and the epoch alone (Lightning calls set_epoch), the same on every rank
            sampler = StatefulDistributedSampler(dataset, replicas, rank, shuffle=True, seed=self.settings.shuffle_seed)
        elif replicas > 1:
            sampler = DistributedSampler(dataset, replicas, rank, shuffle=False)
        else:
            sampler = None
        return loader(dataset, batch_size=self.settings.batch_size, sampler=sampler, **workers)

    def _ranks(self) -> tuple[int, int]:
        """World size and this process's rank, from the Trainer running us (a single process outside one)."""
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)


# What a process writing into the data folder names its work in progress: a cache or extraction being written
# (``tempfile.mkdtemp`` folders) and a download (``atomic_write``'s temp file).
STAGING_PATTERNS = (".imdb-encoded-*", ".corpus-encoded-*", "extracted-*/.aclImdb.*.extracting", ".*.part")


def remove_stale_staging(data_dir: Path) -> list[Path]:
    """Remove the work in progress a killed process left in ``data_dir``; call it holding the prepare lock.

    Returns:
        What was removed.
    """
    stale = [path for pattern in STAGING_PATTERNS for path in data_dir.glob(pattern)]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


def _reserved_memmap(path: Path, dtype: type, shape: tuple[int, ...]) -> np.memmap:
    """A new ``.npy`` file mapped for writing, its disk space reserved first.

    A memory-mapped file is written page by page as the pages are touched; on a full disk that kills the
    process with SIGBUS, long after the file was created. Reserving the space up front turns that into an
    ordinary ``OSError`` (no space left on device) here, before anything is encoded.
    """
    array = np.lib.format.open_memmap(path, "w+", dtype, shape)
    with path.open("r+b") as handle:
        try:
            os.posix_fallocate(handle.fileno(), 0, path.stat().st_size)
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):  # a file system that cannot
                raise
    return array


class SkippedRowsWarning(UserWarning):
    """Rows of the user's data were skipped (``skip_bad_rows``); the message counts them per reason."""


class EncodedCache:
    """A complete cache folder, memory-mapped: encoded ids, labels and lengths per split, and what made them.

    Mapped copy-on-write: processes on one machine share the file's pages, and nothing is ever written back.
    """

    META = "meta.json"

    def __init__(self, meta: dict[str, Any], x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> None:
        self.words: tuple[str, ...] = tuple(meta["words"])
        self.label_names: tuple[str, ...] = tuple(meta["label_names"])
        self.rows: dict[str, int] = dict(meta["rows"])
        self.skipped_rows: dict[str, int] = dict(meta["skipped_rows"])
        self.x, self.y = x, y

    @classmethod
    def load(cls, path: Path, settings: dict[str, object]) -> EncodedCache | None:
        """Map a cache folder, or return None if it is missing, incomplete, damaged or made with other settings."""
        try:
            meta = json.loads((path / cls.META).read_text(encoding="utf-8"))
            if meta["settings"] != json.loads(json.dumps(settings)):
                return None
            num_words, maxlen = int(settings["num_words"]), int(settings["maxlen"])
            classes = len(meta["label_names"])
            if len(meta["words"]) > num_words or classes < 2 or "train" not in meta["rows"]:
                return None
            x, y = {}, {}
            for split, count in meta["rows"].items():
                x[split] = np.load(path / f"x_{split}.npy", mmap_mode="c", allow_pickle=False)
                y[split] = np.load(path / f"y_{split}.npy", mmap_mode="c", allow_pickle=False)
                if x[split].shape != (count, maxlen) or y[split].shape != (count,) or count == 0:
                    return None
                if x[split].dtype != np.int32 or x[split].min() < 0 or x[split].max() >= num_words:
                    return None
                if y[split].min() < 0 or y[split].max() >= classes:
                    return None
            return cls(meta, x, y)
        except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError):
            return None

    def split(self, name: str, binary: bool, rows: np.ndarray | None = None) -> EncodedSplit:
        """One split (or the given rows of it) as a dataset reading the mapped file."""
        labels = torch.from_numpy(np.asarray(self.y[name]).astype(np.float32 if binary else np.int64))
        return EncodedSplit(self.x[name], labels, rows)


class EncodedSplit(Dataset):
    """Rows of one encoded split, read from the memory-mapped cache batch by batch.

    Items are ``(ids, label)``: int32 ids of shape ``(maxlen,)`` and a float32 label (0./1., for the sigmoid
    head) or an int64 class index (more than two classes).

    Args:
        ids: ``(rows, maxlen)`` ids, typically memory-mapped.
        labels: Label of every row of ``ids``.
        rows: The rows of ``ids`` this dataset holds, in order; all of them when None.
    """

    def __init__(self, ids: np.ndarray, labels: torch.Tensor, rows: np.ndarray | None = None) -> None:
        self.ids = ids
        self.rows = np.arange(len(ids)) if rows is None else np.asarray(rows, dtype=np.int64)
        self.targets = labels[torch.from_numpy(self.rows)]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int | slice) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.asarray(self.ids[self.rows[index]])), self.targets[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        # One gather from the mapped file per batch rather than one read per row.
        ids = torch.from_numpy(np.asarray(self.ids[self.rows[indices]]))
        return list(zip(ids, self.targets[indices], strict=True))

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All ``(ids, labels)`` of this split, copied into memory (for inspection and small splits)."""
        return self[:]

    def lengths(self) -> torch.Tensor:
        """Ids per row, padding excluded (what the length-grouped batches sort by)."""
        return self._per_row(lambda ids: (ids != PAD_ID).sum(1))

    def words_seen(self) -> torch.Tensor:
        """Words per row that the model sees (see :func:`words_seen`)."""
        return self._per_row(words_seen)

    def chunks(self, rows: int = 65_536) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(ids, labels)`` of every row in order, ``rows`` at a time.

        A split larger than memory is never read whole.
        """
        for start in range(0, len(self.rows), rows):
            yield self[start:start + rows]

    def _per_row(self, function: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return torch.cat([function(ids) for ids, _ in self.chunks()])


def words_seen(ids: torch.Tensor) -> torch.Tensor:
    """Words per row of padded ids that the model sees: padding and the start id excluded."""
    return (ids != PAD_ID).sum(1) - (ids == START_ID).sum(1)


def word_count_percentiles(words: torch.Tensor) -> dict[str, int]:
    """5th, 50th and 95th percentile of words per text."""
    p5, median, p95 = torch.quantile(words.float(), torch.tensor([0.05, 0.5, 0.95])).round().int().tolist()
    return {"p5": p5, "median": median, "p95": p95}


def _describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count:,} {reason}" for reason, count in sorted(counts.items(), key=lambda item: -item[1]))
