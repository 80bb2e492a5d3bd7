"""An in-memory Meta Graph API on 127.0.0.1: a Facebook Page and an Instagram account.

Stdlib only. Answers as the Graph API documents: nodes and edges with field selection
(`fields=id,parent{id},comments.limit(0).summary(true)`), `{"data": [...], "paging": {...}}` pages
with opaque base64 cursors and absolute `next` / `previous` URLs (an empty page is `{"data": []}`),
`since` / `until` / `limit`, the `{"error": {...}}` envelope with Graph's codes (throttling is
HTTP 400 with code 4, 17, 32, 613 or 8000x), and `X-App-Usage` / `X-Business-Use-Case-Usage` on
every response. Field names are those of Meta's codegen specs (shared/specs/facebook-codegen-*);
fields the fake does not model are refused like nonexisting ones, so a typo cannot pass unseen.
Items created after `clock()` are not there yet, so a demo can play a simulated week against it.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import random
import re
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, cast
from urllib.parse import urlencode

from reply_sla.local.fake_http import FakeHttpServer, FakeRequest, Reply

# Every permission a monitoring token has; `add_page(permissions=...)` can grant fewer.
PERMISSIONS = frozenset(
    {
        "pages_show_list",
        "pages_read_engagement",
        "pages_read_user_content",
        "pages_messaging",
        "instagram_basic",
        "instagram_manage_comments",
        "instagram_manage_messages",
    }
)
# Graph's default page size and its cap on these edges.
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
_TOO_MANY = (
    "(#{code}) There have been too many {what} to this {account} account. Wait a bit and try "
    "again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
)
THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: _TOO_MANY.format(code=80001, what="calls", account="Page"),
    80002: _TOO_MANY.format(code=80002, what="calls", account="Instagram"),
    80006: _TOO_MANY.format(code=80006, what="messenger api calls", account="Page"),
}
_TIME_KEYS = ("created_time", "timestamp")


def graph_time(moment: datetime) -> str:
    """Graph's datetime format: UTC, whole seconds, `+0000`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def graph_error(
    code: int, message: str, *, subcode: int | None = None, kind: str = "OAuthException"
) -> dict[str, Any]:
    """The `{"error": {...}}` body Graph sends; throttling errors say they are transient."""
    error: dict[str, Any] = {"message": message, "type": kind}
    if code in THROTTLE_MESSAGES or code in (1, 2):
        error["is_transient"] = True
    error["code"] = code
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(15)
    return {"error": error}


def throttle_body(code: int) -> dict[str, Any]:
    """Graph's throttling body for a code (4, 17, 32, 613, 80001, 80002, 80006, ...)."""
    return graph_error(code, THROTTLE_MESSAGES.get(code, f"({code}) Rate limit reached."))


class _GraphFault(Exception):
    def __init__(self, code: int, message: str, subcode: int | None = None, **kw: Any) -> None:
        super().__init__(message)
        self.body = graph_error(code, message, subcode=subcode, **kw)


def _not_found(node_id: str) -> _GraphFault:
    return _GraphFault(
        100,
        f"Unsupported get request. Object with ID '{node_id}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation. Please read the Graph "
        "API documentation at https://developers.facebook.com/docs/graph-api",
        33,
        kind="GraphMethodException",
    )


# --- field selection: `a,b.limit(2){c,d{e}},f.summary(true)` -------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    modifiers: dict[str, str] = field(default_factory=dict)
    sub: dict[str, Field] | None = None


_NAME = re.compile(r"\s*([A-Za-z_]\w*)\s*")
_MODIFIER = re.compile(r"\.(\w+)\(([^()]*)\)")


def parse_fields(text: str) -> dict[str, Field]:
    """Graph's `fields` syntax; a ValueError says where it breaks."""
    fields, end = _parse_list(text, 0)
    if end != len(text):
        raise ValueError(f"unexpected {text[end : end + 10]!r}")
    return fields


def _parse_list(text: str, i: int) -> tuple[dict[str, Field], int]:
    fields: dict[str, Field] = {}
    while True:
        match = _NAME.match(text, i)
        if not match:
            raise ValueError(f"a field name expected at {text[i : i + 10]!r}")
        name, i = match.group(1), match.end()
        modifiers: dict[str, str] = {}
        sub = None
        while (mod := _MODIFIER.match(text, i)) or text.startswith("{", i):
            if mod:
                modifiers[mod.group(1)] = mod.group(2)
                i = mod.end()
            else:
                sub, i = _parse_list(text, i + 1)
                if not text.startswith("}", i):
                    raise ValueError(f"'}}' expected at {text[i : i + 10]!r}")
                i += 1
        fields[name] = Field(name, modifiers, sub)
        if not text.startswith(",", i):
            return fields, i
        i += 1


