"""The ``LightningModule`` around :class:`TextRNN`: loss, metrics, optimiser, and the data's spec it carries."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
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

from rnn_lightning.data.sources import CLASS_NAMES
from rnn_lightning.data.spec import TextSpec, is_binary
from rnn_lightning.data.text import TextEncoder
from rnn_lightning.models.network import TextRNN
from rnn_lightning.settings import ModelSettings, OptimizerSettings
from rnn_lightning.training.checkpoints import CheckpointError

# One name scheme for metrics, shared by logging, ModelCheckpoint, the plots and the README.
TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, TEST_LOSS, TEST_ACC = (
    "train/loss", "train/acc", "val/loss", "val/acc", "test/loss", "test/acc")
TEXT_SPEC_KEY = "text_spec"  # where a checkpoint keeps the data's side of the model


class TextClassifier(L.LightningModule):
    """Text classifier trained as the Keras study: RMSprop on binary cross-entropy, or cross-entropy over classes.

    Two classes (the study's sentiment) get a sigmoid head, binary cross-entropy and accuracy; more get a
    softmax head, cross-entropy, accuracy and macro-F1 per stage. The test stage also reports precision,
    recall and F1 per class and keeps the confusion matrix (:attr:`test_confusion`).

    The settings are saved as the checkpoint's hyperparameters (plain values: checkpoints load with
    ``torch.load(weights_only=True)``), and ``text`` under its own key, so the checkpoint alone can classify
    raw text (:func:`~rnn_lightning.serving.inference.load_model`). Resuming a checkpoint whose text spec
    differs from the data's is refused: its ids would mean other words.

    Args:
        model: The network's settings.
        optimizer: RMSprop's settings.
        text: The data's vocabulary, class names and text lengths (``datamodule.spec``).
    """

    def __init__(self, model: ModelSettings, optimizer: OptimizerSettings, text: TextSpec) -> None:
        super().__init__()
        self.save_hyperparameters({"model": dataclasses.asdict(model), "optimizer": dataclasses.asdict(optimizer)})
        self.settings, self.optimizer_settings, self.text = model, optimizer, text
        self.model = TextRNN(model, text.num_words, text.num_classes)
        num_classes = text.num_classes
        self.binary = text.binary
        self.loss = nn.BCEWithLogitsLoss() if self.binary else nn.CrossEntropyLoss()
        self.train_metrics, self.val_metrics, self.test_metrics = (
            _stage_metrics(num_classes, stage) for stage in ("train", "val", "test"))
        self.test_per_class = MetricCollection({
            "precision": MulticlassPrecision(num_classes, average=None),
            "recall": MulticlassRecall(num_classes, average=None),
            "f1": MulticlassF1Score(num_classes, average=None)})
        self.test_confusion_matrix = MulticlassConfusionMatrix(num_classes)
        self.test_confusion: list[list[int]] | None = None

    @property
    def encoder(self) -> TextEncoder:
        return self.text.encoder

    @property
    def num_classes(self) -> int:
        return self.text.num_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.text.label_names

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

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Keras's RMSprop defaults; only trainable tensors, so a frozen second bias stays exactly zero.
        parameters = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.RMSprop(parameters, lr=self.optimizer_settings.lr,
                                   alpha=self.optimizer_settings.rho, eps=self.optimizer_settings.eps)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[TEXT_SPEC_KEY] = self.text.to_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse to resume a run whose vocabulary or classes differ from this data's (its ids mean other words).

        Raises:
            CheckpointError: If the checkpoint's vocabulary, text settings or class names differ from the data's.
        """
        saved = checkpoint_parts(checkpoint)[2]
        if saved.encoder != self.text.encoder:
            raise CheckpointError("the checkpoint was trained on another vocabulary or text settings than "
                                  "this data: resume it with the data it was trained on")
        if saved.label_names != self.text.label_names:
            raise CheckpointError(f"the checkpoint was trained on the classes {list(saved.label_names)}, this data "
                                  f"has {list(self.text.label_names)}")


def _stage_metrics(num_classes: int, stage: str) -> MetricCollection:
    """``{stage}/acc`` (both heads) and ``{stage}/f1`` (macro, more than two classes)."""
    metrics: dict[str, Metric] = {"acc": BinaryAccuracy()} if is_binary(num_classes) else {
        "acc": MulticlassAccuracy(num_classes, average="micro"), "f1": MulticlassF1Score(num_classes, average="macro")}
    return MetricCollection(metrics, prefix=f"{stage}/")


# Before the settings objects (bc6124b and earlier): flat hyperparameters, the vocabulary and class names under
# keys of their own or in the DataModule's state (saved under its class name).
_FLAT_MODEL_KEYS = {"embed_dim", "hidden_size", "num_layers", "cell", "single_bias", "mask_padding"}
_FLAT_KEYS = _FLAT_MODEL_KEYS | {"num_words", "fast_cpu_path", "lr", "rho", "eps", "num_classes"}
_DATAMODULE_KEYS = ("TextDataModule", "IMDBDataModule")


def checkpoint_parts(checkpoint: Mapping[str, Any]) -> tuple[ModelSettings, OptimizerSettings, TextSpec]:
    """The settings and text spec a :class:`TextClassifier` checkpoint was made with, in either layout it had.

    Raises:
        CheckpointError: If the checkpoint is not one of a :class:`TextClassifier`, names code to run, or
            holds no vocabulary.
    """
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    if "_instantiator" in hparams:
        raise CheckpointError("it names a callable to build the model (_instantiator): refused, no code is run")
    nested = set(hparams) == {"model", "optimizer"}
    if not nested and not set(hparams) <= _FLAT_KEYS:
        raise CheckpointError(f"it is a checkpoint of another model (hyperparameters {sorted(hparams)})")
    try:
        if nested:
            model, optimizer = ModelSettings(**hparams["model"]), OptimizerSettings(**hparams["optimizer"])
            return model, optimizer, TextSpec.from_dict(checkpoint[TEXT_SPEC_KEY])
        model = ModelSettings(**{key: hparams[key] for key in _FLAT_MODEL_KEYS & hparams.keys()},
                              fast_path=hparams.get("fast_cpu_path", True))
        optimizer = OptimizerSettings(**{key: hparams[key] for key in ("lr", "rho", "eps") if key in hparams})
        return model, optimizer, _flat_layout_spec(checkpoint, hparams.get("num_classes", 2))
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"it does not fit this model: {str(error).splitlines()[0]}") from error


def _flat_layout_spec(checkpoint: Mapping[str, Any], num_classes: int) -> TextSpec:
    data_state = next((checkpoint[key] for key in _DATAMODULE_KEYS if isinstance(checkpoint.get(key), dict)), {})
    encoder = checkpoint.get("text_encoder", data_state.get("text_encoder"))
    if encoder is None:
        raise CheckpointError("it holds no vocabulary: it was not trained on a TextDataModule")
    names = checkpoint.get("label_names", data_state.get("label_names"))
    if names is None and is_binary(num_classes):
        names = CLASS_NAMES  # trained before class names were saved: on IMDB
    return TextSpec.from_dict({"encoder": encoder, "label_names": names,
                               "review_words": data_state.get("review_words")})
