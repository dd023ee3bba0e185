"""Build the Trainer (logger, checkpoints, summary) and run fit, resume and test."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from rnn_lightning.training.callbacks import EpochTimer, FiniteGuard, SigtermCheckpoint
from rnn_lightning.training.checkpoints import LAST, AtomicCheckpointIO, find_last_checkpoint, read_checkpoint
from rnn_lightning.training.confusion import Confusion
from rnn_lightning.data.datamodule import TextDataModule
from rnn_lightning.training.module import VAL_ACC, SentimentClassifier
from rnn_lightning.training.summary import KerasSummary

_VERSION_DIR = re.compile(r"version_(\d+)$")


class RunConfigError(ValueError):
    """The Trainer refused a setting (devices, precision, limits, ...); nothing was read, written or trained."""


@dataclass
class FitResult:
    """What a run leaves behind."""

    log_dir: str
    best_checkpoint: str | None
    best_val_acc: float | None
    last_checkpoint: str | None
    test_metrics: dict[str, float] = field(default_factory=dict)
    confusion: Confusion | None = None  # of the test split, also saved as the run's test_confusion.json


def resolve_resume(ckpt_path: str | None, logdir: str | Path) -> tuple[Path | None, int | None]:
    """Turn ``--ckpt-path`` into a checkpoint file and the log version to continue writing into.

    ``"last"`` means the newest ``last.ckpt`` under ``logdir``. Resuming a checkpoint that lives in
    ``logdir/version_N/checkpoints/`` continues ``version_N``, so its curves stay one TensorBoard run.

    Raises:
        FileNotFoundError: If ``"last"`` finds no checkpoint.
        CheckpointError: If the checkpoint is missing, empty, corrupt or untrusted: never a silent restart.
    """
    if ckpt_path is None:
        return None, None
    path = find_last_checkpoint(logdir) if ckpt_path == "last" else Path(ckpt_path)
    read_checkpoint(path)  # refuse a bad file here, before Lightning loads it and before any log is written
    run_dir = path.resolve().parent.parent
    match = _VERSION_DIR.search(run_dir.name)
    same_logdir = run_dir.parent == Path(logdir).resolve()
    return path, int(match.group(1)) if match and same_logdir else None


def fit(
    module: SentimentClassifier,
    datamodule: TextDataModule,
    *,
    logdir: str = "lightning_logs",
    ckpt_path: str | None = None,
    test: bool = False,
    callbacks: list[L.Callback] | None = None,
    **trainer_kwargs: object,
) -> FitResult:
    """Train ``module`` on ``datamodule`` with TensorBoard curves and checkpoints, then optionally test.

    Args:
        module: The model to train.
        datamodule: The data.
        logdir: TensorBoard and checkpoint root; each run writes ``logdir/version_N/``.
        ckpt_path: Checkpoint to resume from, or ``"last"`` for the newest ``last.ckpt`` under ``logdir``.
        test: Evaluate the best checkpoint on the test split after fitting.
        callbacks: Extra callbacks.
        **trainer_kwargs: Passed to :class:`lightning.Trainer` (accelerator, devices, max_epochs, ...).

    Returns:
        Where the logs and checkpoints went and the best validation accuracy.

    Raises:
        RunConfigError: If the Trainer refuses a setting, the model and data disagree on ``num_words`` or the
            classes, or ``test`` is asked of data without a test split: before anything is written or trained.
        CheckpointError: If ``ckpt_path`` is not a loadable checkpoint (or was trained on other words).
    """
    if module.hparams.num_words != datamodule.hparams.num_words:
        raise RunConfigError(f"the data has num_words={datamodule.hparams.num_words}, "
                             f"the model {module.hparams.num_words}")
    classes = len(datamodule.label_names)
    if module.hparams.num_classes != classes:
        raise RunConfigError(f"the data has {classes} classes {list(datamodule.label_names)}, "
                             f"the model {module.hparams.num_classes}")
    if test and not datamodule.has_split("test"):
        raise RunConfigError(f"{datamodule.hparams.source} has no test split to test on: give one (--test-data)")
    best = ModelCheckpoint(monitor=VAL_ACC, mode="max", filename="epoch={epoch:02d}-val_acc={val/acc:.4f}",
                           auto_insert_metric_name=False)
    # A second callback for last.ckpt: ModelCheckpoint(save_last=True) rewrites it only in epochs that improve
    # the monitored metric (Lightning 2.6), so resuming "last" would go back to the best epoch.
    latest = SigtermCheckpoint(filename=Path(LAST).stem, enable_version_counter=False)
    summary = KerasSummary(maxlen=datamodule.hparams.maxlen)
    resume_from, version = resolve_resume(ckpt_path, logdir)
    logger = TensorBoardLogger(save_dir=logdir, name="", version=version, default_hp_metric=False)
    trainer = _trainer(
        logger=logger,
        callbacks=[best, latest, summary, EpochTimer(), FiniteGuard(), *(callbacks or [])],
        plugins=[AtomicCheckpointIO()],
        enable_model_summary=False,  # KerasSummary prints the study's table instead
        use_distributed_sampler=False,  # the DataModule shards its own batches across ranks
        **trainer_kwargs,
    )
    with _known_deprecations_silenced():
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)

    result = FitResult(
        log_dir=str(logger.log_dir),
        best_checkpoint=best.best_model_path or None,
        best_val_acc=float(best.best_model_score) if best.best_model_score is not None else None,
        last_checkpoint=latest.best_model_path or None,  # with no monitor, its "best" is the latest
    )
    if test:
        with _known_deprecations_silenced():
            metrics = trainer.test(module, datamodule=datamodule, ckpt_path=result.best_checkpoint,
                                   weights_only=True)
        result.test_metrics = {key: float(value) for key, value in metrics[0].items()} if metrics else {}
        if module.test_confusion is not None and trainer.is_global_zero:
            result.confusion = Confusion.of(datamodule.label_names, module.test_confusion)
            result.confusion.save(result.log_dir)
    return result


@contextlib.contextmanager
def _known_deprecations_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        # Lightning 2.6's loops call a torch pytree API that torch 2.13 deprecates: nothing for us to change.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
        yield


def _trainer(**trainer_kwargs: object) -> L.Trainer:
    """A Trainer, or :class:`RunConfigError` with Lightning's one-line reason if it refuses the settings.

    Lightning's start-up notes ("GPU available: ...") are held back until the Trainer accepted the settings,
    so that a refused setting ends in a single line.
    """
    lightning_log = logging.getLogger("lightning.pytorch")
    held_back = logging.handlers.BufferingHandler(capacity=1_000)
    handlers, propagate = lightning_log.handlers[:], lightning_log.propagate
    lightning_log.handlers, lightning_log.propagate = [held_back], False
    try:
        trainer = L.Trainer(**trainer_kwargs)
    except (MisconfigurationException, ValueError, ImportError) as error:
        raise RunConfigError(str(error).strip().splitlines()[0]) from error
    finally:
        lightning_log.handlers, lightning_log.propagate = handlers, propagate
    # Lightning starts as many CPU processes as asked; more than there are cores only slows everything down.
    cores = os.cpu_count() or 1
    if isinstance(trainer.accelerator, CPUAccelerator) and trainer.num_devices > cores:
        raise RunConfigError(f"{trainer.num_devices} CPU devices requested, this machine has {cores} cores")
    for record in held_back.buffer:
        lightning_log.handle(record)
    return trainer
