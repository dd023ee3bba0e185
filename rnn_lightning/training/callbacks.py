"""Training callbacks: epoch time, gradient norms, non-finite guard, SIGTERM checkpoint, the run's config."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import grad_norm
from lightning.pytorch.utilities.exceptions import SIGTERMException

from rnn_lightning.fileio import atomic_write

GRAD_NORM_PREFIX = "grad_norm"
EPOCH_TIME = "time/epoch_s"


class RecurrentGradNorms(L.Callback):
    """Log the L2 norm of each recurrent weight's gradient every ``every_n_steps`` steps.

    Tags are ``grad_norm/weight_ih_l0``, ``grad_norm/weight_hh_l3`` and so on, plus ``grad_norm/total``, so
    TensorBoard shows which layers stop receiving a learning signal.

    Args:
        every_n_steps: Logging interval in optimizer steps.
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be positive, got {every_n_steps}")
        self.every_n_steps = every_n_steps

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        if trainer.global_step % self.every_n_steps:
            return
        norms = grad_norm(pl_module.model.rnn, norm_type=2)
        renamed = {f"{GRAD_NORM_PREFIX}/{name.split('/', 1)[1]}": float(value)
                   for name, value in norms.items() if "/" in name}
        renamed[f"{GRAD_NORM_PREFIX}/total"] = float(norms[next(name for name in norms if name.endswith("_total"))])
        # Straight to the loggers: self.log would repeat the last value at every step in between.
        for logger in trainer.loggers:
            logger.log_metrics(renamed, step=trainer.global_step)


class EpochTimer(L.Callback):
    """Log ``time/epoch_s``: wall time of each training epoch, its validation included (as Keras reports it)."""

    def __init__(self) -> None:
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._start is not None:  # an epoch resumed halfway has no start, and no meaningful time
            pl_module.log(EPOCH_TIME, time.perf_counter() - self._start, on_step=False, on_epoch=True)
        self._start = None


class NonFiniteError(RuntimeError):
    """Training produced a non-finite gradient or weight; the run stops before it can be saved."""


class FiniteGuard(L.Callback):
    """Stop the run, with the reason, as soon as a gradient or a weight stops being finite.

    Gradients are checked before the optimizer step, so a NaN/inf loss never reaches the weights; weights are
    checked after it, for a learning rate so large that finite steps overflow. Either way the run ends with
    :class:`NonFiniteError` before any later checkpoint could store the damage.
    """

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        gradients = {name: p.grad for name, p in pl_module.named_parameters() if p.grad is not None}
        bad = _first_non_finite(gradients)
        if bad is not None:
            raise NonFiniteError(f"non-finite gradient of {bad} at step {trainer.global_step}: "
                                 "the loss diverged (bad batch or learning rate too high)")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        bad = _first_non_finite(dict(pl_module.named_parameters()))
        if bad is not None:
            raise NonFiniteError(f"non-finite weight {bad} after step {trainer.global_step}: "
                                 "the learning rate is too high")


def _first_non_finite(tensors: dict[str, torch.Tensor]) -> str | None:
    """Name of the first tensor holding inf or NaN, or None; one device sync per call, not one per tensor."""
    if not tensors:
        return None
    finite = torch.stack([torch.isfinite(tensor).all() for tensor in tensors.values()])
    if bool(finite.all()):
        return None
    return list(tensors)[int((~finite).nonzero()[0])]


class SigtermCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that also saves ``last.ckpt`` when the run is stopped by SIGTERM, and only then.

    Saving on any exception would also store the weights of a run that failed because they went bad.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(save_on_exception=True, **kwargs)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            super().on_exception(trainer, pl_module, exception)


class SaveConfig(L.Callback):
    """Save the run's resolved config as ``config.yaml`` in its log folder, unless one is there (a resumed run).

    Args:
        text: The config, as YAML.
    """

    FILE = "config.yaml"

    def __init__(self, text: str) -> None:
        self.text = text

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or trainer.fast_dev_run or trainer.log_dir is None or not trainer.is_global_zero:
            return
        path = Path(trainer.log_dir) / self.FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            with atomic_write(path) as out:
                out.write(self.text.encode("utf-8"))
