import pytest
import torch

from rnn_lightning.model import SentimentRNN
from rnn_lightning.summary import KERAS_SIMPLE_RNN_TOTAL, keras_summary


def test_output_is_one_logit_per_review():
    model = SentimentRNN(num_words=50, embed_dim=8, hidden_size=6, num_layers=2)
    assert model(torch.randint(0, 50, (5, 17))).shape == (5,)


def test_parameter_counts_per_layer_match_keras_with_the_second_bias_frozen():
    model = SentimentRNN()
    per_layer = {layer: [p for n, p in model.rnn.named_parameters() if n.endswith(f"_l{layer}")] for layer in range(4)}
    for parameters in per_layer.values():
        assert sum(p.numel() for p in parameters) == 2_112  # torch: two bias vectors
        assert sum(p.numel() for p in parameters if p.requires_grad) == 2_080  # Keras SimpleRNN(32): one
    assert sum(p.numel() for p in model.embedding.parameters()) == 320_000
    assert sum(p.numel() for p in model.head.parameters()) == 33
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == KERAS_SIMPLE_RNN_TOTAL
    assert sum(p.numel() for p in model.parameters()) == 328_481


def test_both_biases_train_when_asked():
    model = SentimentRNN(single_bias=False)
    assert all(p.requires_grad for p in model.parameters())


def test_keras_initialisation():
    model = SentimentRNN(cell="lstm")
    assert model.embedding.weight.abs().max() <= 0.05
    recurrent = model.rnn.weight_hh_l0  # (4 * 32, 32): orthogonal columns, as Keras's orthogonal initializer
    torch.testing.assert_close(recurrent.T @ recurrent, torch.eye(32), atol=1e-5, rtol=0)
    assert (model.rnn.bias_ih_l0[32:64] == 1).all() and (model.rnn.bias_ih_l0[:32] == 0).all()  # unit_forget_bias
    assert (model.rnn.bias_hh_l0 == 0).all() and not model.rnn.bias_hh_l0.requires_grad


def test_gru_keeps_both_biases_like_keras_reset_after():
    model = SentimentRNN(cell="gru")
    assert all(p.requires_grad for p in model.parameters())
    assert sum(p.numel() for n, p in model.rnn.named_parameters() if n.endswith("_l0")) == 6_336  # Keras GRU(32)


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="cell must be one of"):
        SentimentRNN(cell="transformer")


def test_keras_summary_lists_layers_shapes_and_totals():
    text = keras_summary(SentimentRNN(), maxlen=500)
    rows = {line.split(" (")[0]: line.split() for line in text.splitlines()[2:8]}
    assert rows["embedding"][-4:] == ["500,", "32)", "320,000", "320,000"]
    for layer in (1, 2, 3):
        assert rows[f"rnn_{layer}"][-4:] == ["500,", "32)", "2,112", "2,080"]
    assert rows["rnn_4"][-4:] == ["(None,", "32)", "2,112", "2,080"]
    assert rows["head"][-3:] == ["1)", "33", "33"]
    assert "Total params: 328,481" in text and "Trainable params: 328,353" in text
    assert "bias_hh is frozen at zero" in text
