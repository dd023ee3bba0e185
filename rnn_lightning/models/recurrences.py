"""Faster CPU paths for stacks of tanh RNN, LSTM and GRU layers, computing exactly what torch's modules compute.

On CPU, ``nn.RNN`` records several autograd nodes per time step, and with 500 steps, 4 layers and 32 units
that bookkeeping, not arithmetic, dominates. Here each layer is one autograd node: the input projection,
the weight gradients and the input gradient are single large matrix products over all time steps, and only
the recurrence itself is stepped (forward: one matmul-add and a tanh; backward: one multiply and one
matmul-add). It reads the module's own parameters, so checkpoints move freely between this path and
cuDNN's. The LSTM and GRU are built the same way (all their gates' input projections in one GEMM).

The stepped part runs as compiled code when :mod:`rnn_lightning.models.compiled` can build it (one call per layer
and direction, the batch split across threads), else, for the tanh RNN, as a Python loop over ATen calls;
both compute the same function (float32 to a few ulp of each other, float64 exactly up to summation order).
Without the compiled code an LSTM or GRU runs torch's own module, whose CPU kernel beats a Python loop.
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from rnn_lightning.models.compiled import recurrence_kernel, recurrence_path


class _TanhRNNLayer(torch.autograd.Function):
    """One tanh RNN layer over a time-major sequence, with an optional initial state and an optional step mask.

    With ``last_only`` it returns just the final state, as the top layer's consumer needs: its backward
    then starts from a ``(batch, hidden)`` gradient instead of a mostly-zero ``(time, batch, hidden)`` one.
    An initial state ``h_0`` enters only the first step, as ``h_0 W_hh^T`` added to its pre-activation, so the
    recurrences themselves (which start from zeros) are the same with or without one.
    """

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor, bias_ih: torch.Tensor,
                bias_hh: torch.Tensor, mask: torch.Tensor | None, last_only: bool, kernel: ModuleType | None,
                initial: torch.Tensor | None = None) -> torch.Tensor:
        hidden = _input_projections(inputs, weight_ih, bias_ih + bias_hh)
        if initial is not None:
            hidden[0].addmm_(initial, weight_hh.t())
        if kernel is not None:
            kernel.forward_(hidden, weight_hh, mask)
        else:
            _recurrence_loop(hidden, weight_hh, mask)
        ctx.save_for_backward(inputs, weight_ih, weight_hh, hidden, mask, initial)  # hidden: filled in with the h_t
        return _layer_output(ctx, hidden, last_only, kernel)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        inputs, weight_ih, weight_hh, hidden, mask, initial = ctx.saved_tensors
        if ctx.kernel is not None:
            grad_pre = ctx.kernel.backward(hidden, weight_hh, mask, grad_output.contiguous(), ctx.last_only)
        else:
            grad_pre = _recurrence_gradient_loop(hidden, weight_hh, mask, grad_output, ctx.last_only)
        grad_inputs, grad_weight_ih, grad_weight_hh, *grad_biases = _projection_gradients(
            ctx, grad_pre, inputs, weight_ih, hidden)
        gradients = (grad_inputs, grad_weight_ih, grad_weight_hh, *grad_biases, None, None, None)
        if len(ctx.needs_input_grad) == len(gradients):  # called without an initial state
            return gradients
        grad_initial = None
        if initial is not None:
            # The first step's pre-activation holds h_0 W_hh^T: its gradient reaches h_0 and W_hh from there.
            grad_initial = grad_pre[0] @ weight_hh if ctx.needs_input_grad[-1] else None
            if grad_weight_hh is not None:
                grad_weight_hh.addmm_(grad_pre[0].t(), initial)
        return *gradients, grad_initial


def _input_projections(inputs: torch.Tensor, weight_ih: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``x_t W_ih^T + bias`` for every step at once, one GEMM: ``(T, B, I)`` to ``(T, B, gates * H)``."""
    steps, batch, _ = inputs.shape
    return torch.addmm(bias, inputs.reshape(steps * batch, -1), weight_ih.t()).view(steps, batch, -1)


