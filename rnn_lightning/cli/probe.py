"""Vanishing-gradient probe: the gradient norm of the loss w.r.t. each time step's input, against distance.

Takes a batch of real reviews, back-propagates the loss to the embedding outputs of every step, and
prints a table (norm at distance 1, 10, 50, 100, 200, 400 and the ratio of 400 to 1) and a log-scale plot,
for trained checkpoints (--ckpt) and freshly initialised models (--cell). With --real_words each distance is
averaged over the reviews that have a word there, the padding left out (gradient_probe_real_words.png).
"""

from __future__ import annotations

from pathlib import Path

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, add_settings, new_parser
from rnn_lightning.settings import CELL_NAMES


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--ckpt", nargs="*", default=[], metavar="PATH", help="trained checkpoints to probe")
    parser.add_argument("--cell", nargs="*", default=None, choices=CELL_NAMES,
                        help="freshly initialised models to probe (default: rnn lstm gru when no --ckpt)")
    parser.add_argument("--reviews", type=int, default=128, help="validation reviews in the probed batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh models' initialisation")
    parser.add_argument("--real_words", action="store_true",
                        help="average each distance over the reviews with a word there (padding left out)")
    parser.add_argument("--out", default="docs", help="folder for gradient_probe.png")
    add_settings(parser, "data")
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.cli.process import prepare_torch

    prepare_torch()
    import torch

    from rnn_lightning.analysis.probe import format_table, gradient_profile, plot_profiles
    from rnn_lightning.data.datamodule import TextDataModule
    from rnn_lightning.data.download import DownloadError
    from rnn_lightning.models.network import TextRNN
    from rnn_lightning.serving.inference import load_model
    from rnn_lightning.settings import ModelSettings

    args = invocation.settings()
    cells = args.cell if args.cell is not None else ([] if args.ckpt else list(CELL_NAMES))
    try:
        datamodule = TextDataModule(args.data)
        datamodule.prepare_data()
        datamodule.setup("fit")
        trained = [(Path(path), load_model(path)) for path in args.ckpt]
    except (ValueError, FileNotFoundError, DownloadError) as error:  # CheckpointError, UnsafeArchiveError included
        return invocation.fail(error)
    models = [(f"{module.settings.cell}{' masked' if module.settings.mask_padding else ''} trained "
               f"({path.stem[-14:]})", module.model) for path, module in trained]
    for cell in cells:
        torch.manual_seed(args.seed)
        models.append((f"{cell} fresh init", TextRNN(ModelSettings(cell=cell), args.data.num_words)))
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
