"""Accuracy and gradients against depth (``rnn-lightning depth``): does the network stop learning as layers are added?

The study's task (whole reviews, 500 steps, front padding) and settings (RMSprop 1e-3, batch 128, 32 units,
Keras's initialisers) with 1, 2, 4, 8... stacked layers per cell, on --train-reviews training reviews for
--epochs epochs per (cell, depth, masking arm, seed): through the padding as the study runs, and with the
padding skipped (--masking on, fit's --model.mask_padding). Reports the best validation accuracy and, per
layer, the mean gradient norm of its input kernel (weight_ih) over all training steps, bottom layer first:
if gradients vanish with depth, the bottom layers' norms fall far below the top's. Prints a Markdown table,
writes the results as JSON and draws depth.png.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from matplotlib.figure import Figure
from torch.utils.data import DataLoader

from rnn_lightning.analysis.experiments import (
    BestValAccuracy,
    arm_label,
    quiet_fit,
    save_figure,
)
from rnn_lightning.data.spec import TextSpec
from rnn_lightning.settings import ModelSettings, OptimizerSettings
from rnn_lightning.training.module import TextClassifier


class LayerGradients(BestValAccuracy):
    """Mean gradient norm of each recurrent layer's input kernel over the training steps; best val accuracy."""

    def __init__(self) -> None:
        super().__init__()
        self.sums: dict[int, float] = {}
        self.steps = 0

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        rnn = pl_module.model.rnn
        for layer in range(rnn.num_layers):
            grad = getattr(rnn, f"weight_ih_l{layer}").grad
            self.sums[layer] = self.sums.get(layer, 0.0) + float(grad.norm())
        self.steps += 1

    def mean_norms(self) -> list[float]:
        return [self.sums[layer] / max(1, self.steps) for layer in sorted(self.sums)]


def train_one(model: ModelSettings, seed: int, loaders: list[DataLoader], spec: TextSpec, epochs: int,
              ) -> LayerGradients:
    """Train ``model`` with the study's optimiser; its per-layer gradients and best validation accuracy."""
    L.seed_everything(seed, verbose=False)
    module = TextClassifier(model, OptimizerSettings(), spec)
    record = LayerGradients()
    quiet_fit(module, *loaders, epochs, [record])
    return record


def format_table(results: list[dict[str, object]], depths: list[int]) -> str:
    """Best validation accuracy (mean, range over seeds) and bottom/top layer gradient ratio per depth."""
    lines = ["| cell | arm | " + " | ".join(f"{d} layer{'s' if d > 1 else ''}" for d in depths) + " |",
             "|---|---|" + "---:|" * len(depths)]
    for cell, masked in dict.fromkeys((r["cell"], r["masked"]) for r in results):
        cells = []
        for depth in depths:
            runs = [r for r in results if (r["cell"], r["masked"], r["depth"]) == (cell, masked, depth)]
            if not runs:
                cells.append("-")
                continue
            accuracy = [r["val_acc"] for r in runs]
            ratio = np.mean([r["grad_norms"][0] / r["grad_norms"][-1] for r in runs])
            cells.append(f"{100 * np.mean(accuracy):.1f}% ({100 * min(accuracy):.1f}-{100 * max(accuracy):.1f}); "
                         f"bottom/top grad {ratio:.2g}")
        lines.append(f"| {cell} | {arm_label(masked)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: list[dict[str, object]], path: Path) -> Path:
    """Left: best validation accuracy against depth. Right: each layer's mean gradient norm, deepest runs.

    A colour per cell; solid through the padding, dashed with the padding masked.
    """
    figure = Figure(figsize=(11, 4.5), dpi=100)
    left, right = figure.subplots(1, 2)
    cells = list(dict.fromkeys(r["cell"] for r in results))
    for cell, masked in dict.fromkeys((r["cell"], r["masked"]) for r in results):
        runs = [r for r in results if (r["cell"], r["masked"]) == (cell, masked)]
        style, color, name = "--o" if masked else "-o", f"C{cells.index(cell)}", f"{cell}, {arm_label(masked)}"
        depths = sorted({r["depth"] for r in runs})
        left.plot(depths, [np.mean([r["val_acc"] for r in runs if r["depth"] == d]) for d in depths], style,
                  color=color, label=name)
        deepest = [r for r in runs if r["depth"] == depths[-1]]
        norms = np.mean([r["grad_norms"] for r in deepest], axis=0)
        right.semilogy(range(1, len(norms) + 1), norms, style, color=color, label=f"{name}, {depths[-1]} layers")
    left.axhline(0.5, color="grey", linewidth=0.8)
    left.set_xscale("log", base=2)
    left.set_xlabel("stacked recurrent layers")
    left.set_ylabel("best validation accuracy")
    left.set_title("Accuracy against depth")
    right.set_xlabel("layer (1 = bottom, next to the embedding)")
    right.set_ylabel("mean gradient norm of weight_ih")
    right.set_title("Gradient per layer, deepest stack")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return save_figure(figure, path)
