import platform
from pathlib import Path

import pytest
import torch
from torch import nn

from rnn_lightning.models.compiled import CompiledPathWarning, allow_compiled, recurrence_kernel, recurrence_path
from rnn_lightning.models.network import TextRNN, padding_in_front
from rnn_lightning.models.recurrences import _TanhRNNLayer, fast_stack, supports_fast_path

from .conftest import make_network

# Both ways of stepping through time: the compiled recurrence and the Python loop over ATen calls.
PATHS = pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python-loop"])


def kernel_for(compiled: bool):
    return recurrence_kernel() if compiled else None


def test_the_compiled_recurrence_is_built_here():
    # make test must build it (or the machine lacks a compiler, and this says so): never a silent fallback.
    assert recurrence_kernel() is not None, recurrence_path()
    assert recurrence_path().startswith("compiled C++")


def make_rnn(dtype=torch.float64, layers=3, size=5, seed=0):
    torch.manual_seed(seed)
    return nn.RNN(size, size, num_layers=layers, batch_first=True).to(dtype)


@PATHS
@pytest.mark.parametrize("masked", [False, True])
def test_layer_gradcheck_for_inputs_and_every_parameter(masked, compiled):
    torch.manual_seed(0)
    steps, batch, inputs_size, hidden = 6, 3, 4, 5
    tensors = [torch.randn(steps, batch, inputs_size), torch.randn(hidden, inputs_size), torch.randn(hidden, hidden),
               torch.randn(hidden), torch.randn(hidden)]
    tensors = [(t * 0.5).double().requires_grad_(True) for t in tensors]
    mask = torch.tensor([[0.0, 1.0, 0.0]] * 2 + [[1.0, 1.0, 1.0]] * 4, dtype=torch.float64).unsqueeze(-1)
    step_mask = mask if masked else None
    for last_only in (False, True):
        assert torch.autograd.gradcheck(
            lambda *t, last_only=last_only: _TanhRNNLayer.apply(*t, step_mask, last_only, kernel_for(compiled)),
            tensors)


@PATHS
@pytest.mark.parametrize("last_only", [False, True])
def test_stack_gradcheck_through_all_layers(last_only, compiled):
    rnn = make_rnn()
    inputs = torch.randn(6, 2, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: fast_stack(rnn, x, last_only=last_only, compiled=compiled),
                                    (inputs,))


@PATHS
def test_gradcheck_with_a_padding_mask(compiled):
    rnn = make_rnn()
    inputs = torch.randn(6, 3, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[False, False, True, True, True, True], [True] * 6, [False] * 5 + [True]]).t()
    assert torch.autograd.gradcheck(lambda x: fast_stack(rnn, x, mask, last_only=True, compiled=compiled),
                                    (inputs,))


@PATHS
def test_stack_matches_nn_rnn_outputs_and_final_state(compiled):
    rnn = make_rnn()
    inputs = torch.randn(2, 7, 5, dtype=torch.float64)  # batch-first for nn.RNN
    expected, final = rnn(inputs)
    time_major = inputs.transpose(0, 1)
    torch.testing.assert_close(fast_stack(rnn, time_major, compiled=compiled).transpose(0, 1), expected)
    torch.testing.assert_close(fast_stack(rnn, time_major, last_only=True, compiled=compiled), final[-1])


@PATHS
def test_layer_gradcheck_with_an_initial_state(compiled):
    torch.manual_seed(1)
    tensors = [torch.randn(5, 3, 4), torch.randn(6, 4), torch.randn(6, 6), torch.randn(6), torch.randn(6)]
    tensors = [(t * 0.5).double().requires_grad_(True) for t in tensors]
    initial = (torch.randn(3, 6, dtype=torch.float64) * 0.5).requires_grad_(True)
    for last_only in (False, True):
        assert torch.autograd.gradcheck(
            lambda *t, last_only=last_only: _TanhRNNLayer.apply(*t[:5], None, last_only, kernel_for(compiled), t[5]),
            (*tensors, initial))


