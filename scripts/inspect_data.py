"""Decode one encoded review back to words, as the Keras study does, to see what the model is fed."""

from __future__ import annotations

import argparse
import sys

from rnn_lightning.archive import UnsafeArchiveError
from rnn_lightning.cli import add_data_arguments, datamodule_from_args
from rnn_lightning.download import DownloadError
from rnn_lightning.text import PAD_ID


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--index", type=int, default=0, help="position of the review in its split (file order)")
    parser.add_argument("--split", choices=("train", "test"), default="train", help="which 25,000 reviews")
    parser.add_argument("--show-ids", type=int, default=20, help="how many of its first ids to print")
    add_data_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    datamodule = datamodule_from_args(args)
    try:
        datamodule.prepare_data()
        datamodule.setup()
        ids, label = datamodule.review(args.index, args.split)
    except (FileNotFoundError, DownloadError, UnsafeArchiveError, IndexError) as error:
        print(f"inspect_data.py: error: {error}", file=sys.stderr)
        return 2
    unpadded = ids[ids != PAD_ID]
    print(f"review {args.index} of {args.split}: label {label} ({'positive' if label else 'negative'}), "
          f"{len(unpadded)} ids after padding/truncation to {len(ids)}")
    print(f"first ids: {unpadded[: args.show_ids].tolist()}")
    print(datamodule.encoder.decode(ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
