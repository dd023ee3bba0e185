"""A Keras-style ``model.summary()`` table, printed when training starts."""

from __future__ import annotations

from collections import defaultdict

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch import nn

from rnn_lightning.models.compiled import recurrence_path
from rnn_lightning.models.network import TextRNN
from rnn_lightning.models.recurrences import supports_fast_path

KERAS_SIMPLE_RNN_TOTAL = 328_353  # Embedding 320,000 + 4 x SimpleRNN 2,080 + Dense 33


def _count(parameters: list[nn.Parameter]) -> tuple[int, int]:
    return sum(p.numel() for p in parameters), sum(p.numel() for p in parameters if p.requires_grad)


def keras_summary(model: TextRNN, maxlen: int | None = None) -> str:
    """Describe each layer with its output shape and parameter counts, as Keras's summary does.

    Args:
        model: The network.
        maxlen: Sequence length to show in output shapes (``None`` shows a variable length).

    Returns:
        The table, totals and a note on where the count differs from the Keras original.
    """
    rnn = model.rnn
    per_layer: dict[int, list[nn.Parameter]] = defaultdict(list)
    for name, parameter in rnn.named_parameters():
        per_layer[int(name.rsplit("_l", 1)[1].removesuffix("_reverse"))].append(parameter)  # both directions
    time = str(maxlen) if maxlen is not None else "None"
    rows = [("embedding (Embedding)", f"(None, {time}, {model.embedding.embedding_dim})",
             *_count(list(model.embedding.parameters())))]
    for layer in range(rnn.num_layers):
        width = rnn.hidden_size * (2 if rnn.bidirectional else 1)
        shape = f"(None, {time}, {width})" if layer < rnn.num_layers - 1 else f"(None, {model.head.in_features})"
        rows.append((f"{model.cell}_{layer + 1} ({type(rnn).__name__})", shape, *_count(per_layer[layer])))
    rows.append(("head (Linear)", f"(None, {model.head.out_features})", *_count(list(model.head.parameters()))))
    if model.members is not None:  # the ensemble's other members, each the network above without the branch
        others = len(model.members)
        rows.append((f"members 2-{others + 1} ({others} x TextRNN)", f"(None, {model.head.out_features})",
                     *_count(list(model.members.parameters()))))
    if model.ngrams is not None:
        rows.append(("ngrams (Embedding)", f"(None, {model.ngrams.embedding_dim})",
                     *_count(list(model.ngrams.parameters()))))

    total, trainable = _count(list(model.parameters()))
    lines = [f"{'Layer (type)':<24}{'Output Shape':<18}{'Param #':>10}{'Trainable':>11}", "=" * 63]
    lines += [f"{name:<24}{shape:<18}{count:>10,}{train:>11,}" for name, shape, count, train in rows]
    lines += ["=" * 63, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}"]
    if model.cell != "gru":
        # The first layer's bias_hh, in both directions of a two-way network: what Keras's one bias leaves out.
        extra_biases = sum(p.numel() for name, p in rnn.named_parameters() if name.startswith("bias_hh_l0"))
        lines.append(
            f"Note: Keras's {'SimpleRNN' if model.cell == 'rnn' else 'LSTM'} has one bias vector per layer; "
            f"torch's {type(rnn).__name__} has two (bias_ih and bias_hh), "
            f"{extra_biases} more parameters per layer. "
            + ("Here bias_hh is frozen at zero, so the trainable count is Keras's."
               if model.single_bias else "Both are trained here, so the count exceeds Keras's.")
            + (f" (Keras's total for the study: {KERAS_SIMPLE_RNN_TOTAL:,}.)" if model.cell == "rnn" else "")
        )
    return "\n".join(lines)


def recurrence_description(model: TextRNN, device: torch.device) -> str:
    """Which code steps the recurrent layers through time on ``device``, in words."""
    if device.type == "cuda":
        return f"cuDNN ({type(model.rnn).__name__})"
    if model.fast_cpu_path and supports_fast_path(model.rnn, model.embedding.weight.detach().to(device)):
        return f"fast CPU path, {recurrence_path()}"
    reason = "--no-fast-path" if not model.fast_cpu_path else "no compiled recurrence: PyTorch's own CPU kernel"
    return f"{type(model.rnn).__name__} ({reason})"


class KerasSummary(L.Callback):
    """Print :func:`keras_summary` once, on the first process, when fitting starts.

    Args:
        maxlen: Sequence length to show in output shapes (``None`` shows a variable length).
    """

    def __init__(self, maxlen: int | None = None) -> None:
        self.maxlen = maxlen

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        print(keras_summary(pl_module.model, self.maxlen))
        print(f"Recurrence: {recurrence_description(pl_module.model, pl_module.device)}")
