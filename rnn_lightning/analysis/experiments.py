"""What the controlled experiments share: many short, quiet fits and the best validation accuracy of each."""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from rnn_lightning.training.module import VAL_ACC  # noqa: E402

# The masking arm: each model trained as the study trains it (through the padding) and with the padding skipped.
MASKING = {"off": False, "on": True}


def add_masking_argument(parser: argparse.ArgumentParser) -> None:
    """``--masking off on``: which arms to run (``on`` skips the padding, as ``fit.py --mask-padding`` does)."""
    parser.add_argument("--masking", nargs="+", default=list(MASKING), choices=list(MASKING),
                        help="off: run through the padding (the study); on: skip it (default: both arms)")


def arm_label(masked: bool) -> str:
    """How tables and legends name a masking arm."""
    return "padding masked" if masked else "through padding"


class BestValAccuracy(L.Callback):
    """The best validation accuracy seen at the end of any epoch (sanity checks excluded)."""

    def __init__(self) -> None:
        self.best_val_acc = 0.0

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and VAL_ACC in trainer.callback_metrics:
            self.best_val_acc = max(self.best_val_acc, float(trainer.callback_metrics[VAL_ACC]))


def quiet_fit(module: L.LightningModule, train: DataLoader, val: DataLoader, epochs: int,
              callbacks: list[L.Callback]) -> None:
    """Fit on the CPU with no logger, checkpoints, progress bar or start-up notes: experiments run dozens."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", r".*isinstance\(treespec, LeafSpec\)", FutureWarning)
        trainer.fit(module, train, val)


def save_figure(figure: plt.Figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` (folders made as needed) and release it."""
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def report(results: list[dict[str, object]], out: str | Path, name: str, table: str,
           draw: Callable[[list[dict[str, object]], Path], Path]) -> None:
    """Write ``<out>/<name>.json``, print the Markdown ``table`` and draw ``<out>/<name>.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1))
    print(table)
    print(f"wrote {draw(results, out / f'{name}.png')}")
