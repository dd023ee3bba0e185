"""Rows cut short of their padding, for prediction: the state the padding leaves, and the network run from it.

The encoder pads every text in front to ``maxlen`` ids. Prediction sorts a batch's rows by length and runs them
in groups cut to the group's longest row (:func:`~rnn_lightning.data.text.runs_cut_to_words`), so that a short
text costs its words, not ``maxlen`` steps. The columns cut off are padding in every row of the group, and that
is exact in two cases:

- a network that skips padding (``mask_padding``) never reads them;
- a one-way network that reads every step and answers from its last state (the study's) reads them from the
  same zero state in every row, so after ``k`` padding steps its state is the same for every text: computed
  once (:func:`padding_states`), it is where the cut rows start.

A bidirectional or pooled network that reads the padding reads it differently per text, and is not cut.
"""

from __future__ import annotations

import torch

from rnn_lightning.data.text import PAD_ID
from rnn_lightning.models.network import TextRNN
from rnn_lightning.models.recurrences import fast_stack, supports_fast_path


def resumes_after_padding(network: TextRNN) -> bool:
    """Whether cut rows start from the padding's state: a one-way, unmasked, last-state network.

    (A masked one skips the padding anyway; a bidirectional one's reverse direction reads the padding after each
    text's words, and pooling reads the padding's outputs, so neither is the same for every text. An ensemble's
    members are left whole rather than each given its padding's states.)
    """
    return (not network.mask_padding and not network.rnn.bidirectional and network.pooling == "last"
            and network.members is None)  # each member would need its own padding's state


def cuts_padding(network: TextRNN) -> bool:
    """Whether rows may be cut to their words at all: the network skips the padding, or resumes after it."""
    return network.mask_padding or resumes_after_padding(network)


@torch.no_grad()
def padding_states(network: TextRNN, maxlen: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Every layer's state after ``k`` padding steps from the zero state, for ``k`` from 0 to ``maxlen``.

    Returns:
        ``(maxlen + 1, layers, hidden)`` hidden states, and the LSTM's cell states alike (None for other cells).
    """
    rnn = network.rnn
    was_training = rnn.training
    rnn.eval()
    padding = network.embedding.weight[PAD_ID].view(1, 1, -1)
    zeros = padding.new_zeros(rnn.num_layers, 1, rnn.hidden_size)
    state = (zeros, zeros) if network.cell == "lstm" else zeros
    hidden, cell = [zeros[:, 0]], [zeros[:, 0]]
    for _ in range(maxlen):
        state = rnn(padding, state)[1]
        hidden.append((state[0] if network.cell == "lstm" else state)[:, 0])
        cell.append(state[1][:, 0] if network.cell == "lstm" else zeros[:, 0])
    rnn.train(was_training)
    return torch.stack(hidden), torch.stack(cell) if network.cell == "lstm" else None


class PaddingStates:
    """:func:`padding_states` of one network, kept until its weights change (a model still training may predict).

    Args:
        network: The network whose states to keep.
    """

    def __init__(self, network: TextRNN) -> None:
        self.network = network
        self._key: tuple[object, ...] | None = None
        self._states: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def __call__(self, maxlen: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The states for ``k`` from 0 to ``maxlen`` padding steps, computed again only after a weight changed."""
        weights = (self.network.embedding.weight, *self.network.rnn.parameters())
        # An optimizer step or load_state_dict changes a weight in place, which bumps its version counter.
        key = (maxlen, *((weight.data_ptr(), weight._version) for weight in weights))
        if key != self._key or self._states is None:
            self._states, self._key = padding_states(self.network, maxlen), key
        return self._states


def logits_after_padding(network: TextRNN, ids: torch.Tensor, states: PaddingStates, maxlen: int) -> torch.Tensor:
    """The logits of ``(batch, time)`` ids cut short in front of ``maxlen``, as if their padding had been read.

    For a network that :func:`resumes_after_padding`: the ``maxlen - time`` columns cut off must have been padding
    in every row. The recurrence starts from the state they leave: on the compiled path for a tanh RNN, else in
    torch's own module (whose LSTM, with a start state, is faster than the compiled path at prediction).
    """
    hidden, cell = states(maxlen)
    skipped = maxlen - ids.shape[1]
    start = hidden[skipped].unsqueeze(1).expand(-1, len(ids), -1).contiguous()
    if network.cell == "rnn" and network.fast_cpu_path and supports_fast_path(network.rnn, network.embedding.weight):
        features = fast_stack(network.rnn, network.embedding(ids.t()), last_only=True, initial=start)
    else:
        if cell is not None:
            start = (start, cell[skipped].unsqueeze(1).expand(-1, len(ids), -1).contiguous())
        features = network.rnn(network.embedding(ids), start)[0][:, -1]
    return network.combine(*network.parts_of_features(features, ids))
