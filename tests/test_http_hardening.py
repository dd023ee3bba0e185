"""The server's HTTP hardening (:func:`rnn_lightning.serving.http.harden`), in process and fast.

``test_serving.py`` holds the whole server to the same rules through real sockets, in slow tests; here the
middlewares wrap a two-route app and are driven as ASGI calls, so that each rule is checked in milliseconds and
a mutation of it is caught by a fast test. The header deadline, which lives below ASGI in uvicorn's protocol, is
held to its rule by a real uvicorn server run in the test's own event loop.
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

from .asgi import call

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


# The header deadline is uvicorn's protocol, below ASGI: these run a real uvicorn server in the test's own event
# loop, on a socket of 127.0.0.1, with a deadline short enough that each case takes a fraction of a second.
DEADLINE = 0.3


async def answering_slowly(scope: dict, receive, send) -> None:
    """An ASGI app that takes longer than the header deadline to answer, so the deadline must be off by then."""
    await asyncio.sleep(DEADLINE * 1.5)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def with_server(client) -> object:
    """Run ``client(host, port)`` against uvicorn with the header deadline, and return what it returns."""
    import socket

    import uvicorn

    from rnn_lightning.serving.http import header_deadline_protocol

    async def main() -> object:
        listening = socket.create_server(("127.0.0.1", 0))
        config = uvicorn.Config(answering_slowly, http=header_deadline_protocol(DEADLINE), lifespan="off",
                                log_level="warning", timeout_keep_alive=30)
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[listening]))
        while not server.started:
            await asyncio.sleep(0.01)
        try:
            return await asyncio.wait_for(client(*listening.getsockname()[:2]), timeout=20)
        finally:
            server.should_exit = True
            await serving

    return asyncio.run(main())


async def seconds_until_closed(reader: asyncio.StreamReader) -> float:
    started = asyncio.get_running_loop().time()
    assert await reader.read() == b""  # nothing answered: the server closed the connection
    return asyncio.get_running_loop().time() - started


REQUEST = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    return head + await reader.readexactly(2)


def test_a_connection_that_sends_nothing_or_drips_its_headers_is_closed_at_the_deadline():
    async def client(host: str, port: int) -> tuple[float, float]:
        reader, _ = await asyncio.open_connection(host, port)
        silent = await seconds_until_closed(reader)
        reader, writer = await asyncio.open_connection(host, port)
        started = asyncio.get_running_loop().time()
        for byte in REQUEST[:-2]:  # a byte every 50 ms, never the blank line that ends the headers
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)
            if asyncio.get_running_loop().time() - started > DEADLINE * 4:
                break
        await seconds_until_closed(reader)
        dripped = asyncio.get_running_loop().time() - started  # from the first byte to the connection's close
        return silent, dripped

    silent, dripped = with_server(client)
    assert DEADLINE * 0.9 <= silent < DEADLINE * 3
    assert dripped < DEADLINE * 3  # the bytes that keep coming do not move the deadline


def test_headers_in_time_are_answered_however_long_the_answer_and_the_wait_for_the_next_request():
    async def client(host: str, port: int) -> tuple[bytes, bytes, float]:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(REQUEST)
        first = await read_answer(reader)  # the app takes longer than the deadline: the deadline was off
        await asyncio.sleep(DEADLINE * 2)  # idle between requests: keep-alive's business, not the deadline's
        writer.write(REQUEST)
        second = await read_answer(reader)
        writer.write(REQUEST[:10])  # a third request that never completes its headers
        return first, second, await seconds_until_closed(reader)

    first, second, third = with_server(client)
    assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"ok")
    assert second.startswith(b"HTTP/1.1 200") and second.endswith(b"ok")
    assert DEADLINE * 0.9 <= third < DEADLINE * 3  # the next request's first bytes start the deadline again
