"""HTTP plumbing shared by the channel adapters: timeouts, safe retries, error mapping."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from reply_sla import __version__
from reply_sla.errors import (
    ChannelAuthError,
    ChannelDataError,
    ChannelError,
    ChannelRateLimited,
    ConfigError,
)

USER_AGENT = f"replysla/{__version__}"
# A GET is safe to repeat; these statuses mean the server (or a proxy before it) was briefly unwell.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
_LINK_PARAM = r';\s*([\w*-]+)\s*(?:=\s*(?:"([^"]*)"|([^\s;,"]*)))?'
_LINK_VALUE = re.compile(rf"<([^>]*)>((?:\s*{_LINK_PARAM})*)")


def parse_link_header(value: str) -> dict[str, str]:
    """An RFC 8288 `Link` header as {rel: url}; the first link of each rel wins."""
    links: dict[str, str] = {}
    for match in _LINK_VALUE.finditer(value):
        for name, quoted, bare in re.findall(_LINK_PARAM, match.group(2)):
            if name.lower() == "rel":
                for rel in (quoted or bare).lower().split():
                    links.setdefault(rel, match.group(1).strip())
    return links


def server_now(response: requests.Response) -> datetime:
    """The server's clock from its `Date` header (ours if absent): our clock skew cannot matter."""
    value = response.headers.get("Date")
    if value:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)


def retry_after_header(response: requests.Response) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return max(0.0, (moment - server_now(response)).total_seconds())


def parse_channel_time(channel: str, value: Any, where: str, what: str = "time") -> datetime:
    """An ISO 8601 timestamp (any offset form, `Z` or `+0000`) as an aware UTC datetime, or a
    `ChannelDataError` saying which field of which item was not one."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ChannelDataError(channel, f"{where}: bad {what} {str(value)[:40]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def new_session() -> requests.Session:
    """A plain `requests` session (the adapters set their headers on each request)."""
    return requests.Session()


class ChannelHttp:
    """GETs JSON from one account's channel API and turns every failure into a channel error."""

    def __init__(
        self,
        channel: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        session: requests.Session | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        retry_after: Callable[[requests.Response], float | None] = retry_after_header,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{channel}: api_base_url must be an http(s) URL, got {base_url!r}")
        self.channel = channel
        self.base_url = base_url.rstrip("/")
        self.session = session if session is not None else new_session()
        # (connect, read): a dead host fails fast, a slow but alive one gets the full timeout.
        self.timeout = (min(timeout, 5.0), timeout)
        self.retries = retries
        self.backoff = backoff
        self._origin = (parts.scheme, parts.netloc.lower())
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        self._secrets = [s for s in secrets if s]
        self._sleep = sleep
        self._retry_after = retry_after
        # The last answer, for the rate-limit headers a poll reports.
        self.last_response: requests.Response | None = None

    def url(self, target: str) -> str:
        """An API path under the base URL, or an absolute URL (from a `Link`) of the same origin."""
        if not target.startswith(("http://", "https://")):
            return self.base_url + "/" + target.lstrip("/")
        parts = urlsplit(target)
        # The token goes with every request: never follow a link to another host or scheme.
        if (parts.scheme, parts.netloc.lower()) != self._origin:
            raise ChannelDataError(self.channel, f"refusing a link to another origin: {parts.path}")
        return target

    def get(self, target: str, params: Mapping[str, str] | None = None) -> requests.Response:
        """GET with a timeout, retrying connection errors and 5xx a few times; non-2xx raise."""
        url = self.url(target)
        path = urlsplit(url).path
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.session.request(
                    "GET", url, params=params, headers=self._headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise ChannelError(
                        self.channel, f"GET {path} failed: {type(exc).__name__}"
                    ) from exc
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    self.last_response = response
                    self._check(response, path)
                    return response
            self._sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(
        self, target: str, params: Mapping[str, str] | None = None
    ) -> tuple[Any, requests.Response]:
        """GET and decode the JSON body; anything else is a `ChannelDataError` naming the path."""
        response = self.get(target, params)
        try:
            return response.json(), response
        except ValueError:
            path = urlsplit(response.url or self.url(target)).path
            raise self.data_error(path, "the response is not JSON") from None

    def data_error(self, path: str, problem: str) -> ChannelDataError:
        """The error for a body that is not what the API documents."""
        return ChannelDataError(self.channel, self._redact(f"GET {path}: {problem}"))

    def _check(self, response: requests.Response, path: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        where = f"GET {path} on {self._origin[1]} returned HTTP {status}{self._detail(response)}"
        if status in (401, 403):
            raise ChannelAuthError(self.channel, f"credentials refused: {where}")
        if status == 429:
            raise ChannelRateLimited(
                self.channel, f"rate limited: {where}", self._retry_after(response)
            )
        raise ChannelError(self.channel, where)

    def _detail(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        detail = None
        if isinstance(body, dict):
            # Mastodon/Bluesky: error or message; Discourse: errors[0]; Graph: error.message.
            errors = body.get("errors")
            detail = body.get("error") or body.get("message")
            if isinstance(detail, dict):
                detail = detail.get("message")
            if not detail and isinstance(errors, list) and errors:
                detail = errors[0]
        # Redact before cutting, so no part of a secret that straddles the cut can show.
        return f" ({self._redact(str(detail))[:200]})" if detail else ""

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
