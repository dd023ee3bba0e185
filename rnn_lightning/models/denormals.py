"""Flushing subnormal floats to zero on CPU, where they make a plain RNN many times slower.

As gradients vanish through 500 tanh steps they become subnormal, and x86 CPUs process those many times
slower than normal floats (TensorFlow flushes them by default, PyTorch does not). The setting lives in each
thread's control register and a new thread copies it from the thread that starts it, so it must be made
before PyTorch starts its pool of worker threads (at the first parallel operation) to reach them all.

It is a process-wide switch, so it belongs to the entry points that own the process: the scripts call
:func:`flush_denormals` first thing. Library code that wants it for one call uses :func:`denormals_flushed`,
which puts the thread's previous setting back. Results change only for values below 1e-38, which carry no
signal here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

# The smallest positive float32, a subnormal: multiplied by one, it stays itself unless subnormals are flushed.
_SUBNORMAL = float(torch.finfo(torch.float32).smallest_normal) / 2


def flush_denormals() -> bool:
    """Flush subnormal floats to zero on this thread and on the threads PyTorch starts after it.

    Returns:
        Whether the platform supports it (x86 with SSE3 does).
    """
    return torch.set_flush_denormal(True)


def denormals_are_flushed() -> bool:
    """Whether the calling thread currently flushes subnormal floats to zero."""
    return float(torch.tensor([_SUBNORMAL], dtype=torch.float32).mul(1.0)) == 0.0


@contextlib.contextmanager
def denormals_flushed() -> Iterator[None]:
    """Flush subnormals on the calling thread for the duration of the block, then restore its setting."""
    was_flushed = denormals_are_flushed()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was_flushed)
