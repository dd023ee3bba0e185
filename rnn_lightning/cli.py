"""Command-line pieces shared by the scripts: one-line errors, the data flags and the DataModule they describe."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from rnn_lightning.data import IMDBDataModule
from rnn_lightning.sources import OFFICIAL_URL, SOURCE_ENV


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit status 2, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def fail(prog: str, error: BaseException | str) -> int:
    """Print ``prog: error: reason`` as one line on stderr and return exit status 2."""
    reason = " ".join(str(error).split()) or type(error).__name__
    print(f"{prog}: error: {reason}", file=sys.stderr)
    return 2


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-source``, ``--data-dir``, ``--num-words``, ``--maxlen``, ``--batch-size``, ``--num-workers``."""
    group = parser.add_argument_group("data")
    group.add_argument("--data-source", default=None, metavar="URL|ARCHIVE|FOLDER",
                       help=f"IMDB archive URL, local .tar.gz or extracted aclImdb/ folder "
                            f"(default: ${SOURCE_ENV}, else {OFFICIAL_URL})")
    group.add_argument("--data-dir", default="data", help="download, extraction and cache folder (default: data)")
    group.add_argument("--num-words", type=int, default=10_000, help="vocabulary size, ids included (default: 10000)")
    group.add_argument("--maxlen", type=int, default=500,
                       help="reviews are padded in front or cut to their last MAXLEN ids (default: 500)")
    group.add_argument("--batch-size", type=int, default=128, help="reviews per batch (default: 128)")
    group.add_argument("--num-workers", type=int, default=0,
                       help="DataLoader workers; the data is in memory, so 0 is usually fastest (default: 0)")


def datamodule_from_args(args: argparse.Namespace, **settings: object) -> IMDBDataModule:
    """The DataModule that :func:`add_data_arguments`'s flags describe, with the caller's other ``settings``.

    Raises:
        ValueError: If a flag's value is out of range (before anything is read or written).
    """
    flags = {"source": args.data_source, "data_dir": args.data_dir, "num_words": args.num_words,
             "maxlen": args.maxlen, "batch_size": args.batch_size, "num_workers": args.num_workers}
    return IMDBDataModule(**{**flags, **settings})
