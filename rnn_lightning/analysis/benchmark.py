"""Timing of training steps and epochs: a bare PyTorch loop and the Lightning loop over the same batches."""

from __future__ import annotations

import dataclasses
import resource
import time
from dataclasses import asdict, dataclass

import lightning as L
import torch
from torch.utils.data import DataLoader, Subset

from rnn_lightning.data.datamodule import TextDataModule
from rnn_lightning.settings import DataSettings, ModelSettings, OptimizerSettings, data_for_model
from rnn_lightning.training.callbacks import EPOCH_TIME, EpochTimer
from rnn_lightning.training.module import TextClassifier


@dataclass
class BenchConfig:
    """One benchmarked setting.

    Attributes:
        cell: ``rnn``, ``lstm`` or ``gru``.
        fast_path: Use the fast CPU path (:func:`~rnn_lightning.models.recurrences.fast_stack`; on CPU only).
        compiled: Step the fast path's recurrence in compiled code (else its Python loop); like denormal
            flushing, the process running the setting applies it.
        target: The instruction set the compiled recurrences are built for: ``native`` (this CPU's, as training
            builds them), or e.g. ``x86-64-v3`` (AVX2 and FMA) to measure that shape of the kernels here.
        flush_denormals: Flush subnormal floats to zero; the process running the setting applies it (see
            ``scripts/bench.py``), since it is a process-wide switch.
        mask_padding: Trim and mask the padding, with length-grouped batches.
        batch_size: Reviews per batch.
        precision: Lightning precision; the bare loop uses autocast for ``*-mixed``.
        accelerator: ``cpu`` or ``gpu``.
    """

    cell: str = "rnn"
    fast_path: bool = True
    compiled: bool = True
    target: str = "native"
    flush_denormals: bool = True
    mask_padding: bool = False
    batch_size: int = 128
    precision: str = "32-true"
    accelerator: str = "cpu"

    @property
    def name(self) -> str:
        flags = [self.cell, f"b{self.batch_size}", self.precision, self.accelerator]
        if self.accelerator == "cpu":
            torch_module = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}[self.cell]
            flags.append(("compiled" if self.compiled else "fast loop") if self.fast_path else torch_module)
            flags.append(f"built for {self.target}" if self.fast_path and self.compiled and self.target != "native"
                         else None)
        flags += ["mask" if self.mask_padding else None, None if self.flush_denormals else "no-flush"]
        return " ".join(flag for flag in flags if flag)

    @property
    def model(self) -> ModelSettings:
        return ModelSettings(cell=self.cell, mask_padding=self.mask_padding, fast_path=self.fast_path)

    def data(self, data: DataSettings) -> DataSettings:
        """``data`` batched as this setting needs (see :func:`~rnn_lightning.settings.data_for_model`)."""
        return data_for_model(dataclasses.replace(data, batch_size=self.batch_size), self.model)


@dataclass
class BenchResult:
    """Measurements of one loop for one config."""

    config: str
    loop: str
    ms_per_step: float
    samples_per_s: float
    epoch_s: float | None
    peak_mb: float


def _device(config: BenchConfig) -> torch.device:
    return torch.device("cuda" if config.accelerator == "gpu" else "cpu")


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB: the process's peak RSS


def _module(config: BenchConfig, datamodule: TextDataModule) -> TextClassifier:
    torch.manual_seed(0)
    return TextClassifier(config.model, OptimizerSettings(), datamodule.spec)


def _timed_loader(datamodule: TextDataModule, steps: int) -> DataLoader:
    """The first ``steps`` training batches, the same for both loops (length-grouped when masking)."""
    batches = list(datamodule.train_dataloader().batch_sampler)
    if len(batches) < steps:
        raise ValueError(f"only {len(batches)} training batches, {steps} needed: lower --steps/--warmup")
    indices = [i for batch in batches[:steps] for i in batch]
    return DataLoader(Subset(datamodule.train_set, indices), batch_size=datamodule.settings.batch_size)


def bare_loop(config: BenchConfig, datamodule: TextDataModule, steps: int, warmup: int) -> BenchResult:
    """Plain PyTorch: forward, loss, backward, RMSprop step; the first ``warmup`` steps are not timed."""
    device = _device(config)
    module = _module(config, datamodule).to(device)
    optimizer = module.configure_optimizers()
    metrics = module.train_metrics  # the same training accuracy the Lightning step keeps, as Keras reports it
    autocast_dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(config.precision)
    start = None
    for index, (ids, labels) in enumerate(_timed_loader(datamodule, steps + warmup)):
        if index == warmup:
            _synchronize(device)
            start = time.perf_counter()
        ids, labels = ids.to(device), labels.to(device)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = module(ids)
            loss = module.loss(logits, labels)
        metrics(torch.sigmoid(logits), labels.int())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _synchronize(device)
    return _result(config, "bare PyTorch", time.perf_counter() - start, steps, None, device)


class _StepClock(L.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, None, None, 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup:
            _synchronize(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        if batch_idx >= self.warmup:
            _synchronize(pl_module.device)
            self.end, self.steps = time.perf_counter(), self.steps + 1


def lightning_loop(config: BenchConfig, datamodule: TextDataModule, steps: int, warmup: int) -> BenchResult:
    """The same batches through ``Trainer.fit``, timed from the first timed batch to the last."""
    clock = _StepClock(warmup)
    trainer = _trainer(config, [clock], max_steps=steps + warmup, limit_val_batches=0)
    batches = _timed_loader(datamodule, steps + warmup)
    trainer.fit(_module(config, datamodule), train_dataloaders=batches)
    return _result(config, "Lightning", clock.end - clock.start, clock.steps, None, _device(config))


def lightning_epoch(config: BenchConfig, datamodule: TextDataModule) -> BenchResult:
    """The second of two full epochs, validation included, through ``Trainer.fit``.

    The second, as for Keras, whose first epoch includes building its graph: the first here includes the
    allocator warming up.
    """
    trainer = _trainer(config, [EpochTimer()], max_epochs=2, use_distributed_sampler=False)
    trainer.fit(_module(config, datamodule), datamodule=datamodule)
    epoch_s = float(trainer.callback_metrics[EPOCH_TIME])
    steps = trainer.num_training_batches
    return _result(config, "Lightning epoch", epoch_s, steps, epoch_s, _device(config))


def _trainer(config: BenchConfig, callbacks: list[L.Callback], **kwargs: object) -> L.Trainer:
    return L.Trainer(accelerator=config.accelerator, devices=1, precision=config.precision, logger=False,
                     enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                     num_sanity_val_steps=0, callbacks=callbacks, **kwargs)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _result(config: BenchConfig, loop: str, seconds: float, steps: int, epoch_s: float | None,
            device: torch.device) -> BenchResult:
    return BenchResult(config.name, loop, 1000 * seconds / steps, steps * config.batch_size / seconds, epoch_s,
                       _peak_mb(device))


def as_dict(result: BenchResult) -> dict[str, object]:
    """Plain form, for passing results between processes."""
    return asdict(result)
