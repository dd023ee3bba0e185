"""Export a trained classifier to ONNX: one file with the network and everything its text pipeline needs.

The graph goes through torch's own exporter (its TorchScript path, which maps ``nn.RNN``/``nn.LSTM``/``nn.GRU``
to ONNX's RNN, LSTM and GRU operators) and takes the ids the text encoder makes, ``(texts, steps)`` int64, padded
in front as in training; it answers every class's probability. A model that skips padding moves each row's words
to the start and passes their count as the operators' ``sequence_lens``. The text spec (vocabulary, maxlen, class
names) and the network's settings travel in the file's metadata, so :mod:`rnn_lightning.serving.portable` needs
nothing else.
"""

from __future__ import annotations

import dataclasses
import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from rnn_lightning.data.text import PAD_ID
from rnn_lightning.fileio import atomic_write
from rnn_lightning.models.classifier import Classifier, class_probabilities
from rnn_lightning.models.saved import EXPORT_FORMAT as FORMAT

OPSET = 17


class _Probabilities(nn.Module):
    """The classifier's forward pass as the exporter can trace it: torch's recurrent modules, no compiled path."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.network, self.binary = classifier.model, classifier.binary

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        network = self.network
        # The encoder pads in front, so the words are each row's last steps: no rearranging, no trimming.
        mask = ids != PAD_ID if network.mask_padding else None
        return class_probabilities(network.logits(ids, mask, fast=False), self.binary)


def export_onnx(classifier: Classifier, path: str | Path) -> Path:
    """Write ``classifier`` as one ONNX file, atomically (a failed export leaves no file behind).

    Args:
        classifier: A loaded classifier (e.g. ``Classifier.from_checkpoint``), on any device.
        path: Where to write it; ``.onnx`` by convention.

    Returns:
        The written path.
    """
    import onnx  # the export extra

    path = Path(path)
    module = _Probabilities(classifier.cpu()).eval()
    # Two texts, one with padding in front, so that the masked graph's trace takes the path every batch takes.
    example = torch.full((2, 8), 4, dtype=torch.long)
    example[0, :3] = PAD_ID
    graph = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter's deprecation notice and its remarks on RNNs traced with batch_first: both
        # about the exporter's own choices, nothing a user can act on.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), graph, dynamo=False, input_names=[FORMAT.input],
                          output_names=[FORMAT.output], opset_version=OPSET,
                          dynamic_axes={FORMAT.input: {0: "texts", 1: "steps"}, FORMAT.output: {0: "texts"}})
    model = onnx.load_from_string(graph.getvalue())
    settings = classifier.settings
    metadata = {FORMAT.version_key: str(FORMAT.version), FORMAT.text_spec_key: json.dumps(classifier.text.to_dict()),
                FORMAT.model_key: json.dumps(dataclasses.asdict(settings))}
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    with atomic_write(path) as out:
        out.write(model.SerializeToString())
    return path
