"""Checkpoint files written atomically (reading and finding them: :mod:`rnn_lightning.models.saved`)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from rnn_lightning.fileio import WriteError, atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temp file beside its target, fsync it, then rename it into place.

    A crash, a full disk or a kill mid-write leaves the previous file intact; the temp file's name ends in
    ``.part``, so nothing that looks for ``*.ckpt`` ever picks it up. (Lightning's own save goes through a
    temp file in the system temp folder and a move, which is not atomic across file systems.)
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as out:
                torch.save(checkpoint, out)
        except (OSError, RuntimeError) as error:  # torch.save reports a failed write as a RuntimeError
            code = error.errno if isinstance(error, OSError) and error.errno else errno.EIO
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
            raise WriteError(code, f"{reason} while writing {path} (the previous {path.name} is kept)") from error