def _layer_output(ctx, hidden: torch.Tensor, last_only: bool, kernel: ModuleType | None) -> torch.Tensor:
    """What a layer returns (every step, or the final state alone), remembering how backward must run."""
    ctx.last_only, ctx.kernel = last_only, kernel
    return hidden[-1].clone() if last_only else hidden


def _recurrence_loop(hidden: torch.Tensor, weight_hh: torch.Tensor, mask: torch.Tensor | None) -> None:
    """h_t = tanh(z_t + h_{t-1} W_hh^T) (times the step mask), in place over ``hidden``, which holds the z_t."""
    recurrent = weight_hh.t()
    # Views of each step, made once: indexing inside the loop would cost a dispatch per step.
    step_hidden = hidden.unbind(0)
    step_mask = mask.unbind(0) if mask is not None else None
    for t, current in enumerate(step_hidden):  # holds x_t W_ih^T + b until overwritten with h_t
        if t:
            current.addmm_(step_hidden[t - 1], recurrent)
        current.tanh_()
        if step_mask is not None:
            # Masked (padding) steps output zeros; with padding in front and a zero initial state this is
            # exactly Keras's mask_zero: the state is carried unchanged through the padding.
            current.mul_(step_mask[t])


def _recurrence_gradient_loop(hidden: torch.Tensor, weight_hh: torch.Tensor, mask: torch.Tensor | None,
                              grad_output: torch.Tensor, last_only: bool) -> torch.Tensor:
    """The gradient w.r.t. each pre-activation z_t, stepping back from the last step."""
    steps = hidden.shape[0]
    # d tanh(z)/dz = 1 - h^2 for all steps at once (one fused op); masked steps pass no gradient. The
    # buffer is then overwritten step by step with the gradient w.r.t. the pre-activation z_t.
    grad_pre = torch.addcmul(hidden.new_ones(()), hidden, hidden, value=-1)
    if mask is not None:
        grad_pre.mul_(mask)
    step_grad_pre = grad_pre.unbind(0)
    # Gradient w.r.t. each h_t: the output's own gradient plus what flows back from step t+1, accumulated
    # in place in one copy of the output gradient (a non-in-place addmm would copy at every step).
    step_grad_hidden = None if last_only else grad_output.clone(memory_format=torch.contiguous_format).unbind(0)
    carried = grad_output if last_only else step_grad_hidden[steps - 1]
    for t in range(steps - 1, -1, -1):
        torch.mul(carried, step_grad_pre[t], out=step_grad_pre[t])
        if t:
            carried = (torch.mm(step_grad_pre[t], weight_hh) if last_only
                       else step_grad_hidden[t - 1].addmm_(step_grad_pre[t], weight_hh))
    return grad_pre


class _LSTMLayer(torch.autograd.Function):
    """One LSTM layer (torch's gate order i, f, g, o) over a time-major sequence, zero initial state, optional mask.

    Only the compiled recurrence steps it: a Python loop would be slower than ``nn.LSTM``'s own CPU kernel.
    """

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor, bias_ih: torch.Tensor,
                bias_hh: torch.Tensor, mask: torch.Tensor | None, last_only: bool, kernel: ModuleType,
                ) -> torch.Tensor:
        gates = _input_projections(inputs, weight_ih, bias_ih + bias_hh)
        hidden, cell = kernel.lstm_forward_(gates, weight_hh, mask)  # gates now hold i, f, g, o activated
        ctx.save_for_backward(inputs, weight_ih, weight_hh, gates, cell, hidden, mask)
        return _layer_output(ctx, hidden, last_only, kernel)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        inputs, weight_ih, weight_hh, gates, cell, hidden, mask = ctx.saved_tensors
        grad_pre = ctx.kernel.lstm_backward(gates, cell, weight_hh, mask, grad_output.contiguous(), ctx.last_only)
        return (*_projection_gradients(ctx, grad_pre, inputs, weight_ih, hidden), None, None, None)


