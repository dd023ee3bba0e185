"""rnn-lightning: the Keras "stacked SimpleRNN on IMDB" study, ported to PyTorch Lightning.

The names below are imported on first use, so ``import rnn_lightning`` (and the command line's argument
checks) stay fast and load neither torch nor Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BadRowError": "rnn_lightning.data.corpus",
    "CheckpointError": "rnn_lightning.models.saved",
    "DataSettings": "rnn_lightning.settings",
    "ModelSettings": "rnn_lightning.settings",
    "OptimizerSettings": "rnn_lightning.settings",
    "TextClassifier": "rnn_lightning.training.module",
    "TextDataModule": "rnn_lightning.data.datamodule",
    "TextEncoder": "rnn_lightning.data.text",
    "TextRNN": "rnn_lightning.models.network",
    "TextSpec": "rnn_lightning.data.spec",
    "TrainSettings": "rnn_lightning.settings",
    "classify": "rnn_lightning.serving.inference",
    "fit": "rnn_lightning.training.trainer",
    "load_model": "rnn_lightning.serving.inference",
    "pad_sequences": "rnn_lightning.data.text",
    "predict": "rnn_lightning.serving.inference",
    "predict_proba": "rnn_lightning.serving.inference",
    "tokenize": "rnn_lightning.data.text",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rnn_lightning' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
