"""An in-memory Bluesky (PDS and AppView in one) on 127.0.0.1 that answers as XRPC documents.

Stdlib only. Bodies follow shared/specs/bluesky-openapi.json (the lexicons): sessions with
`accessJwt` / `refreshJwt` that expire and rotate, notifications and author feeds newest first
with keyset `cursor`s (`<epoch ms>::<cid>`), `RateLimit-*` headers on every response, and
`{"error": ..., "message": ...}` error bodies. Posts are visible once `clock()` reaches their
`indexedAt`, so a demo can play a simulated week against it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from reply_sla.local.fake_http import FakeHttpServer, FakeRequest, Reply

CREATE_SESSION = "com.atproto.server.createSession"
REFRESH_SESSION = "com.atproto.server.refreshSession"
PROCEDURES = frozenset({CREATE_SESSION, REFRESH_SESSION})
QUERIES = frozenset(
    {
        "app.bsky.notification.listNotifications",
        "app.bsky.feed.getAuthorFeed",
        "app.bsky.feed.getPosts",
    }
)
# bsky.social's published limits: 3000 requests per 5 minutes per IP; createSession 30 per
# 5 minutes and 300 per day per account.
RATE_LIMIT, RATE_WINDOW = 3000, 300
LOGIN_LIMIT, LOGIN_DAILY = 30, 300
SERVICE_DID = "did:web:pds.fake.example"
# XRPC's error names per HTTP status (@atproto/xrpc ResponseType).
XRPC_ERRORS = {
    400: ("InvalidRequest", "Invalid Request"),
    401: ("AuthenticationRequired", "Authentication Required"),
    403: ("Forbidden", "Forbidden"),
    404: ("XRPCNotSupported", "XRPC Not Supported"),
    429: ("RateLimitExceeded", "Rate Limit Exceeded"),
    500: ("InternalServerError", "Internal Server Error"),
    501: ("MethodNotImplemented", "Method Not Implemented"),
    502: ("UpstreamFailure", "Upstream Failure"),
    503: ("NotEnoughResources", "Not Enough Resources"),
    504: ("UpstreamTimeout", "Upstream Timeout"),
}
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_S32 = "234567abcdefghijklmnopqrstuvwxyz"  # TIDs: base32-sortable
_MENTION = re.compile(r"(?:^|(?<=[\s(]))@([a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)")


def iso_ms(moment: datetime) -> str:
    """atproto's usual datetime: UTC, milliseconds, `Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().lower().rstrip("=")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _tid(moment: datetime, clock_id: int) -> str:
    """A record key as atproto makes it: microseconds and a clock id, base32-sortable."""
    value = (int(moment.timestamp() * 1_000_000) << 10) | (clock_id & 0x3FF)
    return "".join(_S32[(value >> (5 * i)) & 31] for i in range(12, -1, -1))


def _cid(content: Any) -> str:
    """A CIDv1 (dag-cbor, sha-256) look-alike, derived from the content."""
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).digest()
    return "bafyrei" + _b32(digest)[:52]


@dataclass
class _Account:
    did: str
    handle: str
    display_name: str
    created_at: datetime
    passwords: set[str] = field(default_factory=set)


@dataclass
class _Post:
    uri: str
    cid: str
    author: _Account
    record: dict[str, Any]
    created_at: datetime
    indexed_at: datetime
    root: _Post | None
    parent: _Post | None
    quote: _Post | None
    hidden: bool = False

    @property
    def sort_at(self) -> datetime:
        # The AppView sorts by the earlier of the two: a post cannot jump ahead in a feed.
        return min(self.created_at, self.indexed_at)


@dataclass
class _Notification:
    recipient: str
    post: _Post
    reason: str
    subject: str | None


@dataclass
class _Session:
    did: str
    access: str
    refresh: str
    access_expires: datetime
    refresh_expires: datetime
    uses: int = 0
    revoked: bool = False


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    body: Any
    method: str | None


