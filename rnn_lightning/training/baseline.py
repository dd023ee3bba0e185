"""The baselines a practitioner would otherwise use: TF-IDF + logistic regression, and fastText.

Both read words and word pairs. Trained on the same training rows as the network and scored on the same
validation and test rows, so that every run can say whether the network is worth it. scikit-learn and fastText
are an optional extra (``pip install 'rnn-lightning[baseline]'``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnn_lightning.data.datamodule import TextDataModule
from rnn_lightning.data.spec import is_binary
from rnn_lightning.data.text import tokenize

INSTALL_HINT = "the baseline needs scikit-learn and fastText: pip install 'rnn-lightning[baseline]'"


def require_baseline_extra() -> None:
    """Raise ``ImportError`` with the install command when scikit-learn or fastText is missing."""
    try:
        import fasttext  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error


def fit_baseline(datamodule: TextDataModule) -> dict[str, float]:
    """Train TF-IDF (1-2 grams) + logistic regression on ``datamodule``'s training rows and score it.

    Returns:
        ``val/acc`` and, where the data has a test split, ``test/acc``; for more than two classes also
        ``val/f1`` and ``test/f1`` (macro), named as the network's metrics are.
    """
    require_baseline_extra()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, labels = datamodule.raw_texts("train")
    # Words and word pairs seen in two texts or more, damped counts: the usual strong bag-of-words setting.
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    classifier = LogisticRegression(C=10.0, max_iter=2000)
    classifier.fit(vectorizer.fit_transform(texts), labels)
    return _scores(datamodule, _held_out(datamodule), lambda texts: classifier.predict(vectorizer.transform(texts)))


# fastText's learning rates to choose from on the validation rows: its default 0.1 leaves a few thousand texts
# barely learnt in 10 epochs (56% on the AG News subset, against 86% at 1.0), and its tutorials raise it.
FASTTEXT_LEARNING_RATES = (0.1, 0.3, 1.0)


def fit_fasttext(datamodule: TextDataModule, seed: int = 0) -> dict[str, float]:
    """Train fastText (words and word pairs, 10 epochs) on the training rows and score it.

    The texts are fed as the network's tokeniser splits them (lower case, words and numbers), whole and with
    every word, as fastText's own examples prepare theirs. The learning rate is chosen on the validation rows
    among :data:`FASTTEXT_LEARNING_RATES`, as fastText's autotune would; its other settings are its defaults.
    One thread, so that a seed gives one answer.

    Returns:
        The scores of the learning rate with the best validation accuracy, named as :func:`fit_baseline` names
        them.
    """
    require_baseline_extra()
    import fasttext

    texts, labels = datamodule.raw_texts("train")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.txt"
        with path.open("w", encoding="utf-8") as lines:
            for text, label in zip(texts, labels, strict=True):
                lines.write(f"__label__{label} {' '.join(tokenize(text))}\n")
        models = [fasttext.train_supervised(str(path), lr=lr, wordNgrams=2, epoch=10, thread=1, seed=seed, verbose=0)
                  for lr in FASTTEXT_LEARNING_RATES]

    # The held-out rows are read and split into words once, for every learning rate.
    held_out = {split: ([" ".join(tokenize(text)) for text in texts], labels)
                for split, (texts, labels) in _held_out(datamodule).items()}

    def predictor(model: Any) -> Callable[[Sequence[str]], np.ndarray]:
        def predict(lines: Sequence[str]) -> np.ndarray:
            return np.array([int(label[0].removeprefix("__label__")) for label in model.predict(list(lines))[0]])
        return predict

    scores = [_scores(datamodule, held_out, predictor(model)) for model in models]
    return max(scores, key=lambda score: score["val/acc"])  # the first of equals: the smaller rate


def _held_out(datamodule: TextDataModule) -> dict[str, tuple[list[str], np.ndarray]]:
    """The validation rows' texts and classes, and the test rows' where the data has a test split."""
    splits = ("val", "test") if datamodule.test_set is not None else ("val",)
    return {split: datamodule.raw_texts(split) for split in splits}


def _scores(datamodule: TextDataModule, held_out: dict[str, tuple[list[str], np.ndarray]],
            predict: Callable[[Sequence[str]], np.ndarray]) -> dict[str, float]:
    """A baseline's accuracy (and macro-F1, for more than two classes) on the held-out rows."""
    from sklearn.metrics import accuracy_score, f1_score

    scores = {}
    for split, (texts, labels) in held_out.items():
        predicted = predict(texts)
        scores[f"{split}/acc"] = float(accuracy_score(labels, predicted))
        if not is_binary(len(datamodule.label_names)):
            scores[f"{split}/f1"] = float(f1_score(labels, predicted, average="macro"))
    return scores
