"""Train a model on IMDB or your own labelled texts: checkpoints, curves and the run's config.yaml in the logdir."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, add_settings, new_parser

if TYPE_CHECKING:
    from rnn_lightning.training.trainer import FitResult


RECIPES = True  # --recipe NAME reads a shipped config (rnn_lightning/recipes/NAME.yaml) where it stands


def parser() -> ArgumentParser:
    from rnn_lightning.recipes import names

    parser = new_parser(__doc__)
    # Read before parsing, as --config NAME's file: declared here for --help (the parser never sees it).
    parser.add_argument("--recipe", type=str | None, default=None,
                        help=f"a shipped config by name ({', '.join(names())}; docs/recipes.md), read where it "
                             "stands, as --config: flags after it override it")
    add_settings(parser, "data", "model", "optimizer", "trainer")
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.cli.process import prepare_torch

    prepare_torch()  # before torch starts its worker threads, so that they flush subnormals too
    import lightning as L
    from lightning.pytorch.utilities import rank_zero_only
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from rnn_lightning.data.archive import UnsafeArchiveError
    from rnn_lightning.data.corpus import BadRowError
    from rnn_lightning.data.datamodule import TextDataModule
    from rnn_lightning.data.download import DownloadError
    from rnn_lightning.fileio import WriteError
    from rnn_lightning.models.saved import CheckpointError
    from rnn_lightning.training.callbacks import NonFiniteError
    from rnn_lightning.training.module import TextClassifier
    from rnn_lightning.training.trainer import RunConfigError, fit

    settings = invocation.settings()
    L.seed_everything(settings.trainer.seed, workers=True, verbose=False)
    try:  # the source and the options for it are checked here, before anything is downloaded or written
        datamodule = TextDataModule(settings.data)
    except (ValueError, FileNotFoundError) as error:
        return invocation.fail(error)
    try:
        with _sigint_stops_gracefully() as interrupted:
            result = fit(lambda spec: TextClassifier(settings.model, settings.optimizer, spec), datamodule,
                         settings.trainer, config=invocation.dump())
    except (FileNotFoundError, DownloadError, UnsafeArchiveError, CheckpointError, RunConfigError, BadRowError,
            ValueError) as error:
        return invocation.fail(error)
    except SIGTERMException:
        signum = signal.SIGINT if interrupted.is_set() else signal.SIGTERM
        print(f"{invocation.prog}: stopped by {signal.Signals(signum).name}; last.ckpt was saved, resume with "
              "--ckpt-path last", file=sys.stderr)
        return 128 + signum
    except KeyboardInterrupt:  # Ctrl-C before training started: nothing to save
        print(f"{invocation.prog}: interrupted before training started", file=sys.stderr)
        return 128 + signal.SIGINT
    except WriteError as error:  # a full disk, say: what was being written is named, and was left as it was
        print(f"{invocation.prog}: error: {error.strerror}", file=sys.stderr)
        return 1
    except (NonFiniteError, OSError) as error:
        print(f"{invocation.prog}: error: training stopped: {error}", file=sys.stderr)
        return 1
    rank_zero_only(_report)(result, settings.trainer.logdir, datamodule.skipped_rows)
    return 0


@contextlib.contextmanager
def _sigint_stops_gracefully() -> Iterator[threading.Event]:
    """Within the block, Ctrl-C stops training as SIGTERM does: at a batch boundary, with a fresh ``last.ckpt``.

    Lightning's own Ctrl-C handling exits at once with status 1 and saves nothing, losing the partial epoch.
    Here SIGINT is turned into a SIGTERM to this process, which Lightning handles at the next batch boundary;
    before Lightning is listening for SIGTERM (while the data is prepared), Ctrl-C interrupts as usual. The
    previous SIGINT handler is restored after the block.

    Yields:
        An event that is set once SIGINT has been received.
    """
    received = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signals can only be caught there
        yield received
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        received.set()
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.SIG_IGN, None):
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


def _report(result: FitResult, logdir: str, skipped_rows: dict[str, int]) -> None:
    from rnn_lightning.training.confusion import CONFUSION_FILE

    if skipped_rows:
        reasons = ", ".join(f"{count:,} {reason}" for reason, count in skipped_rows.items())
        print(f"skipped {sum(skipped_rows.values()):,} bad row(s): {reasons}")
    if result.best_val_acc is not None:
        print(f"best val/acc: {result.best_val_acc:.4f}")
    overall = {name: value for name, value in result.test_metrics.items() if name.count("/") == 1}
    for name in sorted(overall):
        print(f"{name} of the best checkpoint: {overall[name]:.4f}")
    if result.confusion is not None:
        print(_per_class_table(result))
        print(f"test confusion matrix: {Path(result.log_dir) / CONFUSION_FILE} (draw it: rnn-lightning plot "
              f"{result.log_dir})")
    print(f"best checkpoint: {result.best_checkpoint or '(none saved)'}")
    print(f"last checkpoint: {result.last_checkpoint or '(none saved)'}")
    if result.baseline:
        scores = ", ".join(f"{name} {value:.4f}" for name, value in result.baseline.items())
        print(f"baseline, TF-IDF (1-2 grams) + logistic regression on the same rows: {scores}")
    if result.fasttext:
        scores = ", ".join(f"{name} {value:.4f}" for name, value in result.fasttext.items())
        print(f"baseline, fastText (words and word pairs, 10 epochs) on the same rows: {scores}")
    config = Path(result.log_dir) / "config.yaml"
    if config.is_file():
        print(f"config: {config} (repeat the run: rnn-lightning fit --config {config})")
    print(f"curves: tensorboard --logdir {logdir}")


def _per_class_table(result: FitResult) -> str:
    """Precision, recall and F1 of each class on the test split, as a small aligned table."""
    names = result.confusion.label_names
    width = max(len("class"), *(len(name) for name in names))
    lines = [f"{'class':<{width}}  precision  recall      f1"]
    for name in names:
        values = [result.test_metrics.get(f"test/{metric}/{name}", float("nan"))
                  for metric in ("precision", "recall", "f1")]
        lines.append(f"{name:<{width}}  {values[0]:>9.4f}  {values[1]:>6.4f}  {values[2]:>6.4f}")
    return "\n".join(lines)