class _GRULayer(torch.autograd.Function):
    """One GRU layer (torch's gate order r, z, n; ``b_hn`` inside the reset product) over a time-major sequence.

    Like the LSTM, only the compiled recurrence steps it.
    """

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor, bias_ih: torch.Tensor,
                bias_hh: torch.Tensor, mask: torch.Tensor | None, last_only: bool, kernel: ModuleType,
                ) -> torch.Tensor:
        # b_hh stays out of the projections: b_hn belongs inside the reset gate's product.
        gates = _input_projections(inputs, weight_ih, bias_ih)
        hidden, recurrent_n = kernel.gru_forward_(gates, weight_hh, bias_hh, mask)  # gates now hold r, z, n
        ctx.save_for_backward(inputs, weight_ih, weight_hh, gates, recurrent_n, hidden, mask)
        return _layer_output(ctx, hidden, last_only, kernel)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        inputs, weight_ih, weight_hh, gates, recurrent_n, hidden, mask = ctx.saved_tensors
        grad_input_pre, grad_recurrent_pre = ctx.kernel.gru_backward(gates, recurrent_n, hidden, weight_hh, mask,
                                                                     grad_output.contiguous(), ctx.last_only)
        return (*_projection_gradients(ctx, grad_input_pre, inputs, weight_ih, hidden, grad_recurrent_pre),
                None, None, None)


def _projection_gradients(ctx, grad_pre: torch.Tensor, inputs: torch.Tensor, weight_ih: torch.Tensor,
                          hidden: torch.Tensor, grad_recurrent_pre: torch.Tensor | None = None,
                          ) -> tuple[torch.Tensor | None, ...]:
    """Gradients of inputs, both weights and both biases from the pre-activations' gradients: large GEMMs.

    ``grad_pre`` is the gradient of the input pre-activations ``x W_ih^T + b_ih``; ``grad_recurrent_pre`` that
    of the recurrent ones ``h W_hh^T + b_hh``, where they differ (the GRU), else the same.
    """
    steps, batch, _ = inputs.shape
    recurrent = grad_pre if grad_recurrent_pre is None else grad_recurrent_pre
    flat_grad = grad_pre.view(steps * batch, -1)
    grad_inputs = (flat_grad @ weight_ih).view_as(inputs) if ctx.needs_input_grad[0] else None
    grad_weight_ih = flat_grad.t() @ inputs.reshape(steps * batch, -1) if ctx.needs_input_grad[1] else None
    grad_weight_hh = None
    if ctx.needs_input_grad[2]:
        # Sizes spelled out: with one step there are no earlier states, and -1 could not be inferred from 0 rows.
        previous = hidden[:-1].reshape((steps - 1) * batch, hidden.shape[-1])
        grad_weight_hh = recurrent[1:].reshape((steps - 1) * batch, recurrent.shape[-1]).t() @ previous
    grad_bias_ih = flat_grad.sum(0) if ctx.needs_input_grad[3] else None
    grad_bias_hh = recurrent.reshape(steps * batch, -1).sum(0) if ctx.needs_input_grad[4] else None
    return grad_inputs, grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh


def supports_fast_path(rnn: nn.Module, like: torch.Tensor) -> bool:
    """Whether :func:`fast_stack` computes exactly what ``rnn`` would on inputs of ``like``'s device and dtype.

    A tanh ``nn.RNN`` always has a fast path (compiled, else the Python loop); an ``nn.LSTM`` or ``nn.GRU``
    only when the compiled recurrence can be had.
    """
    plain = (rnn.bias and rnn.batch_first and (rnn.dropout == 0 or not rnn.training)
             and like.device.type == "cpu" and like.dtype in (torch.float32, torch.float64)
             and not torch.is_autocast_enabled("cpu"))
    if isinstance(rnn, nn.RNN):
        return plain and rnn.nonlinearity == "tanh"
    if isinstance(rnn, nn.LSTM):
        return plain and rnn.proj_size == 0 and recurrence_kernel() is not None
    return isinstance(rnn, nn.GRU) and plain and recurrence_kernel() is not None


