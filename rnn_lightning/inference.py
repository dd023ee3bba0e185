"""Load one checkpoint file and classify raw reviews with exactly the training text pipeline."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

import torch

from rnn_lightning.checkpoints import CheckpointError, read_checkpoint
from rnn_lightning.denormals import flush_denormals
from rnn_lightning.module import ENCODER_KEY, SentimentClassifier

__all__ = ["CheckpointError", "load_model", "predict"]


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> SentimentClassifier:
    """Load a classifier and its vocabulary from one ``.ckpt`` file, ready for prediction.

    The file is read with ``torch.load(weights_only=True)``, so it can hold tensors and plain Python
    values only: loading never runs code from the file.

    Args:
        path: A checkpoint written by ``scripts/fit.py`` (or any Trainer fitting :class:`SentimentClassifier`).
        map_location: Device to load the weights onto.

    Returns:
        The classifier in eval mode, with its text encoder restored.

    Raises:
        CheckpointError: With a one-line reason, for a missing file, a file that is not a checkpoint, or a
            checkpoint of some other model.
    """
    checkpoint = read_checkpoint(path, map_location)
    hparams = dict(checkpoint["hyper_parameters"])
    expected = set(inspect.signature(SentimentClassifier.__init__).parameters) - {"self"}
    if "_instantiator" in hparams:
        raise CheckpointError(f"{path} names a callable to build the model (_instantiator): refused, no code is run")
    if not set(hparams) <= expected:
        raise CheckpointError(f"{path} is a checkpoint of another model (hyperparameters {sorted(hparams)})")
    if ENCODER_KEY not in checkpoint:
        raise CheckpointError(f"{path} holds no vocabulary: it was not trained on IMDBDataModule")
    try:
        model = SentimentClassifier(**hparams)
        model.load_state_dict(checkpoint["state_dict"])
        model.on_load_checkpoint(checkpoint)
    except (RuntimeError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path} does not fit this model: {str(error).splitlines()[0]}") from error
    return model.to(map_location).eval()


def predict(model: SentimentClassifier, texts: Sequence[str], batch_size: int = 256) -> list[float]:
    """Probability that each review is positive.

    Args:
        model: A classifier with its text encoder, e.g. from :func:`load_model`.
        texts: Raw reviews; those longer than the training length keep their last words, as in training.
        batch_size: Reviews per forward pass.

    Returns:
        One probability per review, in order.

    Raises:
        ValueError: If a review has no words (the message says which), or the model has no vocabulary.
    """
    if model.encoder is None:
        raise ValueError("the model has no text encoder: load it with load_model() or train it on IMDBDataModule")
    ids = torch.from_numpy(model.encoder.encode(texts))
    flush_denormals()
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            chunks = [model.predict_step(batch.to(model.device), i) for i, batch in enumerate(ids.split(batch_size))]
    finally:
        model.train(was_training)
    return torch.cat(chunks).tolist() if chunks else []