def render_fields(fields: dict[str, Field]) -> str:
    """The `fields` text of a selection (for the `next` URL of a nested edge)."""
    parts = []
    for f in fields.values():
        mods = "".join(f".{k}({v})" for k, v in f.modifiers.items())
        parts.append(f.name + mods + ("{" + render_fields(f.sub) + "}" if f.sub else ""))
    return ",".join(parts)


# --- the world -------------------------------------------------------------------------------


@dataclass
class _Actor:
    """A Facebook user or Page, or an Instagram user (a customer or the brand)."""

    id: str
    name: str
    platform: str  # facebook | instagram
    username: str | None = None
    page_id: str | None = None  # an Instagram business account's Page


@dataclass
class _Post:
    id: str
    page: _Actor
    author: _Actor
    message: str
    created_at: datetime


@dataclass
class _Media:
    id: str
    owner: _Actor
    caption: str
    created_at: datetime
    shortcode: str


@dataclass
class _Comment:
    id: str
    target: _Post | _Media
    author: _Actor
    text: str
    created_at: datetime
    parent: _Comment | None = None


@dataclass
class _Conversation:
    id: str
    page: _Actor
    platform: str  # messenger | instagram
    brand: _Actor  # the Page, or the Instagram account
    customer: _Actor


@dataclass
class _Dm:
    id: str
    conversation: _Conversation
    sender: _Actor
    text: str
    created_at: datetime


@dataclass
class _Token:
    page_id: str
    permissions: frozenset[str]
    revoked: bool = False


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    body: Any


Node = _Actor | _Post | _Media | _Comment | _Conversation | _Dm


