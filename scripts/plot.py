"""Draw the study's training/validation accuracy and loss figures from runs' TensorBoard event files.

A run tested after fitting (``fit.py --test``) also gets its test confusion matrix drawn (confusion.png).
"""

from __future__ import annotations

import argparse
import sys

from rnn_lightning.cli.arguments import Parser, fail
from rnn_lightning.training.confusion import Confusion, plot_confusion
from rnn_lightning.analysis.curves import format_epoch_table, plot_curves, read_run


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="plot.py", description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="a run folder (version_N/) or a log folder, whose newest run is taken")
    parser.add_argument("--out", default="docs", help="folder for accuracy.png, loss.png and confusion.png")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        runs = [read_run(path) for path in args.runs]
    except (FileNotFoundError, ValueError) as error:
        return fail("plot.py", error)
    for run in runs:
        epochs, val_acc = run.series("val/acc")
        best = max(range(len(val_acc)), key=val_acc.__getitem__)
        print(f"{run.label}: {len(epochs)} epochs, best val/acc {val_acc[best]:.4f} at epoch {epochs[best]}")
        print(format_epoch_table(run), end="\n\n")
    for path in plot_curves(runs, args.out):
        print(f"wrote {path}")
    try:
        confusions = [(run, Confusion.load(run.run_dir)) for run in runs]
    except (ValueError, KeyError) as error:
        return fail("plot.py", f"unreadable confusion matrix: {error}")
    for run, confusion in confusions:
        if confusion is not None:  # of the first tested run: one figure, as for the curves' file names
            print(f"wrote {plot_confusion(confusion, args.out, f'Test confusion matrix: {run.label}')}")
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
