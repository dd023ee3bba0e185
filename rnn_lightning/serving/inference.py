"""Load one trained model (a checkpoint, or its exported ONNX form) and classify raw texts with its text pipeline.

Nothing here imports torch or Lightning itself: a checkpoint brings torch when it is loaded, an exported model
onnxruntime (:mod:`rnn_lightning.serving.portable`). Both answer :meth:`probabilities_of` for padded ids, the one
thing the functions below ask of a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rnn_lightning.data.spec import TextSpec, is_binary
from rnn_lightning.data.text import TextEncoder, chunked, pad_sequences, tokenize
from rnn_lightning.models.saved import CheckpointError, is_exported

if TYPE_CHECKING:
    import torch

__all__ = ["CheckpointError", "TrainedModel", "classify", "iter_probabilities", "load_model", "most_likely",
           "predict", "predict_proba", "word_influence"]

class TrainedModel(Protocol):
    """What prediction needs of a model, in either form it comes in.

    :class:`~rnn_lightning.models.classifier.Classifier` for a checkpoint, or
    :class:`~rnn_lightning.serving.portable.PortableClassifier` for an exported model.
    """

    text: TextSpec

    @property
    def encoder(self) -> TextEncoder: ...

    @property
    def class_names(self) -> tuple[str, ...]: ...

    @property
    def num_classes(self) -> int: ...

    @property
    def binary(self) -> bool: ...

    @property
    def skips_padding(self) -> bool: ...

    @property
    def overlaps_encoding(self) -> bool:
        """Whether to run the network on a thread of its own while the next texts are encoded (see below)."""
        ...

    def probabilities_of(self, ids: np.ndarray) -> np.ndarray: ...


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> TrainedModel:
    """Load a classifier, its vocabulary and its class names from one file, ready for prediction.

    A ``.ckpt`` file is read with ``torch.load(weights_only=True)``, so it can hold tensors and plain Python
    values only: loading never runs code from the file. Checkpoints of either layout load: today's (settings
    and a text spec) and the flat one of bc6124b and before. Lightning is not imported. A ``.onnx`` file
    written by ``rnn-lightning export`` runs with onnxruntime and numpy alone (``map_location`` is then unused).

    Args:
        path: A checkpoint written by ``rnn-lightning fit`` (or any Trainer fitting a ``TextClassifier``), or
            its exported form.
        map_location: Device to load a checkpoint's weights onto.

    Returns:
        The classifier in eval mode, with its text encoder and class names restored.

    Raises:
        CheckpointError: With a one-line reason, for a missing file, a file that is not a checkpoint (or an
            exported model), or a checkpoint of some other model.
    """
    if is_exported(path):
        from rnn_lightning.serving.portable import PortableClassifier

        return PortableClassifier.load(path)
    from rnn_lightning.models.classifier import Classifier

    return Classifier.from_checkpoint(path, map_location)


# The first batch's texts: the first answer comes after so many, the later batches doubling up to batch_size.
FIRST_BATCH = 64


def iter_probabilities(model: TrainedModel, texts: Iterable[str], batch_size: int = 256,
                       ) -> Iterator[list[list[float]]]:
    """The probability of every class for each text, one batch at a time: the one prediction path.

    Texts are encoded batch by batch, so memory stays flat however many there are. The first batch holds
    :data:`FIRST_BATCH` texts (or ``batch_size``, if fewer) and each next one twice as many, up to ``batch_size``:
    the first answers come at once, the rest at the pace of large batches.

    Args:
        model: A classifier with its text encoder, e.g. from :func:`load_model`, on any device.
        texts: Raw texts; those longer than the training length keep their last words, as in training.
        batch_size: The most texts per forward pass.

    Yields:
        For each text of one batch, in order, its class probabilities in class order (they sum to 1).

    Raises:
        ValueError: If a text has no words (the message gives its position), or ``batch_size`` is not positive.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    # An exported model runs one batch on a thread of its own (onnxruntime releases the GIL for a whole run of
    # rows) while this one tokenises and encodes the next: on two cores the encoding costs almost nothing on top.
    # Torch makes dozens of operator calls a run, and each must win the GIL back from the encoding: there, one
    # thread doing both in turn is faster (model.overlaps_encoding).
    executor = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnn-lightning-predict")
                if model.overlaps_encoding else _InThisThread())
    with executor as network:
        running: Future[np.ndarray] | None = None
        position = 0
        for batch in chunked(texts, batch_size, first=FIRST_BATCH):
            try:
                ids = model.encoder.encode(batch, first_position=position)
            except ValueError:
                if running is not None:  # what came before the bad text is still answered
                    yield running.result().tolist()
                raise
            position += len(batch)
            following = network.submit(model.probabilities_of, ids)
            if running is not None:
                yield running.result().tolist()
            running = following
        if running is not None:
            yield running.result().tolist()


