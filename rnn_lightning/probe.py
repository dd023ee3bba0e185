"""Measure vanishing gradients: how much the loss depends on the input at each distance from the last step."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from rnn_lightning.model import SentimentRNN  # noqa: E402

REPORT_DISTANCES = (1, 10, 50, 100, 200, 400)


@dataclass
class GradientProfile:
    """Mean gradient norm of the loss with respect to the input of each time step.

    Attributes:
        label: Which model (cell, trained checkpoint or fresh initialisation).
        norms: ``norms[d - 1]`` is the norm at distance ``d`` from the last step (``d = 1`` is the last word).
    """

    label: str
    norms: np.ndarray

    def at(self, distance: int) -> float:
        """Norm at ``distance`` steps from the end (NaN beyond the sequence length)."""
        return float(self.norms[distance - 1]) if distance <= len(self.norms) else float("nan")


def gradient_profile(model: SentimentRNN, ids: torch.Tensor, labels: torch.Tensor, label: str) -> GradientProfile:
    """Back-propagate the batch's loss to the embedding outputs and average each step's gradient norm.

    The model is copied to float64 first: the gradients of a plain RNN shrink past float32's smallest
    normal number (and CPUs may flush those to zero), and the point is to see how small they get.

    Args:
        model: The network (left untouched).
        ids: ``(batch, time)`` ids of real reviews.
        labels: ``(batch,)`` labels in {0, 1}.
        label: Name of the model in tables and plots.
    """
    probe = copy.deepcopy(model).double().eval()
    inputs = probe.embedding(ids.long()).detach().requires_grad_(True)
    outputs, _ = probe.rnn(inputs)
    logits = probe.head(outputs[:, -1]).squeeze(-1)
    nn.functional.binary_cross_entropy_with_logits(logits, labels.double()).backward()
    per_step = inputs.grad.norm(dim=2).mean(dim=0)  # (time,): mean over the batch of each step's norm
    return GradientProfile(label, per_step.flip(0).numpy())


def format_table(profiles: list[GradientProfile], distances: tuple[int, ...] = REPORT_DISTANCES) -> str:
    """One row per model: the norm at each distance and the ratio of the farthest to the nearest."""
    far = distances[-1]
    header = f"{'model':<28}" + "".join(f"{f'd={d}':>11}" for d in distances) + f"{f'd={far}/d=1':>12}"
    rows = [header, "-" * len(header)]
    for profile in profiles:
        ratio = profile.at(far) / profile.at(1)
        rows.append(f"{profile.label:<28}" + "".join(f"{profile.at(d):>11.3e}" for d in distances) + f"{ratio:>12.3e}")
    return "\n".join(rows)


def plot_profiles(profiles: list[GradientProfile], path: str | Path) -> Path:
    """Gradient norm against distance from the last step, log scale, one line per model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=100)
    for profile in profiles:
        distances = np.arange(1, len(profile.norms) + 1)
        positive = profile.norms > 0  # log scale: a gradient that underflowed to exactly zero is left out
        style = "--" if "fresh" in profile.label else "-"  # fresh initialisations dashed, trained models solid
        axes.semilogy(distances[positive], profile.norms[positive], style, label=profile.label)
    axes.set_title("Gradient of the loss w.r.t. each step's input")
    axes.set_xlabel("distance from the last time step")
    axes.set_ylabel("mean L2 norm (log scale)")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
