"""Atomic file writes: readers see the old file or the complete new one, never a part."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


class WriteError(OSError):
    """Writing failed (a full disk, a file size limit, a read-only folder); nothing half-written was left.

    Its message names what was being written. The command line ends a run on it with one line, status 1.
    """

    @classmethod
    def of(cls, error: OSError, what: str) -> WriteError:
        """``error``, saying what was being written."""
        return cls(error.errno, f"{error.strerror or error} while writing {what}")


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
