"""Vanishing-gradient probe: gradient norm of the loss w.r.t. each time step's input, against distance.

Takes a batch of real reviews, back-propagates the loss to the embedding outputs of every step, and
prints a table (norm at distance 1, 10, 50, 100, 200, 400 and the ratio of 400 to 1) and a log-scale plot,
for trained checkpoints (--ckpt) and freshly initialised models (--cell). With --real-words each distance is
averaged over the reviews that have a word there, the padding left out (gradient_probe_real_words.png).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from rnn_lightning.cli.arguments import Parser, add_data_arguments, datamodule_from_args, fail
from rnn_lightning.data.download import DownloadError
from rnn_lightning.serving.inference import load_model
from rnn_lightning.models.network import CELLS, SentimentRNN
from rnn_lightning.analysis.probe import format_table, gradient_profile, plot_profiles


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="probe_gradients.py", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", nargs="*", default=[], metavar="PATH", help="trained checkpoints to probe")
    parser.add_argument("--cell", nargs="*", default=None, choices=sorted(CELLS),
                        help="freshly initialised models to probe (default: rnn lstm gru when no --ckpt)")
    parser.add_argument("--reviews", type=int, default=128, help="validation reviews in the probed batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh models' initialisation")
    parser.add_argument("--real-words", action="store_true",
                        help="average each distance over the reviews with a word there (padding left out)")
    parser.add_argument("--out", default="docs", help="folder for gradient_probe.png")
    add_data_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cells = args.cell if args.cell is not None else ([] if args.ckpt else ["rnn", "lstm", "gru"])
    try:
        datamodule = datamodule_from_args(args)
        datamodule.prepare_data()
        datamodule.setup("fit")
        trained = [(Path(path), load_model(path)) for path in args.ckpt]
    except (ValueError, FileNotFoundError, DownloadError) as error:  # CheckpointError, UnsafeArchiveError included
        return fail("probe_gradients.py", error)
    models = [(f"{module.hparams.cell}{' masked' if module.model.mask_padding else ''} trained ({path.stem[-14:]})",
               module.model) for path, module in trained]
    for cell in cells:
        torch.manual_seed(args.seed)
        models.append((f"{cell} fresh init", SentimentRNN(num_words=args.num_words, cell=cell)))
    ids, labels = datamodule.val_set[: args.reviews]
    profiles = [gradient_profile(model, ids, labels, label, args.real_words) for label, model in models]
    print(format_table(profiles, show_reviews=args.real_words))
    if args.real_words:
        figure = plot_profiles(profiles, Path(args.out) / "gradient_probe_real_words.png",
                               title="Gradient w.r.t. each real word's input (padding left out)")
    else:
        figure = plot_profiles(profiles, Path(args.out) / "gradient_probe.png")
    print(f"wrote {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