def fast_stack(rnn: nn.RNN | nn.LSTM | nn.GRU, inputs: torch.Tensor, mask: torch.Tensor | None = None, *,
               last_only: bool = False, compiled: bool = True, initial: torch.Tensor | None = None,
               ) -> torch.Tensor:
    """Run ``rnn``'s layers (tanh ``nn.RNN``, ``nn.LSTM``, ``nn.GRU``; no dropout) with its own parameters.

    A bidirectional module's reverse direction is the same layer function over the time-reversed sequence
    (and mask), with the ``_reverse`` parameters; its outputs are flipped back and concatenated after the
    forward direction's, as torch does. With the padding in front, the reversed sequence has it at the end:
    masked, the reverse direction starts from a zero state at the last word, as torch's packed sequences do.

    Args:
        rnn: The module whose parameters are used.
        inputs: ``(time, batch, features)``: time-major, so that each step's rows are contiguous.
        mask: Optional ``(time, batch)`` bool, False at padding steps (which must all come first).
        last_only: Return only the last layer's final state (a one-way module only: the reverse direction's
            final state is at the first word, which the caller finds).
        compiled: Step through time in the compiled recurrence when it can be had (float32/float64); False
            runs the tanh RNN's Python loop, to compare (an LSTM or GRU always needs the compiled recurrence).
        initial: Optional ``(layers, batch, hidden)`` initial state of a one-way tanh ``nn.RNN`` without a mask,
            as its ``h_0``; else every layer starts from zeros.

    Returns:
        The last layer's output at every step, ``(time, batch, hidden)``, or with ``last_only`` its final
        state ``(batch, hidden)``: what the module gives as ``output`` (time-major) and ``h_n[-1]``.

    Raises:
        RuntimeError: For an LSTM or GRU without the compiled recurrence.
        ValueError: For ``last_only`` with a bidirectional module, or an ``initial`` state other than a one-way
            tanh RNN's without a mask.
    """
    if last_only and rnn.bidirectional:
        raise ValueError("last_only is for a one-way module: a bidirectional one's reverse state is at the first word")
    if initial is not None and (not isinstance(rnn, nn.RNN) or rnn.bidirectional or mask is not None):
        # A masked step carries its state unchanged only from zeros, and the LSTM's and GRU's kernels have no h_0.
        raise ValueError("an initial state is for a one-way tanh RNN without a mask")
    step_mask = mask.unsqueeze(-1).to(inputs.dtype).contiguous() if mask is not None else None
    kernel = recurrence_kernel() if compiled else None
    layer_function = {nn.LSTM: _LSTMLayer, nn.GRU: _GRULayer}.get(type(rnn), _TanhRNNLayer)
    if layer_function is not _TanhRNNLayer and kernel is None:
        raise RuntimeError(f"the {type(rnn).__name__} fast path needs the compiled recurrence ({recurrence_path()})")
    layer_output = inputs.contiguous()
    for layer in range(rnn.num_layers):
        directions = []
        for suffix in ("", "_reverse") if rnn.bidirectional else ("",):
            backwards = suffix == "_reverse"
            output = layer_function.apply(
                layer_output.flip(0) if backwards else layer_output,
                getattr(rnn, f"weight_ih_l{layer}{suffix}"),
                getattr(rnn, f"weight_hh_l{layer}{suffix}"),
                getattr(rnn, f"bias_ih_l{layer}{suffix}"),
                getattr(rnn, f"bias_hh_l{layer}{suffix}"),
                step_mask.flip(0) if backwards and step_mask is not None else step_mask,
                last_only and layer == rnn.num_layers - 1,
                kernel,
                *(() if initial is None else (initial[layer],)),  # the LSTM's and GRU's take none
            )
            directions.append(output.flip(0) if backwards else output)
        layer_output = torch.cat(directions, dim=-1) if rnn.bidirectional else directions[0]
    return layer_output
