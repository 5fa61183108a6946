"""A loopback Gemini API for tests: the REST wire protocol google-genai speaks, scripted per test.

    with FakeGemini() as gemini:
        gemini.script(Reply("id: hello\\n…"), Fault(429, retry_delay="2s"), Reply("…"))
        model = GeminiModel(api_key="test-key", base_url=gemini.url)

Each request takes the next scripted item (the last one repeats). Serves `/{v1,v1beta}/models/{model}:
generateContent`, `:batchEmbedContents` and `:streamGenerateContent?alt=sse`: SSE events `data: {json}` + CRLF CRLF, chunked
transfer encoding, each chunk a full response with one text delta, cumulative usage, the finish reason on
the last chunk only (as the real API). Faults: an HTTP error with Google's error body, a stream cut
mid-way (the connection closes inside the chunked body), a malformed event, a blocked prompt, a safety
stop, a slow first token.

Embeddings are answered from their own script (`script_embeddings`, faults only: success by default)
with deterministic vectors: hashed word counts, so texts sharing words are near each other, as with
a real model. Retired embedding models answer 404, as the real API does.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.loopback import LoopbackServer, QuietHandler

STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
MESSAGES = {
    400: "API key not valid. Please pass a valid API key.",
    403: "Method doesn't allow unregistered callers (callers without established identity).",
    404: "models/{model} is not found for API version v1, or is not supported for generateContent.",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}


@dataclass
class Reply:
    """A model answer, streamed in `chunks` pieces (or whole, for generateContent)."""

    text: str
    chunks: int = 3
    thoughts: str = ""  # a thought summary part sent first (must never reach the flow text)
    finish: str = "STOP"
    prompt_tokens: int = 120
    delay: float = 0.0  # before the first byte: a slow first token
    chunk_delay: float = 0.0  # between chunks: a model that streams slowly
    cut_after: int | None = None  # close the connection after this many chunks (a stream cut)
    malformed_after: int | None = None  # send a broken event after this many chunks


@dataclass
class Fault:
    """An HTTP error with Google's error body (`retry_delay` adds RetryInfo, as a 429 does)."""

    code: int
    retry_delay: str | None = None
    retry_after_header: str | None = None


@dataclass
class Blocked:
    """The prompt is blocked: HTTP 200, no candidates, `promptFeedback.blockReason`."""

    reason: str = "PROHIBITED_CONTENT"


Item = Reply | Fault | Blocked
RETIRED_EMBEDDING_MODELS = {"text-embedding-004", "embedding-001"}


@dataclass
class Request:
    method: str  # generateContent | streamGenerateContent | batchEmbedContents
    version: str
    model: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeGemini:
    api_key: str = "test-key"
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: list[Item] = [Reply("Hello!")]
        self._embedding_script: list[Fault | None] = [None]
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    def script(self, *items: Item) -> None:
        with self._lock:
            self._script = list(items)

    def script_embeddings(self, *items: Fault | None) -> None:
        """What the next embedding requests get: a Fault, or None for vectors (the last one repeats)."""
        with self._lock:
            self._embedding_script = list(items)

    def _next(self) -> Item:
        with self._lock:
            return self._script.pop(0) if len(self._script) > 1 else self._script[0]

    def _next_embedding(self) -> Fault | None:
        with self._lock:
            script = self._embedding_script
            return script.pop(0) if len(script) > 1 else script[0]

    @property
    def embedded_texts(self) -> list[str]:
        """Every text sent to be embedded, in order."""
        return [
            part["text"]
            for request in self.requests
            if request.method == "batchEmbedContents"
            for entry in request.body.get("requests", [])
            for part in entry["content"]["parts"]
        ]

    @property
    def url(self) -> str:
        assert self._server is not None, "use `with FakeGemini() as gemini:`"
        return self._server.url

    def __enter__(self) -> FakeGemini:
        fake = self

        class Handler(_Handler):
            gemini = fake

        self._server = LoopbackServer(Handler).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.stop()


