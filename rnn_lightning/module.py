"""The ``LightningModule`` around :class:`SentimentRNN`: loss, metrics, optimiser, and the vocabulary it carries."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics.classification import BinaryAccuracy

from rnn_lightning.model import SentimentRNN
from rnn_lightning.text import TextEncoder

# One name scheme for metrics, shared by logging, ModelCheckpoint, the plots and the README.
TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, TEST_LOSS, TEST_ACC = (
    "train/loss", "train/acc", "val/loss", "val/acc", "test/loss", "test/acc")
ENCODER_KEY = "text_encoder"


class SentimentClassifier(L.LightningModule):
    """Binary sentiment classifier trained as the Keras study: RMSprop on binary cross-entropy.

    Hyperparameters are primitives only, so checkpoints load with ``torch.load(weights_only=True)``. The
    vocabulary reaches checkpoints through :class:`~rnn_lightning.data.IMDBDataModule`'s state, which
    Lightning saves in every checkpoint, so a plain ``Trainer().fit(SentimentClassifier(), datamodule=...)``
    writes self-contained checkpoints. Training itself needs no vocabulary; prediction does: hand it over
    explicitly (``encoder``, as :func:`~rnn_lightning.inference.load_model` does), and the module saves it in
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
        encoder: The text encoder of the data the model learns from (not a hyperparameter: it is saved
            in checkpoints as plain values).

    Raises:
        ValueError: If a setting is out of range, or ``encoder`` has another ``num_words``.
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
        encoder: TextEncoder | None = None,
    ) -> None:  # pragma: no mutate block (save_hyperparameters reads this frame)
        super().__init__()
        _check_settings(num_words=num_words, lr=lr, rho=rho, eps=eps, encoder=encoder)
        self.save_hyperparameters(ignore=["encoder"])
        self.model = SentimentRNN(num_words, embed_dim, hidden_size, num_layers, cell, single_bias, mask_padding,
                                  fast_cpu_path)
        self.loss = nn.BCEWithLogitsLoss()
        self.train_acc, self.val_acc, self.test_acc = BinaryAccuracy(), BinaryAccuracy(), BinaryAccuracy()
        self.encoder = encoder

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits of "positive" for a ``(batch, time)`` tensor of ids."""
        return self.model(ids)

    def _shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, accuracy: BinaryAccuracy,
                     ) -> torch.Tensor:
        ids, labels = batch
        logits = self(ids)
        loss = self.loss(logits, labels)
        # Probabilities, not logits: BinaryAccuracy only applies the sigmoid when some value lies outside [0, 1].
        accuracy(torch.sigmoid(logits), labels.int())
        on_bar = stage != "train"
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=on_bar, sync_dist=on_bar,
                 batch_size=len(labels))
        self.log(f"{stage}/acc", accuracy, on_step=False, on_epoch=True, prog_bar=on_bar)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train", self.train_acc)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "test", self.test_acc)

    def predict_step(self, batch: torch.Tensor | tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        ids = batch[0] if isinstance(batch, (tuple, list)) else batch
        return torch.sigmoid(self(ids))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Keras's RMSprop defaults; only trainable tensors, so a frozen second bias stays exactly zero.
        parameters = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.RMSprop(parameters, lr=self.hparams.lr, alpha=self.hparams.rho, eps=self.hparams.eps)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.encoder is not None:
            checkpoint[ENCODER_KEY] = self.encoder.to_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if ENCODER_KEY in checkpoint:
            self.encoder = TextEncoder.from_dict(checkpoint[ENCODER_KEY])


def _check_settings(*, num_words: int, lr: float, rho: float, eps: float, encoder: TextEncoder | None) -> None:
    """Refuse optimiser settings that cannot train, and a vocabulary of another size than the embedding's."""
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not 0 <= rho < 1:
        raise ValueError(f"rho must lie in [0, 1), got {rho}")
    if not eps >= 0:
        raise ValueError(f"eps must not be negative, got {eps}")
    if encoder is not None and encoder.num_words != num_words:
        raise ValueError(f"the encoder has num_words={encoder.num_words}, the model {num_words}")