@PATHS
def test_stack_from_an_initial_state_matches_nn_rnn_from_it(compiled):
    rnn = make_rnn()
    inputs = torch.randn(2, 7, 5, dtype=torch.float64)
    initial = torch.randn(3, 2, 5, dtype=torch.float64)
    expected, final = rnn(inputs, initial)
    time_major = inputs.transpose(0, 1)
    torch.testing.assert_close(fast_stack(rnn, time_major, compiled=compiled, initial=initial).transpose(0, 1),
                               expected)
    torch.testing.assert_close(fast_stack(rnn, time_major, last_only=True, compiled=compiled, initial=initial),
                               final[-1])


def test_an_initial_state_is_refused_where_it_would_be_wrong():
    initial = torch.zeros(1, 2, 5)
    inputs = torch.randn(3, 2, 5)
    for rnn, mask in ((nn.RNN(5, 5, batch_first=True), torch.ones(3, 2, dtype=torch.bool)),
                      (nn.RNN(5, 5, batch_first=True, bidirectional=True), None),
                      (nn.GRU(5, 5, batch_first=True), None)):
        with pytest.raises(ValueError, match="one-way tanh RNN without a mask"):
            fast_stack(rnn, inputs, mask, initial=initial)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("hidden", [32, 7])  # the study's width (compiled for it) and any other
def test_compiled_and_python_loop_agree_in_float32_at_the_real_shapes(masked, hidden):
    torch.manual_seed(0)
    rnn = nn.RNN(hidden, hidden, num_layers=4, batch_first=True)
    for name, parameter in rnn.named_parameters():  # Keras's initialisers, as the model uses
        (nn.init.orthogonal_ if "weight_hh" in name else nn.init.xavier_uniform_ if "weight" in name
         else nn.init.zeros_)(parameter)
    inputs = (torch.rand(500, 128, hidden) * 0.1 - 0.05).requires_grad_(True)
    lengths = torch.randint(1, 501, (128,))
    mask = (torch.arange(500).unsqueeze(1) >= 500 - lengths) if masked else None
    results = []
    for compiled in (True, False):
        rnn.zero_grad()
        inputs.grad = None
        output = fast_stack(rnn, inputs, mask, last_only=True, compiled=compiled)
        output.pow(2).sum().backward()
        results.append((output.detach(), inputs.grad.clone(), {n: p.grad.clone() for n, p in rnn.named_parameters()}))
    (compiled_out, compiled_input_grad, compiled_grads), (loop_out, loop_input_grad, loop_grads) = results
    # Float32 summed in another order drifts over 500 steps and 4 layers: close relative to each tensor's scale.
    torch.testing.assert_close(compiled_out, loop_out, rtol=1e-4, atol=1e-5)
    for name, grad, reference in [("input", compiled_input_grad, loop_input_grad),
                                  *((n, g, loop_grads[n]) for n, g in compiled_grads.items())]:
        torch.testing.assert_close(grad, reference, rtol=1e-3, atol=1e-4 * float(reference.abs().max()), msg=name)


GATED = pytest.mark.parametrize("module, gates", [(nn.LSTM, 4), (nn.GRU, 3)], ids=["lstm", "gru"])


@GATED
@pytest.mark.parametrize("masked", [False, True])
def test_gated_layer_gradcheck_for_inputs_and_every_parameter(module, gates, masked):
    from rnn_lightning.models.recurrences import _GRULayer, _LSTMLayer

    layer = {nn.LSTM: _LSTMLayer, nn.GRU: _GRULayer}[module]
    torch.manual_seed(0)
    steps, batch, inputs_size, hidden = 6, 3, 4, 5
    tensors = [torch.randn(steps, batch, inputs_size), torch.randn(gates * hidden, inputs_size),
               torch.randn(gates * hidden, hidden), torch.randn(gates * hidden), torch.randn(gates * hidden)]
    tensors = [(t * 0.5).double().requires_grad_(True) for t in tensors]
    mask = torch.tensor([[0.0, 1.0, 0.0]] * 2 + [[1.0, 1.0, 1.0]] * 4, dtype=torch.float64).unsqueeze(-1)
    for last_only in (False, True):
        assert torch.autograd.gradcheck(
            lambda *t, last_only=last_only: layer.apply(*t, mask if masked else None, last_only, recurrence_kernel()),
            tensors)


