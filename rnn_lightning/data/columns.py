"""Which column of a user's file holds the text and which the label, when no name says so: decided by content.

A label column has few distinct values (classes); a text column is mostly distinct, has words, and is the
longest such column by a clear margin. Where the first rows leave any doubt, the caller refuses in one line
that names the columns found and the flags to pass, rather than guess: a wrong guess trains on the wrong thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SAMPLE_ROWS = 500  # rows read ahead to decide; enough to see every class of a typical collection
_MOSTLY_DISTINCT = 0.5  # a text column's distinct values per row, at least
_WITH_WORDS = 0.5  # a text column's rows with more than one word, at least
_CLEARLY_LONGER = 1.5  # the text column's mean length over the next candidate's, at least
_HEADER_EVIDENCE = 5  # rows below a first row of unknown names, at least, to take it for a header


@dataclass(frozen=True)
class ColumnProfile:
    """What the sampled values of one column look like.

    Attributes:
        rows: Values sampled (rows that had the column).
        distinct: Distinct values among them.
        mean_length: Their mean length in characters.
        with_words: The share of values with more than one word.
    """

    rows: int
    distinct: int
    mean_length: float
    with_words: float

    @classmethod
    def of(cls, values: Sequence[str]) -> ColumnProfile:
        if not values:
            return cls(0, 0, 0.0, 0.0)
        return cls(len(values), len(set(values)), sum(map(len, values)) / len(values),
                   sum(len(value.split()) > 1 for value in values) / len(values))

    @property
    def looks_like_labels(self) -> bool:
        """Few distinct values: at least two, and at most a quarter of the rows (two, for a handful of rows)."""
        return 2 <= self.distinct <= max(2, self.rows // 4)

    @property
    def looks_like_text(self) -> bool:
        """Mostly distinct values, mostly of several words."""
        return self.distinct >= _MOSTLY_DISTINCT * self.rows and self.with_words >= _WITH_WORDS


def profiles(sample: Sequence[Sequence[object]], width: int) -> list[ColumnProfile]:
    """A profile per column of sampled rows (values as strings; missing ones left out)."""
    columns: list[list[str]] = [[] for _ in range(width)]
    for row in sample:
        for at, value in enumerate(row[:width]):
            if value is not None and str(value).strip():
                columns[at].append(str(value).strip())
    return [ColumnProfile.of(values) for values in columns]


def detect_columns(sample: Sequence[Sequence[object]], width: int, text_at: int | None = None,
                   label_at: int | None = None) -> tuple[int | None, int | None]:
    """The text and label columns of sampled rows, by content; those given are kept.

    Args:
        sample: The first rows, each a sequence of ``width`` values.
        width: Columns per row.
        text_at: The text column, when already known.
        label_at: The label column, when already known.

    Returns:
        ``(text column, label column)``; None for one that the content does not settle (with more than two
        columns).
    """
    profile = profiles(sample, width)
    if width == 2:
        # One column told: the label is the other; neither: the text is the longer on average (labels are short
        # names or numbers; a "label" column that is really the text is refused later, by its number of classes).
        if text_at is None:
            text_at = 1 - label_at if label_at is not None else int(profile[1].mean_length > profile[0].mean_length)
        return text_at, 1 - text_at if label_at is None else label_at
    if label_at is None:
        labels = [at for at, column in enumerate(profile) if at != text_at and column.looks_like_labels]
        label_at = labels[0] if len(labels) == 1 else None
    if text_at is None:
        texts = sorted((at for at, column in enumerate(profile) if at != label_at and column.looks_like_text),
                       key=lambda at: profile[at].mean_length, reverse=True)
        if len(texts) == 1 or (len(texts) > 1 and
                               profile[texts[0]].mean_length >= _CLEARLY_LONGER * profile[texts[1]].mean_length):
            text_at = texts[0]
    return text_at, label_at


def looks_like_a_header(first: Sequence[str], sample: Sequence[Sequence[str]]) -> bool:
    """Whether a first row of identifiers names the columns of the rows after it, though no name is known.

    It does when some column holds texts of several words in the rows below it (a few rows at least), and none
    of the first row's values appears in its own column below (as a class name of a data row would).
    """
    profile = profiles(sample, len(first))
    if len(sample) < _HEADER_EVIDENCE or not any(column.with_words >= _WITH_WORDS for column in profile):
        return False
    below = [{str(row[at]).strip() for row in sample if len(row) > at} for at in range(len(first))]
    return not any(value.strip() in seen for value, seen in zip(first, below, strict=True))
