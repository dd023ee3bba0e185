"""Every setting of a run, defined once: its type, default, bounds and help, one dataclass per consumer.

The command line (``rnn-lightning fit --data.maxlen 64``), config files (``--config run.yaml``), the
hyperparameters saved in checkpoints and the flag reference in ``docs/flags.md`` are all generated from these
classes; nothing else declares a setting. Each consumer receives its own object in its constructor:

- :class:`DataSettings`: :class:`~rnn_lightning.data.datamodule.TextDataModule`;
- :class:`ModelSettings`: the network, :class:`~rnn_lightning.models.network.TextRNN`;
- :class:`OptimizerSettings`: :class:`~rnn_lightning.training.module.TextClassifier`'s optimiser;
- :class:`TrainSettings`: the Trainer, through :func:`~rnn_lightning.training.trainer.fit`;
- :class:`ServeSettings`: the HTTP server, :func:`~rnn_lightning.serving.api.build_server`.

Values that come from the data (the vocabulary, class names, the length range) are not settings: the
DataModule pushes them to the model once, as a :class:`~rnn_lightning.data.spec.TextSpec`.

This module imports nothing heavy, so a command line can be checked before torch is loaded.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args

CellName = Literal["rnn", "lstm", "gru"]
CELL_NAMES: tuple[str, ...] = get_args(CellName)
PoolingName = Literal["last", "max", "mean"]


@dataclass(frozen=True)
class Bound:
    """The values a number may take: ``low``/``high`` limits, each inclusive unless marked open."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        """The bound in words, as error messages and the flag reference give it."""
        low, high = _number(self.low), _number(self.high)
        if self.high == math.inf:
            if self.low == 0 and self.low_open:
                return "positive"
            return f"larger than {low}" if self.low_open else f"at least {low}"
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


def bounded(default: Any, bound: Bound) -> Any:
    """A dataclass field with ``default`` whose value must lie within ``bound`` (checked on construction)."""
    return dataclasses.field(default=default, metadata={"bound": bound})


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


AT_LEAST_ONE = Bound(low=1)
NOT_NEGATIVE = Bound(low=0)
POSITIVE = Bound(low=0, low_open=True)


class _Checked:
    """Refuses, on construction, a value outside its field's bound, with a one-line reason."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            bound, value = field.metadata.get("bound"), getattr(self, field.name)
            if bound is not None and value is not None and not (isinstance(value, bool) or bound.admits(value)):
                raise ValueError(f"{field.name} must be {bound.describe()}, got {value}")
            if typing.get_origin(hints[field.name]) is Literal and value not in typing.get_args(hints[field.name]):
                raise ValueError(f"{field.name} must be one of {list(typing.get_args(hints[field.name]))}, "
                                 f"got {value!r}")


@dataclass(frozen=True)
class DataSettings(_Checked):
    """Where the texts come from and how they become ids and batches."""

    source: str | None = None
    """IMDB archive URL, local .tar.gz or extracted aclImdb/ folder (default: $IMDB_SOURCE, else the official
    download); or your own labelled data: a .csv, .tsv, .jsonl or .parquet file, a folder of train/dev/test
    files, or a folder per label."""
    data_dir: str = "data"
    """Download, extraction and cache folder."""
    num_words: int = bounded(10_000, Bound(low=4, low_open=True))  # ids 0-3 are reserved: at least one word
    """Vocabulary size, ids included (ids 0-3 are reserved: padding, start, out-of-vocabulary, unused)."""
    maxlen: int = bounded(500, AT_LEAST_ONE)
    """Texts are padded in front or cut to their last MAXLEN ids."""
    batch_size: int = bounded(128, AT_LEAST_ONE)
    """Texts per batch."""
    val_fraction: float = bounded(0.2, Bound(low=0, high=1, low_open=True, high_open=True))
    """Share of the training rows held out for validation when the data has no validation split."""
    split_seed: int = 42
    """Seed of the train/validation split, independent of the training seed."""
    shuffle_seed: int = 42
    """Seed of the per-epoch shuffling of training batches."""
    num_workers: int = bounded(0, NOT_NEGATIVE)
    """DataLoader worker processes; the data is memory-mapped, so 0 is usually fastest."""
    group_by_length: bool = False
    """Batch texts of similar length together (for a model that skips the padding)."""
    offline: bool = False
    """Never download: use a local archive, folder or one downloaded before (default: $IMDB_OFFLINE)."""
    val_source: str | None = None
    """Your own data: the validation file or folder, if not in the source."""
    test_source: str | None = None
    """Your own data: the test file or folder, if not in the source."""
    labels: list[str] | None = None
    """Your own data: class names in class order; the data may hold the names or their indices (default:
    classes.txt beside the data, else the training labels, sorted)."""
    text_column: str | None = None
    """Your own data: column of the text, a name or a 0-based index (default: detected)."""
    label_column: str | None = None
    """Your own data: column of the label, a name or a 0-based index (default: detected)."""
    header: bool | None = None
    """Your own data: whether CSV/TSV files start with a header row (default: detected)."""
    skip_bad_rows: bool = False
    """Your own data: skip rows that cannot be used, counted per reason, instead of stopping at the first."""
    max_text_bytes: int = bounded(1_000_000, AT_LEAST_ONE)
    """Your own data: a longer text (in UTF-8 bytes) is a bad row."""


