"""Training callbacks: epoch wall time, and the recurrent layers' gradient norms for the investigation."""

from __future__ import annotations

import time

import lightning as L
import torch
from lightning.pytorch.utilities import grad_norm

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

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log(EPOCH_TIME, time.perf_counter() - self._start, on_step=False, on_epoch=True)
