"""The HTTP side of the server, hardened.

JSON errors that never echo the input, an API key, CORS, header and body timeouts, a content-type check,
and one access-log line per request.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

from rnn_lightning.settings import ServeSettings

if TYPE_CHECKING:
    from rnn_lightning.serving.metrics import Metrics

ACCESS_LOG = logging.getLogger("rnn_lightning.access")
PROTECTED = ("/predict", "/explain")  # what the API key guards: /health, /metrics, /classes and the page stay open
EXCERPT_CHARS = 60


def harden(app: FastAPI, settings: ServeSettings, metrics: Metrics) -> None:
    """Install the error handler and the middlewares on ``app`` (the outermost last)."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(_BodyReader, seconds=settings.body_timeout, max_bytes=settings.max_body_bytes)
    app.add_middleware(_Guard, api_key=settings.api_key)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-API-Key"])
    app.add_middleware(_AccessLog, metrics=metrics)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 with where and what, never the input itself: it may be huge, or not even writable as JSON (NaN)."""
    problems = []
    for problem in error.errors():
        place = [str(part) for part in problem.get("loc", ()) if part != "body"]
        # Where the JSON itself is broken, pydantic's location is the character it stopped at, not a field.
        where = f"body, at character {place[0]}" if problem.get("type") == "json_invalid" and place else (
            ".".join(place) or "body")
        found = repr(problem.get("input"))
        excerpt = found if len(found) <= EXCERPT_CHARS else found[:EXCERPT_CHARS] + "..."
        problems.append(f"{where}: {problem.get('msg', 'invalid')} (got {excerpt})")
    return JSONResponse({"detail": "; ".join(problems[:5]) or "invalid request"}, status_code=422)


def _json_error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


class _Guard:
    """The content type and the API key of ``POST /predict`` and ``/explain``, checked before the body is read."""

    def __init__(self, app: Any, api_key: str | None) -> None:
        self.app, self.api_key = app, api_key

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in PROTECTED and scope["method"] == "POST":
            headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
            given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
            if self.api_key is not None and not hmac.compare_digest(given.encode(), self.api_key.encode()):
                await _json_error(401, "a valid API key is needed: send it as the X-API-Key header")(scope, receive,
                                                                                                      send)
                return
            if headers.get("content-type", "").split(";")[0].strip() != "application/json":
                await _json_error(415, 'send the body as JSON, with the header "Content-Type: application/json"')(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


class _BodyReader:
    """Read a request's whole body first, within ``seconds`` and ``max_bytes``, then hand it on.

    A client that stalls or drips its body gets 408 when the time is up, and one that sends too much gets 413
    as soon as it has: neither holds a worker or grows memory. (Raising from inside the app's own reading would
    come out as FastAPI's 400 "error parsing the body"; reading ahead keeps the answer ours.)
    """

    def __init__(self, app: Any, seconds: float, max_bytes: int) -> None:
        self.app, self.seconds, self.max_bytes = app, seconds, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        deadline, chunks, size = time.monotonic() + self.seconds, [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                await _json_error(408, f"the request's body did not arrive within {self.seconds:g} s")(
                    scope, receive, send)
                return
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await _json_error(413, f"Payload too large: at most {self.max_bytes} bytes")(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: only a disconnect is left to wait for

        await self.app(scope, replay, send)


class _AccessLog:
    """One line per request on the ``rnn_lightning.access`` logger, and the request counted in the metrics."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def recording_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            seconds = time.perf_counter() - start
            client = (scope.get("client") or ("-",))[0]
            ACCESS_LOG.info('%s "%s %s" %d %.1f ms', client, scope["method"], scope["path"], status, 1000 * seconds)
            self.metrics.observe(scope["path"], status, seconds)


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with a deadline for each request's headers (``header_timeout`` seconds).

    uvicorn waits for headers as long as a client likes: clients that open connections and send nothing, or
    drip their headers (a slowloris), would hold them until file descriptors run out. The deadline starts when
    a connection opens and again when the next request's first bytes arrive; the connection is closed if the
    headers are not complete by then. (Between requests, uvicorn's own keep-alive timeout applies.)
    """

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = self.loop.call_later(self.header_timeout,
                                                                                 self._headers_too_slow)

    def data_received(self, data: bytes) -> None:
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self._header_deadline is None:  # the first bytes of a next request on this connection
            self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:  # a request's headers are in
            self._cancel_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def header_deadline_protocol(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for uvicorn's ``http=``, with a deadline of ``seconds`` for headers."""
    return type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout": seconds})
