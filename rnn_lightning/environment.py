"""Every environment variable the project reads, read here and nowhere else.

The library takes explicit arguments (a source, ``offline=``, :func:`~rnn_lightning.models.compiled.allow_compiled`):
the command line turns the first three variables into those arguments' defaults where it starts. The last
says where torch keeps the compiled recurrences.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Name, and what it does when set.
VARIABLES = {
    "IMDB_SOURCE": "the IMDB archive or aclImdb/ folder to use when --data.source is not given",
    "IMDB_OFFLINE": "1: never download (--data.offline true)",
    "RNN_LIGHTNING_NO_COMPILE": "1: do not build or load the compiled recurrences; the slower equivalents run",
    "RNN_LIGHTNING_API_KEY": "the key the server requires on POST /predict and /explain (--server.api_key)",
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


def api_key() -> str | None:
    """``$RNN_LIGHTNING_API_KEY``, if set: the default ``--server.api_key``."""
    return os.environ.get("RNN_LIGHTNING_API_KEY") or None


def torch_extensions_dir() -> Path:
    """Where torch builds and keeps extensions: ``$TORCH_EXTENSIONS_DIR``, else ``~/.cache/torch_extensions``."""
    return Path(os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache" / "torch_extensions")


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
