"""An HTTP API for one checkpoint on LitServe: ``POST /predict``, ``POST /explain``, health, metrics and a page.

LitServe runs the model in worker processes: ``/predict`` has its own (``--server.workers``), which gather the
requests that arrive within ``batch_timeout`` seconds into one forward pass, and ``/explain`` has others, so
that an explanation (one forward pass per word) never holds up a prediction. Texts go through
:func:`~rnn_lightning.serving.inference.classify`, the same text pipeline as
:func:`~rnn_lightning.serving.inference.predict`. :mod:`rnn_lightning.serving.http` hardens the HTTP side.
"""

# No ``from __future__ import annotations`` here: LitServe reads decode_request's annotation at run time to build
# the endpoint's body model.
import warnings
from importlib import resources
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path

import litserve as ls
from fastapi import HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from litserve.utils import WorkerSetupStatus
from pydantic import BaseModel, StrictBool, StrictStr

from rnn_lightning.data.text import has_words
from rnn_lightning.serving.http import harden
from rnn_lightning.serving.inference import classify, load_model, word_influence
from rnn_lightning.serving.metrics import Metrics
from rnn_lightning.settings import ServeSettings

WARM_UP_TEXT = "a first text, so that everything is loaded, built and warm before the server says it is ready"


class PredictRequest(BaseModel):
    """The body of ``POST /predict`` and ``/explain``: a missing field or a non-string text is a 422."""

    texts: list[StrictStr]
    explain: StrictBool = False


class ClassifierAPI(ls.LitAPI):
    """The model behind ``POST /predict`` (or, with ``explain``, ``POST /explain``).

    Args:
        checkpoint: A checkpoint that :func:`~rnn_lightning.serving.inference.load_model` accepts.
        settings: The batching and what one request may ask for.
        explain: Serve ``/explain``: each word's influence besides the verdict, one request at a time.
        batch_sizes: Shared counts of the batch sizes run, for ``/metrics`` (index: batch size).
    """

    def __init__(self, checkpoint: str | Path, settings: ServeSettings | None = None, explain: bool = False,
                 batch_sizes: SynchronizedArray | None = None) -> None:
        self.limits = settings or ServeSettings()
        with warnings.catch_warnings():
            # /explain runs one request at a time, so LitServe never calls batch and unbatch there, and its
            # warning that they are defined without batching (on every start of the server) says nothing.
            warnings.filterwarnings("ignore", "The LitServer has both batch and unbatch", UserWarning)
            super().__init__(max_batch_size=1 if explain else self.limits.max_batch_size,
                             batch_timeout=self.limits.batch_timeout, api_path="/explain" if explain else "/predict")
        self.checkpoint = str(checkpoint)
        self.explain = explain
        self.batch_sizes = batch_sizes

    def setup(self, device: str) -> None:
        self.model = load_model(self.checkpoint, map_location=device)
        # A first prediction before /health says ready: it builds (or loads) the compiled recurrences and warms
        # the allocator, which the first user's request would otherwise wait for.
        classify(self.model, [WARM_UP_TEXT])
        if self.explain:
            word_influence(self.model, WARM_UP_TEXT)

    def decode_request(self, request: PredictRequest) -> PredictRequest:
        """Refuse what cannot be answered with a 4xx that says why; the server keeps serving."""
        if request.explain and not self.explain:
            raise HTTPException(422, "explanations are answered by POST /explain (workers of their own, so that "
                                     "they never hold up predictions): send the same body there")
        if not request.texts:
            raise HTTPException(422, "texts is empty: send at least one text")
        most = self.limits.max_explained_texts if self.explain else self.limits.max_texts
        if len(request.texts) > most:
            raise HTTPException(413, f"{len(request.texts)} texts{' to explain' if self.explain else ''}: at most "
                                     f"{most} per request")
        for index, text in enumerate(request.texts):
            if len(text) > self.limits.max_text_chars:
                raise HTTPException(413, f"texts[{index}] has {len(text)} characters: "
                                         f"at most {self.limits.max_text_chars}")
            if not has_words(text):
                raise HTTPException(422, f"texts[{index}] has no words to classify")
        return request

    def batch(self, inputs: list[PredictRequest]) -> list[PredictRequest]:
        return inputs  # requests stay whole: predict flattens their texts into one pass

    def unbatch(self, output: list[list[dict]]) -> list[list[dict]]:
        return output

    def predict(self, requests: PredictRequest | list[PredictRequest]) -> list[dict] | list[list[dict]]:
        batched = isinstance(requests, list)
        requests = requests if batched else [requests]
        if self.batch_sizes is not None:
            with self.batch_sizes.get_lock():
                self.batch_sizes[min(len(requests), len(self.batch_sizes) - 1)] += 1
        texts = [text for request in requests for text in request.texts]
        results = iter(classify(self.model, texts))
        answers = []
        for request in requests:
            answer = [next(results) for _ in request.texts]
            if self.explain:
                for result, text in zip(answer, request.texts, strict=True):
                    # word_influence explains class 1 of a two-class model, else the predicted class.
                    result["explained"] = self.model.class_names[1] if self.model.binary else result["label"]
                    result["influence"] = [[word, round(change, 6)]
                                           for word, change in word_influence(self.model, text)]
            answers.append(answer)
        return answers if batched else answers[0]

    def encode_response(self, output: list[dict]) -> dict:
        return {"results": output}