class FakeBluesky(FakeHttpServer):
    """A Bluesky server in memory, served over HTTP on 127.0.0.1 from a daemon thread."""

    name = "fake-bluesky"

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        *,
        access_ttl: timedelta = timedelta(hours=2),
        refresh_ttl: timedelta = timedelta(days=90),
        access_uses: int | None = None,
    ) -> None:
        super().__init__()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        # Session lifetimes: by time, and (for tests) after a number of authenticated requests.
        self.access_ttl, self.refresh_ttl, self.access_uses = access_ttl, refresh_ttl, access_uses
        self._lock = threading.RLock()
        self._accounts: dict[str, _Account] = {}
        self._posts: dict[str, _Post] = {}
        self._notifications: list[_Notification] = []
        self._sessions: dict[str, _Session] = {}  # by access and by refresh token
        self._faults: deque[_Fault] = deque()
        self._malformed: deque[tuple[str, str | None]] = deque()
        self._rate: Counter[tuple[str, int]] = Counter()
        self._clock_ids = Counter[str]()

    # --- the world -----------------------------------------------------------------------------

    def add_account(self, handle: str, display_name: str | None = None) -> dict[str, Any]:
        """Create an account (a did:plc derived from the handle); its profile view."""
        handle = handle.lower().lstrip("@")
        with self._lock:
            did = "did:plc:" + _b32(hashlib.sha256(handle.encode()).digest())[:24]
            if did in self._accounts:
                raise ValueError(f"handle {handle!r} is taken")
            day = self.clock().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            account = _Account(did, handle, display_name if display_name is not None else "", day)
            self._accounts[did] = account
            return self._profile(account, full=True)

    def add_app_password(self, actor: str, password: str | None = None) -> str:
        """An app password (`xxxx-xxxx-xxxx-xxxx`) for the account with that DID or handle."""
        with self._lock:
            account = self._actor(actor)
            if account is None:
                raise KeyError(f"no account {actor}")
            if password is None:
                raw = "".join(secrets.choice(_B32) for _ in range(16))
                password = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
            account.passwords.add(password)
            return password

    def post(
        self,
        author_did: str,
        text: str,
        created_at: datetime,
        *,
        reply_to_uri: str | None = None,
        quote_uri: str | None = None,
        indexed_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Publish a post as a client would: mention facets, reply refs, a quote embed; the
        accounts it mentions, replies to or quotes are notified. Its post view is returned.

        `indexed_at` (default `created_at`) is when the AppView sees it; a later one makes a
        post that appears after a poll and still sorts before what that poll saw.
        """
        if created_at.tzinfo is None:
            raise ValueError("created_at must carry a time zone")
        with self._lock:
            author = self._accounts[author_did]
            parent = self._posts[reply_to_uri] if reply_to_uri else None
            quoted = self._posts[quote_uri] if quote_uri else None
            root = (parent.root or parent) if parent else None
            record: dict[str, Any] = {
                "$type": "app.bsky.feed.post",
                "text": text,
                "createdAt": iso_ms(created_at),
                "langs": ["en"],
            }
            facets, mentioned = self._facets(text)
            if facets:
                record["facets"] = facets
            if parent is not None and root is not None:
                record["reply"] = {
                    "root": {"uri": root.uri, "cid": root.cid},
                    "parent": {"uri": parent.uri, "cid": parent.cid},
                }
            if quoted is not None:
                record["embed"] = {
                    "$type": "app.bsky.embed.record",
                    "record": {"uri": quoted.uri, "cid": quoted.cid},
                }
            self._clock_ids[author.did] += 1
            rkey = _tid(created_at, self._clock_ids[author.did])
            post = _Post(
                uri=f"at://{author.did}/app.bsky.feed.post/{rkey}",
                cid=_cid({"record": record, "repo": author.did}),
                author=author,
                record=record,
                created_at=created_at.astimezone(UTC),
                indexed_at=(indexed_at or created_at).astimezone(UTC),
                root=root,
                parent=parent,
                quote=quoted,
            )
            self._posts[post.uri] = post
            # One notification per account and post; mentions first, as the AppView does.
            notified = {author.did}
            targets: list[tuple[_Account, str, str | None]] = [
                (a, "mention", None) for a in mentioned
            ]
            if quoted is not None:
                targets.append((quoted.author, "quote", quoted.uri))
            if parent is not None and root is not None:
                targets += [
                    (parent.author, "reply", parent.uri),
                    (root.author, "reply", parent.uri),
                ]
            for account, reason, subject in targets:
                if account.did not in notified:
                    notified.add(account.did)
                    self._notifications.append(_Notification(account.did, post, reason, subject))
            return self._post_view(post, None)

    def take_down(self, uri: str) -> None:
        """Hide a post (moderation): it drops out of pages after paging, leaving them short."""
        with self._lock:
            self._posts[uri].hidden = True

    def next_post_after(self, moment: datetime) -> datetime | None:
        """When the next scripted post appears (lets a simulation skip idle minutes)."""
        with self._lock:
            later = [p.indexed_at for p in self._posts.values() if p.indexed_at > moment]
        return min(later, default=None)

    def _facets(self, text: str) -> tuple[list[dict[str, Any]], list[_Account]]:
        facets, mentioned = [], []
        for match in _MENTION.finditer(text):
            account = self._actor(match.group(1))
            if account is None:
                continue
            start = len(text[: match.start()].encode())
            end = start + len(match.group(0).encode())
            facets.append(
                {
                    "index": {"byteStart": start, "byteEnd": end},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": account.did}],
                }
            )
            mentioned.append(account)
        return facets, mentioned

    def _actor(self, actor: str) -> _Account | None:
        if actor in self._accounts:
            return self._accounts[actor]
        handle = actor.lower().lstrip("@")
        return next((a for a in self._accounts.values() if a.handle == handle), None)

    # --- sessions and faults -------------------------------------------------------------------

    @property
    def create_session_calls(self) -> int:
        """How many times createSession was called (the session-caching tests count them)."""
        return self.requests["/xrpc/" + CREATE_SESSION]

    def expire_access_tokens(self) -> None:
        """Every access token expires now (refresh tokens keep working)."""
        with self._lock:
            for session in self._sessions.values():
                session.access_expires = min(session.access_expires, self.clock())

    def revoke_sessions(self, did: str | None = None) -> None:
        """Revoke every session (of one account): access and refresh tokens stop working."""
        with self._lock:
            for session in self._sessions.values():
                if did is None or session.did == did:
                    session.revoked = True

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        *,
        method: str | None = None,
    ) -> None:
        """The next `times` requests (to XRPC `method`, if given) answer `status`; the default
        body is XRPC's error for it, e.g. 429 `{"error": "RateLimitExceeded", ...}`."""
        name, message = XRPC_ERRORS.get(status, ("InternalServerError", "Internal Server Error"))
        reply = {"error": name, "message": message} if body is None else body
        with self._lock:
            self._faults.extend(
                _Fault(status, dict(headers or {}), reply, method) for _ in range(times)
            )

    def malformed_next(
        self, times: int = 1, kind: str = "shape", *, method: str | None = None
    ) -> None:
        """The next `times` successful responses (of `method`, if given) break the documented shape.

        kinds: `shape` (the item list is an object, or the object a list), `html` (a 200 HTML
        page, as a misbehaving proxy sends), `item` (only the first item of a page has a broken
        `record.createdAt`).
        """
        if kind not in ("shape", "html", "item"):
            raise ValueError(f"unknown kind {kind!r}")
        with self._lock:
            self._malformed.extend((kind, method) for _ in range(times))

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in (None, method):
                self._faults.remove(fault)
                return fault
        return None

    def _take_malformed(self, method: str) -> str | None:
        for entry in self._malformed:
            if entry[1] in (None, method):
                self._malformed.remove(entry)
                return entry[0]
        return None

    def _new_session(self, account: _Account, now: datetime) -> dict[str, Any]:
        def jwt(kind: str, scope: str, expires: datetime) -> str:
            header = {"typ": kind, "alg": "ES256K"}
            claims = {
                "scope": scope,
                "sub": account.did,
                "aud": SERVICE_DID,
                "iat": int(now.timestamp()),
                "exp": int(expires.timestamp()),
                "jti": secrets.token_hex(8),
            }
            parts = (
                json.dumps(header).encode(),
                json.dumps(claims).encode(),
                secrets.token_bytes(64),
            )
            return ".".join(_b64url(part) for part in parts)

        session = _Session(
            did=account.did,
            access=jwt("at+jwt", "com.atproto.appPass", now + self.access_ttl),
            refresh=jwt("refresh+jwt", "com.atproto.refresh", now + self.refresh_ttl),
            access_expires=now + self.access_ttl,
            refresh_expires=now + self.refresh_ttl,
        )
        self._sessions[session.access] = self._sessions[session.refresh] = session
        return {
            "accessJwt": session.access,
            "refreshJwt": session.refresh,
            "handle": account.handle,
            "did": account.did,
            "didDoc": {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": account.did,
                "alsoKnownAs": [f"at://{account.handle}"],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.base_url or "https://pds.fake.example",
                    }
                ],
            },
            "active": True,
        }

    # --- views ---------------------------------------------------------------------------------

    def _profile(self, account: _Account, *, full: bool = False) -> dict[str, Any]:
        """profileViewBasic, or profileView (`full`) as notifications carry it."""
        view: dict[str, Any] = {
            "did": account.did,
            "handle": account.handle,
            "displayName": account.display_name,
            "associated": {"chat": {"allowIncoming": "following"}},
            "viewer": {"muted": False, "blockedBy": False},
            "labels": [],
            "createdAt": iso_ms(account.created_at),
        }
        if full:
            view.update(description="", indexedAt=iso_ms(account.created_at))
        return view

    def _visible(self, post: _Post, now: datetime) -> bool:
        return post.indexed_at <= now and not post.hidden

    def _post_view(self, post: _Post, now: datetime | None) -> dict[str, Any]:
        now = now or post.indexed_at
        shown = [p for p in self._posts.values() if self._visible(p, now)]
        view: dict[str, Any] = {
            "$type": "app.bsky.feed.defs#postView",
            "uri": post.uri,
            "cid": post.cid,
            "author": self._profile(post.author),
            "record": post.record,
            "bookmarkCount": 0,
            "replyCount": sum(1 for p in shown if p.parent is post),
            "repostCount": 0,
            "likeCount": 0,
            "quoteCount": sum(1 for p in shown if p.quote is post),
            "indexedAt": iso_ms(post.indexed_at),
            "viewer": {"bookmarked": False, "threadMuted": False, "embeddingDisabled": False},
            "labels": [],
        }
        quoted = post.quote
        if quoted is not None:
            inner: dict[str, Any] = {
                "$type": "app.bsky.embed.record#viewNotFound",
                "uri": quoted.uri,
                "notFound": True,
            }
            if self._visible(quoted, now):
                inner = {
                    "$type": "app.bsky.embed.record#viewRecord",
                    "uri": quoted.uri,
                    "cid": quoted.cid,
                    "author": self._profile(quoted.author),
                    "value": quoted.record,
                    "labels": [],
                    "indexedAt": iso_ms(quoted.indexed_at),
                    "embeds": [],
                }
            view["embed"] = {"$type": "app.bsky.embed.record#view", "record": inner}
        return view

    def _ref_view(self, post: _Post, now: datetime) -> dict[str, Any]:
        if not self._visible(post, now):
            return {"$type": "app.bsky.feed.defs#notFoundPost", "uri": post.uri, "notFound": True}
        return self._post_view(post, now)

    def _feed_item(self, post: _Post, now: datetime) -> dict[str, Any]:
        item: dict[str, Any] = {"post": self._post_view(post, now)}
        if post.parent is not None and post.root is not None:
            item["reply"] = {
                "root": self._ref_view(post.root, now),
                "parent": self._ref_view(post.parent, now),
            }
            if post.parent.parent is not None:
                item["reply"]["grandparentAuthor"] = self._profile(post.parent.parent.author)
        return item

    # --- requests ------------------------------------------------------------------------------

    def respond(self, request: FakeRequest) -> Reply:
        """Answer one request: (status, headers, JSON body or raw text)."""
        with self._lock:
            now = self.clock()
            method = request.path.removeprefix("/xrpc/")
            limits, over = self._count(method, request, now)
            headers = {"Date": format_datetime(now.astimezone(UTC), usegmt=True), **limits}
            fault = self._take_fault(method)
            if fault is not None:
                if fault.status == 429:
                    headers["RateLimit-Remaining"] = "0"
                return fault.status, {**headers, **fault.headers}, fault.body
            if over:
                return 429, headers, _body("RateLimitExceeded", "Rate Limit Exceeded")
            status, body = self._route(method, request, now)
            if status == 200 and (kind := self._take_malformed(method)):
                body = _break(kind, body)
                if isinstance(body, str):
                    headers["Content-Type"] = "text/html; charset=utf-8"
            return status, headers, body

    def _count(
        self, method: str, request: FakeRequest, now: datetime
    ) -> tuple[dict[str, str], bool]:
        """Count the request against its limits: the tightest one's `RateLimit-*` headers, and
        whether it is over."""
        epoch = int(now.timestamp())
        window = epoch // RATE_WINDOW * RATE_WINDOW
        self._rate[("ip", window)] += 1
        limits = [(RATE_LIMIT, RATE_WINDOW, self._rate[("ip", window)])]
        if method == CREATE_SESSION:
            who = _identifier(request)
            account = self._actor(who)
            who = account.did if account else who.lower()
            day = epoch // 86400 * 86400
            self._rate[(f"login:{who}", window)] += 1
            self._rate[(f"login-day:{who}", day)] += 1
            limits += [
                (LOGIN_LIMIT, RATE_WINDOW, self._rate[(f"login:{who}", window)]),
                (LOGIN_DAILY, 86400, self._rate[(f"login-day:{who}", day)]),
            ]
        limit, span, used = min(limits, key=lambda entry: entry[0] - entry[2])
        headers = {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(max(0, limit - used)),
            "RateLimit-Reset": str(epoch // span * span + span),
            "RateLimit-Policy": f"{limit};w={span}",
        }
        return headers, used > limit

    def _route(self, method: str, request: FakeRequest, now: datetime) -> tuple[int, Any]:
        if not request.path.startswith("/xrpc/"):
            return 404, {"error": "NotFound", "message": "Not Found"}
        if method not in PROCEDURES | QUERIES:
            return 501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}
        expected = "POST" if method in PROCEDURES else "GET"
        if request.method != expected:
            return 400, _body("InvalidRequest", f"Incorrect HTTP method ({request.method})")
        if method == CREATE_SESSION:
            return self._create_session(request, now)
        if method == REFRESH_SESSION:
            return self._refresh_session(request, now)
        viewer, refused = self._viewer(request, now)
        if refused is not None:
            return refused
        if method == "app.bsky.notification.listNotifications" and viewer is None:
            return 401, _body("AuthMissing", "Authentication Required")
        params = request.params
        limit = params.get("limit", ["50"])[-1]
        if method != "app.bsky.feed.getPosts" and not (limit.isdigit() and 1 <= int(limit) <= 100):
            return 400, _body("InvalidRequest", "Error: limit must be an integer from 1 to 100")
        if method == "app.bsky.notification.listNotifications":
            return 200, self._list_notifications(viewer or "", params, int(limit), now)
        if method == "app.bsky.feed.getAuthorFeed":
            return self._author_feed(params, int(limit), now)
        return self._get_posts(params, now)

    def _viewer(
        self, request: FakeRequest, now: datetime
    ) -> tuple[str | None, tuple[int, Any] | None]:
        """The DID a valid access token acts for; an XRPC error for a bad one."""
        token = _bearer(request)
        if token is None:
            return None, None
        session = self._sessions.get(token)
        if session is None or session.revoked:
            return None, (400, _body("InvalidToken", "Token could not be verified"))
        if token != session.access:
            return None, (400, _body("InvalidToken", "Bad token scope"))
        session.uses += 1
        over = self.access_uses is not None and session.uses > self.access_uses
        if over or now >= session.access_expires:
            return None, (400, _body("ExpiredToken", "Token has expired"))
        return session.did, None

    def _create_session(self, request: FakeRequest, now: datetime) -> tuple[int, Any]:
        try:
            body = request.json()
        except ValueError:
            return 400, _body("InvalidRequest", "Request body is not valid JSON")
        if not isinstance(body, dict):
            return 400, _body("InvalidRequest", "Input must be an object")
        for key in ("identifier", "password"):
            if not isinstance(body.get(key), str):
                return 400, _body("InvalidRequest", f'Input must have the property "{key}"')
        account = self._actor(body["identifier"])
        if account is None or body["password"] not in account.passwords:
            return 401, _body("AuthenticationRequired", "Invalid identifier or password")
        return 200, self._new_session(account, now)

    def _refresh_session(self, request: FakeRequest, now: datetime) -> tuple[int, Any]:
        token = _bearer(request)
        if token is None:
            return 401, _body("AuthMissing", "Authentication Required")
        session = self._sessions.get(token)
        if session is None:
            return 400, _body("InvalidToken", "Token could not be verified")
        if token != session.refresh:
            return 400, _body("InvalidToken", "Bad token scope")
        if session.revoked:
            return 400, _body("ExpiredToken", "Token has been revoked")
        if now >= session.refresh_expires:
            return 400, _body("ExpiredToken", "Token has expired")
        session.revoked = True  # refresh tokens rotate: the old pair is done
        return 200, self._new_session(self._accounts[session.did], now)

    def _page(
        self, posts: list[tuple[_Post, Any]], params: dict[str, list[str]], limit: int
    ) -> tuple[list[Any], str | None]:
        """Keyset paging as the AppView does it: newest first by (sortAt, cid)."""
        ordered = sorted(posts, key=lambda p: (_ms(p[0].sort_at), p[0].cid), reverse=True)
        cursor = params.get("cursor", [""])[-1]
        if cursor:
            millis, _, cid = cursor.partition("::")
            if not millis.isdigit():
                return [], None
            key = (datetime.fromtimestamp(int(millis) / 1000, UTC), cid)
            ordered = [p for p in ordered if (_ms(p[0].sort_at), p[0].cid) < key]
        page = ordered[:limit]
        if not page:
            return [], None
        last = page[-1][0]
        # Hidden posts are dropped after paging: a page can be short with more behind it.
        items = [extra for post, extra in page if not post.hidden]
        return items, f"{int(_ms(last.sort_at).timestamp() * 1000)}::{last.cid}"

    def _list_notifications(
        self, viewer: str, params: dict[str, list[str]], limit: int, now: datetime
    ) -> dict[str, Any]:
        reasons = set(params.get("reasons", []))
        mine = [
            (n.post, n)
            for n in self._notifications
            if n.recipient == viewer
            and n.post.indexed_at <= now
            and (not reasons or n.reason in reasons)
        ]
        page, cursor = self._page(mine, params, limit)
        body: dict[str, Any] = {
            "notifications": [
                {
                    "uri": n.post.uri,
                    "cid": n.post.cid,
                    "author": self._profile(n.post.author, full=True),
                    "reason": n.reason,
                    **({"reasonSubject": n.subject} if n.subject else {}),
                    "record": n.post.record,
                    "isRead": False,
                    # The AppView gives a notification its post's sort time.
                    "indexedAt": iso_ms(n.post.sort_at),
                    "labels": [],
                }
                for n in page
            ],
            "priority": False,
        }
        if cursor:
            body["cursor"] = cursor
        return body

    def _author_feed(
        self, params: dict[str, list[str]], limit: int, now: datetime
    ) -> tuple[int, Any]:
        actor = params.get("actor", [""])[-1]
        if not actor:
            return 400, _body("InvalidRequest", 'Error: Params must have the property "actor"')
        account = self._actor(actor)
        if account is None:
            return 400, _body("InvalidRequest", "Profile not found")
        kind = params.get("filter", ["posts_with_replies"])[-1]
        own = [p for p in self._posts.values() if p.author is account and p.indexed_at <= now]
        if kind == "posts_no_replies":
            own = [p for p in own if p.parent is None]
        elif kind == "posts_and_author_threads":
            own = [p for p in own if p.root is None or p.root.author is account]
        elif kind in ("posts_with_media", "posts_with_video"):
            own = []  # this server has no media
        elif kind != "posts_with_replies":
            return 400, _body("InvalidRequest", f"Invalid filter: {kind}")
        page, cursor = self._page([(p, p) for p in own], params, limit)
        body: dict[str, Any] = {"feed": [self._feed_item(p, now) for p in page]}
        if cursor:
            body["cursor"] = cursor
        return 200, body

    def _get_posts(self, params: dict[str, list[str]], now: datetime) -> tuple[int, Any]:
        uris = params.get("uris", [])
        if not uris:
            return 400, _body("InvalidRequest", 'Error: Params must have the property "uris"')
        if len(uris) > 25:
            return 400, _body("InvalidRequest", "Error: uris must not have more than 25 elements")
        found = [self._posts.get(uri) for uri in uris]
        return 200, {
            "posts": [self._post_view(p, now) for p in found if p and self._visible(p, now)]
        }


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _body(error: str, message: str) -> dict[str, str]:
    return {"error": error, "message": message}


