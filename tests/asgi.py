"""ASGI calls in process, as a server would make them: the fast tests of the HTTP side drive apps through this."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI


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
