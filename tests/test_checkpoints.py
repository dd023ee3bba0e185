"""Finding checkpoints: the newest run, its last.ckpt, and its best checkpoint as the callback recorded it."""

import os
import shutil
from pathlib import Path

import pytest
import torch

from rnn_lightning.models.saved import (
    CheckpointError,
    find_best_checkpoint,
    find_last_checkpoint,
    newest_run,
    read_checkpoint,
)


def copy_run(run: Path, logdir: Path, version: int, mtime_ns: int) -> Path:
    """Copy a run's checkpoints to ``logdir/version_N`` and date every copied file ``mtime_ns``."""
    target = logdir / f"version_{version}" / "checkpoints"
    shutil.copytree(run / "checkpoints", target)
    for path in target.iterdir():
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return target


def test_the_best_checkpoint_is_the_one_the_run_recorded(tiny_run):
    result = tiny_run[1]
    best = find_best_checkpoint(Path(result.log_dir).parent)
    assert best == Path(result.best_checkpoint) and best.name != "last.ckpt"
    recorded = read_checkpoint(result.last_checkpoint)["callbacks"]
    assert any(state.get("best_model_path") == result.best_checkpoint for state in recorded.values())


def test_file_names_are_never_parsed(tiny_run, tmp_path):
    checkpoints = copy_run(Path(tiny_run[1].log_dir), tmp_path, 0, 10**18)
    recorded = Path(tiny_run[1].best_checkpoint).name
    decoy = checkpoints / "epoch=99-val_acc=0.9999.ckpt"  # a name that looks better than the recorded best
    shutil.copy(checkpoints / recorded, decoy)
    os.utime(decoy, ns=(10**18 - 1, 10**18 - 1))  # older than last.ckpt, which holds the record
    assert find_best_checkpoint(tmp_path) == checkpoints / recorded  # looked up in the moved run, too


def test_the_newest_run_is_the_one_written_last(tiny_run, tmp_path):
    run = Path(tiny_run[1].log_dir)
    copy_run(run, tmp_path, 0, 2 * 10**18)  # resumed later than version_1 was written
    copy_run(run, tmp_path, 1, 10**18)
    assert newest_run(tmp_path) == tmp_path / "version_0"
    assert find_last_checkpoint(tmp_path) == tmp_path / "version_0" / "checkpoints" / "last.ckpt"
    assert find_best_checkpoint(tmp_path).parent == tmp_path / "version_0" / "checkpoints"


def test_a_run_without_a_record_or_without_its_best_file_is_refused(tiny_run, tmp_path):
    checkpoints = copy_run(Path(tiny_run[1].log_dir), tmp_path, 0, 10**18)
    (checkpoints / Path(tiny_run[1].best_checkpoint).name).unlink()
    with pytest.raises(CheckpointError, match="records .* as the best checkpoint, but it is not in"):
        find_best_checkpoint(tmp_path)
    last = checkpoints / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    checkpoint["callbacks"] = {}
    torch.save(checkpoint, last)
    with pytest.raises(CheckpointError, match="records no best checkpoint by val/acc"):
        find_best_checkpoint(tmp_path)


def test_no_run_at_all_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train first or pass --ckpt"):
        find_best_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="no last.ckpt"):
        find_last_checkpoint(tmp_path)


def test_the_record_read_is_the_newest_checkpoints_and_the_monitors_own(tiny_run, tmp_path):
    checkpoints = copy_run(Path(tiny_run[1].log_dir), tmp_path, 0, 10**18)
    recorded = checkpoints / Path(tiny_run[1].best_checkpoint).name
    last = checkpoints / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    other = checkpoints / "by-loss.ckpt"
    shutil.copy(recorded, other)
    os.utime(other, ns=(10**18 - 2, 10**18 - 2))
    # Another ModelCheckpoint's state listed first (a second monitor), and an entry that is not a callback's state.
    checkpoint["callbacks"] = {"ModelCheckpoint{'monitor': 'val/loss'}": {"monitor": "val/loss",
                                                                         "best_model_path": str(other)},
                               "note": "not a state", **checkpoint["callbacks"]}
    torch.save(checkpoint, last)
    os.utime(last, ns=(10**18 + 1, 10**18 + 1))  # the newest file of the run
    stale = checkpoints / "zz-no-record.ckpt"  # last by name, first by date: the record is the newest file's
    shutil.copy(last, stale)
    stale_checkpoint = torch.load(stale, weights_only=True)
    stale_checkpoint["callbacks"] = {}
    torch.save(stale_checkpoint, stale)
    os.utime(stale, ns=(10**18 - 1, 10**18 - 1))
    assert find_best_checkpoint(tmp_path) == recorded
    assert find_best_checkpoint(tmp_path, monitor="val/loss") == other
