"""The shared loopback server: serves on 127.0.0.1 at a free port, over TLS when asked, and once stopped
the port is closed (the next test's servers do not find it busy or half-open)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
import pytest

from tests.fakes.loopback import LoopbackServer, QuietHandler
from tests.security.test_secrets_transport import make_pki


class Hello(QuietHandler):
    def do_GET(self) -> None:
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _refused(url: str) -> bool:
    host, port = url.rsplit("/", 1)[-1].rsplit(":", 1)
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) != 0


def test_serves_on_loopback_and_closes_the_port_when_stopped() -> None:
    with LoopbackServer(Hello) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{server.url}/a").text == "hello /a"
    assert _refused(server.url)  # the URL stays readable after stop, for messages that name it


def test_serves_https_with_the_given_context(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with LoopbackServer(Hello, tls=pki.server) as server:
        assert server.url.startswith("https://127.0.0.1:")
        assert httpx.get(f"{server.url}/b", verify=ssl.create_default_context(cafile=pki.ca_file)).text == "hello /b"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(server.url)  # not trusted by default: the handshake fails, and the server goes on
        assert httpx.get(f"{server.url}/c", verify=ssl.create_default_context(cafile=pki.ca_file)).text == "hello /c"
    assert _refused(server.url)


def test_a_server_never_started_stops_at_once() -> None:
    server = LoopbackServer(Hello)
    server.stop()
    assert _refused(server.url)
