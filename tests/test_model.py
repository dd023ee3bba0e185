from pathlib import Path

import pytest
import torch

from rnn_lightning.settings import OptimizerSettings
from rnn_lightning.training.summary import KERAS_SIMPLE_RNN_TOTAL, keras_summary

from .conftest import make_classifier, make_network


def test_output_is_one_logit_per_review():
    model = make_network(num_words=50, embed_dim=8, hidden_size=6, num_layers=2)
    assert model(torch.randint(0, 50, (5, 17))).shape == (5,)


def test_parameter_counts_per_layer_match_keras_with_the_second_bias_frozen():
    model = make_network()
    per_layer = {layer: [p for n, p in model.rnn.named_parameters() if n.endswith(f"_l{layer}")] for layer in range(4)}
    for parameters in per_layer.values():
        assert sum(p.numel() for p in parameters) == 2_112  # torch: two bias vectors
        assert sum(p.numel() for p in parameters if p.requires_grad) == 2_080  # Keras SimpleRNN(32): one
    assert sum(p.numel() for p in model.embedding.parameters()) == 320_000
    assert sum(p.numel() for p in model.head.parameters()) == 33
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == KERAS_SIMPLE_RNN_TOTAL
    assert sum(p.numel() for p in model.parameters()) == 328_481


def test_both_biases_train_when_asked():
    model = make_network(single_bias=False)
    assert all(p.requires_grad for p in model.parameters())


def assert_uniform(tensor: torch.Tensor, limit: float, name: str) -> None:
    """Values drawn from U(-limit, limit): they reach close to the limit and spread like it (std limit/sqrt 3)."""
    values = tensor.detach().flatten()
    tolerance = 4 / values.numel() ** 0.5  # a few standard errors of the sample's std, relative
    assert values.abs().max() <= limit, name
    assert values.abs().max() >= limit * (1 - 8 / values.numel()), name
    assert abs(float(values.std()) / (limit / 3**0.5) - 1) < tolerance, name


def glorot_limit(tensor: torch.Tensor) -> float:
    fan_out, fan_in = tensor.shape  # torch stores (out, in); Keras's glorot uses both fans the same way
    return (6 / (fan_in + fan_out)) ** 0.5


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_keras_initialisers_give_the_right_range_and_spread(cell):
    torch.manual_seed(0)
    model = make_network(cell=cell)
    assert_uniform(model.embedding.weight, 0.05, "embedding")
    for layer in range(4):
        weight_ih = getattr(model.rnn, f"weight_ih_l{layer}")
        assert_uniform(weight_ih, glorot_limit(weight_ih), f"weight_ih_l{layer}")
        recurrent = getattr(model.rnn, f"weight_hh_l{layer}")
        torch.testing.assert_close(recurrent.T @ recurrent, torch.eye(32), atol=1e-5, rtol=0)
    assert_uniform(model.head.weight, glorot_limit(model.head.weight), "head")
    assert (model.head.bias == 0).all()


def test_initialisers_tell_keras_from_torch_defaults():
    # The check above must fail for PyTorch's own initialisation of the same tensors.
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match="weight_ih"):
        assert_uniform(torch.nn.RNN(32, 32).weight_ih_l0, glorot_limit(torch.empty(32, 32)), "weight_ih")
    with pytest.raises(AssertionError, match="head"):
        assert_uniform(torch.nn.Linear(32, 1).weight, glorot_limit(torch.empty(1, 32)), "head")
    with pytest.raises(AssertionError, match="embedding"):
        assert_uniform(torch.empty(10_000, 32).uniform_(-0.005, 0.005), 0.05, "embedding")


def test_keras_initialisation():
    model = make_network(cell="lstm")
    assert model.embedding.weight.abs().max() <= 0.05
    recurrent = model.rnn.weight_hh_l0  # (4 * 32, 32): orthogonal columns, as Keras's orthogonal initializer
    torch.testing.assert_close(recurrent.T @ recurrent, torch.eye(32), atol=1e-5, rtol=0)
    assert (model.rnn.bias_ih_l0[32:64] == 1).all() and (model.rnn.bias_ih_l0[:32] == 0).all()  # unit_forget_bias
    assert (model.rnn.bias_hh_l0 == 0).all() and not model.rnn.bias_hh_l0.requires_grad


