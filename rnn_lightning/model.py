"""The study's network as a plain ``nn.Module``: Embedding, stacked recurrent layers, one logit."""

from __future__ import annotations

import torch
from torch import nn

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SentimentRNN(nn.Module):
    """Embedding(num_words, embed_dim) -> ``num_layers`` stacked recurrent layers -> Linear(hidden_size, 1).

    The last layer's state at the final time step feeds the head, like Keras's last ``SimpleRNN`` without
    ``return_sequences``. Padding sits in front, so the final step is always the review's last word.

    Args:
        num_words: Vocabulary size.
        embed_dim: Embedding width.
        hidden_size: Units per recurrent layer.
        num_layers: Stacked recurrent layers.
        cell: ``"rnn"`` (tanh, Keras ``SimpleRNN``), ``"lstm"`` or ``"gru"``.
        single_bias: Hold the recurrent bias ``bias_hh`` at zero and frozen, so a layer has Keras's one
            bias vector (and its parameter count) for ``rnn`` and ``lstm``. Keras's GRU has two biases
            (``reset_after=True``), so it keeps both.
    """

    def __init__(
        self,
        num_words: int = 10_000,
        embed_dim: int = 32,
        hidden_size: int = 32,
        num_layers: int = 4,
        cell: str = "rnn",
        single_bias: bool = True,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.cell = cell
        self.single_bias = single_bias and cell != "gru"
        self.embedding = nn.Embedding(num_words, embed_dim)
        self.rnn = CELLS[cell](embed_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras's initialisers, which suit a plain tanh RNN far better than PyTorch's defaults."""
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        for name, parameter in self.rnn.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(parameter)  # glorot_uniform over the whole (gates x units) kernel
            elif name.startswith("weight_hh"):
                nn.init.orthogonal_(parameter)
            else:
                nn.init.zeros_(parameter)
            if name.startswith("bias_hh") and self.single_bias:
                parameter.requires_grad_(False)
        if self.cell == "lstm":
            hidden = self.rnn.hidden_size
            for name, parameter in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        parameter[hidden : 2 * hidden].fill_(1.0)  # Keras's unit_forget_bias (gates i, f, g, o)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Map a ``(batch, time)`` tensor of ids to ``(batch,)`` logits of "positive"."""
        outputs, _ = self.rnn(self.embedding(ids))
        return self.head(outputs[:, -1]).squeeze(-1)
