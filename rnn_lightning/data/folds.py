"""K folds of a collection's training file, each a collection of its own, for choosing a setting by cross-validation.

Where the validation split is small (AG News subset: 1,000 rows, about a point of standard error), the mean
validation accuracy over k folds of the training rows adds k times the held-out rows to the choice, and never
reads the collection's own validation or test rows.
"""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

from rnn_lightning.data.corpus import CLASS_NAMES_FILE, delimited_dialect, delimited_rows, delimiter_of


def write_folds(train: str | Path, out: str | Path, folds: int = 5, seed: int = 0, header: bool = False,
                ) -> list[Path]:
    """Write ``out/fold_<i>/`` per fold: ``train.<ext>`` (the other folds' rows) and ``dev.<ext>`` (its own).

    Rows are shuffled with ``seed`` first; fold ``i`` holds every ``folds``-th of them from the ``i``-th. A
    ``classes.txt`` beside ``train`` is copied into each fold, so that its classes keep their names and order.

    Args:
        train: The training file, CSV or TSV.
        out: Where the fold folders go.
        folds: How many folds (at least 2).
        seed: The shuffle's seed.
        header: The file's first row is a header, written at the top of every file.

    Returns:
        The fold folders, in order.

    Raises:
        ValueError: For another format, fewer than 2 folds, or fewer rows than folds.
    """
    train, out = Path(train), Path(out)
    delimiter = delimiter_of(train)
    if delimiter is None:
        raise ValueError(f"{train}: folds are made of a .csv or .tsv file, not {train.suffix or 'one without suffix'}")
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    # Read as the corpus reads it and written so that it reads the same: the fields as they were, bad bytes and all
    # (the corpus reports those when a fold is fitted).
    with delimited_rows(train, delimiter) as reader:
        rows = list(reader)
    top, rows = (rows[:1], rows[1:]) if header else ([], rows)
    if len(rows) < folds:
        raise ValueError(f"{train} has {len(rows)} row(s), fewer than {folds} folds")
    random.Random(seed).shuffle(rows)
    classes = train.with_name(CLASS_NAMES_FILE)
    folders = []
    for fold in range(folds):
        folder = out / f"fold_{fold}"
        folder.mkdir(parents=True, exist_ok=True)
        parts = {"train": [row for index, row in enumerate(rows) if index % folds != fold], "dev": rows[fold::folds]}
        for name, part in parts.items():
            with (folder / f"{name}{train.suffix}").open("w", newline="", encoding="utf-8",
                                                         errors="surrogateescape") as handle:
                csv.writer(handle, lineterminator="\n", **delimited_dialect(delimiter)).writerows(top + part)
        if classes.is_file():
            shutil.copy(classes, folder / CLASS_NAMES_FILE)
        folders.append(folder)
    return folders