def test_gru_keeps_both_biases_like_keras_reset_after():
    model = make_network(cell="gru")
    assert all(p.requires_grad for p in model.parameters())
    assert sum(p.numel() for n, p in model.rnn.named_parameters() if n.endswith("_l0")) == 6_336  # Keras GRU(32)


def test_the_loss_is_binary_cross_entropy_on_logits():

    logits, labels = torch.tensor([2.0, -1.0, 0.3]), torch.tensor([1.0, 1.0, 0.0])
    expected = -(labels * torch.log(torch.sigmoid(logits)) + (1 - labels) * torch.log(1 - torch.sigmoid(logits)))
    torch.testing.assert_close(make_classifier(num_words=30).loss(logits, labels), expected.mean())


@pytest.mark.parametrize("name, refused, accepted, message", [
    ("lr", 0.0, 1e-9, "lr must be positive"), ("rho", 1.0, 0.999, r"rho must be in \[0, 1\)"),
    ("rho", -0.1, 0.0, r"rho must be in \[0, 1\)"), ("eps", -1e-9, 0.0, "eps must be at least 0")])
def test_optimiser_settings_that_cannot_train_are_refused(name, refused, accepted, message):
    with pytest.raises(ValueError, match=message):
        OptimizerSettings(**{name: refused})
    module = make_classifier(num_words=30, optimizer=OptimizerSettings(**{name: accepted}))  # the edge is allowed
    assert module.hparams["optimizer"][name] == accepted  # saved in the checkpoint's hyperparameters


@pytest.mark.parametrize("setting", [{"num_words": 0}, {"embed_dim": 0}, {"hidden_size": 0}, {"num_layers": 0}])
def test_sizes_below_one_are_refused(setting):
    with pytest.raises(ValueError, match=f"{next(iter(setting))} must be at least 1"):
        make_network(**setting)


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="cell must be one of"):
        make_network(cell="transformer")


def test_keras_summary_lists_layers_shapes_and_totals():
    text = keras_summary(make_network(), maxlen=500)
    rows = {line.split(" (")[0]: line.split() for line in text.splitlines()[2:8]}
    assert rows["embedding"][-4:] == ["500,", "32)", "320,000", "320,000"]
    for layer in (1, 2, 3):
        assert rows[f"rnn_{layer}"][-4:] == ["500,", "32)", "2,112", "2,080"]
    assert rows["rnn_4"][-4:] == ["(None,", "32)", "2,112", "2,080"]
    assert rows["head"][-3:] == ["1)", "33", "33"]
    assert "Total params: 328,481" in text and "Trainable params: 328,353" in text
    assert "bias_hh is frozen at zero" in text


def test_the_study_networks_summary_is_the_one_the_docs_show():
    training_md = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text(encoding="utf-8")
    documented = training_md.split("The summary printed at the start of `fit` says so:\n\n```\n", 1)[1].split("```")[0]
    table, note = keras_summary(make_network(), maxlen=500).rsplit("\n", 1)
    assert table + "\n" == documented
    assert note == ("Note: Keras's SimpleRNN has one bias vector per layer; torch's RNN has two (bias_ih and bias_hh), "
                    "32 more parameters per layer. Here bias_hh is frozen at zero, so the trainable count is Keras's. "
                    "(Keras's total for the study: 328,353.)")


