"""A local HTTP server (127.0.0.1, port 0) that serves test archives and misbehaves on purpose."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MisbehavingServer:
    """Serve ``files[path]`` bytes, with per-path behaviours.

    Behaviours: ``"ok"``; ``"truncate"`` (announces the full length, sends half, closes); ``"stall"``
    (headers, then silence for ``stall_s``); ``"fail-once"`` (HTTP 500 on the first request, then ok).
    ``requests`` counts GETs per path.
    """

    def __init__(self, stall_s: float = 5.0) -> None:
        self.files: dict[str, bytes] = {}
        self.behaviour: dict[str, str] = {}
        self.requests: Counter[str] = Counter()
        self.stall_s = stall_s
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                outer.requests[self.path] += 1
                body = outer.files.get(self.path)
                behaviour = outer.behaviour.get(self.path, "ok")
                if body is None or (behaviour == "fail-once" and outer.requests[self.path] == 1):
                    self.send_error(404 if body is None else 500)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if behaviour == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if behaviour == "stall":
                    self.wfile.write(body[:100])
                    self.wfile.flush()
                    time.sleep(outer.stall_s)
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> MisbehavingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
