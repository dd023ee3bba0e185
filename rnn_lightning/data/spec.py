"""What a model learns from its data and needs again to read raw text, pushed once from the data to the model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnn_lightning.data.text import TextEncoder

LENGTH_PERCENTILES = ("p5", "median", "p95")


def is_binary(num_classes: int) -> bool:
    """Whether a classifier of ``num_classes`` is the study's kind: one logit, a sigmoid head, binary cross-entropy.

    The one place this rule is decided; the network's head, the loss, the metrics, the labels' dtype and the
    predictions all follow it.
    """
    return num_classes == 2


@dataclass(frozen=True)
class TextSpec:
    """The data's side of a model: vocabulary and text settings, class names, and how long its texts were.

    The DataModule makes it (:attr:`~rnn_lightning.data.datamodule.TextDataModule.spec`), the model is built
    from it (its vocabulary size and number of classes), and the LightningModule saves it in every checkpoint
    (:meth:`to_dict`, plain values only), so a checkpoint alone can classify raw text.

    Attributes:
        encoder: The vocabulary, ``num_words`` and ``maxlen``.
        label_names: Class names in class order.
        review_words: The 5th, 50th and 95th percentile of words per training text (``p5``, ``median``,
            ``p95``), or None when unknown: a served model flags texts far shorter than it learnt from.
    """

    encoder: TextEncoder
    label_names: tuple[str, ...]
    review_words: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        if len(self.label_names) < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {list(self.label_names)}")

    @property
    def num_words(self) -> int:
        return self.encoder.num_words

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def binary(self) -> bool:
        return is_binary(self.num_classes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form, for a ``weights_only`` checkpoint."""
        return {"encoder": self.encoder.to_dict(), "label_names": list(self.label_names),
                "review_words": None if self.review_words is None else dict(self.review_words)}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> TextSpec:
        """The inverse of :meth:`to_dict`.

        Raises:
            ValueError: If ``state`` is not a text spec (a key missing, or unusable values).
        """
        try:
            words = state.get("review_words")
            complete = isinstance(words, Mapping) and set(LENGTH_PERCENTILES) <= words.keys()
            return cls(TextEncoder.from_dict(state["encoder"]), tuple(state["label_names"]),
                       {key: int(words[key]) for key in LENGTH_PERCENTILES} if complete else None)
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a text spec: {error!r}") from error


class ReadsTextSpec:
    """The names and sizes of a model's text spec, for a class that holds one as ``text``.

    Shared by both forms of a trained model (a checkpoint's ``Classifier`` and an exported ``PortableClassifier``),
    which answer them alike; it lives here so that the exported form needs no torch.
    """

    text: TextSpec

    @property
    def encoder(self) -> TextEncoder:
        return self.text.encoder

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.text.label_names

    @property
    def num_classes(self) -> int:
        return self.text.num_classes

    @property
    def binary(self) -> bool:
        return self.text.binary
