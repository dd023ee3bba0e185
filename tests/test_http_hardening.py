"""The server's HTTP hardening (:func:`rnn_lightning.serving.http.harden`), in process and fast.

``test_serving.py`` holds the whole server to the same rules through real sockets, in slow tests; here the
middlewares wrap a two-route app and are driven as ASGI calls, so that each rule is checked in milliseconds and
a mutation of it is caught by a fast test.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from rnn_lightning.serving.http import EXCERPT_CHARS, harden
from rnn_lightning.serving.metrics import Metrics
from rnn_lightning.settings import ServeSettings

KEY = "s3cret"


class Texts(BaseModel):
    texts: list[str] = Field(max_length=8)


def hardened_app(**settings: object) -> tuple[FastAPI, Metrics, list[list[str]]]:
    """An app with ``POST /predict`` (its texts echoed) and ``GET /health``, hardened; what /predict received."""
    app, received = FastAPI(), []

    @app.post("/predict")
    def predict(body: Texts) -> dict:
        received.append(body.texts)
        return {"texts": body.texts}

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    @app.get("/fails")
    def fails() -> dict:
        raise RuntimeError("a bug in a route")

    metrics = Metrics(max_batch_size=4)
    harden(app, ServeSettings(**settings), metrics)
    return app, metrics, received


def call(app: FastAPI, method: str, path: str, chunks: tuple[bytes, ...] = (b"",), headers: dict | None = None,
         stall: bool = False, disconnect: bool = False,
         messages: list[dict] | None = None) -> tuple[int | None, dict[str, str], bytes]:
    """One request as an ASGI server would hand it over: the body in ``chunks`` (or the ``messages`` themselves),
    then (``stall``) nothing more, or (``disconnect``) the client gone. Returns the status (None: no answer), the
    headers and the body."""
    headers = {"content-type": "application/json", **(headers or {})}
    messages = messages or [{"type": "http.request", "body": chunk, "more_body": stall or at < len(chunks) - 1}
                            for at, chunk in enumerate(chunks)]
    if disconnect:
        messages = messages[:1] + [{"type": "http.disconnect"}]
        messages[0]["more_body"] = True
    sent: list[dict] = []

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that sends nothing more, and stays
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
                         if value is not None],
             "client": ("10.0.0.7", 5555), "server": ("127.0.0.1", 8000)}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=20))
    start = next((message for message in sent if message["type"] == "http.response.start"), None)
    if start is None:
        return None, {}, b""
    answer_headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in start["headers"]}
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], answer_headers, body


def body_of(texts: list[str]) -> bytes:
    return json.dumps({"texts": texts}).encode()


def detail(body: bytes) -> str:
    return json.loads(body)["detail"]


def test_an_api_key_guards_predict_alone_and_is_checked_before_the_body_is_read():
    app, _, received = hardened_app(api_key=KEY)
    for given in ({}, {"x-api-key": "wrong"}, {"authorization": "Bearer wrong"}, {"authorization": KEY + "x"}):
        status, _, body = call(app, "POST", "/predict", (body_of(["a"]),), given)
        assert status == 401 and "X-API-Key" in detail(body)
    # Refused at once, not after waiting for a body that never comes: the key is checked first.
    assert call(app, "POST", "/predict", (b'{"te',), {"x-api-key": "wrong"}, stall=True)[0] == 401
    for given in ({"x-api-key": KEY}, {"authorization": f"Bearer {KEY}"}, {"X-Api-Key": KEY}):
        status, _, body = call(app, "POST", "/predict", (body_of(["a"]),), given)
        assert status == 200 and json.loads(body) == {"texts": ["a"]}
    assert received == [["a"]] * 3
    assert call(app, "GET", "/health")[0] == 200  # health stays open
    # Only a POST to a guarded path is asked for its key and content type: elsewhere the routes answer as they do.
    assert call(app, "POST", "/health", (b"x",), {"content-type": "text/plain"})[0] == 405
    assert call(app, "GET", "/predict", headers={"content-type": "text/plain"})[0] == 405
    open_app, _, _ = hardened_app()
    assert call(open_app, "POST", "/predict", (body_of(["a"]),))[0] == 200  # no key set: none asked


def test_only_a_json_body_is_taken():
    app, _, received = hardened_app()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None, "application/jsonp"):
        status, _, body = call(app, "POST", "/predict", (body_of(["a"]),), {"content-type": content_type})
        assert status == 415 and "Content-Type: application/json" in detail(body)
    assert received == []
    with_charset = {"content-type": "application/json; charset=utf-8"}
    assert call(app, "POST", "/predict", (body_of(["a"]),), with_charset)[0] == 200


def test_a_body_is_read_whole_within_its_size_and_time():
    size = len(body_of(["abc", "de"]))
    app, _, received = hardened_app(max_body_bytes=size, body_timeout=0.2)
    whole = body_of(["abc", "de"])
    status, _, _ = call(app, "POST", "/predict", (whole[:5], whole[5:9], whole[9:]))  # dripped in three parts
    assert status == 200 and received == [["abc", "de"]]
    status, _, body = call(app, "POST", "/predict", (body_of(["abc", "def"]),))  # one byte too many
    assert status == 413 and detail(body) == f"Payload too large: at most {size} bytes"
    status, _, body = call(app, "POST", "/predict", (whole[:5], whole[5:] + b" "))  # past it in a later part
    assert status == 413
    status, _, body = call(app, "POST", "/predict", (whole[:5],), stall=True)
    assert status == 408 and detail(body) == "the request's body did not arrive within 0.2 s"
    assert call(app, "POST", "/predict", (whole[:5],), disconnect=True)[0] is None  # the client left: no answer
    assert received == [["abc", "de"]]  # nothing but the whole body reached the route
    # The ASGI defaults: a message without a body holds none, and one without more_body is the last.
    parts = [{"type": "http.request", "body": b'{"texts"', "more_body": True}, {"type": "http.request",
             "more_body": True}, {"type": "http.request", "body": b': ["abc"]}'}]
    assert call(app, "POST", "/predict", messages=parts)[0] == 200 and received[-1] == ["abc"]
    # Without a body to wait for, a GET is not held by the body's deadline.
    assert call(app, "GET", "/health", stall=True)[0] == 200


def test_a_bad_request_is_told_where_and_what_without_its_input_echoed():
    app, _, _ = hardened_app()
    long_text = "x" * 500
    status, _, body = call(app, "POST", "/predict", (json.dumps({"texts": [long_text, 7]}).encode(),))
    assert status == 422
    said = detail(body)
    assert said.startswith("texts.1: Input should be a valid string (got 7)")
    status, _, body = call(app, "POST", "/predict", (json.dumps({"texts": long_text}).encode(),))
    said = detail(body)
    assert status == 422 and said.startswith("texts: ") and "x" * (EXCERPT_CHARS - 1) + "..." in said
    assert "x" * (EXCERPT_CHARS + 1) not in said  # an excerpt, never the whole input
    fits = "y" * (EXCERPT_CHARS - 2)  # its repr, quotes and all, is exactly as long as an excerpt: shown whole
    status, _, body = call(app, "POST", "/predict", (json.dumps({"texts": fits}).encode(),))
    assert detail(body).endswith(f"(got '{fits}')")
    status, _, body = call(app, "POST", "/predict", (json.dumps({"texts": list(range(8))}).encode(),))
    assert status == 422 and detail(body).count(";") == 4  # five problems at most
    status, _, body = call(app, "POST", "/predict", (b'{"texts": [}',))
    assert status == 422 and detail(body).startswith("body, at character 11: JSON decode error")
    status, _, body = call(app, "POST", "/predict", (b'{"words": []}',))
    assert status == 422 and detail(body).startswith("texts: Field required")


def test_every_request_is_logged_in_one_line_and_counted(caplog):
    app, metrics, _ = hardened_app(api_key=KEY)
    with caplog.at_level(logging.INFO, logger="rnn_lightning.access"):
        call(app, "POST", "/predict", (body_of(["a"]),))
        call(app, "POST", "/predict", (body_of(["a"]),), {"x-api-key": KEY})
        call(app, "GET", "/nowhere")
    lines = [record.getMessage() for record in caplog.records if record.name == "rnn_lightning.access"]
    assert [line.split(" ms")[0].rsplit(" ", 1)[0] for line in lines] == [
        '10.0.0.7 "POST /predict" 401', '10.0.0.7 "POST /predict" 200', '10.0.0.7 "GET /nowhere" 404']
    assert all(0 <= float(line.rsplit(" ", 2)[1]) < 10_000 for line in lines)  # the request's own time, in ms
    with caplog.at_level(logging.INFO, logger="rnn_lightning.access"), pytest.raises(RuntimeError, match="a bug"):
        call(app, "GET", "/fails")  # the route raised before any answer began: counted as the 500 it becomes
    assert caplog.records[-1].getMessage().startswith('10.0.0.7 "GET /fails" 500 ')

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert sample("rnn_lightning_requests_total", path="other", status="500") == 1
    assert sample("rnn_lightning_requests_total", path="/predict", status="401") == 1
    assert sample("rnn_lightning_requests_total", path="/predict", status="200") == 1
    assert sample("rnn_lightning_requests_total", path="other", status="404") == 1
    assert sample("rnn_lightning_errors_total", path="/predict") == 1
    assert sample("rnn_lightning_request_seconds_count", path="/predict") == 2
    assert 0 <= sample("rnn_lightning_request_seconds_sum", path="/predict") < 10


@pytest.mark.parametrize("origins", [None, ["https://example.org"]])
def test_cors_is_opt_in(origins):
    app, _, _ = hardened_app(cors_origins=origins)
    status, headers, _ = call(app, "POST", "/predict", (body_of(["a"]),), {"origin": "https://example.org"})
    assert status == 200
    assert headers.get("access-control-allow-origin") == (origins[0] if origins else None)
    status, headers, _ = call(app, "POST", "/predict", (body_of(["a"]),), {"origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in headers


def test_a_browsers_preflight_may_send_the_key_and_json_where_cors_is_allowed():
    app, _, _ = hardened_app(cors_origins=["https://example.org"], api_key=KEY)
    status, headers, _ = call(app, "OPTIONS", "/predict", headers={
        "origin": "https://example.org", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, x-api-key"})
    assert status == 200 and "POST" in headers["access-control-allow-methods"]
    assert {"content-type", "x-api-key"} <= {name.strip().lower()
                                            for name in headers["access-control-allow-headers"].split(",")}
    status, _, _ = call(app, "OPTIONS", "/predict", headers={"origin": "https://example.org",
                                                             "access-control-request-method": "DELETE"})
    assert status == 400


def test_the_servers_start_and_stop_pass_through_every_middleware():
    app, _, _ = hardened_app()
    events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict:
        return events.pop(0)

    async def send(message: dict) -> None:
        sent.append(message["type"])

    asyncio.run(asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send), timeout=20))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
