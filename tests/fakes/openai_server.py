"""A loopback OpenAI-compatible chat server (as Ollama and llama-server speak it), scripted per test.

`POST /v1/chat/completions` with `stream: true` → SSE `data: {chunk}` events, a usage event when
`stream_options.include_usage` is set, then `data: [DONE]`; chunked transfer encoding so a cut stream
is a real protocol error. Each request takes the next scripted item (the last one repeats).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.loopback import LoopbackServer, QuietHandler


@dataclass
class Chat:
    text: str
    chunks: int = 3
    reasoning: str = ""  # sent in `reasoning_content` deltas first (never part of the answer)
    finish: str = "stop"
    cut_after: int | None = None


@dataclass
class Failure:
    status: int
    message: str = "error"
    retry_after: str | None = None


@dataclass
class FakeOpenAI:
    models: tuple[str, ...] = ("qwen2.5-coder:7b",)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: list[Chat | Failure] = [Chat("Hello!")]
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    def script(self, *items: Chat | Failure) -> None:
        with self._lock:
            self._script = list(items)

    def next(self) -> Chat | Failure:
        with self._lock:
            return self._script.pop(0) if len(self._script) > 1 else self._script[0]

    @property
    def url(self) -> str:
        assert self._server is not None, "use `with FakeOpenAI() as server:`"
        return f"{self._server.url}/v1"

    def __enter__(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_model = fake

        self._server = LoopbackServer(Handler).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.stop()


class _Handler(QuietHandler):
    server_model: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": "not found"}})
            return
        self.server_model.requests.append(body)
        if body.get("model") not in self.server_model.models:
            self._json(404, {"error": {"message": f'model "{body.get("model")}" not found, try pulling it first'}})
            return
        item = self.server_model.next()
        if isinstance(item, Failure):
            headers = {"Retry-After": item.retry_after} if item.retry_after else {}
            self._json(item.status, {"error": {"message": item.message, "type": "server_error"}}, headers)
            return
        try:
            self._stream(item, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _stream(self, chat: Chat, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        size = max(1, -(-len(chat.text) // chat.chunks))
        deltas = [{"reasoning_content": chat.reasoning}] if chat.reasoning else []
        deltas += [{"content": chat.text[i : i + size]} for i in range(0, len(chat.text), size)]
        for number, delta in enumerate(deltas):
            if chat.cut_after is not None and number == chat.cut_after:
                self.wfile.write(b'50\r\ndata: {"choices"')
                self.wfile.flush()
                self.close_connection = True
                self.connection.close()
                return
            last = number == len(deltas) - 1
            event = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": chat.finish if last else None}],
            }
            self._chunk(f"data: {json.dumps(event)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 42, "completion_tokens": max(1, len(chat.text) // 4)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            self._chunk(f"data: {json.dumps({'id': 'chatcmpl-1', 'choices': [], 'usage': usage})}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
