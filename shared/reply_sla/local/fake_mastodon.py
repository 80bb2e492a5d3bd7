"""An in-memory Mastodon server on 127.0.0.1 that answers as the Mastodon API documents.

Stdlib only. Responses follow the entities of shared/specs/mastodon-openapi.json (Mastodon 4.7) and
Mastodon's own controllers: newest first, `max_id` / `since_id` / `min_id` paging, `Link` headers,
`X-RateLimit-*` on every response, `{"error": ...}` bodies. Items created after `clock()` are not
there yet, so a demo can play a simulated week against it.
"""

from __future__ import annotations

import html
import itertools
import re
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, quote

from reply_sla.local.fake_http import FakeHttpServer, FakeRequest, Reply

VISIBILITIES = ("public", "unlisted", "private", "direct")
# Mastodon's default API limit: 300 requests per 5 minutes per token.
RATE_LIMIT = 300
RATE_WINDOW_SECONDS = 300
# Rails' ActiveModel::Type::Boolean: anything else given is true.
_FALSE_VALUES = {"", "0", "f", "false", "off"}
_MENTION = re.compile(r"(?<![\w@/])@(\w+(?:[\w.-]*\w)?)(?:@([\w-]+(?:\.[\w-]+)+))?")
_INVALID_TOKEN = "The access token is invalid"
_CHALLENGE = (
    f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{_INVALID_TOKEN}"'
)