@dataclass(frozen=True)
class ModelSettings(_Checked):
    """The network: embedding, stacked recurrent layers, and a sigmoid (two classes) or softmax head."""

    embed_dim: int = bounded(32, AT_LEAST_ONE)
    """Embedding width."""
    hidden_size: int = bounded(32, AT_LEAST_ONE)
    """Units per recurrent layer."""
    num_layers: int = bounded(4, AT_LEAST_ONE)
    """Stacked recurrent layers."""
    cell: CellName = "rnn"
    """Recurrent cell: rnn (tanh, Keras's SimpleRNN: the study's), lstm or gru."""
    single_bias: bool = True
    """Hold the second recurrent bias at zero, so rnn and lstm layers have Keras's parameter counts."""
    mask_padding: bool = False
    """Skip the padding like Keras's mask_zero=True, batching texts of similar length (faster; not the study's)."""
    fast_path: bool = True
    """On CPU, run the equivalent faster recurrences rather than torch's nn.RNN/LSTM/GRU (false: to compare)."""
    bidirectional: bool = False
    """Run every recurrent layer both ways over the text and concatenate the two (not the study's)."""
    ngram_buckets: int = bounded(0, NOT_NEGATIVE)
    """Add a linear bag of n-grams beside the recurrent layers: words and word pairs hashed into this many buckets,
    each with a weight per output; a text's distinct ones' weights, summed over the root of their number, are
    added to the logits (0: none, the study's)."""
    ngram_hash: Literal[1, 2] = 2
    """How the n-gram branch hashes word pairs: 2, a universal hash; 1, the first one, whose frequent pairs
    collided (kept so that checkpoints trained with it answer as before)."""
    ngram_weighting: Literal["binary", "nb"] = "binary"
    """How much each of a text's distinct n-grams counts in the n-gram branch. binary: each the same (the
    L2-normalised binary bag of n-grams); nb: each by its naive-Bayes log-count ratio in the training texts (Wang
    & Manning's NBSVM features: "7/10" far more than "the"), counted once when training starts and saved with the
    model."""
    ngram_subwords: bool = False
    """Also give the n-gram branch each word's pieces: its character 3- to 5-grams, < and > marking its ends
    (fastText's subwords), so that "unfunny" shares "fun" with "funny" and rare forms learn from common ones.
    Words of the vocabulary have them, computed when training starts and saved with the model."""
    ngram_training: Literal["joint", "apart"] = "joint"
    """How the n-gram branch learns beside the recurrent part. joint: its logits are added to theirs and one loss
    trains both; the recurrent part, which fits the training texts first, leaves it little to learn. apart: each
    part learns to classify on its own, with a loss of its own, and the model answers with a weighted mean of
    their logits, the recurrent part's share chosen after each epoch on the validation texts: an ensemble of two
    models."""
    pooling: PoolingName = "last"
    """What the head reads: the last state (the study's; with bidirectional, each direction's last), or the
    top layer's outputs max- or mean-pooled over the words (over every step when the padding is not skipped)."""
    dropout: float = bounded(0.0, Bound(low=0, high=1, high_open=True))
    """In training, zero this share of what the head reads (the recurrent features), at random (0: none, the
    study's)."""
    members: int = bounded(1, AT_LEAST_ONE)
    """Recurrent networks in the recurrent part, each with its own embedding, layers and head, initialised apart;
    the part answers with the mean of their logits (an ensemble of seeds in one model; 1: one network, the
    study's). Trained apart (ngram_training: apart), each member learns with a loss of its own."""


@dataclass(frozen=True)
class OptimizerSettings(_Checked):
    """RMSprop with Keras's defaults."""

    lr: float = bounded(1e-3, POSITIVE)
    """RMSprop learning rate."""
    rho: float = bounded(0.9, Bound(low=0, high=1, high_open=True))
    """RMSprop smoothing constant (Keras's rho, PyTorch's alpha)."""
    eps: float = bounded(1e-7, NOT_NEGATIVE)
    """RMSprop epsilon."""
    lr_schedule: Literal["constant", "cosine"] = "constant"
    """The learning rate over training: constant (Keras's, the study's), or cosine: from lr to 0 at the last step."""
    ngram_lr: float | None = bounded(None, POSITIVE)
    """The n-gram branch's learning rate (--model.ngram_buckets), if not lr: a linear model over many rare features
    learns them faster with a larger one."""


