"""Build the Trainer (logger, checkpoints, summary) and run fit, resume and test."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from rnn_lightning.data.datamodule import TextDataModule
from rnn_lightning.data.spec import TextSpec
from rnn_lightning.models.saved import LAST, find_last_checkpoint, read_checkpoint
from rnn_lightning.settings import TrainSettings
from rnn_lightning.training.baseline import fit_baseline, fit_fasttext, require_baseline_extra
from rnn_lightning.training.callbacks import EpochTimer, FiniteGuard, RecurrentGradNorms, SaveConfig, SigtermCheckpoint
from rnn_lightning.training.checkpoints import AtomicCheckpointIO
from rnn_lightning.training.confusion import Confusion
from rnn_lightning.training.module import VAL_ACC, TextClassifier
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
    baseline: dict[str, float] = field(default_factory=dict)  # TF-IDF + logistic regression on the same rows
    fasttext: dict[str, float] = field(default_factory=dict)  # fastText (words and word pairs) on the same rows
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
    module: TextClassifier | Callable[[TextSpec], TextClassifier],
    datamodule: TextDataModule,
    settings: TrainSettings | None = None,
    *,
    config: str | None = None,
    callbacks: list[L.Callback] | None = None,
    **trainer_overrides: object,
) -> FitResult:
    """Train ``module`` on ``datamodule`` with TensorBoard curves and checkpoints, then optionally test.

    Args:
        module: The model to train, built from ``datamodule.spec``; or what builds it from the spec, called once
            the Trainer has accepted ``settings`` and the data is prepared (so that a refused setting costs
            nothing, and the vocabulary reaches the model without the caller preparing the data).
        datamodule: The data.
        settings: Hardware, length of training and outputs (:class:`~rnn_lightning.settings.TrainSettings`):
            each run writes ``settings.logdir/version_N/``; ``ckpt_path`` resumes (``"last"``: the newest
            ``last.ckpt`` under ``logdir``); ``test`` evaluates the best checkpoint on the test split after fitting.
        config: The run's resolved config (YAML), saved as the run's ``config.yaml``: ``rnn-lightning fit
            --config`` on it repeats the run. A resumed run keeps the config.yaml it started with.
        callbacks: Extra callbacks.
        **trainer_overrides: Further :class:`lightning.Trainer` arguments (``enable_progress_bar``...).

    Returns:
        Where the logs and checkpoints went and the best validation accuracy.

    Raises:
        RunConfigError: If the Trainer refuses a setting, the model was built for other data, or ``test`` is
            asked of data without a test split: before anything is written or trained.
        CheckpointError: If ``ckpt_path`` is not a loadable checkpoint (or was trained on other words).
    """
    settings = settings or TrainSettings()
    if settings.baseline:
        try:
            require_baseline_extra()
        except ImportError as error:
            raise RunConfigError(str(error)) from error
    if settings.test and not datamodule.has_split("test"):
        raise RunConfigError(f"{datamodule.source_name} has no test split to test on: give one (--test-data)")
    logdir = settings.logdir
    extra = [RecurrentGradNorms(settings.log_grad_norms)] if settings.log_grad_norms else []
    if settings.early_stopping:
        extra.append(EarlyStopping(monitor=VAL_ACC, mode="max", patience=settings.early_stopping))
    if config is not None:
        extra.append(SaveConfig(config))
    best = ModelCheckpoint(monitor=VAL_ACC, mode="max", filename="epoch={epoch:02d}-val_acc={val/acc:.4f}",
                           auto_insert_metric_name=False)
    # A second callback for last.ckpt: ModelCheckpoint(save_last=True) rewrites it only in epochs that improve
    # the monitored metric (Lightning 2.6), so resuming "last" would go back to the best epoch.
    latest = SigtermCheckpoint(filename=Path(LAST).stem, enable_version_counter=False)
    summary = KerasSummary(maxlen=datamodule.settings.maxlen)
    resume_from, version = resolve_resume(settings.ckpt_path, logdir)
    logger = TensorBoardLogger(save_dir=logdir, name="", version=version, default_hp_metric=False)
    trainer, start_up_notes = _trainer(
        logger=logger,
        callbacks=[best, latest, summary, EpochTimer(), FiniteGuard(), *extra, *(callbacks or [])],
        plugins=[AtomicCheckpointIO()],
        enable_model_summary=False,  # KerasSummary prints the study's table instead
        use_distributed_sampler=False,  # the DataModule shards its own batches across ranks
        accelerator=settings.accelerator, devices=settings.devices, strategy=settings.strategy,
        num_nodes=settings.num_nodes, precision=settings.precision, max_epochs=settings.max_epochs,
        deterministic=settings.deterministic or None, limit_train_batches=settings.limit_train_batches,
        limit_val_batches=settings.limit_val_batches, fast_dev_run=settings.fast_dev_run,
        **trainer_overrides,
    )
    if not isinstance(module, TextClassifier):
        datamodule.prepare_data()  # under a file lock: every process may call it
        datamodule.setup("fit")
        module = module(datamodule.spec)
    _check_same_data(module, datamodule)
    for record in start_up_notes:
        logging.getLogger("lightning.pytorch").handle(record)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)

    result = FitResult(
        log_dir=str(logger.log_dir),
        best_checkpoint=best.best_model_path or None,
        best_val_acc=float(best.best_model_score) if best.best_model_score is not None else None,
        last_checkpoint=latest.best_model_path or None,  # with no monitor, its "best" is the latest
    )
    if settings.test:
        metrics = trainer.test(module, datamodule=datamodule, ckpt_path=result.best_checkpoint, weights_only=True)
        result.test_metrics = {key: float(value) for key, value in metrics[0].items()} if metrics else {}
        if module.test_confusion is not None and trainer.is_global_zero:
            result.confusion = Confusion.of(datamodule.label_names, module.test_confusion)
            result.confusion.save(result.log_dir)
    if settings.baseline and trainer.is_global_zero and not settings.fast_dev_run:
        result.baseline, result.fasttext = fit_baseline(datamodule), fit_fasttext(datamodule, settings.seed)
        for prefix, scores in (("baseline", result.baseline), ("fasttext", result.fasttext)):
            for name, value in scores.items():  # beside the network's curves, as one point each
                logger.experiment.add_scalar(f"{prefix}/{name}", value, trainer.global_step)
        logger.experiment.flush()
    return result


def _check_same_data(module: TextClassifier, datamodule: TextDataModule) -> None:
    """Refuse a model built for other data than ``datamodule``'s (when that data is set up already)."""
    if datamodule.encoder is None or module.text.encoder == datamodule.encoder and \
            module.class_names == datamodule.label_names:
        return
    raise RunConfigError(f"the model was built for other data (a vocabulary of {module.encoder.num_words} ids, "
                         f"classes {list(module.class_names)}) than this (a vocabulary of "
                         f"{datamodule.encoder.num_words} ids, classes {list(datamodule.label_names)})")


def _trainer(**trainer_kwargs: object) -> tuple[L.Trainer, list[logging.LogRecord]]:
    """A Trainer, or :class:`RunConfigError` with Lightning's one-line reason if it refuses the settings.

    Lightning's start-up notes ("GPU available: ...") are held back and returned, for the caller to log once
    the data is ready too, so that a refused setting or unusable data ends in a single line.
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
    return trainer, list(held_back.buffer)
