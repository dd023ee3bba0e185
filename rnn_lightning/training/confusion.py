"""The test split's confusion matrix: saved beside a run's logs after testing, drawn by ``scripts/plot.py``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from rnn_lightning.fileio import atomic_write

CONFUSION_FILE = "test_confusion.json"


@dataclass(frozen=True)
class Confusion:
    """``matrix[true][predicted]`` counts of the test split, rows and columns in class order."""

    label_names: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]

    def save(self, run_dir: str | Path) -> Path:
        path = Path(run_dir) / CONFUSION_FILE
        with atomic_write(path) as out:
            out.write(json.dumps({"label_names": list(self.label_names), "matrix": [list(r) for r in self.matrix]},
                                 indent=1).encode())
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> Confusion | None:
        """The run's confusion matrix, or None for a run that was not tested.

        Raises:
            ValueError: If the file is there but does not hold a square matrix with a name per class.
        """
        path = Path(run_dir) / CONFUSION_FILE
        if not path.is_file():
            return None
        state = json.loads(path.read_text(encoding="utf-8"))
        confusion = cls(tuple(state["label_names"]), tuple(tuple(int(v) for v in row) for row in state["matrix"]))
        classes = len(confusion.label_names)
        if len(confusion.matrix) != classes or any(len(row) != classes for row in confusion.matrix):
            raise ValueError(f"{path}: {classes} class names but a matrix of another shape")
        return confusion

    @classmethod
    def of(cls, label_names: Sequence[str], matrix: Sequence[Sequence[float]]) -> Confusion:
        return cls(tuple(label_names), tuple(tuple(int(v) for v in row) for row in matrix))


def plot_confusion(confusion: Confusion, out_dir: str | Path, title: str = "Test confusion matrix") -> Path:
    """Draw ``confusion.png``: counts per true (rows) and predicted (columns) class, shaded by row share."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = len(confusion.label_names)
    shares = [[value / max(1, sum(row)) for value in row] for row in confusion.matrix]
    figure = Figure(figsize=(2.2 + 1.1 * classes, 1.8 + 1.0 * classes), dpi=100)
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for true in range(classes):
        for predicted in range(classes):
            axes.text(predicted, true, f"{confusion.matrix[true][predicted]:,}", ha="center", va="center",
                      color="white" if shares[true][predicted] > 0.5 else "black")
    axes.set_xticks(range(classes), confusion.label_names, rotation=30, ha="right")
    axes.set_yticks(range(classes), confusion.label_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="share of the true class")
    figure.tight_layout()
    path = out_dir / "confusion.png"
    figure.savefig(path)
    return path
