"""Every environment variable the project reads, in one place; only the entry points call these.

The library itself takes explicit arguments (a source, ``offline=``, ``compiled=``): these functions turn the
environment into those arguments' defaults where the command line starts.
"""

from __future__ import annotations

import os

#: Name, and what it does when set.
VARIABLES = {
    "IMDB_SOURCE": "the IMDB archive or aclImdb/ folder to use when --data.source is not given",
    "IMDB_OFFLINE": "1: never download (--data.offline true)",
    "RNN_LIGHTNING_NO_COMPILE": "1: do not build or load the compiled recurrences; the slower equivalents run",
    "TORCH_EXTENSIONS_DIR": "where torch builds and caches the compiled recurrences (read by torch, and shown)",
}


def imdb_source() -> str | None:
    """``$IMDB_SOURCE``, if set: the default ``--data.source``."""
    return os.environ.get("IMDB_SOURCE") or None


def offline() -> bool:
    """Whether ``$IMDB_OFFLINE`` forbids downloads."""
    return _flag("IMDB_OFFLINE")


def compiled_recurrences_allowed() -> bool:
    """False when ``$RNN_LIGHTNING_NO_COMPILE`` is set: the compiled recurrences are then never built."""
    return not _flag("RNN_LIGHTNING_NO_COMPILE")


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
