"""Checkpoint files: written atomically, read without running code from them, and found in a log folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from rnn_lightning.fileio import atomic_write

LAST = "last.ckpt"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, untrusted, or not one of this project's."""


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint file with ``torch.load(weights_only=True)``: tensors and plain values only.

    Raises:
        CheckpointError: With a one-line reason, if the file is missing, empty, corrupt, holds objects that
            would need code to rebuild (a pickle payload, say), or is not a Lightning checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - arbitrary bytes make torch.load raise almost any type
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path} is not a loadable checkpoint: {reason}") from error
    if not isinstance(checkpoint, dict) or not {"state_dict", "hyper_parameters"} <= checkpoint.keys():
        raise CheckpointError(f"{path} is not a Lightning checkpoint with hyperparameters")
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temp file beside its target, fsync it, then rename it into place.

    A crash, a full disk or a kill mid-write leaves the previous file intact; the temp file's name ends in
    ``.part``, so nothing that looks for ``*.ckpt`` ever picks it up. (Lightning's own save goes through a
    temp file in the system temp folder and a move, which is not atomic across file systems.)
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as out:
            torch.save(checkpoint, out)


def find_last_checkpoint(logdir: str | Path) -> Path:
    """The most recently written ``last.ckpt`` of any run under ``logdir``.

    Raises:
        FileNotFoundError: If there is none, rather than silently training from scratch.
    """
    candidates = list(Path(logdir).glob(f"version_*/checkpoints/{LAST}"))
    if not candidates:
        raise FileNotFoundError(f"--ckpt-path last: no {LAST} under {logdir}/version_*/checkpoints/")
    return max(candidates, key=lambda path: path.stat().st_mtime_ns)


def find_best_checkpoint(logdir: str | Path) -> Path:
    """The best checkpoint (highest ``val_acc`` in its name) of the most recently written run under ``logdir``.

    Raises:
        FileNotFoundError: If no run under ``logdir`` has saved a best checkpoint.
    """
    candidates = [path for path in Path(logdir).glob("version_*/checkpoints/*.ckpt") if path.name != LAST]
    if not candidates:
        raise FileNotFoundError(f"no checkpoint under {logdir}/version_*/checkpoints/: train first or pass --ckpt")
    newest_run = max(candidates, key=lambda path: path.stat().st_mtime_ns).parent
    return max((path for path in newest_run.glob("*.ckpt") if path.name != LAST), key=_val_acc_in_name)


def _val_acc_in_name(path: Path) -> float:
    match = re.search(r"val_acc=([0-9.]+)\.ckpt$", path.name)
    return float(match.group(1)) if match else -1.0