@dataclass(frozen=True)
class TrainSettings(_Checked):
    """The Trainer: hardware, length of training, outputs."""

    accelerator: str = "auto"
    """cpu, gpu or auto."""
    devices: int | str = "auto"
    """Devices per node: a count, a list such as "0,1", or auto."""
    strategy: str = "auto"
    """Lightning strategy, e.g. ddp for several GPUs or nodes."""
    num_nodes: int = bounded(1, AT_LEAST_ONE)
    """Machines taking part in DDP training."""
    precision: str = "32-true"
    """32-true, bf16-mixed or 16-mixed."""
    max_epochs: int = 10
    """Epochs to train."""
    seed: int = 42
    """Seed of the weights, the shuffling and dropout."""
    deterministic: bool = False
    """Use deterministic algorithms only."""
    limit_train_batches: int | float | None = None
    """Train on this many batches per epoch (an int) or this fraction of them (a float)."""
    limit_val_batches: int | float | None = None
    """Validate on this many batches (an int) or this fraction of them (a float)."""
    log_grad_norms: int = bounded(0, NOT_NEGATIVE)
    """Log each recurrent weight's gradient norm to TensorBoard every N steps (0: off)."""
    fast_dev_run: bool = False
    """One train and one validation batch, no checkpoints or logs: a wiring check."""
    logdir: str = "lightning_logs"
    """TensorBoard runs, checkpoints and each run's config.yaml go here."""
    ckpt_path: str | None = None
    """Resume from this checkpoint, or 'last' for the newest last.ckpt under logdir."""
    test: bool = False
    """After fitting, evaluate the best checkpoint on the test split."""
    early_stopping: int = bounded(0, NOT_NEGATIVE)
    """Stop once val/acc has not improved for this many epochs (0: train every epoch). The best checkpoint is
    what test, predict and serve use either way."""
    baseline: bool = False
    """Also train the baselines, TF-IDF (1-2 grams) + logistic regression and fastText (1-2 grams), on the same rows
    and report them beside the network (needs scikit-learn and fastText: pip install 'rnn-lightning[baseline]')."""


@dataclass(frozen=True)
class ServeSettings(_Checked):
    """The HTTP server: where it listens, its workers and batching, limits, timeouts and access."""

    host: Literal["127.0.0.1", "localhost", "0.0.0.0", "::"] = "127.0.0.1"
    """Address to listen on: 127.0.0.1 (this machine), 0.0.0.0 or :: (every interface)."""
    port: int = bounded(8000, Bound(low=1024, high=65535))
    """Port to listen on."""
    accelerator: Literal["cpu", "cuda", "auto"] = "cpu"
    """Where the model runs."""
    workers: int = bounded(1, AT_LEAST_ONE)
    """Worker processes answering POST /predict, each with its own copy of the model."""
    explain_workers: int = bounded(1, AT_LEAST_ONE)
    """Worker processes answering POST /explain: apart from /predict's, so explanations never hold it up."""
    max_batch_size: int = bounded(32, AT_LEAST_ONE)
    """Requests gathered into one forward pass (1: no batching)."""
    batch_timeout: float = bounded(0.005, NOT_NEGATIVE)
    """Seconds to wait for more requests to fill a batch."""
    request_timeout: float = bounded(30.0, POSITIVE)
    """Seconds a request may wait for its answer before it gets 504."""
    max_texts: int = bounded(64, AT_LEAST_ONE)
    """Texts per request."""
    max_text_chars: int = bounded(20_000, AT_LEAST_ONE)
    """Characters per text."""
    max_body_bytes: int = bounded(1_000_000, AT_LEAST_ONE)
    """Bytes of a request body (larger bodies get 413 before they are read whole)."""
    max_explained_texts: int = bounded(4, AT_LEAST_ONE)
    """Texts per request to POST /explain: one forward pass per word each."""
    header_timeout: float = bounded(10.0, POSITIVE)
    """Seconds a client may take to send a request's headers before its connection is closed."""
    body_timeout: float = bounded(10.0, POSITIVE)
    """Seconds a client may take to send a request's body before it gets 408."""
    idle_timeout: float = bounded(5.0, POSITIVE)
    """Seconds an idle keep-alive connection is held open."""
    max_connections: int = bounded(1000, AT_LEAST_ONE)
    """Connections and requests at once; beyond, new ones get 503 at once, so stalled clients cannot lock out."""
    api_key: str | None = None
    """A key POST /predict and /explain require (header X-API-Key); /health, /metrics and the page stay open
    (default: $RNN_LIGHTNING_API_KEY)."""
    cors_origins: list[str] | None = None
    """Web origins allowed to call the API from a browser, e.g. [https://example.org] (default: none)."""


def data_for_model(data: DataSettings, model: ModelSettings) -> DataSettings:
    """``data`` as ``model`` needs it: a model that masks padding gets texts of similar length batched together.

    The command line states the same rule as a link (:data:`LINKS`); this is it for code that builds settings.
    """
    return dataclasses.replace(data, group_by_length=model.mask_padding)


#: Settings that follow others on the command line (source, target): they cannot be given apart.
LINKS = (("model.mask_padding", "data.group_by_length"), ("trainer.seed", "data.shuffle_seed"))

SETTINGS_GROUPS: dict[str, type] = {"data": DataSettings, "model": ModelSettings, "optimizer": OptimizerSettings,
                                    "trainer": TrainSettings, "server": ServeSettings}