@GATED
@pytest.mark.parametrize("last_only", [False, True])
def test_gated_stack_matches_torch_and_passes_gradcheck(module, gates, last_only):
    torch.manual_seed(0)
    rnn = module(5, 5, num_layers=3, batch_first=True).double()
    inputs = torch.randn(2, 7, 5, dtype=torch.float64)
    expected, state = rnn(inputs)
    final = state[0] if isinstance(state, tuple) else state
    time_major = inputs.transpose(0, 1)
    torch.testing.assert_close(fast_stack(rnn, time_major).transpose(0, 1), expected)
    torch.testing.assert_close(fast_stack(rnn, time_major, last_only=True), final[-1])
    mask = torch.tensor([[False, False, True, True, True, True, True], [True] * 7]).t()
    assert torch.autograd.gradcheck(lambda x: fast_stack(rnn, x, mask, last_only=last_only),
                                    (time_major.clone().requires_grad_(True),))


def test_without_the_compiled_recurrence_the_python_loop_runs_after_a_one_line_notice():
    rnn = make_rnn()
    inputs = torch.randn(6, 2, 5, dtype=torch.float64)
    expected = fast_stack(rnn, inputs)
    allow_compiled(False)
    try:
        with pytest.warns(CompiledPathWarning, match="^compiled RNN recurrence unavailable: switched off"):
            assert recurrence_kernel() is None
        assert recurrence_path() == "Python loop (switched off)"
        torch.testing.assert_close(fast_stack(rnn, inputs), expected)
        # The LSTM and GRU have no Python loop of their own: they fall back to torch's modules.
        for gated in (nn.LSTM(5, 5, batch_first=True).double(), nn.GRU(5, 5, batch_first=True).double()):
            assert not supports_fast_path(gated, inputs)
            with pytest.raises(RuntimeError, match="fast path needs the compiled recurrence"):
                fast_stack(gated, inputs)
    finally:
        allow_compiled(True)  # the next call loads the built library again



@pytest.fixture()
def fast_path_calls(monkeypatch):
    """Record the time-major input shape of every call the model makes to the fast path."""
    calls = []

    def spy(rnn, inputs, mask=None, *, last_only=False):
        calls.append(tuple(inputs.shape))
        return fast_stack(rnn, inputs, mask, last_only=last_only)

    monkeypatch.setattr("rnn_lightning.models.network.fast_stack", spy)
    return calls


def _logits_and_gradients(model: TextRNN, ids: torch.Tensor, labels: torch.Tensor):
    model.zero_grad()
    logits = model(ids)
    nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
    return logits.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def _twins(dtype: torch.dtype, **settings) -> tuple[TextRNN, TextRNN]:
    torch.manual_seed(0)
    fast = make_network(fast_path=True, **settings).to(dtype)
    reference = make_network(fast_path=False, **settings).to(dtype)
    reference.load_state_dict(fast.state_dict())
    return fast, reference