class FakeGraph(FakeHttpServer):
    """Graph API nodes and edges in memory, served over HTTP on 127.0.0.1 from a daemon thread."""

    name = "fake-graph"

    def __init__(
        self, clock: Callable[[], datetime] | None = None, *, calls_per_hour: int = 4800
    ) -> None:
        super().__init__()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.calls_per_hour = calls_per_hour
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._actors: dict[str, _Actor] = {}
        self._posts: dict[str, _Post] = {}
        self._media: dict[str, _Media] = {}
        self._comments: dict[str, _Comment] = {}
        self._conversations: dict[str, _Conversation] = {}
        self._dms: dict[str, _Dm] = {}
        self._tokens: dict[str, _Token] = {}
        self._faults: deque[_Fault] = deque()
        self._malformed: deque[str] = deque()
        self._usage: Counter[tuple[str, int]] = Counter()

    def _id(self, digits: int = 15) -> str:
        return str(10 ** (digits - 1) + next(self._ids))

    # --- building the world --------------------------------------------------------------------

    def add_page(
        self, name: str, *, permissions: frozenset[str] | set[str] = PERMISSIONS
    ) -> dict[str, str]:
        """A Facebook Page and a Page access token: `{"id", "name", "access_token"}`."""
        with self._lock:
            page = _Actor(self._id(), name, "facebook")
            self._actors[page.id] = page
            token = "EAAG" + secrets.token_urlsafe(32)
            self._tokens[token] = _Token(page.id, frozenset(permissions))
            return {"id": page.id, "name": name, "access_token": token}

    def add_instagram_account(self, username: str, *, page_id: str) -> dict[str, str]:
        """The Instagram professional account connected to a Page: `{"id", "username"}`.

        The Page's token reads it (Instagram with Facebook Login uses the Page's token).
        """
        with self._lock:
            user = _Actor(self._id(17), username, "instagram", username=username, page_id=page_id)
            self._actors[user.id] = user
            return {"id": user.id, "username": username}

    def add_user(self, name: str, *, username: str | None = None) -> dict[str, str]:
        """A customer: a Facebook user (`name`), or an Instagram user when `username` is given."""
        with self._lock:
            platform = "instagram" if username else "facebook"
            user = _Actor(self._id(17 if username else 16), name, platform, username=username)
            self._actors[user.id] = user
            return {"id": user.id, "name": name, **({"username": username} if username else {})}

    def revoke_token(self, token: str) -> None:
        """The token dies, as when a person changes their password (Graph error 190/460)."""
        with self._lock:
            self._tokens[token].revoked = True

    def post(
        self, page_id: str, message: str, created_at: datetime, *, author_id: str | None = None
    ) -> dict[str, str]:
        """A post on the Page's feed, by the Page or (`author_id`) a visitor."""
        with self._lock:
            page = self._actors[page_id]
            post = _Post(
                f"{page.id}_{self._id(16)}",
                page,
                self._actors[author_id or page_id],
                message,
                _utc(created_at),
            )
            self._posts[post.id] = post
            return {"id": post.id}

    def publish_media(self, ig_user_id: str, caption: str, created_at: datetime) -> dict[str, str]:
        """An Instagram media of the account."""
        with self._lock:
            media = _Media(
                self._id(17),
                self._actors[ig_user_id],
                caption,
                _utc(created_at),
                base64.urlsafe_b64encode(secrets.token_bytes(8)).decode().rstrip("="),
            )
            self._media[media.id] = media
            return {"id": media.id, "permalink": _permalink(media)}

    def comment(
        self,
        target_id: str,
        author_id: str,
        text: str,
        created_at: datetime,
        *,
        parent_id: str | None = None,
    ) -> dict[str, str]:
        """A comment on a post or media, or (`parent_id`) a reply to a top-level comment."""
        with self._lock:
            target = self._posts.get(target_id) or self._media[target_id]
            parent = self._comments[parent_id] if parent_id else None
            while parent is not None and parent.parent is not None:
                parent = parent.parent  # both platforms keep two levels: replies join the top
            if isinstance(target, _Post):
                comment_id = f"{target.id.split('_')[1]}_{self._id(16)}"
            else:
                comment_id = self._id(17)
            comment = _Comment(
                comment_id, target, self._actors[author_id], text, _utc(created_at), parent
            )
            self._comments[comment.id] = comment
            return {"id": comment.id}

    def message(
        self,
        page_id: str,
        customer_id: str,
        text: str,
        created_at: datetime,
        *,
        from_brand: bool = False,
    ) -> dict[str, str]:
        """A Messenger (Facebook customer) or Instagram Direct (Instagram customer) message in
        the customer's conversation with the Page or its Instagram account."""
        with self._lock:
            page, customer = self._actors[page_id], self._actors[customer_id]
            platform = "instagram" if customer.platform == "instagram" else "messenger"
            brand = page
            if platform == "instagram":
                brand = next(
                    a for a in self._actors.values() if a.page_id == page_id and a.username
                )
            conversation = next(
                (
                    c
                    for c in self._conversations.values()
                    if c.page is page and c.customer is customer
                ),
                None,
            )
            if conversation is None:
                key = self._id(16)
                conversation_id = (
                    f"t_{key}" if platform == "messenger" else _b64(f"ig_thread:{key}")
                )
                conversation = _Conversation(conversation_id, page, platform, brand, customer)
                self._conversations[conversation.id] = conversation
            key = secrets.token_urlsafe(24)
            dm = _Dm(
                f"m_{key}" if platform == "messenger" else _b64(f"ig_message:{key}"),
                conversation,
                brand if from_brand else customer,
                text,
                _utc(created_at),
            )
            self._dms[dm.id] = dm
            return {"id": dm.id, "conversation_id": conversation.id}

    def next_post_after(self, moment: datetime) -> datetime | None:
        """When the next scripted item appears (lets a simulation skip idle minutes)."""
        with self._lock:
            times = [
                item.created_at
                for items in (self._posts, self._media, self._comments, self._dms)
                for item in items.values()
                if item.created_at > moment
            ]
        return min(times, default=None)

    # --- fault injection -----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """The next `times` requests answer `status`; the default body is Graph's: code 2
        (transient) for a 5xx, else the app throttling error (code 4)."""
        if body is None:
            transient = "(#2) Service temporarily unavailable"
            body = graph_error(2, transient) if status >= 500 else throttle_body(4)
        with self._lock:
            self._faults.extend(_Fault(status, dict(headers or {}), body) for _ in range(times))

    def throttle_next(self, code: int = 4, *, times: int = 1, regain_minutes: int = 0) -> None:
        """The next `times` requests are throttled as Graph does it: HTTP 400, the code's body,
        and (when `regain_minutes`) the business usage header saying when access comes back."""
        headers = {}
        if regain_minutes:
            owner = next(iter(sorted(self._page_ids())), "0")
            headers["X-Business-Use-Case-Usage"] = _json(
                {
                    owner: [
                        {
                            "type": "pages",
                            "call_count": 100,
                            "total_cputime": 30,
                            "total_time": 40,
                            "estimated_time_to_regain_access": regain_minutes,
                        }
                    ]
                }
            )
        self.fail_next(400, times, headers, throttle_body(code))

    def malformed_next(self, times: int = 1, kind: str = "shape") -> None:
        """The next `times` successful responses break the documented shape.

        kinds: `shape` (a page's `data` sent as a bare list), `html` (a 200 HTML page, as a
        misbehaving proxy sends), `item` (the first message-like item of the page has a bad time).
        """
        if kind not in ("shape", "html", "item"):
            raise ValueError(f"unknown kind {kind!r}")
        with self._lock:
            self._malformed.extend(kind for _ in range(times))

    # --- serving -------------------------------------------------------------------------------

    def respond(self, request: FakeRequest) -> Reply:
        with self._lock:
            now = self.clock()
            match = re.fullmatch(r"(/v\d+\.\d+)?/([^/]+)(?:/([^/]+))?/?", request.path)
            owner = self._usage_owner(match.group(2) if match else "")
            headers = {
                "Date": format_datetime(now.astimezone(UTC), usegmt=True),
                **self._usage_headers(owner, now),
            }
            if self._faults:
                fault = self._faults.popleft()
                return fault.status, {**headers, **fault.headers}, fault.body
            params = {k: v[-1] for k, v in request.params.items()}
            try:
                token = self._authorize(request, params)
                if owner is not None and self._calls(owner, now) > self.calls_per_hour:
                    code = 80002 if owner.platform == "instagram" else 80001
                    return 400, headers, throttle_body(code)
                if request.method != "GET" or match is None:
                    raise _GraphFault(2500, f"Unknown path components: {request.path}")
                prefix = match.group(1) or ""
                body = self._read(match.group(2), match.group(3), params, prefix, token, now)
            except _GraphFault as fault:
                if fault.body["error"]["code"] == 190:
                    message = fault.body["error"]["message"]
                    headers["WWW-Authenticate"] = (
                        f'OAuth "Facebook Platform" "invalid_token" "{message}"'
                    )
                return 400, headers, fault.body
            if self._malformed:
                body = _break(self._malformed.popleft(), body)
                if isinstance(body, str):
                    headers["Content-Type"] = "text/html; charset=utf-8"
            return 200, headers, body

    def _authorize(self, request: FakeRequest, params: dict[str, str]) -> _Token:
        header = request.headers.get("Authorization") or request.headers.get("authorization") or ""
        scheme, _, value = header.partition(" ")
        raw = value.strip() if scheme.lower() in ("bearer", "oauth") else ""
        raw = raw or params.get("access_token", "")
        if not raw:
            raise _GraphFault(104, "An access token is required to request this resource.")
        token = self._tokens.get(raw)
        if token is None:
            raise _GraphFault(190, "Invalid OAuth access token - Cannot parse access token")
        if token.revoked:
            raise _GraphFault(
                190,
                "Error validating access token: The session has been invalidated because the "
                "user changed their password or Facebook has changed the session for security "
                "reasons.",
                460,
            )
        return token

    def _node_of(self, node_id: str) -> Node | None:
        tables: tuple[dict[str, Any], ...] = (
            self._actors,
            self._posts,
            self._media,
            self._comments,
            self._conversations,
            self._dms,
        )
        return next((cast(Node, t[node_id]) for t in tables if node_id in t), None)

    def _usage_owner(self, node_id: str) -> _Actor | None:
        """The business object (Page or Instagram account) whose quota a call counts against."""
        node = self._node_of(node_id)
        if isinstance(node, _Comment):
            node = node.target
        if isinstance(node, _Post):
            return node.page
        if isinstance(node, _Media):
            return node.owner
        if isinstance(node, _Conversation | _Dm):
            conversation = node if isinstance(node, _Conversation) else node.conversation
            return conversation.page
        if isinstance(node, _Actor) and (node.page_id or node.id in self._page_ids()):
            return node
        return None

    def _page_ids(self) -> set[str]:
        return {t.page_id for t in self._tokens.values()}

    def _calls(self, owner: _Actor, now: datetime) -> int:
        return self._usage[(owner.id, int(now.timestamp()) // 3600)]

    def _usage_headers(self, owner: _Actor | None, now: datetime) -> dict[str, str]:
        """Graph's usage in percent: the app's, and the Page's or Instagram account's."""
        hour = int(now.timestamp()) // 3600
        self._usage[("app", hour)] += 1
        app = min(100, self._usage[("app", hour)] * 100 // self.calls_per_hour)
        headers = {
            "X-App-Usage": _json(
                {"call_count": app, "total_cputime": app // 4, "total_time": app // 2}
            )
        }
        if owner is not None:
            self._usage[(owner.id, hour)] += 1
            calls = self._usage[(owner.id, hour)]
            used = min(100, calls * 100 // self.calls_per_hour)
            regain = math.ceil((3600 - int(now.timestamp()) % 3600) / 60)
            figures = {
                "type": "instagram" if owner.platform == "instagram" else "pages",
                "call_count": used,
                "total_cputime": used // 4,
                "total_time": used // 2,
                "estimated_time_to_regain_access": regain if calls > self.calls_per_hour else 0,
            }
            headers["X-Business-Use-Case-Usage"] = _json({owner.id: [figures]})
        return headers

    # --- reading nodes and edges ---------------------------------------------------------------

    def _read(
        self,
        node_id: str,
        edge: str | None,
        params: dict[str, str],
        prefix: str,
        token: _Token,
        now: datetime,
    ) -> dict[str, Any]:
        node = self._node_of(node_id)
        if node is None or not self._visible(node, now) or not self._owned(node, token):
            raise _not_found(node_id)
        try:
            selection = parse_fields(params["fields"]) if params.get("fields") else None
        except ValueError as exc:
            raise _GraphFault(100, f"(#100) Syntax error in fields: {exc}") from None
        if edge is None:
            return self._project(node, selection, token, now, prefix)
        query = {k: v for k, v in params.items() if k != "fields"}
        return self._edge(node, edge, query, selection, token, now, prefix)

    def _visible(self, node: Node, now: datetime) -> bool:
        created = getattr(node, "created_at", None)
        if created is not None and created > now:
            return False
        if isinstance(node, _Conversation):
            return any(d.conversation is node and d.created_at <= now for d in self._dms.values())
        return True

    def _kind(self, node: Node) -> str:
        if isinstance(node, _Actor):
            return "IGUser" if node.platform == "instagram" else "Page"
        if isinstance(node, _Comment):
            return "IGComment" if isinstance(node.target, _Media) else "Comment"
        return {
            _Post: "PagePost",
            _Media: "IGMedia",
            _Conversation: "UnifiedThread",
            _Dm: "Message",
        }[type(node)]

    def _scalars(self, node: Node, now: datetime) -> dict[str, Any]:
        """The node's modelled fields; a Node value is projected with the caller's selection."""
        if isinstance(node, _Actor):
            if node.platform == "instagram":
                media = [m for m in self._media.values() if m.owner is node and m.created_at <= now]
                return {
                    "id": node.id,
                    "username": node.username,
                    "name": node.name,
                    "media_count": len(media),
                }
            return {"id": node.id, "name": node.name, "link": f"https://www.facebook.com/{node.id}"}
        if isinstance(node, _Post):
            times = [c.created_at for c in self._comments.values() if c.target is node]
            return {
                "id": node.id,
                "created_time": graph_time(node.created_at),
                # A comment makes the post updated, as Graph documents `updated_time`.
                "updated_time": graph_time(max([node.created_at, *(t for t in times if t <= now)])),
                "message": node.message or None,
                "permalink_url": _permalink(node),
                "from": {"name": node.author.name, "id": node.author.id},
                "is_hidden": False,
                "is_published": True,
            }
        if isinstance(node, _Media):
            count = sum(
                1 for c in self._comments.values() if c.target is node and c.created_at <= now
            )
            return {
                "id": node.id,
                "timestamp": graph_time(node.created_at),
                "caption": node.caption or None,
                "permalink": _permalink(node),
                "shortcode": node.shortcode,
                "username": node.owner.username,
                "media_type": "IMAGE",
                "media_product_type": "FEED",
                "comments_count": count,
                "like_count": 0,
                "owner": node.owner,
            }
        if isinstance(node, _Comment) and isinstance(node.target, _Media):
            return {
                "id": node.id,
                "timestamp": graph_time(node.created_at),
                "text": node.text,
                "username": node.author.username,
                "from": {"id": node.author.id, "username": node.author.username},
                "like_count": 0,
                "hidden": False,
                "parent_id": node.parent.id if node.parent else None,
                "media": node.target,
            }
        if isinstance(node, _Comment):
            assert isinstance(node.target, _Post)
            replies = [
                c for c in self._comments.values() if c.parent is node and c.created_at <= now
            ]
            return {
                "id": node.id,
                "created_time": graph_time(node.created_at),
                "message": node.text,
                "from": {"name": node.author.name, "id": node.author.id},
                "parent": node.parent,
                "permalink_url": f"{_permalink(node.target)}?comment_id={node.id.split('_')[1]}",
                "comment_count": len(replies),
                "like_count": 0,
                "is_hidden": False,
                "can_comment": node.parent is None,
            }
        if isinstance(node, _Conversation):
            dms = [d for d in self._dms.values() if d.conversation is node and d.created_at <= now]
            return {
                "id": node.id,
                "updated_time": graph_time(max(d.created_at for d in dms)),
                "link": f"/{node.page.id}/inbox/{node.id}/",
                "message_count": len(dms),
                "unread_count": 0,
                "snippet": max(dms, key=lambda d: d.created_at).text[:100],
                "can_reply": True,
                "participants": {"data": [_person(node.customer), _person(node.brand)]},
            }
        assert isinstance(node, _Dm)
        conversation = node.conversation
        other = conversation.customer if node.sender is conversation.brand else conversation.brand
        return {
            "id": node.id,
            "created_time": graph_time(node.created_at),
            "from": _person(node.sender),
            "to": {"data": [_person(other)]},
            "message": node.text,
        }

    def _project(
        self,
        node: Node,
        selection: dict[str, Field] | None,
        token: _Token,
        now: datetime,
        prefix: str,
    ) -> dict[str, Any]:
        """The node with the selected fields (Graph's defaults when none); empty ones left out."""
        kind = self._kind(node)
        values = self._scalars(node, now)
        selection = selection or {n: Field(n) for n in _DEFAULTS[kind]}
        out: dict[str, Any] = {}
        for name, selected in selection.items():
            if (kind, name) in _EDGES:
                query = {k: v for k, v in selected.modifiers.items() if k != "summary"}
                page = self._edge(node, name, query, selected.sub, token, now, prefix)
                if selected.modifiers.get("summary") == "true":
                    page["summary"] = self._summary(node, name, selected.modifiers, now)
                if page["data"] or "summary" in page:
                    out[name] = page
            elif name not in values:
                raise _GraphFault(
                    100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({kind})"
                )
            elif values[name] is None:
                continue
            elif isinstance(values[name], Node):
                out[name] = self._project(values[name], selected.sub, token, now, prefix)
            elif isinstance(values[name], dict) and selected.sub:
                out[name] = {k: v for k, v in values[name].items() if k in selected.sub}
            else:
                out[name] = values[name]
        return out

    def _summary(
        self, node: Node, edge: str, modifiers: dict[str, str], now: datetime
    ) -> dict[str, Any]:
        items = self._edge_items(node, edge, {**modifiers, "limit": "0"}, now)
        return {"order": modifiers.get("order", "ranked"), "total_count": len(items)}

    def _edge_items(self, node: Node, edge: str, query: dict[str, str], now: datetime) -> list[Any]:
        """An edge's visible items in the order Graph lists them, `since` / `until` applied."""
        items: list[Any]
        if edge == "feed" or edge == "posts":
            items = [p for p in self._posts.values() if p.page is node]
            if edge == "posts":
                items = [p for p in items if p.author is node]
            items.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        elif edge == "media":
            items = sorted(
                (m for m in self._media.values() if m.owner is node),
                key=lambda m: (m.created_at, m.id),
                reverse=True,
            )
        elif edge in ("comments", "replies"):
            if isinstance(node, _Comment):
                items = [c for c in self._comments.values() if c.parent is node]
            elif query.get("filter") == "stream":
                items = [c for c in self._comments.values() if c.target is node]
            else:
                items = [c for c in self._comments.values() if c.target is node and not c.parent]
            newest_first = isinstance(node, _Media) or query.get("order") == "reverse_chronological"
            items.sort(key=lambda c: (c.created_at, c.id), reverse=newest_first)
        elif edge == "conversations":
            platform = query.get("platform", "messenger")
            items = [
                c
                for c in self._conversations.values()
                if c.page is node and c.platform == platform and self._visible(c, now)
            ]
            items.sort(key=lambda c: self._scalars(c, now)["updated_time"], reverse=True)
        else:  # messages
            items = sorted(
                (d for d in self._dms.values() if d.conversation is node),
                key=lambda d: (d.created_at, d.id),
                reverse=True,
            )
        items = [i for i in items if getattr(i, "created_at", None) is None or i.created_at <= now]
        if edge != "conversations":  # Graph pages conversations by cursor only
            if query.get("since"):
                since = _parse_bound(query["since"])
                items = [i for i in items if i.created_at >= since]
            if query.get("until"):
                until = _parse_bound(query["until"])
                items = [i for i in items if i.created_at <= until]
        return items

    def _edge(
        self,
        node: Node,
        edge: str,
        query: dict[str, str],
        selection: dict[str, Field] | None,
        token: _Token,
        now: datetime,
        prefix: str,
    ) -> dict[str, Any]:
        """One page of an edge: `{"data": [...], "paging": {...}}`, `{"data": []}` when empty."""
        kind = self._kind(node)
        if (kind, edge) not in _EDGES:
            raise _GraphFault(2500, f"Unknown path components: /{edge}")
        needed = set(_EDGES[(kind, edge)])
        if edge == "conversations" and query.get("platform") == "instagram":
            needed.add("instagram_manage_messages")
        for permission in sorted(needed - token.permissions):
            raise _GraphFault(10, f"(#10) This endpoint requires the '{permission}' permission.")
        items = self._edge_items(node, edge, query, now)
        try:
            raw_limit = int(query.get("limit", DEFAULT_LIMIT))
        except ValueError:
            raise _GraphFault(100, "(#100) Param limit must be a number") from None
        limit = max(0, min(raw_limit, MAX_LIMIT))
        ids = [i.id for i in items]
        start = 0
        if query.get("after"):
            start = self._position(ids, query["after"]) + 1
        elif query.get("before"):
            start = max(0, self._position(ids, query["before"]) - limit)
        chunk = items[start : start + limit]
        body: dict[str, Any] = {
            "data": [self._project(i, selection, token, now, prefix) for i in chunk]
        }
        if chunk:
            first, last = _cursor(chunk[0].id), _cursor(chunk[-1].id)
            paging: dict[str, Any] = {"cursors": {"before": first, "after": last}}
            kept = {k: v for k, v in query.items() if k not in ("after", "before")}
            if selection:
                kept["fields"] = render_fields(selection)
            kept.setdefault("limit", str(limit))
            base = f"{self.base_url}{prefix}/{getattr(node, 'id', '')}/{edge}?"
            if start + len(chunk) < len(items):
                paging["next"] = base + urlencode({**kept, "after": last})
            if start > 0:
                paging["previous"] = base + urlencode({**kept, "before": first})
            body["paging"] = paging
        return body

    @staticmethod
    def _position(ids: list[str], cursor: str) -> int:
        try:
            return ids.index(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        except (ValueError, UnicodeDecodeError):
            raise _GraphFault(100, "(#100) The parameter after or before is invalid") from None

    def _owned(self, node: Node, token: _Token) -> bool:
        owner = self._usage_owner(getattr(node, "id", ""))
        if owner is None:
            return True
        return (owner.page_id or owner.id) == token.page_id


# Graph's default fields when a request names none.
_DEFAULTS = {
    "Page": ("name", "id"),
    "IGUser": ("id",),
    "PagePost": ("created_time", "message", "id"),
    "Comment": ("created_time", "from", "message", "id"),
    "IGMedia": ("id",),
    "IGComment": ("timestamp", "text", "id"),
    "UnifiedThread": ("id",),
    "Message": ("id", "created_time"),
}
# (node type, edge) -> the permissions it needs.
_EDGES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Page", "feed"): ("pages_read_engagement",),
    ("Page", "posts"): ("pages_read_engagement",),
    ("Page", "conversations"): ("pages_messaging",),
    ("PagePost", "comments"): ("pages_read_engagement", "pages_read_user_content"),
    ("Comment", "comments"): ("pages_read_engagement", "pages_read_user_content"),
    ("IGUser", "media"): ("instagram_basic",),
    ("IGMedia", "comments"): ("instagram_basic", "instagram_manage_comments"),
    ("IGComment", "replies"): ("instagram_basic", "instagram_manage_comments"),
    ("UnifiedThread", "messages"): ("pages_messaging",),
}


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("created_at must carry a time zone")
    return moment.astimezone(UTC).replace(microsecond=0)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(item_id.encode()).decode().rstrip("=")


def _parse_bound(value: str) -> datetime:
    """`since` / `until`: a Unix timestamp or an ISO 8601 time."""
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _GraphFault(100, f"(#100) Invalid time: {value[:40]}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _person(actor: _Actor) -> dict[str, str]:
    if actor.platform == "instagram":
        return {"username": actor.username or actor.name, "id": actor.id}
    return {"name": actor.name, "id": actor.id}


def _permalink(node: _Post | _Media) -> str:
    if isinstance(node, _Media):
        return f"https://www.instagram.com/p/{node.shortcode}/"
    page_id, post_id = node.id.split("_")
    return f"https://www.facebook.com/{page_id}/posts/{post_id}"


def _break(kind: str, body: dict[str, Any]) -> Any:
    """A body that is not the documented shape."""
    if kind == "html":
        return "<!DOCTYPE html><html><body><h1>Sorry, something went wrong.</h1></body></html>"
    if kind == "shape":
        return body.get("data", [body])
    page = body.get("data")
    if isinstance(page, list) and page:
        first = dict(page[0])
        nested = first.get("messages")
        if isinstance(nested, dict) and nested.get("data"):
            first["messages"] = {
                **nested,
                "data": [_bad_time(nested["data"][0]), *nested["data"][1:]],
            }
        else:
            first = _bad_time(first)
        body = {**body, "data": [first, *page[1:]]}
    return body


def _bad_time(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, **{k: "yesterday-ish" for k in _TIME_KEYS if k in item}}


# --- a scripted week ---------------------------------------------------------------------------

_CUSTOMERS = [
    ("Lucía Fernández", "lucia.fdz"),
    ("Tom Baker", "tombaker"),
    ("Amira K.", "amira_k"),
    ("Jorge Ruiz", "jorge.bikes"),
    ("Li Wei", "liwei"),
    ("Noor", "noor.n"),
]
_QUESTIONS = [
    "My order #{n} has not arrived yet. Any news?",
    "The app keeps crashing when I open my basket, is it broken?",
    "How do I change the delivery address on order {n}?",
    "I was charged twice for order #{n}, I want a refund.",
    "Do you ship to the Canary Islands?",
    "My discount code SAVE{n} does not work at checkout",
    "Hola, ¿dónde está mi pedido {n}? <b>No funciona</b> el seguimiento & nadie contesta.",
]
_REPLIES = [
    "Hi! Sorry about that. We have checked and your parcel leaves today.",
    "Thanks for telling us. Could you send us a message with your order number?",
    "Yes, you can change it from My orders > Edit until it ships.",
    "We have refunded the duplicate charge; you will see it in 3-5 days.",
]
_FOLLOW_UPS = [
    "Thanks, but the tracking link still shows nothing.",
    "That did not help, the problem is still there.",
]
KINDS = ("fast", "late", "never", "follow_up", "thanks", "private")


def script_conversations(
    fake: FakeGraph,
    week_start: datetime,
    *,
    threads: int = 12,
    seed: int = 1,
    channel: str = "facebook",
) -> dict[str, Any]:
    """Load a deterministic week of conversations for a Facebook Page or an Instagram account
    (answered fast, answered late, never answered, a follow-up after a reply, a thanks after a
    reply, private messages); returns the account entry fields for a replysla config."""
    if channel not in ("facebook", "instagram"):
        raise ValueError("channel must be 'facebook' or 'instagram'")
    rng = random.Random(seed)
    start = _utc(week_start)
    instagram = channel == "instagram"
    page = fake.add_page("ACME Support")
    brand = (
        fake.add_instagram_account("acme", page_id=page["id"])["id"] if instagram else page["id"]
    )
    customers = [
        fake.add_user(name, username=handle if instagram else None)["id"]
        for name, handle in _CUSTOMERS
    ]
    containers: dict[int, str] = {}
    kinds = [KINDS[i % len(KINDS)] for i in range(threads)]
    rng.shuffle(kinds)
    for index, kind in enumerate(kinds):
        day = index * 7 // max(threads, 1)
        asked = start + timedelta(days=day, hours=rng.choice([9, 10, 11, 13, 16, 18, 21]))
        asked += timedelta(minutes=rng.randrange(60))
        customer = customers[index % len(customers)]
        question = rng.choice(_QUESTIONS).format(n=1000 + index)
        answer = {
            "fast": timedelta(minutes=rng.randrange(5, 40)),
            "late": timedelta(hours=rng.randrange(5, 20)),
        }.get(kind, timedelta(minutes=rng.randrange(15, 90)))
        if kind == "private":
            fake.message(page["id"], customer, question, asked)
            fake.message(
                page["id"], customer, rng.choice(_REPLIES), asked + answer, from_brand=True
            )
            continue
        if day not in containers:  # one post (or media) a day, at 08:00, that customers answer
            published = start + timedelta(days=day, hours=8)
            caption = f"Our winter sale, day {day + 1}! Questions welcome."
            containers[day] = (
                fake.publish_media(brand, caption, published)["id"]
                if instagram
                else fake.post(brand, caption, published)["id"]
            )
        root = fake.comment(containers[day], customer, question, asked)["id"]
        if kind == "never":
            continue
        replied = asked + answer
        fake.comment(containers[day], brand, rng.choice(_REPLIES), replied, parent_id=root)
        if kind == "follow_up":
            later = replied + timedelta(hours=rng.randrange(1, 4))
            fake.comment(containers[day], customer, rng.choice(_FOLLOW_UPS), later, parent_id=root)
        elif kind == "thanks":
            later = replied + timedelta(minutes=rng.randrange(10, 60))
            fake.comment(containers[day], customer, "Thank you so much! 🙏", later, parent_id=root)
    if instagram:
        credentials = {
            "access_token": page["access_token"],
            "ig_user_id": brand,
            "page_id": page["id"],
        }
    else:
        credentials = {"page_access_token": page["access_token"], "page_id": page["id"]}
    return {"credentials": credentials, "own_ids": [brand]}


__all__ = [
    "PERMISSIONS",
    "FakeGraph",
    "Field",
    "graph_error",
    "graph_time",
    "parse_fields",
    "render_fields",
    "script_conversations",
    "throttle_body",
]
