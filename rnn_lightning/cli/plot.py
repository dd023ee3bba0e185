"""Draw training/validation accuracy and loss from runs' TensorBoard events, and a tested run's confusion matrix."""

from __future__ import annotations

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, new_parser


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="a run folder (version_N/) or a log folder, whose newest run is taken")
    parser.add_argument("--out", type=str | None, default=None,
                        help="folder for accuracy.png, loss.png and confusion.png (default: the first run's folder)")
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.analysis.curves import format_epoch_table, plot_curves, read_run
    from rnn_lightning.training.confusion import Confusion, plot_confusion

    args = invocation.config
    try:
        runs = [read_run(path) for path in args.runs]
    except (FileNotFoundError, ValueError) as error:
        return invocation.fail(error)
    out = args.out or runs[0].run_dir
    for run in runs:
        epochs, val_acc = run.series("val/acc")
        best = max(range(len(val_acc)), key=val_acc.__getitem__)
        print(f"{run.label}: {len(epochs)} epochs, best val/acc {val_acc[best]:.4f} at epoch {epochs[best]}")
        print(format_epoch_table(run), end="\n\n")
    for path in plot_curves(runs, out):
        print(f"wrote {path}")
    try:
        confusions = [(run, Confusion.load(run.run_dir)) for run in runs]
    except (ValueError, KeyError) as error:
        return invocation.fail(f"unreadable confusion matrix: {error}")
    for run, confusion in confusions:
        if confusion is not None:  # of the first tested run: one figure, as for the curves' file names
            print(f"wrote {plot_confusion(confusion, out, f'Test confusion matrix: {run.label}')}")
            break
    return 0
