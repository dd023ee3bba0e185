"""Decode one encoded review back to words, as the Keras study does, to see what the model is fed."""

from __future__ import annotations

import argparse
import sys

from rnn_lightning.cli import Parser, add_data_arguments, datamodule_from_args, fail
from rnn_lightning.download import DownloadError
from rnn_lightning.text import PAD_ID


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="inspect_data.py", description=__doc__,
                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--index", type=int, default=0, help="position of the review in its split (file order)")
    parser.add_argument("--split", choices=("train", "test"), default="train", help="which 25,000 reviews")
    parser.add_argument("--show-ids", type=int, default=20, help="how many of its first ids to print")
    add_data_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        datamodule = datamodule_from_args(args)
        datamodule.prepare_data()
        datamodule.setup()
        ids, label = datamodule.review(args.index, args.split)
    except (ValueError, FileNotFoundError, DownloadError, IndexError) as error:  # UnsafeArchiveError is a ValueError
        return fail("inspect_data.py", error)
    unpadded = ids[ids != PAD_ID]
    print(f"review {args.index} of {args.split}: label {label} ({'positive' if label else 'negative'}), "
          f"{len(unpadded)} ids after padding/truncation to {len(ids)}")
    print(f"first ids: {unpadded[: args.show_ids].tolist()}")
    print(datamodule.encoder.decode(ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
