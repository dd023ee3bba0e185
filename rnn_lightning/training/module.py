"""The ``LightningModule`` around :class:`TextRNN`: loss, metrics, optimiser, and the data's spec it carries."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric, Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from rnn_lightning.data.spec import TextSpec, is_binary
from rnn_lightning.models.classifier import TextPredictor, class_probabilities
from rnn_lightning.models.network import TextRNN, mean_of_members, mix_parts, squeeze_single_logit
from rnn_lightning.models.saved import TEXT_SPEC_KEY, CheckpointError, checkpoint_parts, load_checkpoint_into
from rnn_lightning.settings import ModelSettings, OptimizerSettings

# One name scheme for metrics, shared by logging, ModelCheckpoint, the plots and the README.
TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, TEST_LOSS, TEST_ACC = (
    "train/loss", "train/acc", "val/loss", "val/acc", "test/loss", "test/acc")
# A model trained apart (ngram_training: apart) also logs each part's accuracy as {stage}/part_acc/<part>.
PARTS = ("recurrent", "ngrams")
# Trained apart, the recurrent part's share of the answer is chosen among these after each validation epoch.
PART_WEIGHTS = tuple(step / 20 for step in range(21))
PART_WEIGHT = "val/part_weight"


class TextClassifier(TextPredictor, L.LightningModule):
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
        self.loss = nn.BCEWithLogitsLoss() if self.binary else nn.CrossEntropyLoss()
        self.train_metrics, self.val_metrics, self.test_metrics = (
            _stage_metrics(num_classes, stage) for stage in ("train", "val", "test"))
        self.test_per_class = MetricCollection({
            "precision": MulticlassPrecision(num_classes, average=None),
            "recall": MulticlassRecall(num_classes, average=None),
            "f1": MulticlassF1Score(num_classes, average=None)})
        self.test_confusion_matrix = MulticlassConfusionMatrix(num_classes)
        # Trained apart, each part is a classifier of its own: its accuracy alone is logged beside the model's.
        self.part_accuracy = nn.ModuleDict({f"{stage}_{part}": _accuracy(num_classes) for stage in ("val", "test")
                                            for part in PARTS} if self.trains_apart else {})
        # And the validation loss and metrics of every share of the answer the parts' mixture may give them.
        mixtures = len(PART_WEIGHTS) if self.trains_apart else 0
        self.mixture_losses = nn.ModuleList(MeanMetric() for _ in range(mixtures))
        self.mixture_metrics = nn.ModuleList(_stage_metrics(num_classes, "val") for _ in range(mixtures))
        self.test_confusion: list[list[int]] | None = None

    @classmethod
    def from_checkpoint(cls, path: str | Path, map_location: str | torch.device = "cpu") -> TextClassifier:
        """Load a checkpoint file (either layout it had) for testing or further training, in eval mode.

        Raises:
            CheckpointError: As :func:`~rnn_lightning.models.saved.load_checkpoint_into` says.
        """
        return load_checkpoint_into(path, cls, map_location)

    def setup(self, stage: str) -> None:
        """Before fitting, hash the vocabulary's subwords and count the training texts' n-grams, as asked.

        The subwords (``ngram_subwords``) come first: the naive-Bayes ratios (``nb``) count them like any n-gram.

        Every process counts the whole training split, so DDP ranks agree; a resumed run gets the counts it
        trained with back from its checkpoint, which Lightning restores after this hook.
        """
        if stage == "fit" and self.model.subword_buckets is not None:
            self.model.fit_subwords(self.text.encoder.words)
        if stage == "fit" and self.model.ngram_scale is not None:
            self.model.fit_ngram_weights(self.trainer.datamodule.train_set.chunks(4096))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits for a ``(batch, time)`` tensor of ids: ``(batch,)`` of class 1, or ``(batch, classes)``."""
        return self.model(ids)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """``(batch, classes)`` probabilities from logits, for either head."""
        return class_probabilities(logits, self.binary)

    def _shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, metrics: MetricCollection,
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        ids, labels = batch
        if not self.trains_apart or stage == "train":
            logits = self(ids)
        else:
            recurrent, branch = self.model.parts(ids)
            logits = self.model.combine(recurrent, branch)
            for part, part_logits in zip(PARTS, (recurrent, branch), strict=True):
                accuracy = self.part_accuracy[f"{stage}_{part}"]
                accuracy(self._scores(squeeze_single_logit(part_logits)), labels.long())
                self.log(f"{stage}/part_acc/{part}", accuracy, on_step=False, on_epoch=True)
            if stage == "val":  # its loss and metrics are the chosen mixture's, logged once the epoch is over
                for weight, loss, mixture in zip(PART_WEIGHTS, self.mixture_losses, self.mixture_metrics, strict=True):
                    mixed = squeeze_single_logit(mix_parts(recurrent, branch, weight))
                    loss.update(self.loss(mixed, labels), weight=len(labels))
                    mixture.update(self._scores(mixed), labels.long())
                return self.loss(logits, labels), logits
        return self._log_step(logits, labels, stage, metrics), logits

    def on_validation_epoch_end(self) -> None:
        """Trained apart: give the recurrent part the share of the answer that fits the validation texts best.

        Each part learns alone on the training texts, where the recurrent one, which can learn them by heart, looks
        better than it is; so the share is chosen on the validation texts, among :data:`PART_WEIGHTS`, by the
        mixture's loss (smoother than its accuracy), and saved with the model. ``val/loss``, ``val/acc`` (and
        ``val/f1``) are that mixture's, so the best checkpoint and early stopping judge the model as it answers.
        """
        if not self.trains_apart:
            return
        losses = torch.stack([loss.compute() for loss in self.mixture_losses])
        best = int(losses.argmin())
        self.model.part_weight.fill_(PART_WEIGHTS[best])
        self.log(VAL_LOSS, losses[best], prog_bar=True)
        self.log_dict(self.mixture_metrics[best].compute(), prog_bar=True)
        self.log(PART_WEIGHT, PART_WEIGHTS[best])
        for metric in (*self.mixture_losses, *self.mixture_metrics):
            metric.reset()

    @property
    def trains_apart(self) -> bool:
        """Whether the n-gram branch and the recurrent part learn as two models (``ngram_training: apart``)."""
        return self.model.ngrams is not None and self.settings.ngram_training == "apart"

    def _scores(self, logits: torch.Tensor) -> torch.Tensor:
        # Probabilities, not logits: BinaryAccuracy only applies the sigmoid when some value lies outside [0, 1].
        return torch.sigmoid(logits) if self.binary else logits

    def _log_step(self, logits: torch.Tensor, labels: torch.Tensor, stage: str, metrics: MetricCollection,
                  ) -> torch.Tensor:
        """Log the loss and metrics of the model's logits for a batch; return the loss."""
        loss = self.loss(logits, labels)
        metrics(self._scores(logits), labels.long())
        on_bar = stage != "train"
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=on_bar, sync_dist=on_bar,
                 batch_size=len(labels))
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=on_bar)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if not self.trains_apart:
            return self._shared_step(batch, "train", self.train_metrics)[0]
        # Trained apart: each part's own loss, so that each becomes a classifier of its own (an ensemble). The
        # loss logged is still the model's, comparable with val/loss.
        # An ensemble's members each learn alone too, as seeds trained apart would.
        ids, labels = batch
        members, branch = self.model.member_parts(ids)
        recurrent = mean_of_members(members)
        self._log_step(self.model.combine(recurrent, branch), labels, "train", self.train_metrics)
        return (sum(self.loss(squeeze_single_logit(member), labels) for member in members)
                + self.loss(squeeze_single_logit(branch), labels))

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

    def configure_optimizers(self) -> torch.optim.Optimizer | dict[str, Any]:
        # Keras's RMSprop defaults; only trainable tensors, so a frozen second bias stays exactly zero.
        parameters: list[Any] = [p for p in self.parameters() if p.requires_grad]
        settings = self.optimizer_settings
        if settings.ngram_lr is not None and self.model.ngrams is not None:
            # The linear branch in a group of its own, at its own rate (a run without it keeps its single group).
            linear = self.model.ngrams.weight
            parameters = [{"params": [p for p in parameters if p is not linear]},
                          {"params": [linear], "lr": settings.ngram_lr}]
        optimizer = torch.optim.RMSprop(parameters, lr=settings.lr, alpha=settings.rho, eps=settings.eps)
        if self.optimizer_settings.lr_schedule == "constant":
            return optimizer
        # Cosine, stepped per batch, reaching 0 at the last step the Trainer will take.
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

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
    metrics: dict[str, Metric] = {"acc": _accuracy(num_classes)}
    if not is_binary(num_classes):
        metrics["f1"] = MulticlassF1Score(num_classes, average="macro")
    return MetricCollection(metrics, prefix=f"{stage}/")


def _accuracy(num_classes: int) -> Metric:
    return BinaryAccuracy() if is_binary(num_classes) else MulticlassAccuracy(num_classes, average="micro")
