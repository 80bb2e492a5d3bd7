"""In-memory fakes of the ports, for tests that need no network."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reply_sla.domain.models import Message
from reply_sla.ports import FetchResult


@dataclass
class FakeChannel:
    """Serves a fixed list of messages; the cursor is the index of the last one served."""

    messages: list[Message]
    channel: str = "mastodon"
    roots: dict[str, str] = field(default_factory=dict)
    root_calls: int = 0

    def own_ids(self) -> frozenset[str]:
        return frozenset({"brand"})

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        start = int(cursors.get("all") or 0)
        page = self.messages[start:]
        return FetchResult(messages=list(page), cursors={"all": str(start + len(page))}, pages=1)

    def thread_root(self, message_id: str) -> str:
        self.root_calls += 1
        return self.roots.get(message_id, message_id)


class RecordingSession:
    """A requests session that remembers the keyword arguments of every request."""

    def __init__(self) -> None:
        from reply_sla.adapters.channels.http import new_session

        self.calls: list[dict[str, Any]] = []
        self._session = new_session()

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.calls.append({"method": method, "url": url, **kwargs})
        return self._session.request(method, url, **kwargs)


@dataclass
class RecordingNotifier:
    """Keeps what would have been published; can be told to fail."""

    published: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    fail: bool = False
    delay: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, subject: str, body: str, attributes: Mapping[str, str]) -> str:
        if self.delay:
            threading.Event().wait(self.delay)
        if self.fail:
            from reply_sla.adapters.sns_notifier import PublishFailed

            raise PublishFailed("injected")
        with self._lock:
            self.published.append((subject, body, dict(attributes)))
            return f"msg-{len(self.published)}"


@dataclass
class MemoryReports:
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = (body, content_type)

    def download_link(self, key: str, expires_seconds: int) -> str:
        return f"https://reports.example/{key}?expires={expires_seconds}"
