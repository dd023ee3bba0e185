"""An HTTP API for one checkpoint on LitServe: ``POST /predict`` (dynamic batching), ``GET /health``, a page at ``/``.

LitServe runs the model in a worker process and, with ``max_batch_size > 1``, gathers the requests that arrive
within ``batch_timeout`` seconds into one forward pass. Texts go through
:func:`~rnn_lightning.serving.inference.classify`, the same text pipeline as
:func:`~rnn_lightning.serving.inference.predict`.
"""


from importlib import resources
from pathlib import Path

import litserve as ls
from fastapi import HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, StrictBool, StrictStr

from rnn_lightning.data.text import tokenize
from rnn_lightning.serving.inference import classify, load_model, word_influence
from rnn_lightning.settings import ServeSettings


class PredictRequest(BaseModel):
    """The body of ``POST /predict``: malformed JSON, a missing field or a non-string text is a 422."""

    texts: list[StrictStr]
    explain: StrictBool = False


class ClassifierAPI(ls.LitAPI):
    """The model behind ``POST /predict``.

    Args:
        checkpoint: A checkpoint that :func:`~rnn_lightning.serving.inference.load_model` accepts.
        settings: The batching (``max_batch_size``, ``batch_timeout``) and what one request may ask for.
    """

    def __init__(self, checkpoint: str | Path, settings: ServeSettings | None = None) -> None:
        self.limits = settings or ServeSettings()
        super().__init__(max_batch_size=self.limits.max_batch_size, batch_timeout=self.limits.batch_timeout,
                         api_path="/predict")
        self.checkpoint = str(checkpoint)

    def setup(self, device: str) -> None:
        self.model = load_model(self.checkpoint, map_location=device)

    def decode_request(self, request: PredictRequest) -> PredictRequest:
        """Refuse what cannot be answered with a 4xx that says why; the server keeps serving."""
        if not request.texts:
            raise HTTPException(422, "texts is empty: send at least one text")
        if len(request.texts) > self.limits.max_texts:
            raise HTTPException(413, f"{len(request.texts)} texts: at most {self.limits.max_texts} per request")
        if request.explain and len(request.texts) > self.limits.max_explained_texts:
            raise HTTPException(413, f"{len(request.texts)} texts to explain: at most "
                                     f"{self.limits.max_explained_texts} per request")
        for index, text in enumerate(request.texts):
            if len(text) > self.limits.max_text_chars:
                raise HTTPException(413, f"texts[{index}] has {len(text)} characters: "
                                         f"at most {self.limits.max_text_chars}")
            if not tokenize(text):
                raise HTTPException(422, f"texts[{index}] has no words to classify")
        return request

    def batch(self, inputs: list[PredictRequest]) -> list[PredictRequest]:
        return inputs  # requests stay whole: predict flattens their texts into one pass

    def unbatch(self, output: list[list[dict]]) -> list[list[dict]]:
        return output

    def predict(self, requests: PredictRequest | list[PredictRequest]) -> list[dict] | list[list[dict]]:
        batched = isinstance(requests, list)
        requests = requests if batched else [requests]
        texts = [text for request in requests for text in request.texts]
        results = iter(classify(self.model, texts))
        answers = []
        for request in requests:
            answer = [next(results) for _ in request.texts]
            if request.explain:
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


def build_server(checkpoint: str | Path, settings: ServeSettings | None = None) -> ls.LitServer:
    """A LitServer for ``checkpoint`` with the API, the health check and the page (``settings``: how it serves).

    Raises:
        CheckpointError: If :func:`~rnn_lightning.serving.inference.load_model` refuses the checkpoint: checked
            here, before any worker starts.
    """
    model = load_model(checkpoint)  # refuse a bad checkpoint now, with its reason, not in a worker's log
    settings = settings or ServeSettings()
    api = ClassifierAPI(checkpoint, settings)
    server = ls.LitServer(api, accelerator=settings.accelerator, devices=1, max_payload_size=settings.max_body_bytes)
    markup = page()
    classes = {"classes": list(model.class_names)}
    server.app.add_api_route("/classes", lambda: classes, methods=["GET"], include_in_schema=False)
    # LitServe answers GET / with "litserve running"; the page takes that place.
    server.app.router.routes = [route for route in server.app.router.routes if getattr(route, "path", None) != "/"]
    server.app.add_api_route("/", lambda: HTMLResponse(markup), methods=["GET"], include_in_schema=False)
    return server