def test_the_summary_of_a_two_way_network_of_gated_cells_counts_both_directions():
    network = make_network(50, cell="lstm", num_layers=2, bidirectional=True, hidden_size=8, embed_dim=4,
                           single_bias=False, ngram_buckets=100)
    assert keras_summary(network).splitlines() == [
        "Layer (type)            Output Shape         Param #  Trainable",
        "=" * 63,
        "embedding (Embedding)   (None, None, 4)          200        200",
        "lstm_1 (LSTM)           (None, None, 16)         896        896",  # 2 x (4 x 8 x (4 + 8) + 2 x 32)
        "lstm_2 (LSTM)           (None, 16)             1,664      1,664",  # 2 x (4 x 8 x (16 + 8) + 2 x 32)
        "head (Linear)           (None, 1)                 17         17",
        "ngrams (Embedding)      (None, 1)                100        100",
        "=" * 63,
        "Total params: 2,877",
        "Trainable params: 2,877",
        "Non-trainable params: 0",
        "Note: Keras's LSTM has one bias vector per layer; torch's LSTM has two (bias_ih and bias_hh), 64 more "
        "parameters per layer. Both are trained here, so the count exceeds Keras's.",  # 32 a direction
    ]
    gru = keras_summary(make_network(50, cell="gru", num_layers=1, hidden_size=8, embed_dim=4)).splitlines()
    assert gru[3] == "gru_1 (GRU)             (None, 8)                336        336"
    assert gru[-1] == "Non-trainable params: 0"  # a GRU's two biases are Keras's too (reset_after): no note


def test_fit_prints_the_summary_with_the_runs_text_length_and_the_recurrence(capsys):
    from rnn_lightning.training.summary import KerasSummary, recurrence_description

    module = make_classifier()
    KerasSummary(maxlen=24).on_fit_start(None, module)
    assert capsys.readouterr().out == (f"{keras_summary(module.model, 24)}\n"
                                       f"Recurrence: {recurrence_description(module.model, module.device)}\n")
    assert "(None, 24, 32)" in keras_summary(module.model, 24)


def test_the_summary_counts_an_ensembles_other_members_in_a_row_of_their_own():
    text = keras_summary(make_network(members=3), maxlen=500)
    members = next(line for line in text.splitlines() if line.startswith("members"))
    assert members.split()[:4] == ["members", "2-3", "(2", "x"] and members.split()[-2:] == ["656,962", "656,706"]
    assert "Total params: 985,443" in text and "Trainable params: 985,059" in text  # three study networks


def test_the_summary_shows_a_head_per_class_and_says_which_recurrence_runs():
    from rnn_lightning.models.compiled import recurrence_path
    from rnn_lightning.training.summary import recurrence_description

    text = keras_summary(make_network(num_classes=4), maxlen=500)
    head = next(line for line in text.splitlines() if line.startswith("head"))
    assert head.split()[-3:] == ["4)", "132", "132"]  # 32 x 4 weights and 4 biases
    cpu = torch.device("cpu")
    assert recurrence_description(make_network(), cpu) == f"fast CPU path, {recurrence_path()}"
    assert recurrence_description(make_network(fast_path=False), cpu) == "RNN (--no-fast-path)"
    assert recurrence_description(make_network(cell="gru"), cpu) == f"fast CPU path, {recurrence_path()}"
    assert recurrence_description(make_network(cell="lstm"), cpu) == f"fast CPU path, {recurrence_path()}"
    assert recurrence_description(make_network(cell="lstm", fast_path=False), cpu) == "LSTM (--no-fast-path)"
    assert recurrence_description(make_network(cell="gru", fast_path=False), cpu) == "GRU (--no-fast-path)"
    assert recurrence_description(make_network(), torch.device("cuda")) == "cuDNN (RNN)"
    # Where nothing can be compiled, a gated cell runs torch's own kernel, and the summary says why.
    from rnn_lightning.models import recurrences

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recurrences, "recurrence_kernel", lambda: None)
        assert recurrence_description(make_network(cell="gru"), cpu) == (
            "GRU (no compiled recurrence: PyTorch's own CPU kernel)")


def test_ngram_buckets_hash_words_and_pairs_apart_and_leave_padding_out():
    from rnn_lightning.models.network import ngram_buckets

    ids = torch.tensor([[0, 0, 5, 7, 5], [0, 5, 7, 5, 9]])
    buckets = ngram_buckets(ids, 1000)
    assert buckets.shape == (2, 9)
    assert (buckets[0, :2] == 0).all() and (buckets[0, 5:7] == 0).all()  # padding, and pairs touching it
    assert (buckets[buckets != 0] >= 1).all() and (buckets < 1000).all()
    assert buckets[0, 2] == buckets[0, 4] == buckets[1, 1]  # the same word, the same bucket
    assert buckets[0, 7] == buckets[1, 6] and buckets[0, 7] != buckets[0, 8]  # (5, 7) wherever, not (7, 5)
    assert buckets[0, 2] != buckets[0, 7]  # the word 5 and the pair (5, 7) apart


