"""A trained network with its text spec, for prediction: what a checkpoint holds, without the training stack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnn_lightning.data.spec import ReadsTextSpec, TextSpec
from rnn_lightning.data.text import row_runs
from rnn_lightning.models.denormals import denormals_flushed
from rnn_lightning.models.network import TextRNN
from rnn_lightning.models.padding import PaddingStates, cuts_padding, logits_after_padding, resumes_after_padding
from rnn_lightning.models.saved import load_checkpoint_into
from rnn_lightning.settings import ModelSettings

# Rows run together after sorting by length: few enough that they are of similar length, enough to share two cores.
ROWS_PER_RUN = 64


def class_probabilities(logits: torch.Tensor, binary: bool) -> torch.Tensor:
    """``(batch, classes)`` probabilities from either head's logits: the sigmoid's single logit, or a softmax."""
    if binary:
        positive = torch.sigmoid(logits)
        return torch.stack([1 - positive, positive], dim=-1)
    return torch.softmax(logits, dim=-1)


class TextPredictor(ReadsTextSpec):
    """Raw text's side of a classifier: its spec's names and sizes, and probabilities for padded ids.

    Shared by :class:`Classifier` (for prediction) and the training ``TextClassifier``, so that a module just
    trained predicts as the one loaded from its checkpoint. The class using it holds ``text`` (a
    :class:`TextSpec`) and ``settings`` (:class:`ModelSettings`), has a ``device``, and maps ids to logits.
    """

    settings: ModelSettings

    @property
    def skips_padding(self) -> bool:
        """Whether the network skips padding (else every text is read as ``maxlen`` steps, padding included)."""
        return self.settings.mask_padding

    #: Prediction encodes and runs the network in turn, on one thread: see ``iter_probabilities``.
    overlaps_encoding = False

    @property
    def cuts_padding(self) -> bool:
        """Whether rows may run in groups cut to their words (:mod:`~rnn_lightning.models.padding`): exact here."""
        return cuts_padding(self.model)

    def probabilities_of(self, ids: np.ndarray) -> np.ndarray:
        """``(texts, classes)`` float32 probabilities for padded ids, with subnormals flushed meanwhile.

        Rows run :data:`ROWS_PER_RUN` at a time, so memory does not grow with the batch. Where the network allows it
        (:attr:`cuts_padding`), each run holds rows of similar length, cut to its longest row: the answers are those
        of the whole rows, at the cost of the words alone.
        """
        was_training = self.training
        self.eval()
        try:
            with denormals_flushed(), torch.inference_mode():
                # No rows give no run, as they must: the network's input projection cannot reshape a batch of none.
                probabilities = np.empty((len(ids), self.num_classes), dtype=np.float32)
                for rows, start in row_runs(ids, ROWS_PER_RUN, self.cuts_padding):
                    probabilities[rows] = self._probabilities(ids[rows, start:], ids.shape[1])
                return probabilities
        finally:
            self.train(was_training)

    def _probabilities(self, ids: np.ndarray, width: int) -> np.ndarray:
        """Probabilities for ids cut short in front of ``width`` columns, the ones cut being padding in every row."""
        tensor = torch.from_numpy(np.ascontiguousarray(ids)).to(self.device)
        if tensor.shape[1] < width and resumes_after_padding(self.model):
            if getattr(self, "_padding_states", None) is None:
                self._padding_states = PaddingStates(self.model)
            logits = logits_after_padding(self.model, tensor, self._padding_states, width)
        else:
            logits = self(tensor)
        return class_probabilities(logits, self.binary).float().cpu().numpy()


class Classifier(TextPredictor, nn.Module):
    """:class:`TextRNN` and the :class:`TextSpec` it was trained with: raw text in, class probabilities out.

    Its parameters are named as in :class:`~rnn_lightning.training.module.TextClassifier` (``model.*``), so a
    training checkpoint's ``state_dict`` loads as it is; Lightning and torchmetrics are never imported.

    Args:
        settings: The network's settings.
        text: The vocabulary, text settings and class names it was trained with.
    """

    def __init__(self, settings: ModelSettings, text: TextSpec) -> None:
        super().__init__()
        self.settings, self.text = settings, text
        self.model = TextRNN(settings, text.num_words, text.num_classes)

    @classmethod
    def from_checkpoint(cls, path: str | Path, map_location: str | torch.device = "cpu") -> Classifier:
        """Load one checkpoint file (either layout it had), in eval mode, without importing Lightning.

        The file is read with ``torch.load(weights_only=True)``: loading never runs code from it.

        Raises:
            CheckpointError: With a one-line reason, for a missing file, a file that is not a checkpoint, or a
                checkpoint of some other model.
        """
        return load_checkpoint_into(path, lambda settings, _, text: cls(settings, text), map_location)

    @property
    def device(self) -> torch.device:
        return self.model.embedding.weight.device

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits for a ``(batch, time)`` tensor of ids: ``(batch,)`` of class 1, or ``(batch, classes)``."""
        return self.model(ids)
