"""Read a run's per-epoch metrics from its TensorBoard event files and draw the study's two figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lightning.pytorch.core.saving import load_hparams_from_yaml
from matplotlib.figure import Figure
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnn_lightning.models.saved import newest_run
from rnn_lightning.training.callbacks import EPOCH_TIME
from rnn_lightning.training.module import TRAIN_ACC, TRAIN_LOSS, VAL_ACC, VAL_LOSS

EPOCH_METRICS = (TRAIN_ACC, VAL_ACC, TRAIN_LOSS, VAL_LOSS, EPOCH_TIME)
_EVENTS = "events.out.tfevents.*"


@dataclass
class RunCurves:
    """Per-epoch metrics of one run: ``metrics[tag][epoch] = value`` (epochs from 1, as Keras counts)."""

    run_dir: Path
    label: str
    metrics: dict[str, dict[int, float]] = field(default_factory=dict)

    def series(self, tag: str) -> tuple[list[int], list[float]]:
        """Epochs and values of one metric, in epoch order."""
        points = sorted(self.metrics.get(tag, {}).items())
        return [epoch for epoch, _ in points], [value for _, value in points]


def find_run_dir(path: str | Path) -> Path:
    """Accept a run folder (``version_N/``) or a log folder holding runs, whose newest run is taken.

    Raises:
        FileNotFoundError: If there are no TensorBoard event files there.
    """
    path = Path(path)
    if list(path.glob(_EVENTS)):
        return path
    try:
        return newest_run(path, holding=_EVENTS)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no TensorBoard event files ({_EVENTS}) here or in version_*/") from None


def read_run(path: str | Path) -> RunCurves:
    """Read the per-epoch metrics of a run with TensorBoard's own event reader.

    Raises:
        FileNotFoundError: If there is no run there.
        ValueError: If the run logged no complete epoch.
    """
    run_dir = find_run_dir(path)
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})  # 0: keep every point
    events.Reload()
    tags = set(events.Tags()["scalars"])
    if VAL_ACC not in tags or "epoch" not in tags:
        raise ValueError(f"{run_dir}: no epoch was logged yet (no {VAL_ACC}): let the run finish an epoch")
    epoch_at_step = {event.step: int(event.value) for event in events.Scalars("epoch")}
    metrics: dict[str, dict[int, float]] = {}
    for tag in EPOCH_METRICS:
        if tag in tags:
            # Keyed by epoch, so an epoch logged again after a resume keeps its latest value.
            metrics[tag] = {epoch_at_step[e.step] + 1: e.value for e in events.Scalars(tag) if e.step in epoch_at_step}
    if EPOCH_TIME not in metrics:  # runs from before the timer: time between validation results instead
        stamps = {epoch_at_step[e.step] + 1: e.wall_time for e in events.Scalars(VAL_ACC) if e.step in epoch_at_step}
        metrics[EPOCH_TIME] = {epoch: stamps[epoch] - stamps[epoch - 1] for epoch in stamps if epoch - 1 in stamps}
    return RunCurves(run_dir, _label(run_dir), metrics)


def format_epoch_table(run: RunCurves) -> str:
    """A Markdown table of one run's metrics per epoch."""
    columns = (TRAIN_ACC, VAL_ACC, TRAIN_LOSS, VAL_LOSS, EPOCH_TIME)
    epochs = sorted(set().union(*(run.metrics.get(tag, {}) for tag in columns)))
    lines = ["| epoch | " + " | ".join(columns) + " |", "|---:" * (len(columns) + 1) + "|"]
    for epoch in epochs:
        cells = [run.metrics.get(tag, {}).get(epoch) for tag in columns]
        lines.append(f"| {epoch} | " + " | ".join("-" if v is None else f"{v:.4f}" if i < 4 else f"{v:.1f}"
                                                 for i, v in enumerate(cells)) + " |")
    return "\n".join(lines)


def _label(run_dir: Path) -> str:
    hparams_file = run_dir / "hparams.yaml"
    hparams = load_hparams_from_yaml(str(hparams_file)) if hparams_file.is_file() else {}
    cell = (hparams.get("model") or hparams).get("cell")  # nested since the settings objects, flat before
    return f"{cell} ({run_dir.parent.name}/{run_dir.name})" if cell else run_dir.name


def plot_curves(runs: list[RunCurves], out_dir: str | Path) -> list[Path]:
    """Draw the study's two figures: training (dots) and validation (line) accuracy, then loss.

    Returns:
        The written ``accuracy.png`` and ``loss.png``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, train_tag, val_tag in (("accuracy", TRAIN_ACC, VAL_ACC), ("loss", TRAIN_LOSS, VAL_LOSS)):
        figure = Figure(figsize=(7, 4.5), dpi=100)
        axes = figure.subplots()
        for index, run in enumerate(runs):
            color = f"C{index}"
            axes.plot(*run.series(train_tag), "o", color=color, label=f"{run.label}: training")
            axes.plot(*run.series(val_tag), "-", color=color, label=f"{run.label}: validation")
        axes.set_title(f"Training and validation {name}")
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
        figure.tight_layout()
        path = out_dir / f"{name}.png"
        figure.savefig(path)
        written.append(path)
    return written