def test_frequent_word_pairs_spread_over_the_buckets():
    """Every pair of the 200 most frequent words: a universal hash puts them in nearly as many buckets.

    The first hash sent the pair (a, b) to about 4 * a + b with the default buckets: these 40,000 pairs shared
    about 1,000 buckets. It stays, as version 1, for the checkpoints that learnt it.
    """
    from rnn_lightning.models.network import ngram_buckets

    first, second = torch.meshgrid(torch.arange(4, 204), torch.arange(4, 204), indexing="ij")
    ids = torch.stack([first.flatten(), second.flatten()], dim=1)
    pairs = ngram_buckets(ids, 1_000_000)[:, 2]
    assert pairs.unique().numel() >= 0.97 * len(ids)  # about 0.98 expected of any hash into 1,000,000
    first_hash = ngram_buckets(ids, 1_000_000, version=1)[:, 2]
    assert torch.equal(first_hash, (ids[:, 0] * 1_000_003 + ids[:, 1] + 1_000_000) % 999_999 + 1)
    assert first_hash.unique().numel() < 0.03 * len(ids)


def test_checkpoints_from_before_the_universal_hash_keep_the_first_one(tiny_datamodule):
    from rnn_lightning.models.saved import checkpoint_parts

    spec = {"encoder": tiny_datamodule.encoder.to_dict(), "label_names": ["negative", "positive"]}
    before = {"hyper_parameters": {"model": {"ngram_buckets": 101}, "optimizer": {}}, "text_spec": spec}
    assert checkpoint_parts(before)[0].ngram_hash == 1
    after = {"hyper_parameters": {"model": {"ngram_buckets": 101, "ngram_hash": 2}, "optimizer": {}},
             "text_spec": spec}
    assert checkpoint_parts(after)[0].ngram_hash == 2
    assert make_network(ngram_buckets=101).settings.ngram_hash == 2  # what new models get


def test_the_ngram_branch_adds_the_weights_of_the_texts_distinct_words_and_pairs_over_their_root():
    torch.manual_seed(0)
    with_branch = make_network(num_words=50, ngram_buckets=101, num_layers=1)
    without = make_network(num_words=50, num_layers=1)
    without.load_state_dict({k: v for k, v in with_branch.state_dict().items() if not k.startswith("ngrams")})
    ids = torch.tensor([[0, 0, 4, 9, 4], [3, 4, 5, 6, 7]])
    assert torch.equal(with_branch(ids), without(ids))  # zero weights at the start: nothing added
    with torch.no_grad():
        with_branch.ngrams.weight.copy_(torch.arange(101, dtype=torch.float32).unsqueeze(1))
    from rnn_lightning.models.network import ngram_buckets

    # Weight of bucket b is b: the sum of each row's distinct nonzero buckets over the root of their number.
    distinct = [sorted(set(row) - {0}) for row in ngram_buckets(ids, 101).tolist()]
    assert len(distinct[0]) == 2 + 2  # 4, 9 and 4 again: two words; the pairs (4, 9) and (9, 4): two more
    expected = torch.tensor([sum(row) / len(row) ** 0.5 for row in distinct])
    torch.testing.assert_close(with_branch(ids) - without(ids), expected)
    # More padding in front changes nothing in the branch.
    padded = torch.cat([torch.zeros(2, 3, dtype=torch.long), ids], dim=1)
    torch.testing.assert_close(with_branch.ngram_logits(padded), with_branch.ngram_logits(ids))


def test_one_ngram_bucket_is_refused():
    with pytest.raises(ValueError, match="ngram_buckets must be 0"):
        make_network(ngram_buckets=1)


