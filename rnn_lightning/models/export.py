"""Export a trained classifier to ONNX: one file with the network and everything its text pipeline needs.

The graph goes through torch's own exporter (its TorchScript path, which maps ``nn.RNN``/``nn.LSTM``/``nn.GRU``
to ONNX's RNN, LSTM and GRU operators) and takes the ids the text encoder makes, ``(texts, steps)`` int64, padded
in front as in training; it answers every class's probability. A model that skips padding moves each row's words
to the start and passes their count as the operators' ``sequence_lens``. The text spec (vocabulary, maxlen, class
names) and the network's settings travel in the file's metadata, so :mod:`rnn_lightning.serving.portable` needs
nothing else.

Either way the graph also takes ids cut short in front: the runtime drops the columns that are padding in every row
of a batch, which is exact. A masked model skips padding anyway. A model that reads every step (the study's) does
not need to either: each row starts with the same padding from the same zero state, so its state after ``k``
padding steps is the same for every text. The file carries that state for every ``k``, each layer's, computed
once at export, and the graph starts the cut rows from the state at the cut.
"""

from __future__ import annotations

import dataclasses
import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.onnx.operators
from torch import nn

from rnn_lightning.data.text import PAD_ID
from rnn_lightning.fileio import atomic_write
from rnn_lightning.models.classifier import Classifier, class_probabilities
from rnn_lightning.models.padding import padding_states, resumes_after_padding
from rnn_lightning.models.saved import EXPORT_FORMAT as FORMAT

if TYPE_CHECKING:
    import onnx

OPSET = 17