def _bearer(request: FakeRequest) -> str | None:
    value = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
    token = value.removeprefix("Bearer ").strip()
    return token or None


def _identifier(request: FakeRequest) -> str:
    try:
        body = request.json()
    except ValueError:
        return ""
    value = body.get("identifier") if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def _break(kind: str, body: Any) -> Any:
    """A body that is not the documented shape."""
    if kind == "html":
        return "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
    key = next((k for k in ("notifications", "feed", "posts") if k in body), None)
    if kind == "shape":
        return {**body, key: {"items": body[key]}} if key else [body]
    if key and body[key]:  # `item`: the first item's record.createdAt is broken
        first = json.loads(json.dumps(body[key][0]))
        record = first["post"]["record"] if "post" in first else first.get("record", first)
        record["createdAt"] = "yesterday-ish"
        return {**body, key: [first, *body[key][1:]]}
    return body


# --- a scripted week ------------------------------------------------------------------------------

QUESTIONS = [
    "@{brand} my order #{n} has not arrived yet. Any news?",
    "@{brand} the app keeps crashing when I open my basket, is it broken?",
    "Hi @{brand}, how do I change the delivery address on an order?",
    "@{brand} I was charged twice for order {n}, I want a refund.",
    "Is the Madrid store open on Sunday? @{brand}",
    "@{brand} hola, ¿dónde está mi pedido {n}? No funciona el seguimiento.",
    "@{brand} my discount code SAVE{n} does not work at checkout <b>again</b> & again",
]
FOLLOW_UPS = [
    "thanks, but the tracking link still shows nothing.",
    "that did not help, the problem is still there.",
    "one more question: can I pick it up in store instead?",
]
REPLIES = [
    "Sorry about that! We have checked and your parcel leaves today.",
    "Thanks for telling us. Could you send us your order number?",
    "Yes, you can change it from My orders > Edit until it ships.",
    "We have refunded the duplicate charge; you will see it in 3-5 days.",
]
CUSTOMERS = [
    ("lucia.bsky.social", "Lucía Fernández"),
    ("tom.bsky.social", "Tom Baker"),
    ("amira.example.com", "Amira K."),
    ("jorge.bsky.social", "Jorge 🚲"),
    ("li.bsky.social", "Li Wei"),
    ("noor.bsky.social", ""),
]
KINDS = ("fast", "late", "never", "follow_up", "thanks")


