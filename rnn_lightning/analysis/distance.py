"""The distance task: a review's last words placed a controlled number of steps before the end of the window.

A model that cannot carry what it read across ``d`` steps sees only the filler that follows the text, and
falls to chance. Two fillers: padding (id 0, what the study's front padding is made of) and neutral words,
drawn from other reviews of both classes so that they carry no label, with none of the placed review's
own words among them.
"""

from __future__ import annotations

import numpy as np

from rnn_lightning.data.text import PAD_ID, START_ID

VARIANTS = ("padding", "neutral")


def review_words(ids: np.ndarray) -> list[np.ndarray]:
    """The word ids of each padded row: padding and the start id dropped, order kept."""
    return [row[(row != PAD_ID) & (row != START_ID)] for row in ids]


def filler_pool(words: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct word ids of the given reviews and how often each occurs (so common words come up often)."""
    flat = np.concatenate(words) if words else np.zeros(0, dtype=np.int32)
    ids, counts = np.unique(flat, return_counts=True)
    return ids.astype(np.int32), counts


def place_at_distance(words: list[np.ndarray], k: int, distance: int, maxlen: int, variant: str,
                      pool: tuple[np.ndarray, np.ndarray] | None = None, seed: int = 0) -> np.ndarray:
    """Rows of ``maxlen`` ids: front padding, each review's last ``k`` words, then ``distance`` steps of filler.

    The placed words end ``distance`` steps before the end of the window: positions
    ``[maxlen - distance - k, maxlen - distance)``.

    Args:
        words: Word ids per review, each with at least ``k`` words.
        k: Words of each review to place.
        distance: Steps of filler after them.
        maxlen: Window length; ``k + distance`` must fit.
        variant: ``"padding"`` (id 0) or ``"neutral"`` (words drawn from ``pool``, none of the review's own).
        pool: Word ids and their counts to draw neutral filler from (:func:`filler_pool` of other reviews,
            both classes).
        seed: Seed of the neutral draws.

    Raises:
        ValueError: For an unknown variant, a window too short, a review shorter than ``k``, or a neutral
            variant without a pool to draw from.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if k < 1 or distance < 0 or k + distance > maxlen:
        raise ValueError(f"k={k} words and distance={distance} do not fit a window of {maxlen}")
    if variant == "neutral" and (pool is None or len(pool[0]) == 0):
        raise ValueError("the neutral variant needs a pool of words to draw from")
    rng = np.random.default_rng(seed)
    rows = np.zeros((len(words), maxlen), dtype=np.int32)
    start = maxlen - distance - k
    for row, review in zip(rows, words, strict=True):
        if len(review) < k:
            raise ValueError(f"a review has {len(review)} words, fewer than k={k}")
        placed = review[-k:]
        row[start:start + k] = placed
        if variant == "neutral" and distance:
            row[maxlen - distance:] = _draw_without(pool, placed, distance, rng)
    return rows


def _draw_without(pool: tuple[np.ndarray, np.ndarray], excluded: np.ndarray, count: int,
                  rng: np.random.Generator) -> np.ndarray:
    """``count`` ids drawn from the pool in proportion to their counts, none of them in ``excluded``."""
    ids, counts = pool
    weights = np.where(np.isin(ids, excluded), 0, counts).astype(np.float64)
    if weights.sum() == 0:
        raise ValueError("the pool holds no word outside the placed review")
    return rng.choice(ids, size=count, replace=True, p=weights / weights.sum())