def test_naive_bayes_weights_are_each_ngrams_log_count_ratio_between_the_classes():
    """Wang & Manning's ratio, counted by hand: texts holding the n-gram, per class, plus one, over the class's sum."""
    from rnn_lightning.models.network import distinct_ngram_buckets

    network = make_network(num_words=50, ngram_buckets=101, ngram_weighting="nb", num_layers=1)
    ids = torch.tensor([[0, 4, 5, 4], [4, 6, 6, 7], [0, 0, 5, 8], [9, 9, 9, 9]])
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert not network.ngram_scale.any()  # nothing counted yet
    network.fit_ngram_weights([(ids[:1], labels[:1]), (ids[1:], labels[1:])])  # in pieces, as from a large split
    present = torch.zeros(4, 101)
    for row, buckets in enumerate(distinct_ngram_buckets(ids, 101)):
        present[row, buckets[buckets != 0]] = 1  # each text counts an n-gram once, however often it holds it
    positive, negative = present[:2].sum(0) + 1, present[2:].sum(0) + 1
    positive[0] = negative[0] = 1  # the padding's bucket is smoothed like any, then zeroed
    expected = (positive / positive.sum()).log() - (negative / negative.sum()).log()
    expected[0] = 0
    torch.testing.assert_close(network.ngram_scale.squeeze(1), expected)
    shared, positive_only = distinct_ngram_buckets(torch.tensor([[5]]), 101)[0, 0], distinct_ngram_buckets(
        torch.tensor([[4]]), 101)[0, 0]
    assert network.ngram_scale[positive_only] > 0 and network.ngram_scale[positive_only] > network.ngram_scale[shared]


def test_naive_bayes_weights_of_several_classes_set_each_class_against_the_rest():
    network = make_network(num_words=50, num_classes=3, ngram_buckets=101, ngram_weighting="nb", num_layers=1)
    ids = torch.tensor([[4, 5], [6, 7], [8, 9], [4, 9]])
    network.fit_ngram_weights([(ids, torch.tensor([0, 1, 2, 0]))])
    binary = make_network(num_words=50, ngram_buckets=101, ngram_weighting="nb", num_layers=1)
    binary.fit_ngram_weights([(ids, torch.tensor([1.0, 0.0, 0.0, 1.0]))])  # class 0 against the others
    torch.testing.assert_close(network.ngram_scale[:, 0], binary.ngram_scale[:, 0])
    assert network.ngram_scale.shape == (101, 3) and (network.ngram_scale[0] == 0).all()


def test_the_naive_bayes_branch_is_linear_in_its_weights_over_the_norm_of_the_features():
    from rnn_lightning.models.network import distinct_ngram_buckets

    torch.manual_seed(0)
    network = make_network(num_words=50, num_classes=3, ngram_buckets=101, ngram_weighting="nb", num_layers=1)
    with torch.no_grad():
        network.ngram_scale[1:].normal_()
        network.ngrams.weight[1:].normal_()
    ids = torch.tensor([[0, 0, 4, 9, 4], [3, 4, 5, 6, 7]])
    for row, buckets in enumerate(distinct_ngram_buckets(ids, 101)):
        features = network.ngram_scale[buckets[buckets != 0]]  # (n-grams, classes): one feature vector per class
        expected = (features * network.ngrams.weight[buckets[buckets != 0]]).sum(0) / features.norm(dim=0)
        torch.testing.assert_close(network.ngram_logits(ids)[row], expected)
    padded = torch.cat([torch.zeros(2, 3, dtype=torch.long), ids], dim=1)
    torch.testing.assert_close(network.ngram_logits(padded), network.ngram_logits(ids))
    with pytest.raises(ValueError, match="no naive-Bayes weighted"):
        make_network(ngram_buckets=101).fit_ngram_weights([])
    assert make_network(ngram_buckets=101).ngram_scale is None  # the binary branch, as before: no buffer


