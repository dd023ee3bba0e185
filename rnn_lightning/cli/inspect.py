"""Decode one encoded text back to words, as the Keras study does, to see what the model is fed."""

from __future__ import annotations

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, add_settings, new_parser


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--index", type=int, default=0, help="position of the text in its split (file order)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="train",
                        help="which split (IMDB: train and test, 25,000 reviews each)")
    parser.add_argument("--show_ids", type=int, default=20, help="how many of its first ids to print")
    add_settings(parser, "data")
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.data.datamodule import TextDataModule
    from rnn_lightning.data.download import DownloadError
    from rnn_lightning.data.text import PAD_ID

    args = invocation.settings()
    try:
        datamodule = TextDataModule(args.data)
        datamodule.prepare_data()
        datamodule.setup()
        if not datamodule.has_split(args.split):
            raise ValueError(f"{datamodule.source_name} has no {args.split} split of its own")
        ids, label = datamodule.review(args.index, args.split)
    except (ValueError, FileNotFoundError, DownloadError, IndexError) as error:  # UnsafeArchiveError is a ValueError
        return invocation.fail(error)
    unpadded = ids[ids != PAD_ID]
    print(f"text {args.index} of {args.split}: label {label} ({datamodule.label_names[label]}), "
          f"{len(unpadded)} ids after padding/truncation to {len(ids)}")
    print(f"first ids: {unpadded[: args.show_ids].tolist()}")
    print(datamodule.encoder.decode(ids))
    return 0
