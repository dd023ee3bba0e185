"""Atomic file writes: readers see the old file or the complete new one, never a part."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Write ``path`` through a temp file beside it, fsynced and renamed into place when the block succeeds.

    If the block raises (or the process dies), ``path`` keeps its previous content; the temp file, named
    ``.<name>.<random>.part``, is removed (or, after a kill, left where nothing looking for ``<name>``
    picks it up).

    Args:
        path: Final file.
        mode: Permissions of the new file (``mkstemp`` alone would give 0600).
    """
    path = Path(path)
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
