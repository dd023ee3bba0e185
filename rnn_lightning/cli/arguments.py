"""Command-line pieces shared by the scripts: one-line errors, the data flags and the DataModule they describe."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from rnn_lightning.data.corpus import DEFAULT_MAX_TEXT_BYTES
from rnn_lightning.data.datamodule import TextDataModule
from rnn_lightning.data.sources import OFFICIAL_URL, SOURCE_ENV


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
    """Add the flags that describe the data: the source, its text settings, and how to read the user's files."""
    group = parser.add_argument_group("data")
    group.add_argument("--data-source", default=None, metavar="URL|ARCHIVE|FILE|FOLDER",
                       help=f"IMDB archive URL, local .tar.gz or extracted aclImdb/ folder (default: ${SOURCE_ENV}, "
                            f"else {OFFICIAL_URL}); or your own labelled data: a .csv, .tsv, .jsonl or .parquet "
                            "file, a folder of train/dev/test files, or a folder per label")
    group.add_argument("--data-dir", default="data", help="download, extraction and cache folder (default: data)")
    group.add_argument("--num-words", type=int, default=10_000, help="vocabulary size, ids included (default: 10000)")
    group.add_argument("--maxlen", type=int, default=500,
                       help="texts are padded in front or cut to their last MAXLEN ids (default: 500)")
    group.add_argument("--batch-size", type=int, default=128, help="texts per batch (default: 128)")
    group.add_argument("--val-fraction", type=float, default=0.2,
                       help="share of the training rows held out for validation when the data has no validation "
                            "split (default: 0.2, as in the study)")
    group.add_argument("--num-workers", type=int, default=0,
                       help="DataLoader workers; the data is memory-mapped, so 0 is usually fastest (default: 0)")

    own = parser.add_argument_group("your own data (with a file or folder as --data-source)")
    own.add_argument("--val-data", default=None, metavar="FILE|FOLDER", help="validation split, if not in the source")
    own.add_argument("--test-data", default=None, metavar="FILE|FOLDER", help="test split, if not in the source")
    own.add_argument("--text-column", default=None, metavar="NAME|INDEX",
                     help="column of the text (default: detected: text, sentence, content, review...)")
    own.add_argument("--label-column", default=None, metavar="NAME|INDEX",
                     help="column of the label (default: detected: label, class, category, sentiment...)")
    own.add_argument("--labels", default=None, metavar="NAME,NAME,...",
                     help="class names in class order; the data may hold the names or their indices (default: "
                          "classes.txt beside the data, else the training labels, sorted)")
    own.add_argument("--header", default=None, action=argparse.BooleanOptionalAction,
                     help="whether CSV/TSV files start with a header row (default: detected)")
    own.add_argument("--skip-bad-rows", action="store_true",
                     help="skip rows that cannot be used, with a count per reason, instead of stopping at the first")
    own.add_argument("--max-text-bytes", type=int, default=DEFAULT_MAX_TEXT_BYTES,
                     help=f"a longer text is a bad row (default: {DEFAULT_MAX_TEXT_BYTES})")


def datamodule_from_args(args: argparse.Namespace, **settings: object) -> TextDataModule:
    """The DataModule that :func:`add_data_arguments`'s flags describe, with the caller's other ``settings``.

    Raises:
        ValueError: If a flag's value is out of range, or a flag for one's own data is given with IMDB.
        FileNotFoundError: If one's own data names a split that does not exist.
    """
    labels = [name.strip() for name in args.labels.split(",")] if args.labels else None
    flags = {"source": args.data_source, "data_dir": args.data_dir, "num_words": args.num_words,
             "maxlen": args.maxlen, "batch_size": args.batch_size, "val_fraction": args.val_fraction,
             "num_workers": args.num_workers, "val_source": args.val_data, "test_source": args.test_data,
             "labels": labels, "text_column": args.text_column, "label_column": args.label_column,
             "header": args.header, "skip_bad_rows": args.skip_bad_rows, "max_text_bytes": args.max_text_bytes}
    return TextDataModule(**{**flags, **settings})
