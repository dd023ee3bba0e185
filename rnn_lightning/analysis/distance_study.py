"""Accuracy against distance (``rnn-lightning distance``): can the cell carry a review's sentiment across d steps?

Each task row holds a training review's last --k words, ending d steps before the end of the 500-step
window, followed by d steps of filler: padding (id 0) or neutral words drawn from other reviews of both
classes (none of the placed review's own). Every cell is trained with the study's settings (RMSprop 1e-3,
batch 128, four layers of 32, Keras's initialisers) on --train-reviews rows for --epochs epochs per
(cell, d, filler, masking arm, seed), and its best validation accuracy is reported: a model that cannot
carry the text across d steps falls to 50%. The masking arm (--masking on) skips the padding, in front of
the text and in the padding filler alike, as Keras's mask_zero does: with padding filler every d is then
the same task as d = 0, and with neutral filler only the front padding goes, so the neutral arm measures
distance over real words alone. Prints a Markdown table (mean and spread over seeds), writes the results
as JSON and draws distance.png.

With --gradients-at-init nothing is trained: for each freshly initialised model (same seeds), the mean
gradient norm of the loss with respect to the placed words' inputs, over 128 validation rows, relative to
the same at d = 0 (distance_gradients.json/.png): how much of the training signal reaches the words at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from matplotlib.figure import Figure
from torch.utils.data import DataLoader, TensorDataset

from rnn_lightning.analysis.distance import VARIANTS, review_words
from rnn_lightning.analysis.experiments import BestValAccuracy, arm_label, quiet_fit, save_figure
from rnn_lightning.analysis.probe import gradient_profile
from rnn_lightning.data.spec import TextSpec
from rnn_lightning.models.network import TextRNN
from rnn_lightning.settings import ModelSettings, OptimizerSettings
from rnn_lightning.training.module import TextClassifier

PROG = "distance_experiment.py"
PROBED_ROWS = 128  # validation rows the gradient at initialisation is measured on


def split_reviews(datamodule, k: int, counts: tuple[int, int, int]) -> tuple[list, np.ndarray, list, np.ndarray, list]:
    """Disjoint training, validation and filler-pool reviews with at least ``k`` words, classes interleaved.

    Raises:
        ValueError: If the data holds fewer such reviews than asked for.
    """
    ids, labels = datamodule.train_set.tensors
    words = review_words(ids.numpy())
    usable = [i for i, w in enumerate(words) if len(w) >= k]
    if len(usable) < sum(counts):
        raise ValueError(f"{len(usable)} training reviews have at least {k} words; {sum(counts)} are needed "
                         "(lower --train-reviews, --val-reviews, --pool-reviews or --k)")
    train, val, pool = np.split(np.asarray(usable[:sum(counts)]), np.cumsum(counts)[:2])
    labels = labels.numpy()
    return ([words[i] for i in train], labels[train], [words[i] for i in val], labels[val],
            [words[i] for i in pool])


def best_val_accuracy(model: ModelSettings, seed: int, train: tuple[np.ndarray, np.ndarray],
                      val: tuple[np.ndarray, np.ndarray], spec: TextSpec, epochs: int) -> float:
    """Train one model with the study's optimiser; its best validation accuracy over the epochs."""
    L.seed_everything(seed, verbose=False)
    module = TextClassifier(model, OptimizerSettings(), spec)
    loaders = [DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))),
                          batch_size=128, shuffle=shuffle) for (x, y), shuffle in ((train, True), (val, False))]
    best = BestValAccuracy()
    quiet_fit(module, *loaders, epochs, [best])
    return best.best_val_acc


def placed_word_gradient(model: TextRNN, rows: np.ndarray, labels: np.ndarray, k: int, distance: int) -> float:
    """Mean gradient norm of the loss w.r.t. the inputs of the ``k`` words placed ``distance`` steps from the end."""
    profile = gradient_profile(model, torch.from_numpy(rows), torch.from_numpy(labels.astype(np.float32)), "placed")
    return float(np.mean(profile.norms[distance:distance + k]))  # the words lie d + 1 ... d + k steps from the end


@dataclass(frozen=True)
class Measure:
    """What a run yields, and how tables and figures show it."""

    key: str
    name: str  # of the JSON and the figure
    axis: str
    log_scale: bool

    def summary(self, values: list[float]) -> str:
        """A table cell: mean and range over seeds (accuracy), or geometric mean and range (gradient ratios)."""
        if not self.log_scale:
            return f"{100 * np.mean(values):.1f}% ({100 * min(values):.1f}-{100 * max(values):.1f})"
        with np.errstate(divide="ignore"):  # a ratio that underflowed to 0 has a geometric mean of 0
            return f"{np.exp(np.mean(np.log(values))):.1e} ({min(values):.0e}-{max(values):.0e})"


ACCURACY = Measure("val_acc", "distance", "best validation accuracy", log_scale=False)
INIT_GRADIENT = Measure("relative_grad", "distance_gradients",
                        "gradient at the placed words, relative to d = 0 (initialisation)", log_scale=True)


def format_table(results: list[dict[str, object]], distances: list[int], measure: Measure = ACCURACY) -> str:
    """The measure per (cell, filler, arm) and distance, summarised over seeds."""
    lines = ["| cell | filler | arm | " + " | ".join(f"d = {d}" for d in distances) + " |",
             "|---|---|---|" + "---:|" * len(distances)]
    for cell, variant, masked in dict.fromkeys((r["cell"], r["variant"], r["masked"]) for r in results):
        cells = []
        for d in distances:
            values = [r[measure.key] for r in results
                      if (r["cell"], r["variant"], r["masked"], r["distance"]) == (cell, variant, masked, d)]
            cells.append(measure.summary(values) if values else "-")
        lines.append(f"| {cell} | {variant} | {arm_label(masked)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: list[dict[str, object]], path: Path, measure: Measure = ACCURACY) -> Path:
    """The measure against distance, a panel per masking arm.

    A line per cell and filler (mean over seeds), each seed a dot.
    """
    arms = sorted({r["masked"] for r in results})
    figure = Figure(figsize=(7 * len(arms), 4.5), dpi=100)
    panels = figure.subplots(1, len(arms), sharey=True, squeeze=False)
    cells = list(dict.fromkeys(r["cell"] for r in results))
    for axes, masked in zip(panels[0], arms, strict=True):
        for index, cell in enumerate(cells):
            for variant, style in zip(VARIANTS, ("-", "--"), strict=True):
                points = [r for r in results if (r["cell"], r["variant"], r["masked"]) == (cell, variant, masked)]
                if not points:
                    continue
                distances = sorted({r["distance"] for r in points})
                means = [np.mean([r[measure.key] for r in points if r["distance"] == d]) for d in distances]
                axes.plot(distances, means, style, color=f"C{index}", label=f"{cell}, {variant} filler")
                axes.plot([r["distance"] for r in points], [r[measure.key] for r in points], ".", color=f"C{index}")
        if measure.log_scale:
            axes.set_yscale("log")
        else:
            axes.axhline(0.5, color="grey", linewidth=0.8)
        axes.set_xlabel("steps between the review's last word and the end of the window (d)")
        axes.set_title(f"Carrying sentiment across d steps, {arm_label(masked)}")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    panels[0][0].set_ylabel(measure.axis)
    return save_figure(figure, path)
