"""What the controlled experiments share: many short, quiet fits and the best validation accuracy of each."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import lightning as L
from matplotlib.figure import Figure
from torch.utils.data import DataLoader

from rnn_lightning.training.module import VAL_ACC


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
    """Fit on the CPU with no logger, checkpoints or progress bar: experiments run dozens."""
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)
    trainer.fit(module, train, val)


def save_figure(figure: Figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` (folders made as needed) and release it."""
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def report(results: list[dict[str, object]], out: str | Path, name: str, table: str,
           draw: Callable[[list[dict[str, object]], Path], Path]) -> None:
    """Write ``<out>/<name>.json``, print the Markdown ``table`` and draw ``<out>/<name>.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1))
    print(table)
    print(f"wrote {draw(results, out / f'{name}.png')}")