class _InThisThread:
    """An executor that runs what it is given at once, in the caller's thread: ``ThreadPoolExecutor``'s stand-in."""

    def submit(self, function: Callable[..., np.ndarray], *args: object) -> Future[np.ndarray]:
        done: Future[np.ndarray] = Future()
        try:
            done.set_result(function(*args))
        except BaseException as error:  # raised where the result is asked for, as from a thread
            done.set_exception(error)
        return done

    def __enter__(self) -> _InThisThread:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def predict_proba(model: TrainedModel, texts: Sequence[str], batch_size: int = 256) -> list[list[float]]:
    """The probability of every class (in the order of ``model.class_names``) for each text, in order."""
    return [row for batch in iter_probabilities(model, texts, batch_size) for row in batch]


def predict(model: TrainedModel, texts: Sequence[str], batch_size: int = 256) -> list[float]:
    """Probability that each review is positive (class 1), in order: the study's two-class question.

    Raises:
        ValueError: For a model of more than two classes (use :func:`predict_proba` or :func:`classify`).
    """
    if not model.binary:
        raise ValueError(f"predict() answers p(class 1) of a two-class model; this one has "
                         f"{model.num_classes} classes: use predict_proba() or classify()")
    return [row[1] for row in predict_proba(model, texts, batch_size)]


def classify(model: TrainedModel, texts: Sequence[str], batch_size: int = 256) -> list[dict[str, object]]:
    """Label, probability of every class and a length check for each text, through :func:`iter_probabilities`.

    Args:
        model: A classifier with its text encoder.
        texts: Raw texts, each with at least one word.
        batch_size: The most texts per forward pass.

    Returns:
        Per text: ``label``, ``probabilities`` (class name to probability), ``words`` (as tokenised) and
        ``short`` (True, False, or None when the training lengths are unknown), with a ``note`` when short.
    """
    results = []
    names, review_words = model.class_names, model.text.review_words
    probabilities = (row for batch in iter_probabilities(model, texts, batch_size) for row in batch)
    for text, row in zip(texts, probabilities, strict=True):
        words = len(tokenize(text))
        result: dict[str, object] = {
            "label": names[most_likely(row)],
            "probabilities": dict(zip(names, row, strict=True)),
            "words": words,
            "short": None if review_words is None else words < review_words["p5"],
        }
        if result["short"]:
            result["note"] = _short_text_note(words, review_words, model)
        results.append(result)
    return results


def most_likely(probabilities: Sequence[float]) -> int:
    """The predicted class; with two classes, class 1 from p >= 0.5 on (ties go to it, as in training's accuracy)."""
    if is_binary(len(probabilities)):
        return int(probabilities[1] >= 0.5)
    return max(range(len(probabilities)), key=probabilities.__getitem__)


def _short_text_note(words: int, review_words: Mapping[str, int], model: TrainedModel) -> str:
    seen = (f"{words} word(s): shorter than 95% of the texts the model learnt from ({review_words['p5']} to "
            f"{review_words['p95']} words for 90% of them, median {review_words['median']})")
    if model.skips_padding:
        return f"{seen}. The model skips padding, but texts this short were rare in training: take the answer with care"
    return (f"{seen}. This model reads every text as {model.encoder.maxlen} steps, this one mostly padding, which it "
            "never learnt from: the answer says little (a model that skips padding reads short texts better)")


def word_influence(model: TrainedModel, text: str, batch_size: int = 256) -> list[tuple[str, float]]:
    """How much each word pushed the verdict, by occlusion: p(class) with the text minus p(class) without the word.

    The class is "positive" (class 1) for a two-class model, else the class predicted for the whole text. One
    forward pass per word, batched. Only the words the model sees are scored (all of them up to ``maxlen``
    words; beyond, the last ``maxlen``, the start id being cut as in training); earlier words of a longer
    text get 0.

    Returns:
        ``(word, change)`` for every word of the text, in order; a positive change pushed towards the class.
    """
    words = tokenize(text)
    if not words:
        raise ValueError("the text has no words to explain")
    encoder, lookup = model.encoder, model.encoder.word_to_id
    seen_from = max(0, len(words) - encoder.maxlen)
    # The text itself, then the text without each word in turn (a one-word text becomes the start id alone).
    variants = [encoder.encode_tokens(words, lookup)] + [
        encoder.encode_tokens(words[:i] + words[i + 1:], lookup) for i in range(seen_from, len(words))]
    probabilities = np.concatenate([model.probabilities_of(pad_sequences(variants[start:start + batch_size],
                                                                         encoder.maxlen))
                                    for start in range(0, len(variants), batch_size)])
    explained = 1 if model.binary else int(probabilities[0].argmax())
    full, without = float(probabilities[0, explained]), probabilities[1:, explained].tolist()
    return list(zip(words, [0.0] * seen_from + [full - p for p in without], strict=True))
