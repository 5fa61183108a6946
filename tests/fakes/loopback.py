"""The start/stop every loopback server in the tests shares: a threaded HTTP server on 127.0.0.1 at a free
port, serving from a daemon thread, optionally over TLS, that prints nothing.

    class Handler(QuietHandler):
        def do_GET(self) -> None: ...

    with LoopbackServer(Handler) as server:
        httpx.get(server.url + "/path")

The fakes (`FakeKestra`, `FakeGemini`, `FakeOpenAI`) start one in their own `__enter__` and stop it in
`__exit__`.
"""

from __future__ import annotations

import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing, and sends each write at once (no Nagle delay: a streamed event
    would otherwise wait ~40 ms for the client's delayed ACK)."""

    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up, or refusing the certificate of a TLS server, is not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)


class LoopbackServer:
    """Serves `handler` on 127.0.0.1 at a free port from `start()` (or `with`) until `stop()`; over HTTPS
    with the server-side `tls` context when given. `url` is its origin, and stays readable once stopped."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None) -> None:
        self._httpd = _QuietHTTPServer(("127.0.0.1", 0), handler)
        if tls is not None:  # the handshake runs in the request's thread, on its first read
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._httpd.server_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (requests in flight finish in their daemon threads) and close the port."""
        if self._thread.ident is not None:  # started: else there is no loop to wait for
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
