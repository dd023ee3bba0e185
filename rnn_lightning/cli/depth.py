"""Accuracy and gradients against depth: does the network stop learning as layers are added (Findings II)?"""

from __future__ import annotations

import itertools
import sys
import time

from jsonargparse import ArgumentParser

from rnn_lightning.cli.distance import MASKING, add_experiment_arguments
from rnn_lightning.cli.parsing import Invocation, new_parser


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--depths", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--train_reviews", type=int, default=6000, help="training reviews (of the 20,000)")
    parser.add_argument("--val_reviews", type=int, default=1000, help="validation reviews (of the 5,000)")
    add_experiment_arguments(parser)
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.cli.process import prepare_torch, quiet_lightning

    prepare_torch()
    quiet_lightning()
    from torch.utils.data import DataLoader, Subset

    from rnn_lightning.analysis.depth_study import format_table, plot, train_one
    from rnn_lightning.analysis.experiments import arm_label, report
    from rnn_lightning.data.datamodule import TextDataModule
    from rnn_lightning.data.download import DownloadError
    from rnn_lightning.settings import ModelSettings

    args = invocation.settings()
    try:
        if min(args.depths) < 1:
            raise ValueError("every depth must be at least 1 layer")
        datamodule = TextDataModule(args.data)
        datamodule.prepare_data()
        datamodule.setup("fit")
        if args.train_reviews > len(datamodule.train_set) or args.val_reviews > len(datamodule.val_set):
            raise ValueError(f"--train_reviews/--val_reviews exceed the {len(datamodule.train_set)}/"
                             f"{len(datamodule.val_set)} reviews of the data")
    except (ValueError, FileNotFoundError, DownloadError) as error:
        return invocation.fail(error)
    # The first reviews of the seeded train/val split: a fixed subset, the same for every run.
    loaders = [DataLoader(Subset(datamodule.train_set, range(args.train_reviews)), batch_size=128, shuffle=True),
               DataLoader(Subset(datamodule.val_set, range(args.val_reviews)), batch_size=128)]
    results = []
    arms = [MASKING[arm] for arm in args.masking]
    for cell, masked, depth, seed in itertools.product(args.cells, arms, args.depths, args.seeds):
        start = time.perf_counter()
        model = ModelSettings(cell=cell, num_layers=depth, mask_padding=masked)
        record = train_one(model, seed, loaders, datamodule.spec, args.epochs)
        results.append({"cell": cell, "masked": masked, "depth": depth, "seed": seed,
                        "val_acc": record.best_val_acc, "grad_norms": record.mean_norms(),
                        "seconds": time.perf_counter() - start})
        print(f"{cell} {arm_label(masked)} depth={depth} seed={seed}: {record.best_val_acc:.4f}, grad norms "
              f"{[f'{n:.2g}' for n in results[-1]['grad_norms']]} ({results[-1]['seconds']:.1f} s)",
              file=sys.stderr, flush=True)
    report(results, args.out, "depth", format_table(results, args.depths), plot)
    return 0