def _usage(reply: Reply, sent: str) -> dict[str, int]:
    output = max(1, len(sent) // 4)
    thoughts = max(1, len(reply.thoughts) // 4) if reply.thoughts else 0
    return {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": output,
        "thoughtsTokenCount": thoughts,
        "totalTokenCount": reply.prompt_tokens + output + thoughts,
    }


def fake_embedding(text: str, dimension: int) -> list[float]:
    """A unit vector of hashed lower-cased word counts: deterministic, and similar for texts that share words."""
    vector = [0.0] * dimension
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        slot = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % dimension
        vector[slot] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _pieces(text: str, count: int) -> list[str]:
    size = max(1, -(-len(text) // max(count, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class _Handler(QuietHandler):
    gemini: FakeGemini
    protocol_version = "HTTP/1.1"

    def _json(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, fault: Fault, model: str) -> None:
        message = MESSAGES.get(fault.code, "error").replace("{model}", model)
        details: list[dict[str, Any]] = []
        if fault.code == 400:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            )
        if fault.retry_delay:
            message += f" Please retry in {fault.retry_delay}."
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": fault.retry_delay})
        body = {
            "error": {
                "code": fault.code,
                "message": message,
                "status": STATUS.get(fault.code, "UNKNOWN"),
                "details": details,
            }
        }
        raw = json.dumps(body).encode()
        self.send_response(fault.code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        if fault.retry_after_header:
            self.send_header("Retry-After", fault.retry_after_header)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        match = re.fullmatch(
            r"/(v1|v1beta)/models/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)(\?.*)?",
            self.path,
        )
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not match:
            self._json(404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})
            return
        version, model, method = match.group(1), match.group(2), match.group(3)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, {"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}})
            return
        self.gemini.requests.append(Request(method, version, model, body, dict(self.headers.items())))
        if self.headers.get("x-goog-api-key") != self.gemini.api_key:
            self._error(Fault(400 if self.headers.get("x-goog-api-key") else 403), model)
            return
        if method == "batchEmbedContents":
            self._embed(model, body)
            return
        item = self.gemini._next()
        if isinstance(item, Fault):
            self._error(item, model)
        elif isinstance(item, Blocked):
            self._json(
                200,
                {
                    "promptFeedback": {"blockReason": item.reason},
                    "usageMetadata": {"promptTokenCount": 50, "totalTokenCount": 50},
                    "modelVersion": model,
                },
            )
        elif method == "generateContent":
            time.sleep(item.delay)
            parts = ([{"text": item.thoughts, "thought": True}] if item.thoughts else []) + [{"text": item.text}]
            self._json(
                200,
                {
                    "candidates": [
                        {"content": {"role": "model", "parts": parts}, "finishReason": item.finish, "index": 0}
                    ],
                    "usageMetadata": _usage(item, item.text),
                    "modelVersion": model,
                    "responseId": "fake-response",
                },
            )
        else:
            try:
                self._stream(item, model)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                self.close_connection = True

    def _embed(self, model: str, body: dict[str, Any]) -> None:
        if model in RETIRED_EMBEDDING_MODELS:
            message = f"models/{model} is not found for API version v1, or is not supported for embedContent."
            self._json(404, {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}})
            return
        fault = self.gemini._next_embedding()
        if fault is not None:
            self._error(fault, model)
            return
        embeddings = []
        for entry in body.get("requests", []):
            text = " ".join(part.get("text", "") for part in entry.get("content", {}).get("parts", []))
            dimension = int(entry.get("outputDimensionality") or 3072)
            embeddings.append({"values": fake_embedding(text, dimension)})
        self._json(200, {"embeddings": embeddings})

    def _stream(self, reply: Reply, model: str) -> None:
        time.sleep(reply.delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        pieces = _pieces(reply.text, reply.chunks)
        events: list[dict[str, Any]] = []
        if reply.thoughts:
            events.append({"role": "model", "parts": [{"text": reply.thoughts, "thought": True}]})
        events += [{"role": "model", "parts": [{"text": piece}]} for piece in pieces]
        sent = ""
        for number, content in enumerate(events):
            if number:
                time.sleep(reply.chunk_delay)
            if reply.cut_after is not None and number == reply.cut_after:
                self.wfile.write(b'40\r\ndata: {"candidates": [{"con')  # a chunk that never ends
                self.wfile.flush()
                self.close_connection = True
                self.connection.close()
                return
            if reply.malformed_after is not None and number == reply.malformed_after:
                self._chunk(b"data: {this is not json\r\n\r\n")
                break
            sent += "".join(p["text"] for p in content["parts"] if not p.get("thought"))
            candidate: dict[str, Any] = {"content": content, "index": 0}
            if number == len(events) - 1:
                candidate["finishReason"] = reply.finish
            event = {
                "candidates": [candidate],
                "usageMetadata": _usage(reply, sent),
                "modelVersion": model,
                "responseId": "fake-response",
            }
            self._chunk(f"data: {json.dumps(event)}\r\n\r\n".encode())
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
