"""Build the Trainer (logger, checkpoints, summary) and run fit, resume and test."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from rnn_lightning.callbacks import EpochTimer
from rnn_lightning.data import IMDBDataModule
from rnn_lightning.module import VAL_ACC, SentimentClassifier
from rnn_lightning.summary import KerasSummary

_VERSION_DIR = re.compile(r"version_(\d+)$")


@dataclass
class FitResult:
    """What a run leaves behind."""

    log_dir: str
    best_checkpoint: str | None
    best_val_acc: float | None
    last_checkpoint: str | None
    test_metrics: dict[str, float] = field(default_factory=dict)


def find_last_checkpoint(logdir: str | Path) -> Path:
    """The most recently written ``last.ckpt`` of any run under ``logdir``.

    Raises:
        FileNotFoundError: If there is none, rather than silently training from scratch.
    """
    candidates = list(Path(logdir).glob("version_*/checkpoints/last.ckpt"))
    if not candidates:
        raise FileNotFoundError(f"--ckpt-path last: no last.ckpt under {logdir}/version_*/checkpoints/")
    return max(candidates, key=lambda path: path.stat().st_mtime_ns)


def find_best_checkpoint(logdir: str | Path) -> Path:
    """The best checkpoint (highest ``val_acc`` in its name) of the most recently written run under ``logdir``.

    Raises:
        FileNotFoundError: If no run under ``logdir`` has saved a best checkpoint.
    """
    candidates = [path for path in Path(logdir).glob("version_*/checkpoints/*.ckpt") if path.name != "last.ckpt"]
    if not candidates:
        raise FileNotFoundError(f"no checkpoint under {logdir}/version_*/checkpoints/: train first or pass --ckpt")
    newest_run = max(candidates, key=lambda path: path.stat().st_mtime_ns).parent
    return max(newest_run.glob("*.ckpt"), key=lambda path: (path.name != "last.ckpt", _val_acc_in_name(path)))


def _val_acc_in_name(path: Path) -> float:
    match = re.search(r"val_acc=([0-9.]+)\.ckpt$", path.name)
    return float(match.group(1)) if match else -1.0


def resolve_resume(ckpt_path: str | None, logdir: str | Path) -> tuple[Path | None, int | None]:
    """Turn ``--ckpt-path`` into a checkpoint file and the log version to continue writing into.

    ``"last"`` means the newest ``last.ckpt`` under ``logdir``. Resuming a checkpoint that lives in
    ``logdir/version_N/checkpoints/`` continues ``version_N``, so its curves stay one TensorBoard run.

    Raises:
        FileNotFoundError: If the checkpoint does not exist.
    """
    if ckpt_path is None:
        return None, None
    path = find_last_checkpoint(logdir) if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"--ckpt-path {ckpt_path}: no such checkpoint file")
    run_dir = path.resolve().parent.parent
    match = _VERSION_DIR.search(run_dir.name)
    same_logdir = run_dir.parent == Path(logdir).resolve()
    return path, int(match.group(1)) if match and same_logdir else None


def fit(
    module: SentimentClassifier,
    datamodule: IMDBDataModule,
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
    """
    resume_from, version = resolve_resume(ckpt_path, logdir)
    logger = TensorBoardLogger(save_dir=logdir, name="", version=version, default_hp_metric=False)
    checkpoint = ModelCheckpoint(
        monitor=VAL_ACC,
        mode="max",
        save_last=True,
        filename="epoch={epoch:02d}-val_acc={val/acc:.4f}",
        auto_insert_metric_name=False,
    )
    trainer = L.Trainer(
        logger=logger,
        callbacks=[checkpoint, KerasSummary(), EpochTimer(), *(callbacks or [])],
        enable_model_summary=False,  # KerasSummary prints the study's table instead
        **trainer_kwargs,
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)

    result = FitResult(
        log_dir=str(logger.log_dir),
        best_checkpoint=checkpoint.best_model_path or None,
        best_val_acc=float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else None,
        last_checkpoint=checkpoint.last_model_path or None,
    )
    if test:
        metrics = trainer.test(module, datamodule=datamodule, ckpt_path=result.best_checkpoint)
        result.test_metrics = {key: float(value) for key, value in metrics[0].items()} if metrics else {}
    return result
