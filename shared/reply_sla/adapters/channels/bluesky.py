"""Bluesky adapter: a brand account's mentions, replies and quotes, and its own posts, over XRPC.

Feeds page newest first by an opaque `cursor`, so the stored position is a time (`indexedAt`,
the sort key of both feeds) plus the posts already delivered near it. Each poll reads down to
that time minus an overlap, because a post can be indexed after the poll and still sort a few
seconds earlier (the AppView sorts by the earlier of `createdAt` and `indexedAt`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import requests

from reply_sla.adapters.channels.http import (
    ChannelHttp,
    build_message,
    parse_channel_time,
    platform_id,
    retry_after_header,
    server_now,
)
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction, Message
from reply_sla.errors import (
    ChannelAuthError,
    ChannelDataError,
    ChannelError,
    ChannelRateLimited,
    ConfigError,
)
from reply_sla.ports import FetchResult

CHANNEL = "bluesky"
# The config contract: the platform's default server when an account names none.
DEFAULT_SERVER = "https://bsky.social"
CREATE_SESSION = "/xrpc/com.atproto.server.createSession"
REFRESH_SESSION = "/xrpc/com.atproto.server.refreshSession"
REASONS = ("mention", "reply", "quote")
NOTIFICATIONS = "/xrpc/app.bsky.notification.listNotifications"
# `reasons` is an array parameter: repeated in the query, which a params mapping cannot say.
NOTIFICATIONS_QUERY = NOTIFICATIONS + "?" + "&".join(f"reasons={r}" for r in REASONS)
AUTHOR_FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
GET_POSTS = "/xrpc/app.bsky.feed.getPosts"
POST_COLLECTION = "app.bsky.feed.post"
# An atproto handle: a domain name (https://atproto.com/specs/handle).
_HANDLE = re.compile(
    r"([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
)
MAX_LIMIT = 100
# XRPC error names of a session token that no longer works (HTTP 400, some servers 401).
SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
# Refusals a new session cannot cure: a person must act.
ACCOUNT_ERRORS = frozenset({"AccountTakedown", "AccountDeactivated", "AuthFactorTokenRequired"})


class SessionExpired(ChannelAuthError):
    """The session's token was refused as expired or invalid: refresh it, or log in again."""


def parse_time(value: Any, where: str) -> datetime:
    """An atproto datetime as an aware UTC datetime, or a `ChannelDataError` saying where."""
    return parse_channel_time(CHANNEL, value, where, "datetime")


def iso(moment: datetime) -> str:
    """A UTC datetime as atproto writes it (`Z`), microseconds kept."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def xrpc_error(response: requests.Response) -> tuple[str, str]:
    """The XRPC error body's (`error`, `message`), empty strings when it has none."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("message") or "")


def rate_limit_reset(response: requests.Response) -> float | None:
    """Seconds until `RateLimit-Reset` (epoch seconds) by the server's clock, else Retry-After."""
    value = response.headers.get("RateLimit-Reset", "").strip()
    if value.isdigit():
        reset = datetime.fromtimestamp(int(value), UTC)
        return max(0.0, (reset - server_now(response)).total_seconds())
    return retry_after_header(response)


def post_url(uri: str, handle: str | None) -> str:
    """The public bsky.app link of a post (by DID when the handle is not a valid one)."""
    authority, _, rkey = uri.removeprefix("at://").partition(f"/{POST_COLLECTION}/")
    valid = handle and handle != "handle.invalid" and _HANDLE.fullmatch(handle)
    who = handle if valid else authority
    return f"https://bsky.app/profile/{who}/post/{rkey}"


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ChannelDataError(CHANNEL, f"{where}: expected an object, got {type(value).__name__}")
    return value


