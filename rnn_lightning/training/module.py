"""The ``LightningModule`` around :class:`SentimentRNN`: loss, metrics, optimiser, and the vocabulary it carries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from rnn_lightning.models.network import SentimentRNN
from rnn_lightning.data.text import TextEncoder

# One name scheme for metrics, shared by logging, ModelCheckpoint, the plots and the README.
TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, TEST_LOSS, TEST_ACC = (
    "train/loss", "train/acc", "val/loss", "val/acc", "test/loss", "test/acc")
ENCODER_KEY = "text_encoder"
LABEL_NAMES_KEY = "label_names"


class SentimentClassifier(L.LightningModule):
    """Text classifier trained as the Keras study: RMSprop on binary cross-entropy, or cross-entropy over classes.

    Two classes (the study's sentiment) get a sigmoid head, binary cross-entropy and accuracy; more get a
    softmax head, cross-entropy, accuracy and macro-F1 per stage. The test stage also reports precision,
    recall and F1 per class and keeps the confusion matrix (:attr:`test_confusion`).

    Hyperparameters are primitives only, so checkpoints load with ``torch.load(weights_only=True)``. The
    vocabulary reaches checkpoints through :class:`~rnn_lightning.data.datamodule.IMDBDataModule`'s state, which
    Lightning saves in every checkpoint, so a plain ``Trainer().fit(SentimentClassifier(), datamodule=...)``
    writes self-contained checkpoints. Training itself needs no vocabulary; prediction does: hand it over
    explicitly (``encoder``, as :func:`~rnn_lightning.serving.inference.load_model` does), and the module saves it in
    its own checkpoints too.

    Args:
        num_words: Vocabulary size (must match the data's).
        embed_dim: Embedding width.
        hidden_size: Units per recurrent layer.
        num_layers: Stacked recurrent layers.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        single_bias: Freeze ``bias_hh`` at zero so rnn/lstm layers match Keras's parameter counts.
        mask_padding: Skip the padding like Keras's ``mask_zero=True`` (off in the study).
        fast_cpu_path: Run the tanh RNN through the faster, equivalent CPU implementation.
        lr: RMSprop learning rate.
        rho: RMSprop smoothing constant (Keras's ``rho``, PyTorch's ``alpha``).
        eps: RMSprop epsilon.
        num_classes: Classes to tell apart (2: the sigmoid head).
        encoder: The text encoder of the data the model learns from (not a hyperparameter: it is saved
            in checkpoints as plain values).
        label_names: Class names in class order, saved in checkpoints like ``encoder``.

    Raises:
        ValueError: If a setting is out of range, ``encoder`` has another ``num_words`` or ``label_names``
            another number of classes.
    """

    def __init__(
        self,
        num_words: int = 10_000,
        embed_dim: int = 32,
        hidden_size: int = 32,
        num_layers: int = 4,
        cell: str = "rnn",
        single_bias: bool = True,
        mask_padding: bool = False,
        fast_cpu_path: bool = True,
        lr: float = 1e-3,
        rho: float = 0.9,
        eps: float = 1e-7,
        num_classes: int = 2,
        encoder: TextEncoder | None = None,
        label_names: Sequence[str] | None = None,
    ) -> None:  # pragma: no mutate block (save_hyperparameters reads this frame)
        super().__init__()
        _check_settings(num_words=num_words, lr=lr, rho=rho, eps=eps, num_classes=num_classes, encoder=encoder,
                        label_names=label_names)
        self.save_hyperparameters(ignore=["encoder", "label_names"])
        self.model = SentimentRNN(num_words, embed_dim, hidden_size, num_layers, cell, single_bias, mask_padding,
                                  fast_cpu_path, num_classes)
        self.binary = num_classes == 2
        self.loss = nn.BCEWithLogitsLoss() if self.binary else nn.CrossEntropyLoss()
        self.train_metrics, self.val_metrics, self.test_metrics = (
            _stage_metrics(num_classes, stage) for stage in ("train", "val", "test"))
        self.test_per_class = MetricCollection({
            "precision": MulticlassPrecision(num_classes, average=None),
            "recall": MulticlassRecall(num_classes, average=None),
            "f1": MulticlassF1Score(num_classes, average=None)})
        self.test_confusion_matrix = MulticlassConfusionMatrix(num_classes)
        self.test_confusion: list[list[int]] | None = None
        self.encoder = encoder
        self.label_names = tuple(label_names) if label_names else None

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes' names, or their indices as text for a model saved without names."""
        return self.label_names or tuple(str(i) for i in range(self.hparams.num_classes))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits for a ``(batch, time)`` tensor of ids: ``(batch,)`` of class 1, or ``(batch, classes)``."""
        return self.model(ids)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """``(batch, classes)`` probabilities from logits, for either head."""
        if self.binary:
            positive = torch.sigmoid(logits)
            return torch.stack([1 - positive, positive], dim=-1)
        return torch.softmax(logits, dim=-1)

    def _shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, metrics: MetricCollection,
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        ids, labels = batch
        logits = self(ids)
        loss = self.loss(logits, labels)
        # Probabilities, not logits: BinaryAccuracy only applies the sigmoid when some value lies outside [0, 1].
        metrics(torch.sigmoid(logits) if self.binary else logits, labels.long())
        on_bar = stage != "train"
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=on_bar, sync_dist=on_bar,
                 batch_size=len(labels))
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=on_bar)
        return loss, logits

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train", self.train_metrics)[0]

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "val", self.val_metrics)[0]

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, logits = self._shared_step(batch, "test", self.test_metrics)
        predicted = self.probabilities(logits).argmax(-1)
        self.test_per_class.update(predicted, batch[1].long())
        self.test_confusion_matrix.update(predicted, batch[1].long())
        return loss

    def on_test_epoch_end(self) -> None:
        # Per class: test/f1/<name> and so on, beside the overall figures; the matrix is kept for the report.
        for metric, values in self.test_per_class.compute().items():
            for name, value in zip(self.class_names, values, strict=True):
                self.log(f"test/{metric}/{name}", value)
        self.test_per_class.reset()
        self.test_confusion = self.test_confusion_matrix.compute().tolist()
        self.test_confusion_matrix.reset()

    def predict_step(self, batch: torch.Tensor | tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        """p(class 1) with the sigmoid head (the study's), the probability of every class with the softmax head."""
        ids = batch[0] if isinstance(batch, (tuple, list)) else batch
        logits = self(ids)
        return torch.sigmoid(logits) if self.binary else torch.softmax(logits, dim=-1)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Keras's RMSprop defaults; only trainable tensors, so a frozen second bias stays exactly zero.
        parameters = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.RMSprop(parameters, lr=self.hparams.lr, alpha=self.hparams.rho, eps=self.hparams.eps)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.encoder is not None:
            checkpoint[ENCODER_KEY] = self.encoder.to_dict()
        if self.label_names is not None:
            checkpoint[LABEL_NAMES_KEY] = list(self.label_names)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if ENCODER_KEY in checkpoint:
            self.encoder = TextEncoder.from_dict(checkpoint[ENCODER_KEY])
        if LABEL_NAMES_KEY in checkpoint:
            self.label_names = tuple(checkpoint[LABEL_NAMES_KEY])


def _stage_metrics(num_classes: int, stage: str) -> MetricCollection:
    """``{stage}/acc`` (both heads) and ``{stage}/f1`` (macro, more than two classes)."""
    metrics: dict[str, Metric] = {"acc": BinaryAccuracy()} if num_classes == 2 else {
        "acc": MulticlassAccuracy(num_classes, average="micro"), "f1": MulticlassF1Score(num_classes, average="macro")}
    return MetricCollection(metrics, prefix=f"{stage}/")


def _check_settings(*, num_words: int, lr: float, rho: float, eps: float, num_classes: int,
                    encoder: TextEncoder | None, label_names: Sequence[str] | None) -> None:
    """Refuse optimiser settings that cannot train, and a vocabulary or class names that do not fit the model."""
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not 0 <= rho < 1:
        raise ValueError(f"rho must lie in [0, 1), got {rho}")
    if not eps >= 0:
        raise ValueError(f"eps must not be negative, got {eps}")
    if encoder is not None and encoder.num_words != num_words:
        raise ValueError(f"the encoder has num_words={encoder.num_words}, the model {num_words}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if label_names is not None and len(label_names) != num_classes:
        raise ValueError(f"{len(label_names)} label names {list(label_names)} for {num_classes} classes")