def page() -> str:
    """The page that tries the model in a browser: plain HTML and JavaScript, no build step."""
    return resources.files("rnn_lightning.serving.web").joinpath("index.html").read_text(encoding="utf-8")


def favicon() -> bytes:
    return resources.files("rnn_lightning.serving.web").joinpath("favicon.svg").read_bytes()


def build_server(checkpoint: str | Path, settings: ServeSettings | None = None) -> ls.LitServer:
    """A LitServer for ``checkpoint``: the two APIs, health, metrics, the page (``settings``: how it serves).

    Raises:
        CheckpointError: If :func:`~rnn_lightning.serving.inference.load_model` refuses the checkpoint: checked
            here, before any worker starts.
    """
    model = load_model(checkpoint)  # refuse a bad checkpoint now, with its reason, not in a worker's log
    settings = settings or ServeSettings()
    metrics = Metrics(settings.max_batch_size)
    apis = [ClassifierAPI(checkpoint, settings, batch_sizes=metrics.batch_sizes),
            ClassifierAPI(checkpoint, settings, explain=True)]
    server = ls.LitServer(apis, accelerator=settings.accelerator, devices=1,
                          workers_per_device=settings.workers, timeout=settings.request_timeout,
                          max_payload_size=settings.max_body_bytes)
    # LitServe gives every API the same number of workers; /explain has its own (a private table of LitServe's,
    # checked by the serving tests, which count the workers).
    server._workers_per_device_by_api_path["/explain"] = settings.explain_workers
    described = {"classes": list(model.class_names), "binary": model.binary,
                 "explained": model.class_names[1] if model.binary else None, "api_key": settings.api_key is not None}
    markup, icon = page(), favicon()
    # LitServe answers GET / with "litserve running" and GET /health with a bare "ok"/"not ready": ours instead.
    server.app.router.routes = [route for route in server.app.router.routes
                                if getattr(route, "path", None) not in ("/", "/health")]

    async def health() -> Response:
        status = server.workers_setup_status
        if status and all(state == WorkerSetupStatus.READY for state in status.values()):
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "starting", "waiting_for": "the workers to load the model and answer a "
                             "first text (the compiled recurrences are built then, if they were not at install)"},
                            status_code=503)

    server.app.add_api_route("/health", health, methods=["GET"], include_in_schema=False)
    server.app.add_api_route("/classes", lambda: described, methods=["GET"], include_in_schema=False)
    server.app.add_api_route("/", lambda: HTMLResponse(markup), methods=["GET"], include_in_schema=False)
    server.app.add_api_route("/favicon.ico", lambda: Response(icon, media_type="image/svg+xml"), methods=["GET"],
                             include_in_schema=False)
    server.app.add_api_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)
    harden(server.app, settings, metrics)
    return server
