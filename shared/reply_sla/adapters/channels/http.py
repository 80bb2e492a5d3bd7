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
from pydantic import ValidationError

from reply_sla import __version__
from reply_sla.domain.models import Message
from reply_sla.errors import (
    ChannelAuthError,
    ChannelDataError,
    ChannelError,
    ChannelRateLimited,
    ConfigError,
)

USER_AGENT = f"replysla/{__version__}"
# What one item may bring into the store. Platform ids are short printable ASCII; they become
# DynamoDB keys (2,048 bytes at most, 1,024 in an index sort key) and cursors.
MAX_ID_CHARS = 512
MAX_NAME_CHARS = 200
MAX_URL_CHARS = 2048
# Markup is cut to this before it is parsed into text (the text kept is far shorter): a 1 MB
# post costs no more than a long one.
MAX_MARKUP_CHARS = 100_000
# A platform time outside these years is not a time any post was written at.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_PLATFORM_ID = re.compile(r"[\x21-\x7e]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
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


def shown(value: Any) -> str:
    """A value for an error message: a string quoted and cut short (it may be anything a server
    sent), anything else by its type."""
    if not isinstance(value, str):
        return f"(a {type(value).__name__})"
    return repr(value[:40] + ("…" if len(value) > 40 else ""))


def parse_channel_time(channel: str, value: Any, where: str, what: str = "time") -> datetime:
    """An ISO 8601 timestamp (any offset form, `Z` or `+0000`; UTC when it has none) as an aware
    UTC datetime, or a `ChannelDataError` saying which field of which item was not one."""
    try:
        moment = datetime.fromisoformat(value)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        raise ChannelDataError(channel, f"{where}: bad {what} {shown(value)}") from None
    if not EARLIEST <= moment < LATEST:
        raise ChannelDataError(channel, f"{where}: implausible {what} {shown(value)}")
    return moment


def platform_id(channel: str, value: Any, where: str, what: str = "id") -> str:
    """A platform's id as sent (printable ASCII, at most MAX_ID_CHARS), or a `ChannelDataError`."""
    if not isinstance(value, str) or not value:
        problem = "missing" if value is None or value == "" else "is not a string"
        raise ChannelDataError(channel, f"{where}: {what} {problem}")
    if len(value) > MAX_ID_CHARS or not _PLATFORM_ID.fullmatch(value):
        raise ChannelDataError(channel, f"{where}: {what} {shown(value)} is not a platform id")
    return value


def naming(where: str, ident: Any) -> str:
    """`where` followed by the item's id when it has a usable one (errors say which item)."""
    usable = isinstance(ident, str | int) and not isinstance(ident, bool)
    text = str(ident) if usable else ""
    if text and len(text) <= MAX_ID_CHARS and _PLATFORM_ID.fullmatch(text):
        return f"{where} {text}"
    return where


def plain_text(value: str) -> str:
    """Text as stored: verbatim (it is escaped where it is shown), but with any unpaired UTF-16
    surrogate (a broken emoji escape) replaced, since it cannot be encoded."""
    return _SURROGATE.sub("\ufffd", value)


def one_line(value: Any, limit: int = MAX_NAME_CHARS) -> str:
    """A name or handle: one line without control characters, at most `limit` characters."""
    text = value if isinstance(value, str) else ""
    return " ".join(_CONTROL.sub(" ", plain_text(text[: limit * 2])).split())[:limit]


def web_url(value: Any) -> str:
    """An http(s) link to show to a person, or "" for anything else (`javascript:`, `data:`,
    relative, too long, with spaces or controls)."""
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        return ""
    if _CONTROL.search(value) or any(ch.isspace() for ch in value):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    return value if parts.scheme in ("http", "https") and parts.netloc else ""


def build_message(channel: str, where: str, **fields: Any) -> Message:
    """A Message from one item's fields, made safe to store; a `ChannelDataError` saying what
    is wrong when it cannot be one.

    Ids must be platform ids; the author id a string without control characters; the text is
    kept verbatim (capped by the model); names and handles are one short line; a link that is
    not http(s) is dropped.
    """
    fields["message_id"] = platform_id(channel, fields.get("message_id"), where)
    for key in ("thread_id", "parent_id"):
        if fields.get(key) is not None:
            fields[key] = platform_id(channel, fields[key], where, key.replace("_", " "))
    author = fields.get("author_id")
    if not isinstance(author, str) or len(author) > MAX_ID_CHARS or _CONTROL.search(author):
        raise ChannelDataError(channel, f"{where}: author id {shown(author)} is not usable")
    fields["author_id"] = plain_text(author)
    fields["author_handle"] = one_line(fields.get("author_handle"))
    fields["author_name"] = one_line(fields.get("author_name"))
    text = fields.get("text")
    if not isinstance(text, str):
        raise ChannelDataError(channel, f"{where}: text is not a string {shown(text)}")
    fields["text"] = plain_text(text)
    fields["url"] = web_url(fields.get("url"))
    try:
        return Message(channel=channel, **fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ChannelDataError(channel, f"{where}: {field}: {first['msg']}") from None


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
