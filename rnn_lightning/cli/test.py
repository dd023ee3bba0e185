"""Evaluate a checkpoint on the test split of its data: accuracy, per-class figures and the confusion matrix."""

from __future__ import annotations

from pathlib import Path

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, add_settings, new_parser


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--ckpt", type=str | None, default=None,
                        help="checkpoint file (default: the best checkpoint of the newest run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    add_settings(parser, "data")
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.cli.process import prepare_torch

    prepare_torch()
    import lightning as L

    from rnn_lightning.data.datamodule import TextDataModule
    from rnn_lightning.data.download import DownloadError
    from rnn_lightning.models.saved import CheckpointError, find_best_checkpoint
    from rnn_lightning.training.module import TextClassifier

    args = invocation.settings()
    try:
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        model = TextClassifier.from_checkpoint(ckpt)
        datamodule = TextDataModule(args.data)
        if not datamodule.has_split("test"):
            raise ValueError(f"{datamodule.source_name} has no test split: give one (--data.test_source)")
        datamodule.prepare_data()
        datamodule.setup("test")
        if (datamodule.encoder, datamodule.label_names) != (model.encoder, model.class_names):
            raise ValueError(f"{ckpt} was trained on another vocabulary, text settings or classes than this data: "
                             "give the data settings it was trained with (the data: part of its run's config.yaml)")
    except (CheckpointError, FileNotFoundError, DownloadError, ValueError) as error:
        return invocation.fail(error)
    trainer = L.Trainer(accelerator=args.accelerator, devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False)
    metrics = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    for name in sorted(metrics):
        print(f"{name}: {float(metrics[name]):.4f}")
    return 0
