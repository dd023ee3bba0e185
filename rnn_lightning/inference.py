"""Load one checkpoint file and classify raw reviews with exactly the training text pipeline."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

import torch

from rnn_lightning.checkpoints import CheckpointError, read_checkpoint
from rnn_lightning.data import ENCODER_STATE_KEY, IMDBDataModule
from rnn_lightning.denormals import denormals_flushed
from rnn_lightning.module import ENCODER_KEY, SentimentClassifier
from rnn_lightning.text import TextEncoder

__all__ = ["CheckpointError", "iter_probabilities", "load_model", "predict"]


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> SentimentClassifier:
    """Load a classifier and its vocabulary from one ``.ckpt`` file, ready for prediction.

    The file is read with ``torch.load(weights_only=True)``, so it can hold tensors and plain Python
    values only: loading never runs code from the file. The vocabulary is the one the model saved, or
    else the one :class:`~rnn_lightning.data.IMDBDataModule` saved beside it.

    Args:
        path: A checkpoint written by ``scripts/fit.py`` (or any Trainer fitting :class:`SentimentClassifier`
            on :class:`~rnn_lightning.data.IMDBDataModule`).
        map_location: Device to load the weights onto.

    Returns:
        The classifier in eval mode, with its text encoder restored.

    Raises:
        CheckpointError: With a one-line reason, for a missing file, a file that is not a checkpoint, or a
            checkpoint of some other model.
    """
    checkpoint = read_checkpoint(path, map_location)
    hparams = dict(checkpoint["hyper_parameters"])
    expected = set(inspect.signature(SentimentClassifier.__init__).parameters) - {"self", "encoder"}
    if "_instantiator" in hparams:
        raise CheckpointError(f"{path} names a callable to build the model (_instantiator): refused, no code is run")
    if not set(hparams) <= expected:
        raise CheckpointError(f"{path} is a checkpoint of another model (hyperparameters {sorted(hparams)})")
    if ENCODER_KEY in checkpoint:
        encoder_state = checkpoint[ENCODER_KEY]
    else:  # trained without handing the model a vocabulary: the DataModule's state carries it
        encoder_state = checkpoint.get(IMDBDataModule.__qualname__, {}).get(ENCODER_STATE_KEY)
    if encoder_state is None:
        raise CheckpointError(f"{path} holds no vocabulary: it was not trained on IMDBDataModule")
    try:
        model = SentimentClassifier(**hparams, encoder=TextEncoder.from_dict(encoder_state))
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"{path} does not fit this model: {str(error).splitlines()[0]}") from error
    return model.to(map_location).eval()


def iter_probabilities(model: SentimentClassifier, texts: Iterable[str], batch_size: int = 256,
                       ) -> Iterator[list[float]]:
    """Probability that each review is positive, one batch at a time: the one prediction path.

    Texts are encoded batch by batch, so memory stays flat however many there are. Subnormal floats are
    flushed on the calling thread while a batch runs (its previous setting is restored after).

    Args:
        model: A classifier with its text encoder, e.g. from :func:`load_model`, on any device.
        texts: Raw reviews; those longer than the training length keep their last words, as in training.
        batch_size: Reviews per forward pass.

    Yields:
        The probabilities of one batch, in order.

    Raises:
        ValueError: If a review has no words (the message gives its position), the model has no vocabulary,
            or ``batch_size`` is not positive.
    """
    if model.encoder is None:
        raise ValueError("the model has no text encoder: load it with load_model() or give it one (encoder=)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    texts = iter(texts)
    was_training, position = model.training, 0
    model.eval()
    try:
        while batch := list(islice(texts, batch_size)):
            ids = torch.from_numpy(model.encoder.encode(batch, first_position=position)).to(model.device)
            with denormals_flushed(), torch.inference_mode():
                probabilities = model.predict_step(ids, position // batch_size).tolist()
            yield probabilities
            position += len(batch)
    finally:
        model.train(was_training)


def predict(model: SentimentClassifier, texts: Sequence[str], batch_size: int = 256) -> list[float]:
    """Probability that each review is positive, in order (see :func:`iter_probabilities`)."""
    return [p for batch in iter_probabilities(model, texts, batch_size) for p in batch]