def _reviews(batch: int, steps: int, num_words: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Front-padded reviews of assorted lengths (one full-length), as the DataModule produces them."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
    lengths[0] = steps
    ids = torch.randint(1, num_words, (batch, steps), generator=generator)
    ids[torch.arange(steps) < (steps - lengths).unsqueeze(1)] = 0
    return ids, torch.randint(0, 2, (batch,), generator=generator).float()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_fast_path_runs_and_matches_nn_rnn_per_review_at_the_real_shapes(fast_path_calls, cell):
    fast, reference = _twins(torch.float32, cell=cell)
    ids, labels = _reviews(128, 500, 10_000)
    fast_logits, fast_grads = _logits_and_gradients(fast, ids, labels)
    assert fast_path_calls == [(500, 128, 32)]  # the fast path really ran...
    reference_logits, reference_grads = _logits_and_gradients(reference, ids, labels)
    assert len(fast_path_calls) == 1  # ...and the reference did not
    torch.testing.assert_close(fast_logits, reference_logits, rtol=1e-4, atol=1e-5)
    frozen_bias = cell != "gru"  # Keras's GRU has two biases, so the model keeps both (see TextRNN)
    assert fast_grads.keys() == reference_grads.keys() and len(fast_grads) == 1 + (3 if frozen_bias else 4) * 4 + 2
    for name, grad in fast_grads.items():
        torch.testing.assert_close(grad, reference_grads[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("mask_padding", [False, True])
def test_fast_path_equals_nn_rnn_in_float64_over_500_steps(fast_path_calls, mask_padding, cell):
    _fast_path_equals_torch_in_float64(fast_path_calls, mask_padding, cell, batch=16, steps=500)


def _fast_path_equals_torch_in_float64(fast_path_calls, mask_padding: bool, cell: str, batch: int, steps: int,
                                       ) -> dict[str, torch.Tensor]:
    """The fast path and torch's module agree in float64 on logits and every gradient; the fast path's gradients."""
    fast, reference = _twins(torch.float64, num_words=1_000, mask_padding=mask_padding, cell=cell)
    ids, labels = _reviews(batch, steps, 1_000, seed=1)
    fast_logits, fast_grads = _logits_and_gradients(fast, ids, labels)
    reference_logits, reference_grads = _logits_and_gradients(reference, ids, labels)
    assert len(fast_path_calls) == 1
    torch.testing.assert_close(fast_logits, reference_logits, rtol=1e-10, atol=1e-12)
    assert fast_grads.keys() == reference_grads.keys()
    for name, grad in fast_grads.items():
        torch.testing.assert_close(grad, reference_grads[name], rtol=1e-9, atol=1e-14, msg=name)
    return fast_grads


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("mask_padding", [False, True])
def test_a_single_step_is_a_sequence_too(fast_path_calls, mask_padding, cell):
    # --data.maxlen 1: no earlier state, so the recurrent weights get a zero gradient, as torch's modules give.
    fast_grads = _fast_path_equals_torch_in_float64(fast_path_calls, mask_padding, cell, batch=8, steps=1)
    assert all(float(grad.abs().sum()) == 0 for name, grad in fast_grads.items() if "weight_hh" in name)


def test_masked_batches_are_cut_to_their_longest_review(fast_path_calls):
    model = make_network(num_words=50, embed_dim=4, hidden_size=3, num_layers=2, mask_padding=True)
    ids = torch.zeros(3, 20, dtype=torch.long)
    ids[0, -7:], ids[1, -2:], ids[2, -5:] = 5, 6, 7
    model(ids)
    assert fast_path_calls == [(7, 3, 4)]  # 13 all-padding steps never reach the RNN
    make_network(num_words=50, embed_dim=4, hidden_size=3, num_layers=2)(ids)
    assert fast_path_calls[-1] == (20, 3, 4)  # unmasked, the model runs through the padding as the study does


def test_fast_path_is_chosen_only_where_it_is_exact():
    rnn = nn.RNN(4, 4, num_layers=2, batch_first=True)
    assert supports_fast_path(rnn, torch.zeros(1, 2, 4))
    assert not supports_fast_path(rnn, torch.zeros(1, 2, 4, dtype=torch.bfloat16))
    assert not supports_fast_path(nn.RNN(4, 4, batch_first=True, nonlinearity="relu"), torch.zeros(1, 2, 4))
    assert supports_fast_path(nn.GRU(4, 4, batch_first=True), torch.zeros(1, 2, 4))  # compiled here
    assert not supports_fast_path(nn.GRU(4, 4, batch_first=True, bias=False), torch.zeros(1, 2, 4))
    assert supports_fast_path(nn.LSTM(4, 4, batch_first=True), torch.zeros(1, 2, 4))
    assert not supports_fast_path(nn.LSTM(4, 4, batch_first=True, proj_size=2), torch.zeros(1, 2, 4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not supports_fast_path(rnn, torch.zeros(1, 2, 4))
    with_dropout = nn.RNN(4, 4, num_layers=2, batch_first=True, dropout=0.5)
    assert not supports_fast_path(with_dropout.train(), torch.zeros(1, 2, 4))  # the fast path has no dropout
    assert supports_fast_path(with_dropout.eval(), torch.zeros(1, 2, 4))


@pytest.mark.parametrize("cell, fast", [("rnn", True), ("rnn", False), ("lstm", True), ("lstm", False),
                                        ("gru", True), ("gru", False)])
def test_masked_batch_equals_each_review_run_alone(cell, fast):
    torch.manual_seed(0)
    model = make_network(num_words=50, embed_dim=6, hidden_size=5, num_layers=3, cell=cell, mask_padding=True,
                         fast_path=fast)
    lengths = [9, 4, 1, 7]
    ids = torch.zeros(len(lengths), 12, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, 12 - length:] = torch.randint(1, 50, (length,))
    batched = model(ids)
    one_by_one = torch.stack([model(ids[row:row + 1, 12 - length:]) for row, length in enumerate(lengths)]).squeeze(1)
    torch.testing.assert_close(batched, one_by_one, rtol=1e-5, atol=1e-6)
    unmasked = make_network(num_words=50, embed_dim=6, hidden_size=5, num_layers=3, cell=cell, fast_path=False)
    unmasked.load_state_dict(model.state_dict())
    # A review without padding needs no mask: the plain nn.RNN/LSTM/GRU's last output is the reference.
    alone = torch.stack([unmasked(ids[row:row + 1, 12 - length:]) for row, length in enumerate(lengths)]).squeeze(1)
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(unmasked(ids), batched)  # without the mask the padding does change the result


@pytest.mark.parametrize("cell, fast", [("rnn", True), ("rnn", False), ("lstm", True), ("gru", False)])
def test_masked_padding_after_or_between_the_words_is_skipped_like_front_padding(cell, fast):
    torch.manual_seed(0)
    model = make_network(num_words=50, embed_dim=6, hidden_size=5, num_layers=3, cell=cell, mask_padding=True,
                         fast_path=fast)
    words = [torch.randint(1, 50, (length,)) for length in (9, 4, 1, 7)]
    in_front = torch.zeros(4, 12, dtype=torch.long)
    scattered = torch.zeros(4, 12, dtype=torch.long)
    for row, review in enumerate(words):
        in_front[row, 12 - len(review):] = review
        scattered[row, :len(review)] = review  # padding after the words (the distance task's padding filler)
    scattered[0, :9] = 0
    scattered[0, [0, 2, 3, 5, 6, 8, 9, 10, 11]] = words[0]  # and padding between them
    torch.testing.assert_close(model(scattered), model(in_front), rtol=1e-5, atol=1e-6)
    unmasked = make_network(num_words=50, embed_dim=6, hidden_size=5, num_layers=3, cell=cell, fast_path=fast)
    unmasked.load_state_dict(model.state_dict())
    assert not torch.allclose(unmasked(scattered), unmasked(in_front))  # where the padding stands matters unmasked


def test_padding_in_front_keeps_the_words_in_order_and_front_padded_rows_as_they_are():
    ids = torch.tensor([[0, 0, 3, 4], [5, 0, 6, 0], [7, 8, 0, 0], [0, 0, 0, 0]])
    moved, present = padding_in_front(ids)
    assert moved.tolist() == [[0, 0, 3, 4], [0, 0, 5, 6], [0, 0, 7, 8], [0, 0, 0, 0]]
    assert present.tolist() == [[False, False, True, True]] * 3 + [[False] * 4]
    front = torch.tensor([[0, 1, 2], [3, 4, 5]])
    assert padding_in_front(front)[0] is front


def test_the_build_names_no_checkout_and_is_keyed_by_the_torch_installation(monkeypatch):
    from rnn_lightning.environment import torch_extensions_dir
    from rnn_lightning.models.compiled import SOURCE, extension_name

    assert recurrence_kernel() is not None
    build_file = (torch_extensions_dir() / extension_name() / "build.ninja").read_text()
    # The source is compiled from a copy in the build folder: another checkout finds the same build, not a stale one.
    assert str(SOURCE) not in build_file and str(torch_extensions_dir() / extension_name() / SOURCE.name) in build_file
    name = extension_name()
    monkeypatch.setattr(torch, "__file__", "/another/venv/torch/__init__.py")
    assert extension_name() != name  # another torch installation builds beside this one, never over it


def test_a_built_library_is_imported_directly_and_one_that_does_not_load_is_built_again(monkeypatch):
    import torch.utils.cpp_extension as cpp_extension

    from rnn_lightning.models import compiled

    assert recurrence_kernel() is not None  # built by now, under its name
    builds = []
    monkeypatch.setattr(cpp_extension, "load", lambda **kwargs: builds.append(kwargs["name"]) or "rebuilt")
    compiled.build_recurrences.cache_clear()
    try:
        module = compiled.build_recurrences(compiled.NATIVE)
        assert builds == [] and hasattr(module, "forward_")  # no builder, no ninja: the library itself
        compiled.build_recurrences.cache_clear()

        def broken(name, path):
            raise ImportError(f"{path}: file too short")  # as a build killed while linking leaves it

        monkeypatch.setattr(compiled, "_import_library", broken)
        assert compiled.build_recurrences(compiled.NATIVE) == "rebuilt" and builds == [compiled.extension_name()]
    finally:
        compiled.build_recurrences.cache_clear()  # the next caller builds (loads) the real one again


def _cpu_flags() -> set[str]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))


# The kernels take their shape from the instruction set they are built for (recurrence.cpp, kVectorRegisters):
# AVX2 with FMA (16 vector registers: sliced sums) and plain x86-64 (SSE2, what any other CPU's generic vectors
# stand for) are built here beside this CPU's own build and checked against torch at the study's shapes.
TARGETS = pytest.mark.parametrize("target, needs", [("x86-64-v3", {"avx2", "fma"}), ("x86-64", set())],
                                  ids=["avx2", "sse2"])


@pytest.mark.slow
@TARGETS
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("mask_padding", [False, True])
def test_every_instruction_sets_kernels_match_torch_at_the_real_shapes(monkeypatch, target, needs, cell,
                                                                       mask_padding):
    if platform.machine() != "x86_64" or not needs <= _cpu_flags():
        pytest.skip(f"this CPU cannot run a {target} build")
    from rnn_lightning.models.compiled import build_recurrences

    kernel = build_recurrences(target)
    monkeypatch.setattr("rnn_lightning.models.recurrences.recurrence_kernel", lambda: kernel)
    fast, reference = _twins(torch.float32, cell=cell, mask_padding=mask_padding)
    ids, labels = _reviews(128, 500, 10_000)
    fast_logits, fast_grads = _logits_and_gradients(fast, ids, labels)
    reference_logits, reference_grads = _logits_and_gradients(reference, ids, labels)
    torch.testing.assert_close(fast_logits, reference_logits, rtol=1e-4, atol=1e-5)
    for name, grad in fast_grads.items():
        torch.testing.assert_close(grad, reference_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    # Beside this CPU's own build, the same function to rounding (without FMA, SSE2 rounds each product apart).
    monkeypatch.setattr("rnn_lightning.models.recurrences.recurrence_kernel", recurrence_kernel)
    native_logits, _ = _logits_and_gradients(fast, ids, labels)
    torch.testing.assert_close(fast_logits, native_logits, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@TARGETS
@pytest.mark.parametrize("layer_name, gates", [("_TanhRNNLayer", 1), ("_LSTMLayer", 4), ("_GRULayer", 3)],
                         ids=["rnn", "lstm", "gru"])
def test_every_instruction_sets_build_passes_gradcheck_in_float64(target, needs, layer_name, gates):
    if platform.machine() != "x86_64" or not needs <= _cpu_flags():
        pytest.skip(f"this CPU cannot run a {target} build")
    from rnn_lightning.models import recurrences
    from rnn_lightning.models.compiled import build_recurrences

    kernel, layer = build_recurrences(target), getattr(recurrences, layer_name)
    torch.manual_seed(0)
    steps, batch, inputs_size, hidden = 6, 5, 4, 5  # 5 rows: a block of 4 (2 for the gated cells) and a rest
    tensors = [torch.randn(steps, batch, inputs_size), torch.randn(gates * hidden, inputs_size),
               torch.randn(gates * hidden, hidden), torch.randn(gates * hidden), torch.randn(gates * hidden)]
    tensors = [(t * 0.5).double().requires_grad_(True) for t in tensors]
    mask = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0]] * 2 + [[1.0] * 5] * 4, dtype=torch.float64).unsqueeze(-1)
    for masked in (False, True):
        for last_only in (False, True):
            assert torch.autograd.gradcheck(
                lambda *t, m=mask if masked else None, last=last_only: layer.apply(*t, m, last, kernel), tensors)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional, pooling", [(True, "last"), (True, "max"), (False, "mean"), (True, "mean")])
@pytest.mark.parametrize("mask_padding", [False, True])
def test_bidirectional_layers_and_pooling_equal_torch_in_float64(fast_path_calls, cell, bidirectional, pooling,
                                                                   mask_padding):
    """The fast path's reverse direction (the same kernel over the flipped sequence) and pooling, against
    torch's bidirectional module (packed sequences where the padding is skipped): logits and every gradient."""
    torch.manual_seed(0)
    settings = {"num_words": 300, "embed_dim": 6, "hidden_size": 5, "num_layers": 2, "cell": cell,
                "mask_padding": mask_padding, "bidirectional": bidirectional, "pooling": pooling}
    fast = make_network(fast_path=True, **settings).double()
    reference = make_network(fast_path=False, **settings).double()
    reference.load_state_dict(fast.state_dict())
    ids, labels = _reviews(9, 23, 300, seed=2)
    fast_logits, fast_grads = _logits_and_gradients(fast, ids, labels)
    reference_logits, reference_grads = _logits_and_gradients(reference, ids, labels)
    assert len(fast_path_calls) == 1
    torch.testing.assert_close(fast_logits, reference_logits, rtol=1e-10, atol=1e-12)
    assert fast_grads.keys() == reference_grads.keys()
    assert any("_reverse" in name for name in fast_grads) == bidirectional
    for name, grad in fast_grads.items():
        torch.testing.assert_close(grad, reference_grads[name], rtol=1e-9, atol=1e-13, msg=name)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
def test_a_bidirectional_pooled_masked_batch_equals_each_text_alone(cell, pooling):
    torch.manual_seed(0)
    model = make_network(num_words=50, embed_dim=6, hidden_size=5, num_layers=2, cell=cell, mask_padding=True,
                         bidirectional=True, pooling=pooling)
    lengths = [9, 4, 1, 7]
    ids = torch.zeros(len(lengths), 12, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, 12 - length:] = torch.randint(1, 50, (length,))
    batched = model(ids)
    alone = torch.stack([model(ids[row:row + 1, 12 - length:]) for row, length in enumerate(lengths)]).squeeze(1)
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-6)
    unmasked = make_network(num_words=50, embed_dim=6, hidden_size=5, num_layers=2, cell=cell, bidirectional=True,
                            pooling=pooling)
    unmasked.load_state_dict(model.state_dict())
    assert not torch.allclose(unmasked(ids), batched)  # the padding, read, changes the answer


def test_a_bidirectional_network_has_both_directions_and_a_head_twice_as_wide():
    one_way, two_way = make_network(), make_network(bidirectional=True)
    assert two_way.head.in_features == 2 * one_way.head.in_features == 64
    extra = sum(p.numel() for p in two_way.parameters()) - sum(p.numel() for p in one_way.parameters())
    reverse = (32 * 32 + 32 * 32 + 2 * 32) + 3 * (64 * 32 + 32 * 32 + 2 * 32)  # layer 0 reads 32 wide, the rest 64
    wider_inputs = 3 * 32 * 32  # the forward direction's layers 1-3 read both directions' 64 features
    assert extra == reverse + wider_inputs + 32  # and the head reads 64
