"""Findings III's ablation: the test accuracy of each part of models trained apart, alone and together.

A model trained with ``ngram_training: apart`` is two classifiers trained side by side on the same batches, with
no weight in common, and it logs each one's test accuracy (``test/part_acc/<part>``) beside its own: one run
gives the recurrent part alone, the linear part alone and both together. This module reads those figures
from runs' TensorBoard events (several seeds a collection), tabulates them and draws them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnn_lightning.analysis.curves import find_run_dir
from rnn_lightning.training.module import PARTS, TEST_ACC

BASELINE_TEST_ACC = "baseline/test/acc"
COLUMNS = {"recurrent": "recurrent part alone", "ngrams": "linear part alone", "both": "both (the model)"}


@dataclass(frozen=True)
class PartsScore:
    """One tested run's test accuracies: each part's alone and the model's, and the baseline's if it was trained."""

    run_dir: Path
    accuracy: dict[str, float]
    baseline: float | None


def read_parts_score(path: str | Path) -> PartsScore:
    """The last logged test accuracies of a run (a ``version_N/`` folder, or a log folder: its newest run).

    Raises:
        FileNotFoundError: If there is no run there.
        ValueError: If the run was not tested, or not trained apart (no accuracy of its parts).
    """
    run_dir = find_run_dir(path)
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    wanted = {"both": TEST_ACC, **{part: f"test/part_acc/{part}" for part in PARTS}}
    missing = sorted(tag for tag in wanted.values() if tag not in tags)
    if missing:
        raise ValueError(f"{run_dir}: no {', '.join(missing)}: test a model trained with "
                         "--model.ngram_training apart (--trainer.test true)")
    accuracy = {column: events.Scalars(tag)[-1].value for column, tag in wanted.items()}
    baseline = events.Scalars(BASELINE_TEST_ACC)[-1].value if BASELINE_TEST_ACC in tags else None
    return PartsScore(run_dir, accuracy, baseline)


def format_ablation_table(groups: dict[str, Sequence[PartsScore]]) -> str:
    """A Markdown table: per collection, each column's test accuracy per seed and their mean."""
    lines = ["| data | runs | " + " | ".join(COLUMNS.values()) + " |", "|---|---:|" + "---|" * len(COLUMNS)]
    for name, scores in groups.items():
        cells = []
        for column in COLUMNS:
            values = [score.accuracy[column] for score in scores]
            each = ", ".join(f"{100 * value:.2f}" for value in values)
            cells.append(f"**{100 * statistics.mean(values):.2f}%** ({each})")
        lines.append(f"| {name} | {len(scores)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_ablation(groups: dict[str, Sequence[PartsScore]], path: str | Path) -> Path:
    """Bars of each column's mean test accuracy per collection, each run a dot, the baseline a dashed line."""
    figure = Figure(figsize=(7, 4.5), dpi=100)
    axes = figure.subplots()
    width = 0.8 / len(COLUMNS)
    for index, (column, label) in enumerate(COLUMNS.items()):
        for position, scores in enumerate(groups.values()):
            values = [100 * score.accuracy[column] for score in scores]
            x = position + (index - (len(COLUMNS) - 1) / 2) * width
            axes.bar(x, statistics.mean(values), width * 0.9, color=f"C{index}",
                     label=label if position == 0 else None)
            axes.plot([x] * len(values), values, "k.", markersize=4)
    for position, scores in enumerate(groups.values()):
        baselines = [score.baseline for score in scores if score.baseline is not None]
        if baselines:
            axes.hlines(100 * baselines[0], position - 0.45, position + 0.45, colors="k", linestyles="dashed",
                        label="TF-IDF + logistic regression" if position == 0 else None)
    every = [100 * score.accuracy[column] for scores in groups.values() for score in scores for column in COLUMNS]
    axes.set_ylim(min(every) - 3, max(every) + 2)  # the differences are points, not tens of them
    axes.set_xticks(range(len(groups)), list(groups))
    axes.set_ylabel("test accuracy (%)")
    axes.set_title("What each part of the recipe adds (each dot a seed)")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
