"""Accuracy against distance: can each cell carry a review's sentiment across d steps of filler (Findings II)?"""

from __future__ import annotations

import functools
import itertools
import sys
import time

from jsonargparse import ArgumentParser

from rnn_lightning.analysis.distance import VARIANTS
from rnn_lightning.cli.parsing import Invocation, add_settings, new_parser
from rnn_lightning.settings import CELL_NAMES

MASKING = {"off": False, "on": True}  # the arms: through the padding (the study), and with it skipped
PROBED_ROWS = 128  # validation rows the gradient at initialisation is measured on


def add_experiment_arguments(parser: ArgumentParser) -> None:
    """The flags both experiments share: cells, masking arms, seeds, epochs, output folder, the data."""
    parser.add_argument("--cells", nargs="+", default=list(CELL_NAMES), choices=CELL_NAMES)
    parser.add_argument("--masking", nargs="+", default=list(MASKING), choices=list(MASKING),
                        help="off: run through the padding (the study); on: skip it (default: both arms)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="docs", help="folder for the figure and the JSON results")
    add_settings(parser, "data")


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--distances", nargs="+", type=int, default=[0, 25, 50, 100, 150, 300, 450])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--k", type=int, default=50, help="words of each review placed in the window")
    parser.add_argument("--train_reviews", type=int, default=6000, help="task rows to train on")
    parser.add_argument("--val_reviews", type=int, default=1000, help="task rows to validate on")
    parser.add_argument("--pool_reviews", type=int, default=2000, help="other reviews the neutral filler comes from")
    parser.add_argument("--gradients_at_init", action="store_true",
                        help="train nothing: measure the gradient reaching the placed words at initialisation")
    add_experiment_arguments(parser)
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.cli.process import prepare_torch, quiet_lightning

    prepare_torch()
    quiet_lightning()
    import lightning as L

    from rnn_lightning.analysis.distance import filler_pool, place_at_distance
    from rnn_lightning.analysis.distance_study import (
        ACCURACY,
        INIT_GRADIENT,
        best_val_accuracy,
        format_table,
        placed_word_gradient,
        plot,
        split_reviews,
    )
    from rnn_lightning.analysis.experiments import arm_label, report
    from rnn_lightning.data.datamodule import TextDataModule
    from rnn_lightning.data.download import DownloadError
    from rnn_lightning.models.network import TextRNN
    from rnn_lightning.settings import ModelSettings

    args = invocation.settings()
    maxlen = args.data.maxlen
    try:
        if any(d < 0 or d + args.k > maxlen for d in args.distances):
            raise ValueError(f"every distance must lie in [0, {maxlen - args.k}] (maxlen - k)")
        datamodule = TextDataModule(args.data)
        datamodule.prepare_data()
        datamodule.setup("fit")
        train_words, train_labels, val_words, val_labels, pool_words = split_reviews(
            datamodule, args.k, (args.train_reviews, args.val_reviews, args.pool_reviews))
    except (ValueError, FileNotFoundError, DownloadError) as error:
        return invocation.fail(error)
    pool = filler_pool(pool_words)
    measure = INIT_GRADIENT if args.gradients_at_init else ACCURACY
    probed_words, probed_labels = val_words[:PROBED_ROWS], val_labels[:PROBED_ROWS]
    at_zero: dict[tuple[str, bool, int], float] = {}  # the placed words' gradient at d = 0, per model

    def placed_gradient(cell: str, seed: int, distance: int, variant: str, masked: bool) -> float:
        rows = place_at_distance(probed_words, args.k, distance, maxlen, variant, pool, seed=2)
        L.seed_everything(seed, verbose=False)
        fresh = TextRNN(ModelSettings(cell=cell, mask_padding=masked), args.data.num_words)
        return placed_word_gradient(fresh, rows, probed_labels, args.k, distance)

    results = []
    for cell, variant, distance in itertools.product(args.cells, args.variants, args.distances):
        if not args.gradients_at_init:
            train = place_at_distance(train_words, args.k, distance, maxlen, variant, pool, seed=1)
            val = place_at_distance(val_words, args.k, distance, maxlen, variant, pool, seed=2)
        for masked, seed in itertools.product((MASKING[arm] for arm in args.masking), args.seeds):
            start = time.perf_counter()
            if args.gradients_at_init:
                if (cell, masked, seed) not in at_zero:  # at d = 0 there is no filler: one task for both
                    at_zero[cell, masked, seed] = placed_gradient(cell, seed, 0, variant, masked)
                value = placed_gradient(cell, seed, distance, variant, masked) / at_zero[cell, masked, seed]
            else:
                value = best_val_accuracy(ModelSettings(cell=cell, mask_padding=masked), seed,
                                          (train, train_labels), (val, val_labels), datamodule.spec, args.epochs)
            results.append({"cell": cell, "variant": variant, "masked": masked, "distance": distance,
                            "seed": seed, measure.key: value, "seconds": time.perf_counter() - start})
            print(f"{cell} {variant} {arm_label(masked)} d={distance} seed={seed}: {value:.4g} "
                  f"({results[-1]['seconds']:.1f} s)", file=sys.stderr, flush=True)
    report(results, args.out, measure.name, format_table(results, args.distances, measure),
           functools.partial(plot, measure=measure))
    return 0
