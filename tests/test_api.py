"""The model behind the HTTP API and the server around it (:mod:`rnn_lightning.serving.api`), in process and fast.

``test_serving.py`` holds the running server to the same answers through real sockets, LitServe's worker
processes and a browser, in slow tests; here :class:`ClassifierAPI`'s methods are called as LitServe's workers
call them, and the routes :func:`build_server` adds are driven as ASGI calls, so that a mutation of either is
caught by a fast test.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest
from fastapi import HTTPException
from litserve.utils import WorkerSetupStatus

from rnn_lightning.models.saved import CheckpointError
from rnn_lightning.serving.api import ClassifierAPI, PredictRequest, build_server, favicon, page
from rnn_lightning.serving.inference import classify, load_model, word_influence
from rnn_lightning.serving.metrics import Metrics
from rnn_lightning.settings import ServeSettings

from .asgi import call

REVIEWS = ["Brilliant, moving and wonderful.", "Awful dull boring terrible plot.", "the film the actor the scene"]
LIMITS = ServeSettings(max_texts=3, max_text_chars=40, max_explained_texts=2, max_batch_size=2, workers=2,
                       explain_workers=3)


@pytest.fixture(scope="module")
def checkpoint(tiny_run) -> str:
    return tiny_run[1].last_checkpoint


def ready_api(checkpoint: str, explain: bool = False, **keywords: object) -> ClassifierAPI:
    """A ClassifierAPI set up as a LitServe worker sets it up."""
    api = ClassifierAPI(checkpoint, LIMITS, explain=explain, **keywords)
    api.setup("cpu")
    return api


@pytest.fixture(scope="module")
def predictor(checkpoint) -> ClassifierAPI:
    return ready_api(checkpoint)


@pytest.fixture(scope="module")
def explainer(checkpoint) -> ClassifierAPI:
    return ready_api(checkpoint, explain=True)


def test_each_api_takes_its_path_batching_and_limits_from_the_settings(predictor, explainer):
    assert (predictor.api_path, predictor.max_batch_size, predictor.batch_timeout) == ("/predict", 2, 0.005)
    assert (explainer.api_path, explainer.max_batch_size) == ("/explain", 1)  # one request at a time
    assert ClassifierAPI("any.ckpt").limits == ServeSettings()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # LitServe's warning on batch/unbatch without batching is ours to silence
        ClassifierAPI("any.ckpt", explain=True)
    assert predictor.encode_response([{"label": "pos"}]) == {"results": [{"label": "pos"}]}


@pytest.mark.parametrize(("api", "texts", "explain", "status", "detail"), [
    ("predictor", [], False, 422, "texts is empty: send at least one text"),
    ("predictor", ["good film"] * 4, False, 413, "4 texts: at most 3 per request"),
    ("predictor", ["good film", "x" * 41], False, 413, "texts[1] has 41 characters: at most 40"),
    ("predictor", ["good film", "  !!! ...  "], False, 422, "texts[1] has no words to classify"),
    ("predictor", ["good film"], True, 422, "explanations are answered by POST /explain"),
    ("explainer", ["good film"] * 3, True, 413, "3 texts to explain: at most 2 per request"),
    ("explainer", ["x" * 41], True, 413, "texts[0] has 41 characters: at most 40"),
])
def test_a_request_that_cannot_be_answered_is_refused_with_its_reason(api, texts, explain, status, detail, request):
    with pytest.raises(HTTPException) as refused:
        request.getfixturevalue(api).decode_request(PredictRequest(texts=texts, explain=explain))
    assert refused.value.status_code == status and refused.value.detail.startswith(detail)


@pytest.mark.parametrize(("api", "texts", "explain"), [
    ("predictor", ["good film"] * 3, False),  # as many texts as allowed, each as long as allowed
    ("predictor", ["a " * 20, "x" * 40, "good"], False),
    ("explainer", ["good film", "y" * 40], True),
    ("explainer", ["good film"], False),  # /explain explains whether the body asks or not
])
def test_a_request_at_every_limit_is_taken_as_it_came(api, texts, explain, request):
    asked = PredictRequest(texts=texts, explain=explain)
    assert request.getfixturevalue(api).decode_request(asked) is asked


def test_a_batch_of_requests_gets_each_its_own_answers_from_one_pass(predictor):
    expected = classify(predictor.model, REVIEWS)
    answers = predictor.predict([PredictRequest(texts=REVIEWS[:2]), PredictRequest(texts=REVIEWS[2:])])
    assert answers == [expected[:2], expected[2:]]
    assert predictor.batch([PredictRequest(texts=["a"])]) == [PredictRequest(texts=["a"])]
    assert predictor.unbatch(answers) is answers
    # A worker that does not batch hands the request over alone, and gets its answers alone.
    alone = predictor.predict(PredictRequest(texts=REVIEWS[1:2]))
    assert [result["label"] for result in alone] == [expected[1]["label"]]
    assert alone[0]["probabilities"] == pytest.approx(expected[1]["probabilities"], abs=1e-6)


def test_the_batch_sizes_run_are_counted_the_largest_in_the_last_bucket(checkpoint):
    counts = Metrics(LIMITS.max_batch_size).batch_sizes  # shared memory, as the server hands it to its workers
    api = ready_api(checkpoint, batch_sizes=counts)
    one = PredictRequest(texts=REVIEWS[:1])
    api.predict(one)
    api.predict([one, one])
    api.predict([one, one, one])
    assert list(counts) == [0, 1, 2]


def test_an_explanation_scores_every_word_towards_class_1_of_a_binary_model(explainer):
    (result,) = explainer.predict(PredictRequest(texts=REVIEWS[:1], explain=True))
    model = explainer.model
    assert result["explained"] == model.class_names[1]
    assert result["influence"] == [[word, round(change, 6)] for word, change in word_influence(model, REVIEWS[0])]
    assert {key: result[key] for key in ("label", "probabilities")} == {
        key: classify(model, REVIEWS[:1])[0][key] for key in ("label", "probabilities")}


def test_a_multi_class_model_explains_the_class_it_predicts(topics_run):
    api = ClassifierAPI(topics_run[1], explain=True)
    api.setup("cpu")
    texts = ["The striker scored a goal", "Investors sold shares as rates rose"]
    results = api.predict(PredictRequest(texts=texts, explain=True))
    assert [result["explained"] for result in results] == [result["label"] for result in results]
    assert {result["label"] for result in results} == {"sports", "business"}


def test_the_server_answers_its_own_page_icon_classes_and_metrics(checkpoint):
    server = build_server(checkpoint, LIMITS)
    status, headers, body = call(server.app, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html") and body.decode() == page()
    status, headers, body = call(server.app, "GET", "/favicon.ico")
    assert status == 200 and headers["content-type"] == "image/svg+xml" and body == favicon()
    status, _, body = call(server.app, "GET", "/classes")
    model = load_model(checkpoint)
    assert status == 200 and json.loads(body) == {"classes": list(model.class_names), "binary": True,
                                                  "explained": model.class_names[1], "api_key": False}
    status, headers, body = call(server.app, "GET", "/metrics")
    assert status == 200 and b"rnn_lightning_batch_size_bucket" in body
    assert b'rnn_lightning_requests_total{path="/classes",status="200"} 1.0' in body  # hardened: counted


def test_the_server_runs_both_apis_on_the_checkpoint_with_its_settings(checkpoint):
    settings = dataclasses.replace(LIMITS, request_timeout=7.0, max_body_bytes=1234)
    server = build_server(checkpoint, settings)
    predictor, explainer = server.lit_api
    assert (predictor.checkpoint, predictor.limits, predictor.explain) == (checkpoint, settings, False)
    assert (explainer.checkpoint, explainer.limits, explainer.explain) == (checkpoint, settings, True)
    assert explainer.batch_sizes is None  # /metrics counts the batches of /predict alone
    assert (server.timeout, server.max_payload_size, server.devices) == (7.0, 1234, ["cpu"])
    predictor.batch_sizes[1] += 1  # as a worker counts a batch of one request: /metrics reads the same counts
    assert b'rnn_lightning_batch_size_bucket{le="1"} 1.0' in call(server.app, "GET", "/metrics")[2]
    # The API's own documentation describes the API, not the page, health or metrics.
    assert set(server.app.openapi()["paths"]) == {"/info", "/predict", "/explain"}


def test_a_multi_class_server_describes_its_classes_with_no_class_explained(topics_run):
    status, _, body = call(build_server(topics_run[1]).app, "GET", "/classes")
    assert status == 200 and json.loads(body) == {"classes": ["sports", "business", "tech"], "binary": False,
                                                  "explained": None, "api_key": False}


def test_the_server_gives_each_path_its_workers_and_guards_it_with_the_key(checkpoint):
    server = build_server(checkpoint, dataclasses.replace(LIMITS, api_key="s3cret"))
    assert server._workers_per_device_by_api_path == {"/predict": 2, "/explain": 3}
    assert json.loads(call(server.app, "GET", "/classes")[2])["api_key"] is True
    status, _, body = call(server.app, "POST", "/predict", (b'{"texts": ["good"]}',))
    assert status == 401 and "X-API-Key" in json.loads(body)["detail"]


def test_health_says_what_it_waits_for_until_the_workers_are_ready(checkpoint):
    server = build_server(checkpoint)
    server.workers_setup_status = {"predict_0": WorkerSetupStatus.READY, "explain_0": WorkerSetupStatus.STARTING}
    status, _, body = call(server.app, "GET", "/health")
    assert status == 503 and json.loads(body)["status"] == "starting" and "waiting_for" in json.loads(body)
    server.workers_setup_status["explain_0"] = WorkerSetupStatus.READY
    status, _, body = call(server.app, "GET", "/health")
    assert (status, body) == (200, b'{"status":"ok"}')
    server.workers_setup_status = {}  # before any worker has reported
    assert call(server.app, "GET", "/health")[0] == 503


def test_a_checkpoint_load_model_refuses_is_refused_before_any_worker_starts(tmp_path):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        build_server(broken)