def test_a_words_pieces_are_its_distinct_character_3_to_5_grams_with_its_ends_marked():
    from rnn_lightning.models.network import SUBWORDS_PER_WORD, subword_buckets

    assert len(subword_buckets("fun", 1_000_000)) == 6  # <fu fun un> <fun fun> <fun>
    assert len(subword_buckets("aaaa", 1_000_000)) == 8  # aaa twice, aaaa twice: each once
    funny, unfunny = set(subword_buckets("funny", 1_000_000)), set(subword_buckets("unfunny", 1_000_000))
    assert len(funny & unfunny) == 9  # fun unn nny ny> funn unny nny> funny unny>: not <fu <fun <funn
    assert all(1 <= bucket < 101 for word in ("fun", "unfunny", "7/10") for bucket in subword_buckets(word, 101))
    long = "".join(chr(ord("a") + i % 26) + chr(ord("A") + i // 26) for i in range(30))  # 60 letters, no repeats
    pieces = subword_buckets(long, 1_000_000)
    assert len(pieces) == SUBWORDS_PER_WORD and pieces[:5] == subword_buckets(long[:6], 1_000_000)[:5]


def test_a_words_pieces_hash_the_same_in_every_process(tmp_path):
    """DDP ranks each hash the vocabulary: Python's own str hash, salted per process, would disagree."""
    import subprocess
    import sys

    script = "from rnn_lightning.models.network import subword_buckets; print(subword_buckets('unfunny', 999_999))"
    answers = {subprocess.run([sys.executable, "-c", script], env={"PYTHONHASHSEED": seed}, capture_output=True,
                              text=True, check=True).stdout for seed in ("1", "2")}
    from rnn_lightning.models.network import subword_buckets

    assert answers == {f"{subword_buckets('unfunny', 999_999)}\n"}


def test_the_subword_table_holds_each_vocabulary_words_pieces_at_its_id():
    from rnn_lightning.models.network import subword_buckets

    network = make_network(num_words=8, ngram_buckets=101, ngram_subwords=True, num_layers=1)
    assert network.subword_buckets.shape == (8, 48) and not network.subword_buckets.any()  # filled when training
    network.fit_subwords(["film", "good", "bad"])  # ids 4, 5, 6: the Keras scheme's first word ids
    for word_id, word in ((4, "film"), (5, "good"), (6, "bad")):
        pieces = subword_buckets(word, 101)
        assert network.subword_buckets[word_id, : len(pieces)].tolist() == pieces
        assert not network.subword_buckets[word_id, len(pieces):].any()
    assert not network.subword_buckets[[0, 1, 2, 3, 7]].any()  # padding, start, out of vocabulary, unused, no word
    with pytest.raises(ValueError, match="5 words do not fit 8 ids"):
        network.fit_subwords(["a", "b", "c", "d", "e"])
    with pytest.raises(ValueError, match="no subwords"):
        make_network(ngram_buckets=101).fit_subwords(["film"])
    assert make_network(ngram_buckets=101).subword_buckets is None  # without subwords, as before: no buffer


def test_the_branch_reads_each_distinct_words_pieces_once_beside_its_words_and_pairs():
    from rnn_lightning.models.network import ngram_buckets, subword_buckets

    network = make_network(num_words=8, ngram_buckets=101, ngram_subwords=True, num_layers=1)
    words = ["film", "good", "bad"]
    network.fit_subwords(words)
    ids = torch.tensor([[0, 4, 5, 4, 6, 2], [1, 6, 6, 6, 6, 6]])  # rows of 3 and 1 vocabulary words
    for row, buckets in enumerate(network.distinct_buckets(ids)):
        nonzero = buckets[buckets != 0].tolist()
        assert len(nonzero) == len(set(nonzero))  # every bucket once
        pieces = {piece for word_id in set(ids[row].tolist()) if 4 <= word_id < 7
                  for piece in subword_buckets(words[word_id - 4], 101)}
        assert set(nonzero) == (set(ngram_buckets(ids[row : row + 1], 101)[0].tolist()) - {0}) | pieces
    with torch.no_grad():
        network.ngrams.weight[1:].normal_()
    without = make_network(num_words=8, ngram_buckets=101, num_layers=1)
    without.load_state_dict({k: v for k, v in network.state_dict().items() if k != "subword_buckets"})
    assert not torch.allclose(network.ngram_logits(ids), without.ngram_logits(ids))  # the pieces count