def iso_ms(moment: datetime) -> str:
    """Mastodon's timestamp format: UTC, milliseconds, `Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _key(value: str) -> tuple[int, str]:
    return len(value), value


@dataclass
class _Account:
    id: str
    username: str
    domain: str
    local: bool
    display_name: str
    bot: bool
    created_at: datetime

    @property
    def acct(self) -> str:
        return self.username if self.local else f"{self.username}@{self.domain}"

    @property
    def url(self) -> str:
        return f"https://{self.domain}/@{self.username}"


@dataclass
class _Status:
    id: str
    author: _Account
    text: str
    created_at: datetime
    visibility: str
    in_reply_to: _Status | None
    mentions: list[_Account]


@dataclass
class _Notification:
    recipient: str
    status: _Status
    id: str = ""  # given when the notification comes into being (its status's time has come)


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class _Page:
    items: list[Any]
    ids: list[str]
    full: bool
    core: dict[str, str] = field(default_factory=dict)


class FakeMastodon(FakeHttpServer):
    """A Mastodon server in memory, served over HTTP on 127.0.0.1 from a daemon thread."""

    def __init__(
        self, clock: Callable[[], datetime] | None = None, domain: str = "social.example"
    ) -> None:
        super().__init__()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.domain = domain
        self._lock = threading.RLock()
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, str] = {}
        self._statuses: dict[str, _Status] = {}
        self._pending: list[_Notification] = []
        self._notifications: list[_Notification] = []
        self._seq = itertools.count(1)
        self._notification_ids = itertools.count(1)
        self._faults: deque[_Fault] = deque()
        self._malformed: deque[str] = deque()
        self._rate: Counter[tuple[str, int]] = Counter()

    # --- the world -----------------------------------------------------------------------------

    def _snowflake(self, moment: datetime) -> str:
        millis = int(moment.timestamp()) * 1000 + moment.microsecond // 1000
        return str((millis << 16) + (next(self._seq) & 0xFFFF))

    def add_account(
        self, username: str, display_name: str | None = None, *, bot: bool = False
    ) -> dict[str, Any]:
        """Create an account (`name` is local, `name@other.example` remote); its Account entity."""
        name, _, domain = username.lstrip("@").partition("@")
        with self._lock:
            now = self.clock()
            account = _Account(
                id=self._snowflake(now),
                username=name,
                domain=domain or self.domain,
                local=not domain or domain == self.domain,
                display_name=display_name if display_name is not None else name,
                bot=bot,
                created_at=now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0),
            )
            self._accounts[account.id] = account
            return self._account_entity(account, now)

    def issue_token(self, account_id: str) -> str:
        """A Bearer token acting as the account."""
        with self._lock:
            if account_id not in self._accounts:
                raise KeyError(f"no account {account_id}")
            token = secrets.token_urlsafe(24)
            self._tokens[token] = account_id
            return token

    def post(
        self,
        author_id: str,
        text: str,
        created_at: datetime,
        *,
        in_reply_to: str | None = None,
        visibility: str = "public",
        mentions: list[str] | None = None,
    ) -> dict[str, Any]:
        """Publish a status; mentioned accounts (and the author replied to) get a mention."""
        if created_at.tzinfo is None:
            raise ValueError("created_at must carry a time zone")
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {VISIBILITIES}")
        with self._lock:
            author = self._accounts[author_id]
            parent = self._statuses[in_reply_to] if in_reply_to else None
            mentioned = {a.id: a for a in self._parse_mentions(text)}
            mentioned.update({i: self._accounts[i] for i in mentions or ()})
            if parent is not None:
                mentioned.setdefault(parent.author.id, parent.author)
            mentioned.pop(author_id, None)
            status = _Status(
                id=self._snowflake(created_at),
                author=author,
                text=text,
                created_at=created_at.astimezone(UTC),
                visibility=visibility,
                in_reply_to=parent,
                mentions=list(mentioned.values()),
            )
            self._statuses[status.id] = status
            self._pending += [_Notification(a.id, status) for a in status.mentions if a.local]
            return self._status_entity(status, created_at, None)

    def next_post_after(self, moment: datetime) -> datetime | None:
        """When the next scripted status appears (lets a simulation skip idle minutes)."""
        with self._lock:
            later = [s.created_at for s in self._statuses.values() if s.created_at > moment]
        return min(later, default=None)

    def _parse_mentions(self, text: str) -> Iterator[_Account]:
        for match in _MENTION.finditer(text):
            username, domain = match.group(1).lower(), (match.group(2) or self.domain).lower()
            for account in self._accounts.values():
                if account.username.lower() == username and account.domain.lower() == domain:
                    yield account

    def _deliver(self, now: datetime) -> None:
        # Mastodon numbers a notification when it is created, i.e. when its status arrives.
        due = sorted(
            (n for n in self._pending if n.status.created_at <= now),
            key=lambda n: (n.status.created_at, _key(n.status.id)),
        )
        for notification in due:
            notification.id = str(next(self._notification_ids))
            self._pending.remove(notification)
            self._notifications.append(notification)

    # --- fault injection -----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """The next `times` requests answer `status` (default body: Mastodon's `{"error": ...}`)."""
        reply = {"error": HTTPStatus(status).phrase} if body is None else body
        with self._lock:
            self._faults.extend(_Fault(status, dict(headers or {}), reply) for _ in range(times))

    def malformed_next(self, times: int = 1, kind: str = "shape") -> None:
        """The next `times` successful responses break the documented shape.

        kinds: `shape` (an object for a list, a list for an object), `fields` (items without
        `id`, `created_at`, `account`), `html` (a 200 HTML page, as a misbehaving proxy sends),
        `item` (only the first status of a list page has a broken `created_at`).
        """
        if kind not in ("shape", "fields", "html", "item"):
            raise ValueError(f"unknown kind {kind!r}")
        with self._lock:
            self._malformed.extend(kind for _ in range(times))

    # --- entities ------------------------------------------------------------------------------

    def _account_entity(self, account: _Account, now: datetime) -> dict[str, Any]:
        own = [
            s
            for s in self._statuses.values()
            if s.author is account and s.created_at <= now and s.visibility != "direct"
        ]
        last = max((s.created_at for s in own), default=None)
        base = f"https://{self.domain}"
        return {
            "id": account.id,
            "username": account.username,
            "acct": account.acct,
            "display_name": account.display_name,
            "locked": False,
            "bot": account.bot,
            "discoverable": True,
            "indexable": True,
            "group": False,
            "created_at": iso_ms(account.created_at),
            "note": "",
            "url": account.url,
            "uri": f"https://{account.domain}/users/{account.username}",
            "avatar": f"{base}/avatars/original/missing.png",
            "avatar_static": f"{base}/avatars/original/missing.png",
            "header": f"{base}/headers/original/missing.png",
            "header_static": f"{base}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(own),
            "last_status_at": last.date().isoformat() if last else None,
            "hide_collections": False,
            "noindex": False,
            "emojis": [],
            "roles": [],
            "fields": [],
        }

    def _credential_entity(self, account: _Account, now: datetime) -> dict[str, Any]:
        entity = self._account_entity(account, now)
        entity["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": None,
            "note": "",
            "fields": [],
            "follow_requests_count": 0,
            "indexable": True,
            "discoverable": True,
            "hide_collections": False,
            "attribution_domains": [],
        }
        entity["role"] = {
            "id": "-99",
            "name": "",
            "permissions": "0",
            "color": "",
            "highlighted": False,
        }
        return entity

    def _content(self, status: _Status) -> str:
        paragraphs = [p for p in re.split(r"\n\s*\n", status.text.strip()) if p.strip()] or [""]
        rendered = []
        for paragraph in paragraphs:
            markup = html.escape(paragraph).replace("\n", "<br />")
            for account in status.mentions:
                pattern = (
                    rf"(?<![\w@/])@{re.escape(account.username)}"
                    rf"(?:@{re.escape(account.domain)})?(?![\w@])"
                )
                card = _h_card(account).replace("\\", r"\\")  # literal in a re.sub template
                markup = re.sub(pattern, card, markup, flags=re.IGNORECASE)
            rendered.append(f"<p>{markup}</p>")
        return "".join(rendered)

    def _status_entity(self, status: _Status, now: datetime, viewer: str | None) -> dict[str, Any]:
        author = status.author
        parent = status.in_reply_to
        replies = sum(
            1
            for s in self._statuses.values()
            if s.in_reply_to is status and s.created_at <= now and s.visibility != "direct"
        )
        entity: dict[str, Any] = {
            "id": status.id,
            "created_at": iso_ms(status.created_at),
            "in_reply_to_id": parent.id if parent else None,
            "in_reply_to_account_id": parent.author.id if parent else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": status.visibility,
            "language": "en",
            "uri": f"https://{author.domain}/users/{author.username}/statuses/{status.id}",
            "url": f"{author.url}/{status.id}",
            "replies_count": replies,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": self._content(status),
            "reblog": None,
            "account": self._account_entity(author, now),
            "media_attachments": [],
            "mentions": [
                {"id": a.id, "username": a.username, "url": a.url, "acct": a.acct}
                for a in status.mentions
            ],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        if viewer is not None:
            entity.update(favourited=False, reblogged=False, muted=False, bookmarked=False)
        return entity

    def _visible(self, status: _Status, viewer: str | None, now: datetime) -> bool:
        if status.created_at > now:
            return False
        if status.visibility in ("public", "unlisted"):
            return True
        return viewer is not None and (
            viewer == status.author.id or any(a.id == viewer for a in status.mentions)
        )

    # --- requests ------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, authorization: str | None) -> Reply:
        """Answer one request: (status, headers, JSON body or raw text)."""
        with self._lock:
            now = self.clock()
            self._deliver(now)
            token = (authorization or "").removeprefix("Bearer ").strip() or None
            window = int(now.timestamp()) // RATE_WINDOW_SECONDS * RATE_WINDOW_SECONDS
            self._rate[(token or "anonymous", window)] += 1
            used = self._rate[(token or "anonymous", window)]
            headers = {
                "Date": format_datetime(now.astimezone(UTC), usegmt=True),
                "X-RateLimit-Limit": str(RATE_LIMIT),
                "X-RateLimit-Remaining": str(max(0, RATE_LIMIT - used)),
                "X-RateLimit-Reset": datetime.fromtimestamp(window + RATE_WINDOW_SECONDS, UTC)
                .isoformat(timespec="microseconds")
                .replace("+00:00", "Z"),
            }
            if self._faults:
                fault = self._faults.popleft()
                if fault.status == 429:
                    headers["X-RateLimit-Remaining"] = "0"
                return fault.status, {**headers, **fault.headers}, fault.body
            if used > RATE_LIMIT:
                return 429, headers, {"error": "Too many requests"}
            viewer = self._tokens.get(token) if token else None
            if token and viewer is None:
                return self._unauthorized(headers)
            status, extra, body = self._route(method, path, query, viewer, now)
            if status == 401:
                return self._unauthorized(headers)
            if status == 200 and self._malformed:
                body = _break(self._malformed.popleft(), body)
                if isinstance(body, str):
                    extra = {**extra, "Content-Type": "text/html; charset=utf-8"}
            return status, {**headers, **extra}, body

    @staticmethod
    def _unauthorized(headers: dict[str, str]) -> Reply:
        return 401, {**headers, "WWW-Authenticate": _CHALLENGE}, {"error": _INVALID_TOKEN}

    def _route(
        self, method: str, path: str, query: str, viewer: str | None, now: datetime
    ) -> Reply:
        params = parse_qs(query, keep_blank_values=True)
        not_found: Reply = (404, {}, {"error": "Record not found"})
        if method != "GET":
            return not_found
        if path == "/api/v1/accounts/verify_credentials":
            if viewer is None:
                return 401, {}, None
            return 200, {}, self._credential_entity(self._accounts[viewer], now)
        if path == "/api/v1/notifications":
            if viewer is None:
                return 401, {}, None
            return self._notifications_page(path, params, viewer, now)
        if match := re.fullmatch(r"/api/v1/accounts/([^/]+)/statuses", path):
            account = self._accounts.get(match.group(1))
            if account is None:
                return not_found
            return self._account_statuses(path, params, account, viewer, now)
        if match := re.fullmatch(r"/api/v1/statuses/([^/]+)(/context)?", path):
            status = self._statuses.get(match.group(1))
            if status is None or not self._visible(status, viewer, now):
                return not_found
            if not match.group(2):
                return 200, {}, self._status_entity(status, now, viewer)
            return 200, {}, self._context(status, viewer, now)
        return not_found

    def _notifications_page(
        self, path: str, params: dict[str, list[str]], viewer: str, now: datetime
    ) -> Reply:
        types = set(params.get("types[]", []) + params.get("types", []))
        excluded = set(params.get("exclude_types[]", []) + params.get("exclude_types", []))
        wanted = (not types or "mention" in types) and "mention" not in excluded
        mine = [n for n in self._notifications if n.recipient == viewer and wanted]
        mine = [n for n in mine if self._visible(n.status, viewer, now)]
        page = _paginate(mine, lambda n: n.id, params, default_limit=40)
        items = [
            {
                "id": n.id,
                "type": "mention",
                "group_key": f"ungrouped-{n.id}",
                "created_at": iso_ms(n.status.created_at),
                "account": self._account_entity(n.status.author, now),
                "status": self._status_entity(n.status, now, viewer),
            }
            for n in page.items
        ]
        kept = ("limit", "account_id", "types[]", "exclude_types[]", "include_filtered")
        # Mastodon links a next page whenever this one is not empty.
        return 200, self._links(path, params, kept, page, next_page=bool(items)), items

    def _account_statuses(
        self,
        path: str,
        params: dict[str, list[str]],
        account: _Account,
        viewer: str | None,
        now: datetime,
    ) -> Reply:
        def truthy(name: str) -> bool:
            return name in params and params[name][-1].lower() not in _FALSE_VALUES

        statuses = [
            s
            for s in self._statuses.values()
            if s.author is account and self._visible(s, viewer, now)
        ]
        if truthy("exclude_replies"):  # replies to others go; a thread of one's own stays
            statuses = [
                s for s in statuses if s.in_reply_to is None or s.in_reply_to.author is account
            ]
        if truthy("only_media") or truthy("pinned"):  # this server has no media and no pins
            statuses = []
        page = _paginate(statuses, lambda s: s.id, params, default_limit=20)
        items = [self._status_entity(s, now, viewer) for s in page.items]
        kept = ("limit", "tagged", "only_media", "exclude_replies", "exclude_reblogs")
        # Mastodon links a next page only after a full one.
        return 200, self._links(path, params, kept, page, next_page=page.full), items

    def _context(self, status: _Status, viewer: str | None, now: datetime) -> dict[str, Any]:
        ancestors: list[_Status] = []
        parent = status.in_reply_to
        while parent is not None:
            ancestors.insert(0, parent)
            parent = parent.in_reply_to
        children: dict[str, list[_Status]] = {}
        for other in sorted(self._statuses.values(), key=lambda s: _key(s.id)):
            if other.in_reply_to is not None:
                children.setdefault(other.in_reply_to.id, []).append(other)
        descendants: list[_Status] = []
        stack = list(reversed(children.get(status.id, [])))
        while stack:  # depth first, as Mastodon orders descendants
            current = stack.pop()
            descendants.append(current)
            stack += reversed(children.get(current.id, []))
        return {
            "ancestors": [
                self._status_entity(s, now, viewer)
                for s in ancestors
                if self._visible(s, viewer, now)
            ],
            "descendants": [
                self._status_entity(s, now, viewer)
                for s in descendants
                if self._visible(s, viewer, now)
            ],
        }

    def _links(
        self,
        path: str,
        params: dict[str, list[str]],
        kept: tuple[str, ...],
        page: _Page,
        *,
        next_page: bool,
    ) -> dict[str, str]:
        if not page.ids:
            return {}

        def url(core: tuple[str, str]) -> str:
            pairs = [(k, v) for k in kept for v in params.get(k, [])] + [core]
            # Rails' Hash#to_query: escaped pairs, sorted.
            query = "&".join(sorted(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs))
            return f"{self.base_url}{path}?{query}"

        links = []
        if next_page:
            links.append(f'<{url(("max_id", page.ids[-1]))}>; rel="next"')
        links.append(f'<{url(("min_id", page.ids[0]))}>; rel="prev"')
        return {"Link": ", ".join(links)}

    # --- serving -------------------------------------------------------------------------------

    def respond(self, request: FakeRequest) -> Reply:
        return self.handle(
            request.method, request.path, request.query, request.headers.get("Authorization")
        )


def _h_card(account: _Account) -> str:
    """A mention as Mastodon renders it in status HTML."""
    url, name = html.escape(account.url), html.escape(account.username)
    return (
        f'<span class="h-card" translate="no"><a href="{url}" class="u-url mention">'
        f"@<span>{name}</span></a></span>"
    )


def _limit(params: dict[str, list[str]], default: int) -> int:
    # Api::BaseController#limit_param: `to_i.abs`, at most twice the default.
    raw = params.get("limit", [""])[-1]
    digits = re.match(r"\s*[-+]?(\d+)", raw)
    return min(int(digits.group(1)), default * 2) if digits else default


def _paginate(
    items: list[Any], id_of: Callable[[Any], str], params: dict[str, list[str]], default_limit: int
) -> _Page:
    """Mastodon's `to_a_paginated_by_id`: newest first; `min_id` takes the ones just above it."""
    limit = _limit(params, default_limit)
    max_id, since_id, min_id = (params.get(k, [""])[-1] for k in ("max_id", "since_id", "min_id"))
    chosen = sorted(items, key=lambda i: _key(id_of(i)), reverse=True)
    if max_id:
        chosen = [i for i in chosen if _key(id_of(i)) < _key(max_id)]
    if min_id:
        chosen = [i for i in chosen if _key(id_of(i)) > _key(min_id)][-limit:] if limit else []
    else:
        if since_id:
            chosen = [i for i in chosen if _key(id_of(i)) > _key(since_id)]
        chosen = chosen[:limit]
    return _Page(chosen, [id_of(i) for i in chosen], full=len(chosen) == limit)


def _break(kind: str, body: Any) -> Any:
    """A body that is not the documented shape."""
    if kind == "html":
        return "<!DOCTYPE html><html><body><h1>We're sorry, but something went wrong.</h1></html>"
    if kind == "item":
        if not isinstance(body, list) or not body:
            return body
        first = dict(body[0])
        if isinstance(first.get("status"), dict):
            first["status"] = {**first["status"], "created_at": "yesterday-ish"}
        else:
            first["created_at"] = "yesterday-ish"
        return [first, *body[1:]]
    if kind == "fields":
        strip = ("id", "created_at", "account", "ancestors")
        if isinstance(body, list):
            return [{k: v for k, v in item.items() if k not in strip} for item in body] or [{}]
        return {k: v for k, v in body.items() if k not in strip}
    return {"statuses": body} if isinstance(body, list) else [body]


__all__ = ["FakeMastodon", "iso_ms"]