def _string(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ChannelDataError(CHANNEL, f"{where}: missing {key}")
    return value


def _post_uri(item: dict[str, Any], where: str) -> str:
    uri = _string(item, "uri", where)
    if not uri.startswith("at://") or f"/{POST_COLLECTION}/" not in uri:
        raise ChannelDataError(CHANNEL, f"{where}: {uri[:80]!r} is not a post uri")
    return platform_id(CHANNEL, uri, where, "uri")


def post_to_message(
    uri: str,
    author: Any,
    record: Any,
    *,
    account: AccountConfig,
    own_ids: frozenset[str],
    where: str = "post",
) -> Message:
    """A post (its uri, author profile and app.bsky.feed.post record) as a Message."""
    where = f"{where} {uri}"
    author = _object(author, f"{where}: author")
    did, handle = _string(author, "did", f"{where}: author"), _string(author, "handle", where)
    record = _object(record, f"{where}: record")
    text = record.get("text")
    if not isinstance(text, str):
        raise ChannelDataError(CHANNEL, f"{where}: record has no text")
    reply = record.get("reply")
    root = parent = None
    if reply is not None:
        reply = _object(reply, f"{where}: record.reply")
        root = _string(_object(reply.get("root"), f"{where}: reply.root"), "uri", where)
        parent = _string(_object(reply.get("parent"), f"{where}: reply.parent"), "uri", where)
    if did in account.automated_ids:
        direction = Direction.AUTOMATED
    elif did in own_ids:
        direction = Direction.OUTBOUND
    else:
        direction = Direction.INBOUND
    name = author.get("displayName")
    return build_message(
        CHANNEL,
        where,
        brand=account.brand,
        account_id=account.id,
        message_id=uri,
        thread_id=root or uri,
        parent_id=parent,
        author_id=did,
        author_handle="@" + handle,
        author_name=name if isinstance(name, str) and name.strip() else handle,
        created_at=parse_time(record.get("createdAt"), f"{where}: createdAt"),
        text=text.strip(),
        url=post_url(uri, handle),
        direction=direction,
    )


@dataclass(frozen=True)
class FeedCursor:
    """Where one feed was read up to, stored between polls as compact JSON.

    `since`: every item that sorts at or before it was delivered; `seen`: the uris delivered
    within the overlap before it (and before `top`), so a re-read delivers none twice.
    `resume` and `top`: a walk that ran out of pages stopped at API cursor `resume`, having
    delivered everything newer, up to `top`; the next poll carries on from there first.
    """

    since: datetime | None = None
    seen: frozenset[str] = frozenset()
    resume: str | None = None
    top: datetime | None = None

    @classmethod
    def loads(cls, value: str | None) -> FeedCursor:
        """Parse a stored cursor; a bare timestamp is accepted. ValueError if unreadable."""
        if not value:
            return cls()
        try:
            text = value.strip()
            data = json.loads(text) if text.startswith(("{", "[")) else {"since": text}
            if not isinstance(data, dict):
                raise TypeError(f"expected an object, got {type(data).__name__}")
            return cls(
                since=parse_time(data["since"], "cursor") if data.get("since") else None,
                seen=frozenset(str(uri) for uri in data.get("seen", [])),
                resume=str(data["resume"]) if data.get("resume") else None,
                top=parse_time(data["top"], "cursor") if data.get("top") else None,
            )
        except (KeyError, TypeError, ChannelDataError) as exc:
            raise ValueError(f"unreadable cursor: {exc}") from None

    def dumps(self) -> str | None:
        if self.since is None:
            return None
        data: dict[str, Any] = {"since": iso(self.since), "seen": sorted(self.seen)}
        if self.resume:
            data.update(resume=self.resume, top=iso(self.top or self.since))
        return json.dumps(data, separators=(",", ":"))


@dataclass(frozen=True)
class _Session:
    access: str
    refresh: str
    did: str
    handle: str


@dataclass(frozen=True)
class _FeedSpec:
    """One feed: where it is, which list holds the items and how an item is placed in time."""

    name: str
    path: str
    params: dict[str, str]
    items: str
    place: Callable[[Any, str], tuple[str, datetime] | None]


@dataclass
class _Walk:
    """What one run down a feed's pages read."""

    read: dict[str, datetime] = field(default_factory=dict)  # uri -> sort time, if not too old
    new: dict[str, Any] = field(default_factory=dict)  # uri -> item, for the ones not delivered
    pages: int = 0
    resume: str | None = None  # set when the page budget ran out before the floor
    errors: list[str] = field(default_factory=list)


@dataclass
class _Read:
    """What one feed yielded in a poll."""

    cursor: str | None
    items: list[Any] = field(default_factory=list)
    pages: int = 0
    complete: bool = True
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _latest(*moments: datetime | None) -> datetime | None:
    return max((m for m in moments if m is not None), default=None)


def _place_notification(item: Any, where: str) -> tuple[str, datetime]:
    item = _object(item, where)
    uri = _post_uri(item, where)
    return uri, parse_time(item.get("indexedAt"), f"{where} {uri}: indexedAt")


def _place_feed_item(item: Any, where: str) -> tuple[str, datetime] | None:
    item = _object(item, where)
    if item.get("reason") is not None:
        return None  # a repost (someone else's post) or a pin (an old one): not a new post
    post = _object(item.get("post"), f"{where}: post")
    uri = _post_uri(post, f"{where}: post")
    indexed = parse_time(post.get("indexedAt"), f"{where} {uri}: indexedAt")
    record = post.get("record")
    try:
        created = parse_time(record.get("createdAt") if isinstance(record, dict) else None, "")
    except ChannelDataError:
        return uri, indexed  # placed all the same: the bad record is reported when converted
    # The AppView sorts an author feed by the earlier of the two (a post cannot jump ahead).
    return uri, min(created, indexed)


class _Xrpc(ChannelHttp):
    """`ChannelHttp` for XRPC: a session token that changes, session POSTs, XRPC error names."""

    def keep_secret(self, token: str) -> None:
        """Redact `token` from every message this client writes."""
        if token and token not in self._secrets:
            self._secrets.append(token)

    def authorize(self, token: str) -> None:
        """Send `token` as the Bearer from now on."""
        self.keep_secret(token)
        self._headers["Authorization"] = f"Bearer {token}"

    def _detail(self, response: requests.Response) -> str:
        # XRPC's `message` says more than its `error` name: both, as "(name: message)".
        # Redacted before it is cut: a token cut in two would not be recognised.
        detail = self._redact(": ".join(part for part in xrpc_error(response) if part))
        return f" ({detail[:240]})" if detail else ""

    def _check(self, response: requests.Response, path: str) -> None:
        name, _ = xrpc_error(response)
        if response.status_code in (400, 401) and name in SESSION_ERRORS:
            raise SessionExpired(self.channel, f"GET {path}: the session was refused ({name})")
        if name in ACCOUNT_ERRORS:
            raise ChannelAuthError(self.channel, f"GET {path}: the account was refused ({name})")
        super()._check(response, path)

    def post_json(self, path: str, body: Mapping[str, str] | None, token: str | None) -> Any:
        """POST once, never retried: session calls count against a tight per-account limit."""
        headers = {k: v for k, v in self._headers.items() if k != "Authorization"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
            self.keep_secret(token)
        try:
            response = self.session.request(
                "POST", self.url(path), json=body, headers=headers, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ChannelError(self.channel, f"POST {path} failed: {type(exc).__name__}") from exc
        self.last_response = response
        status = response.status_code
        if not 200 <= status < 300:
            name, _ = xrpc_error(response)
            where = f"POST {path} returned HTTP {status}{self._detail(response)}"
            if status in (400, 401) and name in SESSION_ERRORS:
                raise SessionExpired(self.channel, where)
            if status == 429:
                raise ChannelRateLimited(
                    self.channel, f"rate limited: {where}", self._retry_after(response)
                )
            if status in (401, 403) or name in ACCOUNT_ERRORS:
                raise ChannelAuthError(self.channel, f"credentials refused: {where}")
            raise ChannelError(self.channel, where)
        try:
            return response.json()
        except ValueError:
            raise ChannelDataError(self.channel, f"POST {path}: the response is not JSON") from None


class BlueskyClient:
    """One brand account on Bluesky or any AT Protocol PDS (the `ChannelClient` port)."""

    channel: str = CHANNEL
    # createSession allows 30 logins per 5 minutes and 300 a day per account: sessions are
    # shared by every client of the process (a warm Lambda reuses them) and refreshed.
    _sessions: ClassVar[dict[tuple[str, str, str], _Session]] = {}
    _sessions_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        account: AccountConfig,
        credentials: Mapping[str, str],
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        page_limit: int = MAX_LIMIT,
        max_pages: int = 50,
        backfill_seconds: int = 7 * 86400,
        overlap_seconds: int = 300,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        identifier, password = credentials.get("identifier"), credentials.get("app_password")
        if not identifier or not password:
            raise ConfigError(
                f"account {account.id!r}: bluesky credentials need 'identifier' and 'app_password'"
            )
        self.account = account
        self.page_limit = min(max(1, page_limit), MAX_LIMIT)
        self.max_pages = max(1, max_pages)
        self.backfill_seconds = backfill_seconds
        self.overlap = timedelta(seconds=max(0, overlap_seconds))
        self._identifier, self._password = identifier, password
        self._http = _Xrpc(
            CHANNEL,
            account.api_base_url or DEFAULT_SERVER,
            secrets=[password],
            session=session,
            timeout=timeout,
            sleep=sleep,
            retry_after=rate_limit_reset,
        )
        self._key = (account.id, identifier, self._http.base_url)

    @classmethod
    def forget_sessions(cls) -> None:
        """Drop every cached session (tests; a process that must log in afresh)."""
        with cls._sessions_lock:
            cls._sessions.clear()

    # --- session ---------------------------------------------------------------------------

    def _session(self) -> _Session:
        with self._sessions_lock:
            session = self._sessions.get(self._key)
            if session is None:
                session = self._sessions[self._key] = self._start(None)
        self._http.authorize(session.access)
        return session

    def _renew(self, stale: _Session) -> None:
        """Refresh a refused session (once for the process); log in again if that fails too."""
        with self._sessions_lock:
            current = self._sessions.get(self._key)
            if current is None or current.access == stale.access:
                try:
                    current = self._start(stale.refresh)
                except ChannelAuthError:
                    # The refresh token is dead too. (A throttled or failing refresh keeps the
                    # session cached: the next poll tries the refresh token again.)
                    self._sessions.pop(self._key, None)
                    current = self._start(None)
                self._sessions[self._key] = current
        self._http.authorize(current.access)

    def _start(self, refresh: str | None) -> _Session:
        """`refreshSession` with a refresh token, or `createSession` with the app password."""
        if refresh:
            body = self._http.post_json(REFRESH_SESSION, None, refresh)
        else:
            login = {"identifier": self._identifier, "password": self._password}
            body = self._http.post_json(CREATE_SESSION, login, None)
        where = "POST " + (REFRESH_SESSION if refresh else CREATE_SESSION)
        body = _object(body, where)
        session = _Session(*(_string(body, key, where) for key in _SESSION_KEYS))
        self._http.keep_secret(session.access)
        self._http.keep_secret(session.refresh)
        return session

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET with the session's token; an expired session is renewed and the GET repeated."""
        session = self._session()
        try:
            body, _ = self._http.get_json(path, params)
        except SessionExpired:
            self._renew(session)
            body, _ = self._http.get_json(path, params)
        return body

    # --- the port --------------------------------------------------------------------------

    def own_ids(self) -> frozenset[str]:
        """The configured own ids, else the DID of the session's account."""
        return frozenset(self.account.own_ids) or frozenset({self._session().did})

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        """New mentions, replies and quotes (notifications) and own posts, oldest first."""
        me = self._session().did
        own_ids = self.own_ids()
        horizon = now - timedelta(seconds=self.backfill_seconds)
        feeds = (
            _FeedSpec("mentions", NOTIFICATIONS_QUERY, {}, "notifications", _place_notification),
            _FeedSpec(
                "own",
                AUTHOR_FEED,
                {"actor": me, "filter": "posts_with_replies"},
                "feed",
                _place_feed_item,
            ),
        )
        reads = {feed.name: self._read(feed, cursors.get(feed.name), horizon) for feed in feeds}
        messages: dict[str, Message] = {}
        errors = [e for read in reads.values() for e in read.errors]
        found = [(n, "GET " + NOTIFICATIONS) for n in reads["mentions"].items]
        found += [(i["post"], "GET " + AUTHOR_FEED) for i in reads["own"].items]
        for item, where in found:
            # Servers that ignore `reasons` send likes and follows too: not messages.
            if "reason" in item and item["reason"] not in REASONS:
                continue
            try:
                message = post_to_message(
                    item["uri"],
                    item.get("author"),
                    item.get("record"),
                    account=self.account,
                    own_ids=own_ids,
                    where=where,
                )
            except ChannelDataError as exc:
                # One bad item must not hold back the rest of the page: skip it, say which.
                errors.append(str(exc))
                continue
            messages.setdefault(message.message_id, message)
        return FetchResult(
            messages=sorted(messages.values(), key=lambda m: (m.created_at, m.message_id)),
            cursors={name: read.cursor for name, read in reads.items()},
            pages=sum(read.pages for read in reads.values()),
            complete=all(read.complete for read in reads.values()),
            notes=[n for read in reads.values() for n in read.notes],
            errors=errors,
            **self._rate_limit(),
        )

    def thread_root(self, message_id: str) -> str:
        """The root of the post's reply tree, from the post's own record (one call).

        A post that is gone (deleted or taken down) is taken as the root of its own thread.
        """
        body = self._get(GET_POSTS, {"uris": message_id})
        if not isinstance(body, dict) or not isinstance(body.get("posts"), list):
            raise self._http.data_error(GET_POSTS, "expected an object with a `posts` list")
        for post in body["posts"]:
            if isinstance(post, dict) and post.get("uri") == message_id:
                root: Any = post
                for key in ("record", "reply", "root"):
                    root = root.get(key) if isinstance(root, dict) else None
                if root is None:
                    return message_id  # not a reply: the post is the root
                where = f"GET {GET_POSTS}: {message_id}: reply.root"
                return _string(_object(root, where), "uri", where)
        return message_id

    # --- paging ----------------------------------------------------------------------------

    def _read(self, feed: _FeedSpec, stored: str | None, horizon: datetime) -> _Read:
        """A feed from the top down to its cursor less the overlap, after finishing a walk an
        earlier poll had to leave unfinished. Without a cursor: down to the backfill horizon."""
        out = _Read(cursor=stored)
        try:
            start = state = FeedCursor.loads(stored)
        except ValueError:
            start, state = None, FeedCursor()
            out.notes.append(f"{feed.name}: unreadable cursor; read again from the backfill window")
        known = set(state.seen)
        while True:
            floor = state.since - self.overlap if state.since else horizon
            walk = self._walk(feed, state.resume, floor, known, self.max_pages - out.pages)
            out.pages += walk.pages
            out.errors += walk.errors
            out.items += walk.new.values()
            known |= walk.new.keys()
            top = _latest(state.top, max(walk.read.values(), default=None))
            if walk.resume is None and state.resume is None:
                # A walk from the top reached the floor or the end of the feed: all is read.
                since = _latest(state.since, top)
                state = FeedCursor(since, self._near(walk.read, since))
                break
            rest = "the rest follows on the next poll"
            if walk.resume is None:
                # The walk an earlier poll left unfinished is done: all up to its top is read.
                since = _latest(state.since, top)
                state = FeedCursor(since, state.seen | self._near(walk.read, since))
                if out.pages < self.max_pages:
                    continue  # now the top, down to there
            elif state.since is None:
                # A first poll that ran out of pages keeps the newest part of its window.
                state = FeedCursor(top or horizon, self._near(walk.read, top))
                rest = "older ones skipped"
            else:
                # Out of pages above the floor: what was read is delivered, the rest comes next.
                top = _latest(top, state.since)
                seen = state.seen | self._near(walk.read, top, state.since)
                state = FeedCursor(state.since, seen, walk.resume, top)
            out.complete = False
            out.notes.append(f"{feed.name}: stopped after {out.pages} pages; {rest}")
            break
        # A feed with nothing new keeps its cursor as it was.
        moved = start is None or (state.since, state.resume, state.top) != (
            start.since,
            start.resume,
            start.top,
        )
        if out.items or moved:
            out.cursor = state.dumps()
        return out

    def _near(self, read: Mapping[str, datetime], *marks: datetime | None) -> frozenset[str]:
        """The uris that sort within the overlap before any of the marks."""
        return frozenset(
            uri
            for uri, moment in read.items()
            if any(m is not None and m - self.overlap <= moment <= m for m in marks)
        )

    def _walk(
        self, feed: _FeedSpec, start: str | None, floor: datetime, known: set[str], budget: int
    ) -> _Walk:
        """Pages from API cursor `start` (the top if None) until an item sorts before `floor`,
        the feed ends, or `budget` pages are read."""
        walk = _Walk()
        api_cursor = start
        while True:
            params = {**feed.params, "limit": str(self.page_limit)}
            if api_cursor:
                params["cursor"] = api_cursor
            body = self._get(feed.path, params)
            walk.pages += 1
            items, api_cursor = self._page(feed, body)
            older = False
            for index, item in enumerate(items):
                where = f"GET {feed.path.partition('?')[0]}: page {walk.pages} item {index}"
                try:
                    placed = feed.place(item, where)
                except ChannelDataError as exc:
                    walk.errors.append(str(exc))
                    continue
                if placed is None:
                    continue
                uri, moment = placed
                if moment < floor:
                    older = True  # pages are newest first: the rest is older still
                    continue
                walk.read[uri] = moment
                if uri not in known:
                    walk.new.setdefault(uri, item)
            # Not a short page: the AppView drops hidden items after paging, so a short page
            # may have more behind it. The end is an empty page or one without a cursor.
            if older or not items or not api_cursor:
                return walk
            if walk.pages >= budget:
                walk.resume = api_cursor
                return walk

    def _page(self, feed: _FeedSpec, body: Any) -> tuple[list[Any], str | None]:
        path = feed.path.partition("?")[0]
        if not isinstance(body, dict) or not isinstance(body.get(feed.items), list):
            raise self._http.data_error(path, f"expected an object with a `{feed.items}` list")
        api_cursor = body.get("cursor")
        if api_cursor is not None and not isinstance(api_cursor, str):
            raise self._http.data_error(path, "`cursor` is not a string")
        return body[feed.items], api_cursor or None

    def _rate_limit(self) -> dict[str, Any]:
        """`RateLimit-Remaining` and `RateLimit-Reset` (epoch seconds) of the last answer."""
        response = self._http.last_response
        if response is None:
            return {}
        remaining = response.headers.get("RateLimit-Remaining", "").strip()
        reset = response.headers.get("RateLimit-Reset", "").strip()
        return {
            "rate_limit_remaining": int(remaining) if remaining.isdigit() else None,
            "rate_limit_reset_at": datetime.fromtimestamp(int(reset), UTC)
            if reset.isdigit()
            else None,
        }


_SESSION_KEYS = ("accessJwt", "refreshJwt", "did", "handle")

__all__ = [
    "CHANNEL",
    "DEFAULT_SERVER",
    "BlueskyClient",
    "FeedCursor",
    "SessionExpired",
    "post_to_message",
    "post_url",
    "rate_limit_reset",
]
