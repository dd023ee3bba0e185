"""The exported ONNX model answers as its checkpoint, runs without torch, and is served like one."""

import json
import random
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from rnn_lightning.data.spec import TextSpec
from rnn_lightning.data.text import TextEncoder
from rnn_lightning.models.export import export_onnx
from rnn_lightning.models.saved import EXPORT_FORMAT, CheckpointError
from rnn_lightning.serving.inference import load_model, predict_proba
from rnn_lightning.serving.loadtest import free_port, running_server

from .conftest import make_classifier, run_command

ROOT = Path(__file__).resolve().parents[1]
WORDS = [f"w{i}" for i in range(60)] + ["good", "bad", "film", "plot", "great", "awful"]


def texts(count: int, seed: int = 0, longest: int = 700) -> list[str]:
    """Texts of 1 to ``longest`` words, from the vocabulary and beyond it (out-of-vocabulary words)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS + ["unseen", "never"]) for _ in range(rng.randint(1, longest)))
            for _ in range(count)]


def study_spec(num_classes: int = 2) -> TextSpec:
    names = ("negative", "positive") if num_classes == 2 else tuple(f"topic{i}" for i in range(num_classes))
    return TextSpec(TextEncoder.from_ranked(WORDS, num_words=50, maxlen=500), names)


@pytest.mark.parametrize(("cell", "mask_padding", "num_classes", "more"), [
    ("rnn", False, 2, {}), ("rnn", True, 2, {}), ("lstm", False, 2, {}), ("lstm", True, 2, {}), ("gru", False, 2, {}),
    ("gru", True, 4, {}), ("rnn", False, 3, {}), ("lstm", True, 2, {"bidirectional": True}),
    ("gru", True, 2, {"bidirectional": True, "pooling": "max"}), ("rnn", False, 2, {"pooling": "mean"}),
    ("rnn", True, 3, {"bidirectional": True, "pooling": "mean"}),
    ("gru", True, 2, {"bidirectional": True, "pooling": "max", "ngram_buckets": 5000}),
    ("rnn", False, 3, {"ngram_buckets": 777}), ("rnn", False, 3, {"ngram_buckets": 777, "ngram_weighting": "nb"}),
    ("gru", True, 2, {"ngram_buckets": 5000, "ngram_weighting": "nb", "ngram_training": "apart"}),
    ("rnn", True, 3, {"ngram_buckets": 5000, "ngram_weighting": "nb", "ngram_subwords": True}),
    ("rnn", False, 2, {"members": 2}),
    ("gru", True, 2, {"members": 3, "bidirectional": True, "pooling": "max", "ngram_buckets": 5000,
                      "ngram_weighting": "nb", "ngram_training": "apart"})])
def test_the_exported_model_gives_the_checkpoints_probabilities(tmp_path, cell, mask_padding, num_classes, more):
    torch.manual_seed(0)  # the study's shapes: 4 layers of 32, 500 steps, Keras's initialisation
    module = make_classifier(spec=study_spec(num_classes), cell=cell, mask_padding=mask_padding, **more)
    if module.model.ngrams is not None:  # weights as learnt, not the zeros it starts from (the padding's stays 0)
        torch.nn.init.normal_(module.model.ngrams.weight[1:], std=0.5)
    if module.model.ngram_scale is not None:  # and naive-Bayes weights as counted (the padding's stays 0)
        torch.nn.init.normal_(module.model.ngram_scale[1:])
    if module.model.subword_buckets is not None:
        module.model.fit_subwords(module.encoder.words)
    path = export_onnx(module, tmp_path / "model.onnx")
    exported = load_model(path)
    sample = texts(40) + ["good", "bad film"]
    expected = np.array(predict_proba(module, sample))
    assert np.abs(np.array(predict_proba(exported, sample)) - expected).max() <= 1e-5
    assert exported.class_names == module.class_names and exported.skips_padding == mask_padding
    assert exported.encoder == module.encoder  # same vocabulary and maxlen: the same ids for the same text
    for form in (module, exported):  # float32, a column per class, and no rows for none (no run: it would fail)
        answers = form.probabilities_of(exported.encoder.encode(sample[:3]))
        assert answers.dtype == np.float32 and answers.shape == (3, exported.num_classes)
        none = form.probabilities_of(np.zeros((0, 500), dtype=np.int32))
        assert none.dtype == np.float32 and none.shape == (0, exported.num_classes) and predict_proba(form, []) == []


@pytest.mark.parametrize(("cell", "mask_padding", "more", "cuts"), [
    ("rnn", False, {}, True), ("lstm", False, {}, True), ("gru", False, {}, True), ("gru", True, {}, True),
    ("rnn", False, {"ngram_buckets": 777}, True), ("rnn", False, {"bidirectional": True}, False),
    ("lstm", False, {"pooling": "max"}, False), ("rnn", True, {"bidirectional": True, "pooling": "mean"}, True),
    ("rnn", False, {"members": 2}, False), ("gru", True, {"members": 2}, True)])
def test_rows_cut_to_their_groups_longest_answer_as_the_whole_rows(tmp_path, monkeypatch, cell, mask_padding, more,
                                                                   cuts):
    torch.manual_seed(0)
    module = make_classifier(spec=study_spec(), cell=cell, mask_padding=mask_padding, **more)
    if module.model.ngrams is not None:  # as learnt: the padding's bucket stays zero (its padding_idx)
        torch.nn.init.normal_(module.model.ngrams.weight[1:], std=0.5)
    exported = load_model(export_onnx(module, tmp_path / "model.onnx"))
    assert exported.cuts_padding == cuts  # only where padding in front leaves the same state for every text
    assert exported.overlaps_encoding and not module.overlaps_encoding  # one call a run of rows, against dozens
    shapes = []
    run = exported._run
    monkeypatch.setattr(exported, "_run", lambda ids: shapes.append(ids.shape) or run(ids))
    sample = texts(150, seed=1, longest=60)  # three groups of rows, each far shorter than maxlen 500
    got = np.array(predict_proba(exported, sample, batch_size=150))
    assert np.abs(got - np.array(predict_proba(module, sample))).max() <= 1e-5
    assert [rows for rows, _ in shapes] == [64, 64, 22]  # cut or not, runs of 64 rows at the most
    assert max(width for _, width in shapes) < 100 if cuts else {width for _, width in shapes} == {500}


@pytest.mark.parametrize(("cell", "mask_padding", "recurrent_op"), [
    ("rnn", False, None), ("rnn", True, "RNN"), ("lstm", False, "LSTM"), ("gru", False, "GRU")])
def test_one_way_tanh_layers_are_exported_as_scans(tmp_path, cell, mask_padding, recurrent_op):
    import onnx

    module = make_classifier(spec=study_spec(), cell=cell, mask_padding=mask_padding)
    ops = [node.op_type for node in onnx.load(export_onnx(module, tmp_path / "model.onnx")).graph.node]
    # ONNX Runtime's RNN op costs about four times a Scan of MatMul and Tanh; a masked layer needs its sequence_lens.
    assert (ops.count("Scan"), ops.count(recurrent_op)) == ((4, 0) if recurrent_op is None else (0, 4))


@pytest.mark.parametrize("name", ["imdb_rnn_bc6124b.ckpt", "topics_gru_bc6124b.ckpt"])
def test_trained_checkpoints_export_through_the_command_and_predict_the_same(release_fixtures, tmp_path, capsys,
                                                                             name):
    target = tmp_path / "exported.onnx"
    assert run_command("export", ["--ckpt", str(release_fixtures / name), "--onnx", str(target)]) == 0
    sample = ["the striker scored", "a great film with a good plot", "awful"]
    assert run_command("predict", ["--ckpt", str(target), "--json", *sample]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = predict_proba(load_model(release_fixtures / name), sample)
    for answer, row in zip(answers, expected, strict=True):
        assert list(answer["probabilities"].values()) == pytest.approx(row, abs=1e-5)


def test_export_refuses_a_target_that_predict_would_take_for_a_checkpoint(release_fixtures, tmp_path, capsys):
    assert run_command("export", ["--ckpt", str(release_fixtures / "imdb_rnn_bc6124b.ckpt"),
                                  "--onnx", str(tmp_path / "model.ckpt")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_onnx_files_not_written_by_export_are_refused_in_one_line(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    foreign = tmp_path / "foreign.onnx"
    graph = helper.make_graph([helper.make_node("Identity", ["ids"], ["probabilities"])], "other",
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, [None, None])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.INT64, [None, None])])
    onnx.save(helper.make_model(graph), foreign)
    with pytest.raises(CheckpointError, match="not one rnn-lightning export wrote"):
        load_model(foreign)
    spec = json.dumps(study_spec().to_dict())
    version, text_key = EXPORT_FORMAT.version_key, EXPORT_FORMAT.text_spec_key

    def with_metadata(**metadata: str) -> Path:
        model = helper.make_model(graph)
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, foreign)
        return foreign

    for metadata in ({version: "1"}, {version: "2", text_key: spec}, {text_key: spec}):  # each half of the format
        with pytest.raises(CheckpointError, match="not one rnn-lightning export wrote"):
            load_model(with_metadata(**metadata))
    with pytest.raises(CheckpointError, match="foreign.onnx: its text spec is unreadable"):
        load_model(with_metadata(**{version: "1", text_key: "{not json"}))
    bare = load_model(with_metadata(**{version: "1", text_key: spec}))  # no network settings saved: none assumed
    assert bare.class_names == ("negative", "positive") and bare.settings == {} and not bare.skips_padding
    (tmp_path / "garbage.onnx").write_bytes(b"not a model at all")
    with pytest.raises(CheckpointError, match="is not a loadable ONNX model"):
        load_model(tmp_path / "garbage.onnx")
    with pytest.raises(CheckpointError, match="no such exported model"):
        load_model(tmp_path / "missing.onnx")


@pytest.mark.slow
def test_the_exported_model_is_served_like_its_checkpoint(release_fixtures, tmp_path):
    path = export_onnx(load_model(release_fixtures / "topics_gru_bc6124b.ckpt"), tmp_path / "topics.onnx")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sample = ["The striker scored a goal", "Investors sold shares"]
    with running_server([sys.executable, "-m", "rnn_lightning.cli.main", "serve", "--ckpt", str(path),
                         "--server.port", str(port)], url):
        answers = {}
        for endpoint in ("/predict", "/explain"):
            body = json.dumps({"texts": sample}).encode()
            request = urllib.request.Request(f"{url}{endpoint}", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                answers[endpoint] = json.loads(response.read())["results"]
    expected = predict_proba(load_model(release_fixtures / "topics_gru_bc6124b.ckpt"), sample)
    for result, row in zip(answers["/predict"], expected, strict=True):
        assert list(result["probabilities"].values()) == pytest.approx(row, abs=1e-5)
    for result, text in zip(answers["/explain"], sample, strict=True):
        assert [word for word, _ in result["influence"]] == text.lower().split()


@pytest.mark.slow
def test_a_venv_without_torch_classifies_with_the_exported_model(release_fixtures, tmp_path):
    """``pip install rnn-lightning[runtime]`` pulls no torch, and its ``predict`` gives the checkpoint's answers."""
    source = tmp_path / "source"  # the package alone, so that pip builds nothing inside the checkout
    shutil.copytree(ROOT / "rnn_lightning", source / "rnn_lightning",
                    ignore=shutil.ignore_patterns("__pycache__", "csrc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    (source / "rnn_lightning" / "models" / "csrc").mkdir()  # package data the build expects
    model = export_onnx(load_model(release_fixtures / "imdb_rnn_bc6124b.ckpt"), tmp_path / "model.onnx")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"{source}[runtime]"], check=True, timeout=600)
    assert subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode != 0
    assert subprocess.run([str(python), "-c", "import lightning"], capture_output=True).returncode != 0
    sample = ["a great film", "awful awful plot", "the the the"]
    shown = subprocess.run([str(venv / "bin" / "rnn-lightning"), "predict", "--ckpt", str(model), "--json", *sample],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    answers = [json.loads(line) for line in shown.stdout.splitlines()]
    expected = predict_proba(load_model(release_fixtures / "imdb_rnn_bc6124b.ckpt"), sample)
    for answer, row in zip(answers, expected, strict=True):
        assert list(answer["probabilities"].values()) == pytest.approx(row, abs=1e-5)
    # A command that needs the training stack says which extra brings it, in one line.
    refused = subprocess.run([str(venv / "bin" / "rnn-lightning"), "predict", "--ckpt",
                              str(release_fixtures / "imdb_rnn_bc6124b.ckpt"), "good"], capture_output=True, text=True)
    assert refused.returncode == 1 and "pip install 'rnn-lightning[train]'" in refused.stderr


@pytest.mark.slow
@pytest.mark.parametrize("members", [1, 2])
def test_a_bidirectional_pooled_model_trains_predicts_exports_and_answers_the_same(tiny_archive, tmp_path, capsys,
                                                                                   members):
    args = ["--model.members", str(members), "--data.source", str(tiny_archive), "--data.data_dir",
            str(tmp_path / "data"), "--data.num_words", "30",
            "--data.maxlen", "24", "--data.batch_size", "16", "--trainer.max_epochs", "1", "--trainer.accelerator",
            "cpu", "--trainer.logdir", str(tmp_path / "logs"), "--model.cell", "gru", "--model.bidirectional", "true",
            "--model.pooling", "max", "--model.mask_padding", "true", "--model.hidden_size", "8"]
    assert run_command("fit", args) == 0
    assert "(None, 16)" in capsys.readouterr().out  # the summary: both directions' 8 units reach the head
    checkpoint = tmp_path / "logs" / "version_0" / "checkpoints" / "last.ckpt"
    model = load_model(checkpoint)
    assert model.settings.bidirectional and model.settings.pooling == "max" and model.settings.members == members
    assert len(model.model.members or ()) == members - 1  # the checkpoint holds every member's weights
    assert run_command("export", ["--ckpt", str(checkpoint), "--onnx", str(tmp_path / "model.onnx")]) == 0
    sample = texts(12, seed=3, longest=40)
    assert np.abs(np.array(predict_proba(load_model(tmp_path / "model.onnx"), sample))
                  - np.array(predict_proba(model, sample))).max() <= 1e-5


def test_predict_runs_an_exported_model_in_larger_batches_than_a_checkpoint(release_fixtures, tmp_path, monkeypatch,
                                                                           capsys):
    """onnxruntime pays per step of every run, so the exported model gets the larger default (--batch_size)."""
    import rnn_lightning.serving.inference as inference
    from rnn_lightning.cli.predict import CHECKPOINT_BATCH, EXPORTED_BATCH

    checkpoint = release_fixtures / "imdb_rnn_bc6124b.ckpt"
    exported = export_onnx(load_model(checkpoint), tmp_path / "model.onnx")
    asked = []
    real = inference.iter_probabilities
    monkeypatch.setattr(inference, "iter_probabilities", lambda model, texts, size: asked.append(size) or real(
        model, texts, size))
    for path in (checkpoint, exported):
        assert run_command("predict", ["--ckpt", str(path), "a great film"]) == 0
    assert run_command("predict", ["--ckpt", str(exported), "--batch-size", "5", "a great film"]) == 0
    assert asked == [CHECKPOINT_BATCH, EXPORTED_BATCH, 5] and CHECKPOINT_BATCH < EXPORTED_BATCH
    assert capsys.readouterr().out.count("a great film") == 3


def rnn_graph(rng: np.random.Generator, initial_state: bool, **attributes: object):
    """One ONNX ``RNN`` node of 5 inputs and 4 units, trained-looking weights (biases too), as torch's exporter
    writes it: its output sequence and last state both read."""
    from onnx import TensorProto, helper, numpy_helper

    weights = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
               for name, shape in (("W", (1, 4, 5)), ("R", (1, 4, 4)), ("B", (1, 8)))]
    inputs = ["x", "W", "R", "B", "", "h0" if initial_state else ""]
    node = helper.make_node("RNN", inputs, ["y", "y_h"], hidden_size=4, **attributes)
    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, 5])]
    if initial_state:
        graph_inputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, None, 4]))
    graph = helper.make_graph([node], "rnn", graph_inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("y_h", TensorProto.FLOAT, None)], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run_graph(model, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("initial_state", [True, False])
def test_the_scan_a_tanh_rnn_node_becomes_computes_what_the_node_did(initial_state):
    from rnn_lightning.models.export import tanh_layers_as_scans

    rng = np.random.default_rng(0)
    model = rnn_graph(rng, initial_state)
    feeds = {"x": rng.normal(size=(7, 3, 5)).astype(np.float32)}
    if initial_state:
        feeds["h0"] = rng.normal(size=(1, 3, 4)).astype(np.float32)
    expected = run_graph(model, feeds)
    assert tanh_layers_as_scans(model) == 1
    assert [node.op_type for node in model.graph.node].count("Scan") == 1 and "RNN" not in {
        node.op_type for node in model.graph.node}
    assert {tensor.name for tensor in model.graph.initializer}.isdisjoint({"W", "R", "B"})  # the node's weights go
    for got, want in zip(run_graph(model, feeds), expected, strict=True):
        assert got.shape == want.shape and np.abs(got - want).max() <= 1e-5


@pytest.mark.parametrize("attributes", [{"direction": "reverse"}, {"clip": 3.0},
                                        {"activations": ["Relu"]}])
def test_rnn_nodes_a_scan_would_not_match_are_left_as_they_are(attributes):
    from rnn_lightning.models.export import tanh_layers_as_scans

    model = rnn_graph(np.random.default_rng(0), True, **attributes)
    before = model.SerializeToString()
    assert tanh_layers_as_scans(model) == 0 and model.SerializeToString() == before
