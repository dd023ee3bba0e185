"""Checkpoint files: written atomically, read without running code from them, and found in a log folder."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from rnn_lightning.fileio import WriteError, atomic_write

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
    with path.open("rb") as handle:
        start = handle.read(4)
    if not start.startswith((b"PK\x03\x04", b"\x80")):  # torch.save's zip archive, or a legacy pickle
        raise CheckpointError(f"{path} is not a checkpoint file (not what torch.save writes)")
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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as out:
                torch.save(checkpoint, out)
        except (OSError, RuntimeError) as error:  # torch.save reports a failed write as a RuntimeError
            code = error.errno if isinstance(error, OSError) and error.errno else errno.EIO
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
            raise WriteError(code, f"{reason} while writing {path} (the previous {path.name} is kept)") from error


def newest_run(logdir: str | Path, holding: str = "checkpoints/*.ckpt") -> Path:
    """The run folder (``logdir/version_N/``) most recently written to, among those holding ``holding``.

    Every script that defaults to "the newest run" asks this one function, so they all agree: the run
    whose matching file (a checkpoint, say, or a TensorBoard event file) was written last. A resumed older
    run is therefore newer than a later run that has stopped.

    Args:
        logdir: The log folder.
        holding: Glob, relative to a run folder, of the files that make a run count and date it.

    Raises:
        FileNotFoundError: If no run under ``logdir`` holds such a file.
    """
    files = list(Path(logdir).glob(f"version_*/{holding}"))
    if not files:
        raise FileNotFoundError(f"no run under {logdir}/ holds version_*/{holding}")
    newest = max(files, key=lambda path: path.stat().st_mtime_ns)
    return Path(logdir) / newest.relative_to(logdir).parts[0]


def find_last_checkpoint(logdir: str | Path) -> Path:
    """The ``last.ckpt`` of the newest run under ``logdir`` that has one.

    Raises:
        FileNotFoundError: If there is none, rather than silently training from scratch.
    """
    try:
        return newest_run(logdir, f"checkpoints/{LAST}") / "checkpoints" / LAST
    except FileNotFoundError:
        raise FileNotFoundError(f"--ckpt-path last: no {LAST} under {logdir}/version_*/checkpoints/") from None


def find_best_checkpoint(logdir: str | Path, monitor: str = "val/acc") -> Path:
    """The best checkpoint of the newest run under ``logdir``, as its ``ModelCheckpoint`` recorded it.

    The record is the checkpoint callback's own state, saved in every checkpoint of the run (the newest
    one is read); file names are for people and are never parsed. A run folder that was moved still works:
    the recorded file is looked up beside the checkpoint that recorded it.

    Raises:
        FileNotFoundError: If no run under ``logdir`` has saved a checkpoint.
        CheckpointError: If the run's checkpoints record no best checkpoint for ``monitor``, or it is gone.
    """
    try:
        run = newest_run(logdir)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint under {logdir}/version_*/checkpoints/: train first or pass --ckpt"
                                ) from None
    checkpoints = run / "checkpoints"
    newest = max(checkpoints.glob("*.ckpt"), key=lambda path: path.stat().st_mtime_ns)
    record = read_checkpoint(newest).get("callbacks", {})
    recorded = [state["best_model_path"] for state in record.values()
                if isinstance(state, dict) and state.get("monitor") == monitor and state.get("best_model_path")]
    if not recorded:
        raise CheckpointError(f"{newest} records no best checkpoint by {monitor}: pass --ckpt")
    best = checkpoints / Path(recorded[0]).name
    if not best.is_file():
        raise CheckpointError(f"{newest} records {best.name} as the best checkpoint, but it is not in {checkpoints}")
    return best
