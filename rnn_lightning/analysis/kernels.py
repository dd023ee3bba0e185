"""Timing of the compiled recurrences alone, per instruction set, against this machine's matrix-product peak."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from rnn_lightning.models.compiled import build_recurrences

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


@dataclass(frozen=True)
class KernelTiming:
    """One cell's recurrence over one layer, forward and backward (the fastest of the repeats).

    Attributes:
        target: The instruction set the kernels were built for (``native``: this CPU's).
        cell: ``rnn``, ``lstm`` or ``gru``.
        forward_ms: One layer's forward over all steps.
        backward_ms: Its backward, from the final state's gradient (the top layer's case).
        gflop: The recurrent products' arithmetic of one pass, in GFLOP (``2 * steps * batch * gates * hidden^2``).
    """

    target: str
    cell: str
    forward_ms: float
    backward_ms: float
    gflop: float


def time_recurrence(target: str, cell: str, steps: int = 500, batch: int = 128, hidden: int = 32,
                    repeat: int = 7) -> KernelTiming:
    """Time one layer's compiled recurrence, forward and backward, at the study's shapes by default.

    Raises:
        Exception: Whatever building the kernels for ``target`` raises (a CPU that cannot run it, no compiler).
    """
    kernel = build_recurrences(target)
    gates = GATES[cell]
    generator = torch.Generator().manual_seed(0)
    weight = torch.nn.init.orthogonal_(torch.empty(gates * hidden, hidden), generator=generator)
    projections = torch.randn(steps, batch, gates * hidden, generator=generator) * 0.5
    grad_last = torch.randn(batch, hidden, generator=generator)
    forward = backward = float("inf")
    for _ in range(repeat):
        z = projections.clone()
        start = time.perf_counter()
        if cell == "rnn":
            saved = (kernel.forward_(z, weight, None),)
        elif cell == "lstm":
            saved = tuple(kernel.lstm_forward_(z, weight, None))
        else:
            saved = tuple(kernel.gru_forward_(z, weight, torch.zeros(gates * hidden), None))
        middle = time.perf_counter()
        if cell == "rnn":
            kernel.backward(saved[0], weight, None, grad_last, True)
        elif cell == "lstm":
            kernel.lstm_backward(z, saved[1], weight, None, grad_last, True)
        else:
            kernel.gru_backward(z, saved[1], saved[0], weight, None, grad_last, True)
        end = time.perf_counter()
        forward, backward = min(forward, middle - start), min(backward, end - middle)
    return KernelTiming(target, cell, forward * 1e3, backward * 1e3, 2 * steps * batch * gates * hidden**2 / 1e9)


def matrix_product_peak(size: int = 1024, repeat: int = 20) -> float:
    """GFLOP/s of torch's float32 matrix product of two ``size`` x ``size`` matrices: the floor's yardstick."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * size**3 * repeat / (time.perf_counter() - start) / 1e9


def format_kernel_timings(timings: list[KernelTiming], peak: float) -> str:
    """A Markdown table: ms per layer and GFLOP/s each way, and their share of the matrix-product peak."""
    lines = [f"Matrix product peak (float32, 1024^3, {torch.get_num_threads()} threads): {peak:.0f} GFLOP/s", "",
             "| built for | cell | forward ms/layer | GFLOP/s | backward ms/layer | GFLOP/s | of peak (fwd, bwd) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for t in timings:
        forward, backward = t.gflop / t.forward_ms * 1e3, t.gflop / t.backward_ms * 1e3
        lines.append(f"| {t.target} | {t.cell} | {t.forward_ms:.2f} | {forward:.0f} | {t.backward_ms:.2f} | "
                     f"{backward:.0f} | {forward / peak:.0%}, {backward / peak:.0%} |")
    return "\n".join(lines)
