"""Accuracy against distance: can the cell carry a review's sentiment across d steps of filler?

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

import argparse
import functools
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from rnn_lightning.cli.arguments import Parser, add_data_arguments, datamodule_from_args, fail  # noqa: E402
from rnn_lightning.models.denormals import flush_denormals  # noqa: E402
from rnn_lightning.analysis.distance import VARIANTS, filler_pool, place_at_distance, review_words  # noqa: E402
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
from rnn_lightning.models.network import CELLS, SentimentRNN  # noqa: E402
from rnn_lightning.training.module import SentimentClassifier  # noqa: E402
from rnn_lightning.analysis.probe import gradient_profile  # noqa: E402

PROG = "distance_experiment.py"
PROBED_ROWS = 128  # validation rows the gradient at initialisation is measured on


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"], choices=sorted(CELLS))
    parser.add_argument("--distances", nargs="+", type=int, default=[0, 25, 50, 100, 150, 300, 450])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    add_masking_argument(parser)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--k", type=int, default=50, help="words of each review placed in the window")
    parser.add_argument("--train-reviews", type=int, default=6000, help="task rows to train on")
    parser.add_argument("--val-reviews", type=int, default=1000, help="task rows to validate on")
    parser.add_argument("--pool-reviews", type=int, default=2000, help="other reviews the neutral filler comes from")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--gradients-at-init", action="store_true",
                        help="train nothing: measure the gradient reaching the placed words at initialisation")
    parser.add_argument("--out", default="docs", help="folder for the figure and the JSON results")
    add_data_arguments(parser)
    return parser


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


def best_val_accuracy(cell: str, seed: int, train: tuple[np.ndarray, np.ndarray],
                      val: tuple[np.ndarray, np.ndarray], num_words: int, epochs: int, masked: bool) -> float:
    """Train one model with the study's settings; its best validation accuracy over the epochs."""
    L.seed_everything(seed, verbose=False)
    module = SentimentClassifier(num_words=num_words, cell=cell, mask_padding=masked)
    loaders = [DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))),
                          batch_size=128, shuffle=shuffle) for (x, y), shuffle in ((train, True), (val, False))]
    best = BestValAccuracy()
    quiet_fit(module, *loaders, epochs, [best])
    return best.best_val_acc


def placed_word_gradient(model: SentimentRNN, rows: np.ndarray, labels: np.ndarray, k: int, distance: int) -> float:
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
    figure, panels = plt.subplots(1, len(arms), figsize=(7 * len(arms), 4.5), dpi=100, sharey=True, squeeze=False)
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    flush_denormals()
    try:
        if any(d < 0 or d + args.k > args.maxlen for d in args.distances):
            raise ValueError(f"every distance must lie in [0, {args.maxlen - args.k}] (maxlen - k)")
        datamodule = datamodule_from_args(args)
        datamodule.prepare_data()
        datamodule.setup("fit")
        train_words, train_labels, val_words, val_labels, pool_words = split_reviews(
            datamodule, args.k, (args.train_reviews, args.val_reviews, args.pool_reviews))
    except (ValueError, FileNotFoundError, DownloadError) as error:
        return fail(PROG, error)
    pool = filler_pool(pool_words)
    measure = INIT_GRADIENT if args.gradients_at_init else ACCURACY
    probed_words, probed_labels = val_words[:PROBED_ROWS], val_labels[:PROBED_ROWS]
    at_zero: dict[tuple[str, bool, int], float] = {}  # the placed words' gradient at d = 0, per model

    def placed_gradient(cell: str, seed: int, distance: int, variant: str, masked: bool) -> float:
        rows = place_at_distance(probed_words, args.k, distance, args.maxlen, variant, pool, seed=2)
        L.seed_everything(seed, verbose=False)
        fresh = SentimentRNN(num_words=args.num_words, cell=cell, mask_padding=masked)
        return placed_word_gradient(fresh, rows, probed_labels, args.k, distance)

    results = []
    for cell, variant, distance in itertools.product(args.cells, args.variants, args.distances):
        if not args.gradients_at_init:
            train = place_at_distance(train_words, args.k, distance, args.maxlen, variant, pool, seed=1)
            val = place_at_distance(val_words, args.k, distance, args.maxlen, variant, pool, seed=2)
        for masked, seed in itertools.product((MASKING[arm] for arm in args.masking), args.seeds):
            start = time.perf_counter()
            if args.gradients_at_init:
                if (cell, masked, seed) not in at_zero:  # at d = 0 there is no filler: one task for both
                    at_zero[cell, masked, seed] = placed_gradient(cell, seed, 0, variant, masked)
                value = placed_gradient(cell, seed, distance, variant, masked) / at_zero[cell, masked, seed]
            else:
                value = best_val_accuracy(cell, seed, (train, train_labels), (val, val_labels), args.num_words,
                                          args.epochs, masked)
            results.append({"cell": cell, "variant": variant, "masked": masked, "distance": distance,
                            "seed": seed, measure.key: value, "seconds": time.perf_counter() - start})
            print(f"{cell} {variant} {arm_label(masked)} d={distance} seed={seed}: {value:.4g} "
                  f"({results[-1]['seconds']:.1f} s)", file=sys.stderr, flush=True)
    report(results, args.out, measure.name, format_table(results, args.distances, measure),
           functools.partial(plot, measure=measure))
    return 0


if __name__ == "__main__":
    sys.exit(main())