def script_conversations(
    fake: FakeBluesky, week_start: datetime, *, threads: int = 12, seed: int = 1
) -> dict[str, Any]:
    """Load a deterministic week of conversations with the brand `acme.bsky.social`.

    Kinds: answered fast, answered late, never answered, a follow-up after a reply, a thanks
    after a reply (and, beyond the first five threads, customers quoting a brand post).
    Returns the account entry fields: `credentials` (identifier, app_password) and `own_ids`.
    """
    rng = random.Random(seed)
    brand = fake.add_account("acme.bsky.social", "ACME Support")
    password = fake.add_app_password(
        brand["did"], "-".join("".join(rng.choice(_B32) for _ in range(4)) for _ in range(4))
    )
    customers = [fake.add_account(handle, name)["did"] for handle, name in CUSTOMERS]
    kinds = list(KINDS[:threads])
    kinds += [rng.choice([*KINDS, "fast", "quote"]) for _ in range(threads - len(kinds))]
    rng.shuffle(kinds)
    for index, kind in enumerate(kinds):
        day = week_start + timedelta(days=index * 7 // max(1, threads))
        asked = day + timedelta(hours=rng.choice([9, 10, 11, 12, 15, 16, 17, 19, 21]))
        asked += timedelta(minutes=rng.randrange(60))
        customer = customers[index % len(customers)]
        handle = CUSTOMERS[index % len(CUSTOMERS)][0]
        text = rng.choice(QUESTIONS).format(brand=brand["handle"], n=1000 + index)
        if kind == "quote":
            news = fake.post(
                brand["did"], "Our winter sale starts today!", asked - timedelta(hours=2)
            )
            root = fake.post(
                customer, "Does this include the outlet?", asked, quote_uri=news["uri"]
            )
        else:
            root = fake.post(customer, text, asked)
        wait = {
            "fast": rng.randrange(4, 50),
            "late": rng.randrange(90, 300),
            "follow_up": rng.randrange(5, 45),
            "thanks": rng.randrange(5, 40),
            "quote": rng.randrange(10, 60),
        }.get(kind)
        if wait is None:  # never answered
            continue
        answered = asked + timedelta(minutes=wait)
        reply = fake.post(
            brand["did"], f"@{handle} {rng.choice(REPLIES)}", answered, reply_to_uri=root["uri"]
        )
        if kind == "follow_up":
            later = answered + timedelta(minutes=rng.randrange(20, 240))
            follow = fake.post(
                customer,
                f"@{brand['handle']} {rng.choice(FOLLOW_UPS)}",
                later,
                reply_to_uri=reply["uri"],
            )
            if rng.random() < 0.6:
                fake.post(
                    brand["did"],
                    f"@{handle} We are on it and will update you today.",
                    later + timedelta(minutes=rng.randrange(10, 200)),
                    reply_to_uri=follow["uri"],
                )
        elif kind == "thanks":
            fake.post(
                customer, "thanks!", answered + timedelta(minutes=3), reply_to_uri=reply["uri"]
            )
    return {
        "credentials": {"identifier": brand["handle"], "app_password": password},
        "own_ids": [brand["did"]],
    }


__all__ = ["FakeBluesky", "iso_ms", "script_conversations"]
