"""Command-line pieces shared by the scripts: the data flags and the DataModule they describe."""

from __future__ import annotations

import argparse

from rnn_lightning.data import OFFICIAL_URL, SOURCE_ENV, IMDBDataModule


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-source``, ``--data-dir``, ``--num-words``, ``--maxlen`` and ``--batch-size``."""
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


def datamodule_from_args(args: argparse.Namespace) -> IMDBDataModule:
    """The DataModule that :func:`add_data_arguments`'s flags describe (and ``--mask-padding``, where present)."""
    return IMDBDataModule(source=args.data_source, data_dir=args.data_dir, num_words=args.num_words,
                          maxlen=args.maxlen, batch_size=args.batch_size, num_workers=args.num_workers,
                          group_by_length=getattr(args, "mask_padding", False))