class _Probabilities(nn.Module):
    """The classifier's forward pass as the exporter can trace it: torch's recurrent modules, no compiled path."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.network, self.binary = classifier.model, classifier.binary
        self.maxlen = classifier.encoder.maxlen
        self.resumes = resumes_after_padding(classifier.model)
        if self.resumes:
            hidden, cell = padding_states(classifier.model, self.maxlen)
            self.register_buffer("padding_hidden", hidden)
            self.register_buffer("padding_cell", cell if cell is not None else torch.zeros(0))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        network = self.network
        if not self.resumes:
            # The encoder pads in front, so the words are each row's last steps: no rearranging needed.
            mask = ids != PAD_ID if network.mask_padding else None
            return class_probabilities(network.logits(ids, mask, fast=False), self.binary)
        # The steps cut off in front were padding in every row: start from the state they would have left.
        skipped = (self.maxlen - torch.onnx.operators.shape_as_tensor(ids)[1]).clamp(min=0)
        # (1, texts, 1) zeros: adding them spreads a (layers, 1, hidden) state over the batch, whatever its size.
        rows = ids[:, :1].t().unsqueeze(-1).to(self.padding_hidden.dtype) * 0
        initial = self.padding_hidden.index_select(0, skipped.view(1))[0].unsqueeze(1) + rows
        if network.cell == "lstm":
            initial = (initial, self.padding_cell.index_select(0, skipped.view(1))[0].unsqueeze(1) + rows)
        outputs = network.rnn(network.embedding(ids), initial)[0]
        return class_probabilities(network.combine(*network.parts_of_features(outputs[:, -1], ids)), self.binary)


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
    tanh_layers_as_scans(model)
    settings = classifier.settings
    metadata = {FORMAT.version_key: str(FORMAT.version), FORMAT.text_spec_key: json.dumps(classifier.text.to_dict()),
                FORMAT.model_key: json.dumps(dataclasses.asdict(settings))}
    if module.resumes or settings.mask_padding:
        metadata[FORMAT.cut_padding_key] = "true"
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    with atomic_write(path) as out:
        out.write(model.SerializeToString())
    return path


def tanh_layers_as_scans(model: onnx.ModelProto) -> int:
    """Rewrite each one-way tanh ``RNN`` node without ``sequence_lens`` as a ``Scan``, in place: the same function.

    onnxruntime's RNN operator steps at about 7 GFLOP/s on a 2-core CPU (0.64 us per row and step, at the study's
    32 units); a ``Scan`` whose body is one ``MatMul``, an ``Add`` and a ``Tanh`` runs the same step 4x faster,
    the input projections of every step being one ``MatMul`` before it. Masked (``sequence_lens``), reverse and
    bidirectional nodes are left as they are.

    Returns:
        How many nodes were rewritten.
    """
    from onnx import TensorProto, helper, numpy_helper

    weights = {tensor.name: tensor for tensor in model.graph.initializer}
    # The exporter stores equal weights once (the zero biases of an untrained model, say), the others as Identity.
    weights |= {node.output[0]: weights[node.input[0]] for node in model.graph.node
                if node.op_type == "Identity" and node.input[0] in weights}
    rewritten, nodes = 0, []
    for node in model.graph.node:
        attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}
        inputs = list(node.input) + [""] * (6 - len(node.input))
        if (node.op_type != "RNN" or attributes.get("direction", b"forward") != b"forward" or inputs[4]
                or attributes.get("activations", [b"Tanh"]) != [b"Tanh"] or "clip" in attributes
                or not {inputs[1], inputs[2], inputs[3]} <= weights.keys()):
            nodes.append(node)
            continue
        name = f"scan_rnn_{rewritten}"
        kernel, recurrent = (numpy_helper.to_array(weights[inputs[i]])[0] for i in (1, 2))
        hidden = recurrent.shape[0]
        bias = numpy_helper.to_array(weights[inputs[3]])[0]
        model.graph.initializer.extend([numpy_helper.from_array(np.ascontiguousarray(kernel.T), f"{name}_kernel"),
                                        numpy_helper.from_array(bias[:hidden] + bias[hidden:], f"{name}_bias"),
                                        numpy_helper.from_array(np.array([0], dtype=np.int64), f"{name}_axis0"),
                                        numpy_helper.from_array(np.array([1], dtype=np.int64), f"{name}_axis1")])
        # Every step's input projection and both biases at once: (steps, texts, hidden).
        nodes += [helper.make_node("MatMul", [inputs[0], f"{name}_kernel"], [f"{name}_xw"]),
                  helper.make_node("Add", [f"{name}_xw", f"{name}_bias"], [f"{name}_x"])]
        if inputs[5]:
            nodes.append(helper.make_node("Squeeze", [inputs[5], f"{name}_axis0"], [f"{name}_h0"]))
        else:  # the zero state, shaped as one step's projections
            nodes += [helper.make_node("Gather", [f"{name}_x", f"{name}_axis0"], [f"{name}_first"], axis=0),
                      helper.make_node("Squeeze", [f"{name}_first", f"{name}_axis0"], [f"{name}_x0"]),
                      helper.make_node("Sub", [f"{name}_x0", f"{name}_x0"], [f"{name}_h0"])]
        step = helper.make_graph(
            [helper.make_node("MatMul", ["h", "recurrent"], ["hw"]), helper.make_node("Add", ["hw", "x"], ["z"]),
             helper.make_node("Tanh", ["z"], ["h_next"]), helper.make_node("Identity", ["h_next"], ["y"])],
            f"{name}_step",
            [helper.make_tensor_value_info("h", TensorProto.FLOAT, [None, hidden]),
             helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, hidden])],
            [helper.make_tensor_value_info("h_next", TensorProto.FLOAT, [None, hidden]),
             helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, hidden])],
            [numpy_helper.from_array(np.ascontiguousarray(recurrent.T), "recurrent")])
        nodes.append(helper.make_node("Scan", [f"{name}_h0", f"{name}_x"], [f"{name}_last", f"{name}_outputs"],
                                      num_scan_inputs=1, body=step))
        # The RNN node's outputs: Y (steps, 1, texts, hidden) and Y_h (1, texts, hidden).
        outputs = list(node.output) + [""] * (2 - len(node.output))
        if outputs[0]:
            nodes.append(helper.make_node("Unsqueeze", [f"{name}_outputs", f"{name}_axis1"], [outputs[0]]))
        if outputs[1]:
            nodes.append(helper.make_node("Unsqueeze", [f"{name}_last", f"{name}_axis0"], [outputs[1]]))
        rewritten += 1
    used = {name for node in nodes for name in node.input} | {output.name for output in model.graph.output}
    nodes = [node for node in nodes if node.op_type != "Identity" or node.output[0] in used]  # aliases left unread
    used = {name for node in nodes for name in node.input}
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    kept = [tensor for tensor in model.graph.initializer if tensor.name in used]  # the rewritten nodes' weights go
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return rewritten
