"""rnn-lightning: the Keras "stacked SimpleRNN on IMDB" study, ported to PyTorch Lightning."""

from rnn_lightning.data.corpus import BadRowError
from rnn_lightning.data.datamodule import IMDBDataModule, TextDataModule
from rnn_lightning.serving.inference import CheckpointError, classify, load_model, predict, predict_proba
from rnn_lightning.models.network import SentimentRNN
from rnn_lightning.training.module import SentimentClassifier
from rnn_lightning.data.text import TextEncoder, pad_sequences, tokenize

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
