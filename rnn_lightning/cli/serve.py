"""Serve a checkpoint or an exported .onnx model over HTTP: POST /predict, /explain; GET /health, /metrics, /.

SIGTERM (as process managers stop services) and Ctrl-C both drain what is in flight, stop every worker and
free the port. Everything that can be checked is checked before the model is loaded: the settings, and that
the address can be listened on.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

from jsonargparse import ArgumentParser

from rnn_lightning import environment
from rnn_lightning.cli.parsing import Invocation, add_settings, new_parser


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--ckpt", type=str | None, default=None,
                        help="checkpoint file, or an exported .onnx model (default: the best checkpoint of the newest "
                             "run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    add_settings(parser, "server")
    parser.set_defaults({"server.api_key": environment.api_key()})
    return parser


def run(invocation: Invocation) -> int:
    args = invocation.settings()
    host = "127.0.0.1" if args.server.host == "localhost" else args.server.host  # LitServe knows addresses only
    try:
        _check_listenable(host, args.server.port)
    except OSError as error:
        return invocation.fail(f"cannot listen on {args.server.host}:{args.server.port}: {error.strerror or error}")
    from rnn_lightning.cli.process import prepare_for_model
    from rnn_lightning.models.saved import CheckpointError, find_best_checkpoint

    try:
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        prepare_for_model(ckpt)  # before torch starts its worker threads, so that they flush subnormals too
        from rnn_lightning.serving.api import build_server
        from rnn_lightning.serving.http import header_deadline_protocol

        server = build_server(ckpt, args.server)
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        return invocation.fail(error)
    _log_access_to_stderr()
    _stop_gracefully_on(signal.SIGTERM, signal.SIGINT)
    print(f"{invocation.prog}: serving {ckpt} on http://{args.server.host}:{args.server.port}/ (POST /predict and "
          "/explain, GET /health and /metrics); ready when /health says so", file=sys.stderr, flush=True)
    # One HTTP server, a thread of this process: one set of metrics, nothing left behind on a stop, and every
    # answer routed back (LitServe 0.2.19 loses a few answers when several thread-run HTTP servers share its
    # workers: 2 to 7 in 2,000 here). The model's work is in the worker processes; the HTTP side is async.
    server.run(host=host, port=args.server.port, generate_client_file=False, pretty_logs=False, log_level="warning",
               api_server_worker_type="thread", num_api_servers=1, timeout_keep_alive=args.server.idle_timeout,
               limit_concurrency=args.server.max_connections, http=header_deadline_protocol(args.server.header_timeout))
    return 0


def _check_listenable(host: str, port: int) -> None:
    """Bind the address once and let it go: an address in use or not ours fails here, in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise OSError(error.errno, "the address is in use (another server?)") from error
            raise


_http_servers: list = []  # the uvicorn servers LitServe starts, as threads of this process


def _stop_gracefully_on(*signals: int) -> None:
    """On any of ``signals``: stop taking connections, let in-flight requests finish, then stop the workers.

    systemd, Docker and Kubernetes stop a service with SIGTERM, a terminal with SIGINT. The HTTP servers (threads
    here) are told to exit, which closes the listening socket and waits for the requests in flight; then a
    KeyboardInterrupt in the main thread lets LitServe stop and join its worker processes, and the process ends.
    """
    import litserve.server

    def run_and_register(self, *args: object, **kwargs: object) -> None:
        _http_servers.append(self)
        return original(self, *args, **kwargs)

    original = litserve.server._Server.run
    litserve.server._Server.run = run_and_register  # LitServe keeps no handle on its thread-run servers
    main = threading.main_thread()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        for restore in signals:  # a second signal while draining stops at once
            signal.signal(restore, signal.default_int_handler)
        for server in _http_servers:
            server.should_exit = True

        def when_drained() -> None:
            for thread in threading.enumerate():
                if thread.name.startswith("LitServer-"):
                    thread.join()
            signal.pthread_kill(main.ident, signal.SIGINT)  # KeyboardInterrupt: LitServe's graceful shutdown

        threading.Thread(target=when_drained, name="drain", daemon=True).start()

    for signum in signals:
        signal.signal(signum, on_signal)


def _log_access_to_stderr() -> None:
    access = logging.getLogger("rnn_lightning.access")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
