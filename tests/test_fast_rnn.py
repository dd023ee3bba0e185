import pytest
import torch
from torch import nn

from rnn_lightning.fast_rnn import _TanhRNNLayer, supports_fast_path, tanh_rnn_stack
from rnn_lightning.model import SentimentRNN


def make_rnn(dtype=torch.float64, layers=3, size=5, seed=0):
    torch.manual_seed(seed)
    return nn.RNN(size, size, num_layers=layers, batch_first=True).to(dtype)


@pytest.mark.parametrize("masked", [False, True])
def test_layer_gradcheck_for_inputs_and_every_parameter(masked):
    torch.manual_seed(0)
    steps, batch, inputs_size, hidden = 6, 3, 4, 5
    tensors = [torch.randn(steps, batch, inputs_size), torch.randn(hidden, inputs_size), torch.randn(hidden, hidden),
               torch.randn(hidden), torch.randn(hidden)]
    tensors = [(t * 0.5).double().requires_grad_(True) for t in tensors]
    mask = torch.tensor([[0.0, 1.0, 0.0]] * 2 + [[1.0, 1.0, 1.0]] * 4, dtype=torch.float64).unsqueeze(-1)
    step_mask = mask if masked else None
    for last_only in (False, True):
        assert torch.autograd.gradcheck(
            lambda *t, last_only=last_only: _TanhRNNLayer.apply(*t, step_mask, last_only), tensors)


@pytest.mark.parametrize("last_only", [False, True])
def test_stack_gradcheck_through_all_layers(last_only):
    rnn = make_rnn()
    inputs = torch.randn(6, 2, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: tanh_rnn_stack(rnn, x, last_only=last_only), (inputs,))


def test_gradcheck_with_a_padding_mask():
    rnn = make_rnn()
    inputs = torch.randn(6, 3, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[False, False, True, True, True, True], [True] * 6, [False] * 5 + [True]]).t()
    assert torch.autograd.gradcheck(lambda x: tanh_rnn_stack(rnn, x, mask, last_only=True), (inputs,))


def test_stack_matches_nn_rnn_outputs_and_final_state():
    rnn = make_rnn()
    inputs = torch.randn(2, 7, 5, dtype=torch.float64)  # batch-first for nn.RNN
    expected, final = rnn(inputs)
    time_major = inputs.transpose(0, 1)
    torch.testing.assert_close(tanh_rnn_stack(rnn, time_major).transpose(0, 1), expected)
    torch.testing.assert_close(tanh_rnn_stack(rnn, time_major, last_only=True), final[-1])


def test_same_outputs_and_gradients_as_nn_rnn_at_the_real_shapes():
    torch.manual_seed(0)
    model = SentimentRNN()
    ids = torch.randint(0, 10_000, (128, 500))
    labels = torch.randint(0, 2, (128,)).float()
    results = {}
    for fast in (True, False):
        model.zero_grad()
        model.fast_cpu_path = fast
        loss = nn.functional.binary_cross_entropy_with_logits(model(ids), labels)
        loss.backward()
        results[fast] = (loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    torch.testing.assert_close(results[True][0], results[False][0], rtol=1e-5, atol=1e-6)
    assert results[True][1].keys() == results[False][1].keys()
    for name, grad in results[True][1].items():
        torch.testing.assert_close(grad, results[False][1][name], rtol=1e-4, atol=1e-6, msg=name)


def test_fast_path_is_chosen_only_where_it_is_exact():
    rnn = nn.RNN(4, 4, num_layers=2, batch_first=True)
    assert supports_fast_path(rnn, torch.zeros(1, 2, 4))
    assert not supports_fast_path(rnn, torch.zeros(1, 2, 4, dtype=torch.bfloat16))
    assert not supports_fast_path(nn.RNN(4, 4, batch_first=True, nonlinearity="relu"), torch.zeros(1, 2, 4))
    assert not supports_fast_path(nn.GRU(4, 4, batch_first=True), torch.zeros(1, 2, 4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not supports_fast_path(rnn, torch.zeros(1, 2, 4))


@pytest.mark.parametrize("cell, fast", [("rnn", True), ("rnn", False), ("lstm", False), ("gru", False)])
def test_masked_batch_equals_each_review_run_alone(cell, fast):
    torch.manual_seed(0)
    model = SentimentRNN(num_words=50, embed_dim=6, hidden_size=5, num_layers=3, cell=cell, mask_padding=True)
    model.fast_cpu_path = fast
    lengths = [9, 4, 1, 7]
    ids = torch.zeros(len(lengths), 12, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, 12 - length:] = torch.randint(1, 50, (length,))
    batched = model(ids)
    one_by_one = torch.stack([model(ids[row:row + 1, 12 - length:]) for row, length in enumerate(lengths)]).squeeze(1)
    torch.testing.assert_close(batched, one_by_one, rtol=1e-5, atol=1e-6)
    unmasked = SentimentRNN(num_words=50, embed_dim=6, hidden_size=5, num_layers=3, cell=cell)
    unmasked.load_state_dict(model.state_dict())
    assert not torch.allclose(unmasked(ids), batched)  # without the mask the padding does change the result
