"""The baseline a practitioner would otherwise use: TF-IDF over words and word pairs, and logistic regression.

Trained on the same training rows as the network and scored on the same validation and test rows, so that
every run can say whether the network is worth it. scikit-learn is an optional extra
(``pip install 'rnn-lightning[baseline]'``).
"""

from __future__ import annotations

from rnn_lightning.data.datamodule import TextDataModule
from rnn_lightning.data.spec import is_binary

INSTALL_HINT = "the baseline needs scikit-learn: pip install 'rnn-lightning[baseline]'"


def require_scikit_learn() -> None:
    """Raise ``ImportError`` with the install command when scikit-learn is missing."""
    try:
        import sklearn  # noqa: F401
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error


def fit_baseline(datamodule: TextDataModule) -> dict[str, float]:
    """Train TF-IDF (1-2 grams) + logistic regression on ``datamodule``'s training rows and score it.

    Returns:
        ``val/acc`` and, where the data has a test split, ``test/acc``; for more than two classes also
        ``val/f1`` and ``test/f1`` (macro), named as the network's metrics are.
    """
    require_scikit_learn()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    texts, labels = datamodule.raw_texts("train")
    # Words and word pairs seen in two texts or more, damped counts: the usual strong bag-of-words setting.
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    classifier = LogisticRegression(C=10.0, max_iter=2000)
    classifier.fit(vectorizer.fit_transform(texts), labels)
    scores = {}
    for split in ("val", "test"):
        if split == "test" and datamodule.test_set is None:
            continue
        texts, labels = datamodule.raw_texts(split)
        predicted = classifier.predict(vectorizer.transform(texts))
        scores[f"{split}/acc"] = float(accuracy_score(labels, predicted))
        if not is_binary(len(datamodule.label_names)):
            scores[f"{split}/f1"] = float(f1_score(labels, predicted, average="macro"))
    return scores
