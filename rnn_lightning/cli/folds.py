"""Split a training file into k folds, each a collection (train and dev), to choose settings by cross-validation."""

from __future__ import annotations

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, new_parser


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("train", help="the training file (.csv or .tsv)")
    parser.add_argument("--out", default="folds", help="where the fold folders go (fold_0, fold_1, ...)")
    parser.add_argument("--folds", type=int, default=5, help="how many folds")
    parser.add_argument("--seed", type=int, default=0, help="the seed of the shuffle before splitting")
    parser.add_argument("--header", action="store_true", help="the file's first row is a header, kept in every file")
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.data.folds import write_folds

    args = invocation.config
    try:
        folders = write_folds(args.train, args.out, args.folds, args.seed, args.header)
    except (ValueError, FileNotFoundError) as error:
        return invocation.fail(error)
    for folder in folders:
        print(f"{folder}: rnn-lightning fit --data.source {folder} ...")
    return 0
