"""rnn-lightning: the Keras "stacked SimpleRNN on IMDB" study, ported to PyTorch Lightning."""

from rnn_lightning.data import IMDBDataModule
from rnn_lightning.inference import CheckpointError, load_model, predict
from rnn_lightning.model import SentimentRNN
from rnn_lightning.module import SentimentClassifier
from rnn_lightning.text import TextEncoder, pad_sequences, tokenize

__all__ = [
    "CheckpointError",
    "IMDBDataModule",
    "SentimentClassifier",
    "SentimentRNN",
    "TextEncoder",
    "load_model",
    "pad_sequences",
    "predict",
    "tokenize",
]
