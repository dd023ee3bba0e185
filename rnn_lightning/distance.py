"""The distance task: a review's last words placed a controlled number of steps before the end of the window.

A model that cannot carry what it read across ``d`` steps sees only the filler that follows the text, and
falls to chance. Two fillers: padding (id 0, what the study's front padding is made of) and neutral words,
drawn from other reviews of both classes so that they carry no label, with none of the placed review's
own words among them.
"""

from __future__ import annotations

import numpy as np

from rnn_lightning.text import PAD_ID, START_ID

VARIANTS = ("padding", "neutral")


def review_words(ids: np.ndarray) -> list[np.ndarray]:
    """The word ids of each padded row: padding and the start id dropped, order kept."""
    return [row[(row != PAD_ID) & (row != START_ID)] for row in ids]


def filler_pool(words: list[np.ndarray]) -> np.ndarray:
    """Every word id of the given reviews, one entry per occurrence (so common words come up often)."""
    return np.concatenate(words) if words else np.zeros(0, dtype=np.int32)


def place_at_distance(words: list[np.ndarray], k: int, distance: int, maxlen: int, variant: str,
                      pool: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Rows of ``maxlen`` ids: front padding, each review's last ``k`` words, then ``distance`` steps of filler.

    The placed words end ``distance`` steps before the end of the window: positions
    ``[maxlen - distance - k, maxlen - distance)``.

    Args:
        words: Word ids per review, each with at least ``k`` words.
        k: Words of each review to place.
        distance: Steps of filler after them.
        maxlen: Window length; ``k + distance`` must fit.
        variant: ``"padding"`` (id 0) or ``"neutral"`` (words drawn from ``pool``, none of the review's own).
        pool: Word ids to draw neutral filler from (other reviews, both classes).
        seed: Seed of the neutral draws.

    Raises:
        ValueError: For an unknown variant, a window too short, a review shorter than ``k``, or a neutral
            variant without a pool to draw from.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if k < 1 or distance < 0 or k + distance > maxlen:
        raise ValueError(f"k={k} words and distance={distance} do not fit a window of {maxlen}")
    if variant == "neutral" and (pool is None or len(pool) == 0):
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


def _draw_without(pool: np.ndarray, excluded: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` ids drawn from ``pool`` (with replacement), none of them in ``excluded``."""
    allowed = pool[~np.isin(pool, excluded)]
    if len(allowed) == 0:
        raise ValueError("the pool holds no word outside the placed review")
    return rng.choice(allowed, size=count, replace=True)
