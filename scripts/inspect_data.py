"""Decode one encoded text back to words, as the Keras study does, to see what the model is fed."""

from __future__ import annotations

import argparse
import sys

from rnn_lightning.cli.arguments import Parser, add_data_arguments, datamodule_from_args, fail
from rnn_lightning.data.download import DownloadError
from rnn_lightning.data.text import PAD_ID


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="inspect_data.py", description=__doc__,
                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--index", type=int, default=0, help="position of the text in its split (file order)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="train",
                        help="which split (IMDB: train and test, 25,000 reviews each)")
    parser.add_argument("--show-ids", type=int, default=20, help="how many of its first ids to print")
    add_data_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        datamodule = datamodule_from_args(args)
        datamodule.prepare_data()
        datamodule.setup()
        if not datamodule.has_split(args.split):
            raise ValueError(f"{datamodule.hparams.source} has no {args.split} split of its own")
        ids, label = datamodule.review(args.index, args.split)
    except (ValueError, FileNotFoundError, DownloadError, IndexError) as error:  # UnsafeArchiveError is a ValueError
        return fail("inspect_data.py", error)
    unpadded = ids[ids != PAD_ID]
    print(f"text {args.index} of {args.split}: label {label} ({datamodule.label_names[label]}), "
          f"{len(unpadded)} ids after padding/truncation to {len(ids)}")
    print(f"first ids: {unpadded[: args.show_ids].tolist()}")
    print(datamodule.encoder.decode(ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
