"""Flushing subnormal floats to zero on CPU, where they make a plain RNN many times slower.

As gradients vanish through 500 tanh steps they become subnormal, and x86 CPUs process those many times
slower than normal floats (TensorFlow flushes them by default, PyTorch does not). The setting lives in each
thread's control register and a new thread copies it from the thread that starts it, so it must be made
before PyTorch starts its pool of worker threads (at the first parallel operation) to reach them all:
scripts call :func:`flush_denormals` first thing, and training and prediction call it again for the calling
thread. Results change only for values below 1e-38, which carry no signal here.
"""

from __future__ import annotations

import torch


def flush_denormals() -> bool:
    """Flush subnormal floats to zero on this thread and on the threads PyTorch starts after it.

    Returns:
        Whether the platform supports it (x86 with SSE3 does).
    """
    return torch.set_flush_denormal(True)
