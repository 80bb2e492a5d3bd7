"""The HTTP plumbing every fake channel server shares: 127.0.0.1, a free port, a daemon thread.

A fake subclasses `FakeHttpServer` and implements `respond(request) -> (status, headers, body)`;
a `str` or `bytes` body is sent as is, anything else as JSON.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs, urlsplit

Reply = tuple[int, dict[str, str], Any]


@dataclass(frozen=True)
class FakeRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class FakeHttpServer:
    """Start, stop and count requests; subclasses answer them."""

    name = "fake"

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.base_url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def respond(self, request: FakeRequest) -> Reply:
        raise NotImplementedError

    def start(self) -> str:
        """Serve on 127.0.0.1 on a free port; returns the base URL."""
        if self._server is None:
            self._server = _Server(self)
            host, port = self._server.server_address[:2]
            self.base_url = f"http://{host!s}:{port}"
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name=self.name, daemon=True
            )
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server, self._thread = None, None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY each keep-alive response
    # waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection frees its thread

    def _serve(self) -> None:
        fake = cast(_Server, self.server).fake
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = FakeRequest(
            method=self.command,
            path=url.path,
            query=url.query,
            headers={k: v for k, v in self.headers.items()},
            body=body,
        )
        fake.requests[url.path] += 1
        status, headers, payload = fake.respond(request)
        if isinstance(payload, bytes):
            raw = payload
        else:
            raw = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response_only(status)
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the demo read `requests` instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeHttpServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
