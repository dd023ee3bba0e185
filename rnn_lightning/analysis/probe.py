"""Measure vanishing gradients: how much the loss depends on the input at each distance from the last step."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from rnn_lightning.data.text import PAD_ID
from rnn_lightning.models.network import TextRNN

REPORT_DISTANCES = (1, 10, 50, 100, 200, 400)


@dataclass
class GradientProfile:
    """Mean gradient norm of the loss with respect to the input of each time step.

    Attributes:
        label: Which model (cell, trained checkpoint or fresh initialisation).
        norms: ``norms[d - 1]`` is the norm at distance ``d`` from the last step (``d = 1`` is the last word);
            NaN where no review of the batch counts (real words only, beyond the longest review).
        reviews: ``reviews[d - 1]``: how many reviews the mean at distance ``d`` is taken over.
    """

    label: str
    norms: np.ndarray
    reviews: np.ndarray

    def at(self, distance: int) -> float:
        """Norm at ``distance`` steps from the end (NaN beyond the sequence length)."""
        return float(self.norms[distance - 1]) if distance <= len(self.norms) else float("nan")

    def reviews_at(self, distance: int) -> int:
        """How many reviews the norm at ``distance`` is the mean of (0 beyond the sequence length)."""
        return int(self.reviews[distance - 1]) if distance <= len(self.reviews) else 0


def gradient_profile(model: TextRNN, ids: torch.Tensor, labels: torch.Tensor, label: str,
                     real_words_only: bool = False) -> GradientProfile:
    """Back-propagate the batch's loss to the embedding outputs and average each step's gradient norm.

    The model is copied to float64 first: the gradients of a plain RNN shrink past float32's smallest
    normal number (and CPUs may flush those to zero), and the point is to see how small they get.

    A model that masks its padding is probed as it runs: each review's words alone (the same, with a zero
    initial state, as skipping the padding), so its gradient at padding steps is exactly zero.

    Args:
        model: The network (left untouched).
        ids: ``(batch, time)`` ids of real reviews.
        labels: ``(batch,)`` labels in {0, 1}.
        label: Name of the model in tables and plots.
        real_words_only: Average each distance over the reviews that have a word there, leaving the padding
            out; otherwise over the whole batch, padding steps included.
    """
    probe = copy.deepcopy(model).double().eval()
    present = (ids != PAD_ID).numpy()
    if probe.mask_padding:
        norms = np.zeros(ids.shape)
        for row, (review, target) in enumerate(zip(ids, labels, strict=True)):
            if present[row].any():
                norms[row, present[row]] = _step_norms(probe, review[present[row]][None], target[None])[0]
        norms /= len(ids)  # as if in one batch: the batch's loss is the mean over its reviews
    else:
        norms = _step_norms(probe, ids, labels)
    counted = present if real_words_only else np.ones_like(present)
    # Columns reversed: index d - 1 is distance d from the last step.
    totals, reviews = (norms * counted)[:, ::-1].sum(0), counted[:, ::-1].sum(0)
    with np.errstate(invalid="ignore"):  # 0/0 where no review reaches: NaN, as documented
        return GradientProfile(label, totals / reviews, reviews)


def _step_norms(probe: TextRNN, ids: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """``(batch, time)``: the norm of the loss's gradient w.r.t. each step's embedded input, run unmasked."""
    inputs = probe.embedding(ids.long()).detach().requires_grad_(True)
    outputs, _ = probe.rnn(inputs)
    logits = probe.head(outputs[:, -1]).squeeze(-1)
    nn.functional.binary_cross_entropy_with_logits(logits, labels.double()).backward()
    return inputs.grad.norm(dim=2).numpy()


def format_table(profiles: list[GradientProfile], distances: tuple[int, ...] = REPORT_DISTANCES,
                 show_reviews: bool = False) -> str:
    """One row per model: the norm at each distance and the ratio of the farthest to the nearest.

    With ``show_reviews``, each model's row is followed by how many reviews each mean is taken over.
    """
    far = distances[-1]
    header = f"{'model':<36}" + "".join(f"{f'd={d}':>11}" for d in distances) + f"{f'd={far}/d=1':>12}"
    rows = [header, "-" * len(header)]
    for profile in profiles:
        ratio = profile.at(far) / profile.at(1)
        rows.append(f"{profile.label:<36}" + "".join(f"{profile.at(d):>11.3e}" for d in distances) + f"{ratio:>12.3e}")
        if show_reviews:
            rows.append(f"{'  reviews counted':<36}" + "".join(f"{profile.reviews_at(d):>11}" for d in distances))
    return "\n".join(rows)


def plot_profiles(profiles: list[GradientProfile], path: str | Path,
                  title: str = "Gradient of the loss w.r.t. each step's input") -> Path:
    """Gradient norm against distance from the last step, log scale, one line per model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(7, 4.5), dpi=100)
    axes = figure.subplots()
    for profile in profiles:
        distances = np.arange(1, len(profile.norms) + 1)
        positive = profile.norms > 0  # log scale: exact zeros (underflow) and NaN (no review there) left out
        style = "--" if "fresh" in profile.label else "-"  # fresh initialisations dashed, trained models solid
        axes.semilogy(distances[positive], profile.norms[positive], style, label=profile.label)
    axes.set_title(title)
    axes.set_xlabel("distance from the last time step")
    axes.set_ylabel("mean L2 norm (log scale)")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    return path
