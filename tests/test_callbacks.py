"""The training callbacks (:mod:`rnn_lightning.training.callbacks`), each in a real Trainer run of a few steps.

``test_training.py`` and ``test_reliability.py`` see them work in whole runs through the command line, in slow
tests; here each is held to its rule in seconds, so that a mutation of it is caught by a fast test.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from rnn_lightning.models.saved import read_checkpoint
from rnn_lightning.training.callbacks import (
    EPOCH_TIME,
    GRAD_NORM_PREFIX,
    EpochTimer,
    FiniteGuard,
    NonFiniteError,
    RecurrentGradNorms,
    SaveConfig,
    SigtermCheckpoint,
    _first_non_finite,
)

from .conftest import make_classifier


class RecordingLogger(Logger):
    """A logger that keeps what it is given, for the test to read: ``(step, metrics)`` per call."""

    def __init__(self, save_dir: Path | None = None) -> None:
        super().__init__()
        self.logged: list[tuple[int | None, dict[str, float]]] = []
        self._save_dir = save_dir  # the Trainer's log_dir, for a logger of its own kind

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    @property
    def save_dir(self) -> str | None:
        return None if self._save_dir is None else str(self._save_dir)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.logged.append((step, dict(metrics)))

    def log_hyperparams(self, params: object, *args: object, **kwargs: object) -> None:
        pass

    def values_of(self, tag: str) -> list[tuple[int | None, float]]:
        return [(step, metrics[tag]) for step, metrics in self.logged if tag in metrics]


def train(datamodule, *callbacks: L.Callback, logger: Logger | None = None, **trainer: object) -> L.Trainer:
    """Fit a two-layer tiny model with ``callbacks``, no validation and no checkpoints unless asked."""
    torch.manual_seed(0)
    module = make_classifier(spec=datamodule.spec, embed_dim=8, hidden_size=8, num_layers=2)
    settings = {"max_steps": 4, "limit_val_batches": 0, "num_sanity_val_steps": 0, "enable_checkpointing": False,
                "log_every_n_steps": 1, **trainer}
    fitting = L.Trainer(accelerator="cpu", logger=logger or False, callbacks=list(callbacks),
                        enable_progress_bar=False, enable_model_summary=False, **settings)
    fitting.fit(module, datamodule=datamodule)
    return fitting


class At(L.Callback):
    """Call ``action(trainer, module)`` in ``hook`` at global step ``step`` (or at every step when None)."""

    def __init__(self, hook: str, action, step: int | None = None) -> None:
        self.step, self.action = step, action
        setattr(self, hook, self._maybe)

    def _maybe(self, trainer: L.Trainer, module: L.LightningModule, *args: object) -> None:
        if self.step is None or trainer.global_step == self.step:
            self.action(trainer, module)


def test_gradient_norms_are_each_recurrent_weights_own_every_n_steps(tiny_datamodule):
    seen: dict[int, dict[str, float]] = {}

    def record(trainer: L.Trainer, module: L.LightningModule) -> None:
        seen[trainer.global_step] = {name: float(torch.linalg.vector_norm(parameter.grad))
                                     for name, parameter in module.model.rnn.named_parameters()
                                     if parameter.grad is not None}

    logger = RecordingLogger()
    train(tiny_datamodule, RecurrentGradNorms(every_n_steps=2), At("on_before_optimizer_step", record),
          logger=logger, max_steps=5)
    logged = {step: metrics for step, metrics in logger.logged if f"{GRAD_NORM_PREFIX}/total" in metrics}
    assert sorted(logged) == [0, 2, 4]
    for step, metrics in logged.items():
        norms = seen[step]
        assert set(metrics) == {f"{GRAD_NORM_PREFIX}/{name}" for name in norms} | {f"{GRAD_NORM_PREFIX}/total"}
        assert "bias_hh_l0" not in norms  # frozen at zero (the study's single bias): it has no gradient to log
        for name, norm in norms.items():
            assert metrics[f"{GRAD_NORM_PREFIX}/{name}"] == pytest.approx(norm, rel=1e-4)
        total = math.sqrt(sum(norm ** 2 for norm in norms.values()))
        assert metrics[f"{GRAD_NORM_PREFIX}/total"] == pytest.approx(total, rel=1e-4)


def test_gradient_norms_refuse_an_interval_below_one():
    with pytest.raises(ValueError, match="every_n_steps must be positive, got 0"):
        RecurrentGradNorms(every_n_steps=0)
    assert RecurrentGradNorms(every_n_steps=1).every_n_steps == 1


def test_each_epochs_time_is_logged_once_and_is_that_epochs_wall_time(tiny_datamodule):
    logger = RecordingLogger()
    pause = 0.05
    started = time.perf_counter()
    train(tiny_datamodule, EpochTimer(), At("on_train_batch_end", lambda *_: time.sleep(pause)), logger=logger,
          max_steps=-1, max_epochs=2, limit_train_batches=2)
    whole_run = time.perf_counter() - started
    times = [value for _, value in logger.values_of(EPOCH_TIME)]
    assert len(times) == 2 and all(value >= 2 * pause for value in times)  # each epoch holds its two pauses
    assert sum(times) <= whole_run


def test_an_epoch_the_timer_did_not_see_start_logs_no_time():
    class Module:
        def __init__(self) -> None:
            self.logged: list[tuple[str, float, dict]] = []

        def log(self, name: str, value: float, **kwargs: object) -> None:
            self.logged.append((name, value, kwargs))

    timer, module = EpochTimer(), Module()
    timer.on_train_epoch_end(None, module)  # an epoch resumed halfway: no start, no meaningful time
    assert module.logged == []
    timer.on_train_epoch_start(None, module)
    timer.on_train_epoch_end(None, module)
    timer.on_train_epoch_end(None, module)  # a start is used once
    assert [(name, kwargs) for name, _, kwargs in module.logged] == [
        (EPOCH_TIME, {"on_step": False, "on_epoch": True})]


def test_the_first_non_finite_tensor_is_named():
    finite, nan, inf = torch.ones(3), torch.tensor([1.0, math.nan]), torch.tensor([math.inf])
    assert _first_non_finite({}) is None
    assert _first_non_finite({"a": finite, "b": finite.clone()}) is None
    assert _first_non_finite({"a": finite, "b": nan, "c": inf}) == "b"
    assert _first_non_finite({"a": inf, "b": nan}) == "a"


def test_a_non_finite_gradient_stops_the_run_before_the_step_that_would_store_it(tiny_datamodule):
    def poison(trainer: L.Trainer, module: L.LightningModule) -> None:
        module.model.rnn.weight_hh_l1.grad[0, 0] = math.nan

    kept: dict[str, object] = {}

    def keep(trainer: L.Trainer, module: L.LightningModule) -> None:
        kept.update(module=module, weights={name: p.detach().clone() for name, p in module.named_parameters()})

    with pytest.raises(NonFiniteError, match=r"^non-finite gradient of model\.rnn\.weight_hh_l1 at step 2: "
                                             r"the loss diverged"):
        train(tiny_datamodule, At("on_after_backward", poison, step=2), At("on_after_backward", keep, step=2),
              FiniteGuard())
    # Stopped before the optimizer's step: the poisoned gradient never reached the weights.
    after = dict(kept["module"].named_parameters())
    assert all(torch.equal(after[name], weight) for name, weight in kept["weights"].items())


def test_a_non_finite_weight_stops_the_run_after_the_step(tiny_datamodule):
    def overflow(trainer: L.Trainer, module: L.LightningModule) -> None:
        with torch.no_grad():
            module.model.head.weight[0, 0] = math.inf

    with pytest.raises(NonFiniteError, match=r"^non-finite weight model\.head\.weight after step 2: "
                                             r"the learning rate is too high"):
        train(tiny_datamodule, At("on_train_batch_end", overflow, step=2), FiniteGuard())
    train(tiny_datamodule, FiniteGuard())  # a healthy run is left alone


@pytest.mark.parametrize(("stop", "saved"), [(SIGTERMException, True), (RuntimeError, False)])
def test_only_sigterm_saves_the_last_checkpoint_of_an_interrupted_run(tiny_datamodule, tmp_path, stop, saved):
    def interrupt(trainer: L.Trainer, module: L.LightningModule) -> None:
        raise stop()

    folder = tmp_path / "checkpoints"
    latest = SigtermCheckpoint(dirpath=folder, filename="last", enable_version_counter=False)
    with pytest.raises(stop):
        train(tiny_datamodule, latest, At("on_train_batch_end", interrupt, step=3), max_steps=10,
              enable_checkpointing=True)
    assert (folder / "last.ckpt").is_file() is saved  # a failed run's weights may be the damage: not kept
    if saved:
        assert read_checkpoint(folder / "last.ckpt")["global_step"] == 3  # the steps since the epoch began


def test_the_config_is_saved_once_in_the_run_folder_and_a_resumed_run_keeps_it(tmp_path):
    text = "model:\n  cell: gru\n"
    logger = TensorBoardLogger(save_dir=tmp_path / "logs", name="", version="run")  # as a run's logger is made
    trainer = L.Trainer(accelerator="cpu", logger=logger, enable_progress_bar=False)
    SaveConfig(text).setup(trainer, None, "fit")
    saved = tmp_path / "logs" / "run" / SaveConfig.FILE
    assert saved.read_text(encoding="utf-8") == text
    SaveConfig("model:\n  cell: lstm\n").setup(trainer, None, "fit")  # resumed: the run's first config stays
    assert saved.read_text(encoding="utf-8") == text
    assert [path.name for path in saved.parent.iterdir()] == [SaveConfig.FILE]  # no temp file left


@pytest.mark.parametrize("why", ["test", "fast_dev_run", "no_log_dir"])
def test_the_config_is_written_only_when_a_run_is_fitted_into_a_folder(tmp_path, monkeypatch, why):
    monkeypatch.chdir(tmp_path)  # where a folder-less trainer would write
    logger = RecordingLogger(None if why == "no_log_dir" else tmp_path / "run")
    trainer = L.Trainer(accelerator="cpu", logger=logger, enable_progress_bar=False,
                        fast_dev_run=why == "fast_dev_run")
    SaveConfig("model: {}\n").setup(trainer, None, "test" if why == "test" else "fit")
    assert not list(tmp_path.rglob(SaveConfig.FILE))
