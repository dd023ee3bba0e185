"""The process-wide switches an entry point owns, set in one place (the library sets none of them)."""

from __future__ import annotations

import warnings
from pathlib import Path

# Deprecations raised inside our dependencies, about their own calls: nothing for a user to change.
KNOWN_WARNINGS = (
    (r".*does not have many workers.*", Warning),  # the data is memory-mapped: workers only add start-up time
    (r".*isinstance\(treespec, LeafSpec\).*", FutureWarning),  # Lightning 2.6 on torch 2.13
    (r"'set_vital' is deprecated", UserWarning),  # torchdata 0.11 on torch 2.13
)


def quiet_known_warnings() -> None:
    """Hide the warnings in :data:`KNOWN_WARNINGS` for the rest of the process."""
    for message, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def prepare_torch(compiled: bool | None = None, target: str = "native") -> None:
    """Flush subnormal floats on every thread torch starts from now on, and choose the recurrences.

    Call it before torch starts its worker threads, so that they inherit the flushing (see
    :mod:`rnn_lightning.models.denormals`).

    Args:
        compiled: Whether the compiled recurrences may be used; None: unless ``$RNN_LIGHTNING_NO_COMPILE``.
        target: The instruction set to build them for (``-march``); ``native``: this CPU's.
    """
    from rnn_lightning import environment
    from rnn_lightning.models.compiled import allow_compiled
    from rnn_lightning.models.denormals import flush_denormals

    flush_denormals()
    allow_compiled(environment.compiled_recurrences_allowed() if compiled is None else compiled, target)


def prepare_for_model(path: str | Path) -> None:
    """:func:`prepare_torch` for a checkpoint; nothing for an exported model, which runs without torch."""
    from rnn_lightning.models.saved import is_exported

    if not is_exported(path):
        prepare_torch()


def hand_over_quickly() -> None:
    """Let a thread waiting for the GIL have it within 0.5 ms (Python's default: 5 ms).

    Prediction runs the network on a thread of its own while the main thread encodes the next texts; each time
    the network thread returns from onnxruntime or torch it needs the GIL back, and at the default interval it
    waited so long that the two overlapped hardly at all (25,000 reviews: 5.1 s pipelined against 3.1 s for the
    network alone; 3.3 s at 0.5 ms).
    """
    import sys

    sys.setswitchinterval(0.0005)


def quiet_lightning() -> None:
    """Keep Lightning's start-up notes ("GPU available...") for warnings only: the experiments run dozens of fits."""
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
