"""rnn-lightning: the Keras "stacked SimpleRNN on IMDB" study, ported to PyTorch Lightning."""

from rnn_lightning.corpus import BadRowError
from rnn_lightning.data import IMDBDataModule, TextDataModule
from rnn_lightning.inference import CheckpointError, classify, load_model, predict, predict_proba
from rnn_lightning.model import SentimentRNN
from rnn_lightning.module import SentimentClassifier
from rnn_lightning.text import TextEncoder, pad_sequences, tokenize

__all__ = [
    "BadRowError",
    "CheckpointError",
    "IMDBDataModule",
    "SentimentClassifier",
    "SentimentRNN",
    "TextDataModule",
    "TextEncoder",
    "classify",
    "load_model",
    "pad_sequences",
    "predict",
    "predict_proba",
    "tokenize",
]
