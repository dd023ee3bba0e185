"""Train the study's model with Lightning on IMDB or your own labelled texts: checkpoints and curves in --logdir."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from rnn_lightning.data.archive import UnsafeArchiveError
from rnn_lightning.training.callbacks import NonFiniteError, RecurrentGradNorms
from rnn_lightning.training.checkpoints import CheckpointError
from rnn_lightning.cli.arguments import Parser, add_data_arguments, datamodule_from_args, fail
from rnn_lightning.training.confusion import CONFUSION_FILE
from rnn_lightning.data.corpus import BadRowError
from rnn_lightning.models.denormals import flush_denormals
from rnn_lightning.data.download import DownloadError
from rnn_lightning.models.network import CELLS
from rnn_lightning.training.module import SentimentClassifier
from rnn_lightning.training.trainer import FitResult, RunConfigError, fit

PROG = "fit.py"


def _int_or_float(value: str) -> int | float:
    """Lightning's convention for limits: an int counts batches, a float is a fraction of them."""
    return float(value) if "." in value else int(value)


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hardware = parser.add_argument_group("hardware")
    hardware.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    hardware.add_argument("--devices", type=_devices, default="auto", help="devices per node: a count, a list, or auto")
    hardware.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp for several GPUs")
    hardware.add_argument("--num-nodes", type=int, default=1, help="machines taking part in DDP training")
    hardware.add_argument("--precision", default="32-true", help="32-true, bf16-mixed or 16-mixed")

    training = parser.add_argument_group("training")
    training.add_argument("--max-epochs", type=int, default=10, help="epochs to train")
    training.add_argument("--lr", type=float, default=1e-3, help="RMSprop learning rate")
    training.add_argument("--cell", choices=sorted(CELLS), default="rnn", help="recurrent cell (rnn is the study's)")
    training.add_argument("--seed", type=int, default=42, help="seed of weights, shuffling and dropout")
    training.add_argument("--mask-padding", action="store_true",
                          help="skip the padding like Keras's mask_zero=True, batching reviews of similar length "
                               "(faster; not the study's setting)")
    training.add_argument("--no-fast-path", action="store_true",
                          help="on CPU, run torch's nn.RNN/LSTM/GRU instead of the equivalent faster path "
                               "(for comparison)")
    training.add_argument("--deterministic", action="store_true", help="use deterministic algorithms only")
    training.add_argument("--limit-train-batches", type=_int_or_float, default=None,
                          help="train on this many batches per epoch (int) or this fraction (float)")
    training.add_argument("--limit-val-batches", type=_int_or_float, default=None,
                          help="validate on this many batches (int) or this fraction (float)")
    training.add_argument("--log-grad-norms", type=int, default=0, metavar="N",
                          help="log each recurrent weight's gradient norm to TensorBoard every N steps (0: off)")
    training.add_argument("--fast-dev-run", action="store_true",
                          help="one train and one val batch, no checkpoints or logs: a wiring check")

    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--logdir", default="lightning_logs", help="TensorBoard runs and checkpoints go here")
    outputs.add_argument("--ckpt-path", default=None,
                         help="resume from this checkpoint, or 'last' for the newest last.ckpt under --logdir")
    outputs.add_argument("--test", action="store_true",
                         help="after fitting, evaluate the best checkpoint on the test split (IMDB: 25,000 reviews)")
    add_data_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    flush_denormals()  # before PyTorch starts its worker threads, so that they flush too
    # The reviews sit in memory as one tensor, so worker processes would only add start-up time.
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    L.seed_everything(args.seed, workers=True, verbose=False)
    try:  # every setting is checked here, before anything is downloaded, written or trained
        datamodule = datamodule_from_args(args, shuffle_seed=args.seed, group_by_length=args.mask_padding)
        module = SentimentClassifier(num_words=args.num_words, cell=args.cell, lr=args.lr,
                                     mask_padding=args.mask_padding, fast_cpu_path=not args.no_fast_path,
                                     num_classes=len(datamodule.label_names), label_names=datamodule.label_names)
        if args.log_grad_norms < 0:
            raise ValueError(f"--log-grad-norms must be 0 (off) or a positive interval, got {args.log_grad_norms}")
    except (ValueError, FileNotFoundError) as error:
        return fail(PROG, error)
    try:
        with _sigint_stops_gracefully() as interrupted:
            result = fit(
                module, datamodule, logdir=args.logdir, ckpt_path=args.ckpt_path, test=args.test,
                accelerator=args.accelerator, devices=args.devices, strategy=args.strategy, num_nodes=args.num_nodes,
                precision=args.precision, max_epochs=args.max_epochs, deterministic=args.deterministic or None,
                limit_train_batches=args.limit_train_batches, limit_val_batches=args.limit_val_batches,
                fast_dev_run=args.fast_dev_run,
                callbacks=[RecurrentGradNorms(args.log_grad_norms)] if args.log_grad_norms else None,
            )
    except (FileNotFoundError, DownloadError, UnsafeArchiveError, CheckpointError, RunConfigError,
            BadRowError) as error:
        return fail(PROG, error)
    except SIGTERMException:
        signum = signal.SIGINT if interrupted.is_set() else signal.SIGTERM
        print(f"{PROG}: stopped by {signal.Signals(signum).name}; last.ckpt was saved, resume with --ckpt-path last",
              file=sys.stderr)
        return 128 + signum
    except KeyboardInterrupt:  # Ctrl-C before training started: nothing to save
        print(f"{PROG}: interrupted before training started", file=sys.stderr)
        return 128 + signal.SIGINT
    except (NonFiniteError, OSError) as error:
        print(f"{PROG}: error: training stopped: {error}", file=sys.stderr)
        return 1
    _report(result, args.logdir, datamodule.skipped_rows)
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


@rank_zero_only
def _report(result: FitResult, logdir: str, skipped_rows: dict[str, int]) -> None:
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
        print(f"test confusion matrix: {Path(result.log_dir) / CONFUSION_FILE} (draw it: python scripts/plot.py "
              f"{result.log_dir})")
    print(f"best checkpoint: {result.best_checkpoint or '(none saved)'}")
    print(f"last checkpoint: {result.last_checkpoint or '(none saved)'}")
    print(f"curves: tensorboard --logdir {logdir}")


def _per_class_table(result: FitResult) -> str:
    """Precision, recall and F1 of each class on the test split, as a small aligned table."""
    names = result.confusion.label_names
    width = max(len("class"), *(len(name) for name in names))
    lines = [f"{'class':<{width}}  precision  recall      f1"]
    for name in names:
        values = [result.test_metrics.get(f"test/{metric}/{name}", float("nan")) for metric in ("precision", "recall",
                                                                                                  "f1")]
        lines.append(f"{name:<{width}}  {values[0]:>9.4f}  {values[1]:>6.4f}  {values[2]:>6.4f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
