"""Accuracy and gradients against depth: does the network become untrainable as layers are added?

The study's task (whole reviews, 500 steps, front padding) and settings (RMSprop 1e-3, batch 128, 32 units,
Keras's initialisers) with 1, 2, 4, 8... stacked layers per cell, on --train-reviews training reviews for
--epochs epochs per (cell, depth, masking arm, seed): through the padding as the study runs, and with the
padding skipped (--masking on, fit.py's --mask-padding). Reports the best validation accuracy and, per
layer, the mean gradient norm of its input kernel (weight_ih) over all training steps, bottom layer first:
if gradients vanish with depth, the bottom layers' norms fall far below the top's. Prints a Markdown table,
writes the results as JSON and draws depth.png.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402

from rnn_lightning.cli.arguments import Parser, add_data_arguments, datamodule_from_args, fail  # noqa: E402
from rnn_lightning.models.denormals import flush_denormals  # noqa: E402
from rnn_lightning.data.download import DownloadError  # noqa: E402
from rnn_lightning.analysis.experiments import (  # noqa: E402
    MASKING,
    BestValAccuracy,
    add_masking_argument,
    arm_label,
    quiet_fit,
    report,
    save_figure,
)
from rnn_lightning.models.network import CELLS  # noqa: E402
from rnn_lightning.training.module import SentimentClassifier  # noqa: E402

PROG = "depth_experiment.py"


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


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"], choices=sorted(CELLS))
    parser.add_argument("--depths", nargs="+", type=int, default=[1, 2, 4, 8])
    add_masking_argument(parser)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--train-reviews", type=int, default=6000, help="training reviews (of the 20,000)")
    parser.add_argument("--val-reviews", type=int, default=1000, help="validation reviews (of the 5,000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="docs", help="folder for depth.png and depth.json")
    add_data_arguments(parser)
    return parser


def train_one(cell: str, depth: int, masked: bool, seed: int, loaders: list[DataLoader], args: argparse.Namespace,
              ) -> LayerGradients:
    L.seed_everything(seed, verbose=False)
    module = SentimentClassifier(num_words=args.num_words, cell=cell, num_layers=depth, mask_padding=masked)
    record = LayerGradients()
    quiet_fit(module, *loaders, args.epochs, [record])
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
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    flush_denormals()
    try:
        if min(args.depths) < 1:
            raise ValueError("every depth must be at least 1 layer")
        datamodule = datamodule_from_args(args, group_by_length=False)
        datamodule.prepare_data()
        datamodule.setup("fit")
        if args.train_reviews > len(datamodule.train_set) or args.val_reviews > len(datamodule.val_set):
            raise ValueError(f"--train-reviews/--val-reviews exceed the {len(datamodule.train_set)}/"
                             f"{len(datamodule.val_set)} reviews of the data")
    except (ValueError, FileNotFoundError, DownloadError) as error:
        return fail(PROG, error)
    # The first reviews of the seeded train/val split: a fixed subset, the same for every run.
    loaders = [DataLoader(Subset(datamodule.train_set, range(args.train_reviews)), batch_size=128, shuffle=True),
               DataLoader(Subset(datamodule.val_set, range(args.val_reviews)), batch_size=128)]
    results = []
    arms = [MASKING[arm] for arm in args.masking]
    for cell, masked, depth, seed in itertools.product(args.cells, arms, args.depths, args.seeds):
        start = time.perf_counter()
        record = train_one(cell, depth, masked, seed, loaders, args)
        results.append({"cell": cell, "masked": masked, "depth": depth, "seed": seed,
                        "val_acc": record.best_val_acc, "grad_norms": record.mean_norms(),
                        "seconds": time.perf_counter() - start})
        print(f"{cell} {arm_label(masked)} depth={depth} seed={seed}: {record.best_val_acc:.4f}, grad norms "
              f"{[f'{n:.2g}' for n in results[-1]['grad_norms']]} ({results[-1]['seconds']:.1f} s)",
              file=sys.stderr, flush=True)
    report(results, args.out, "depth", format_table(results, args.depths), plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
