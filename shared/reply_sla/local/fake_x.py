"""An in-memory X API v2 on 127.0.0.1 that answers as the X OpenAPI specs document.

Stdlib only. By default it speaks X API 2.166 (`tweet.fields`, `referenced_tweets`,
`includes.tweets`); `FakeX(clock, field_family="posts")` speaks 2.167 (`post.fields`,
`referenced_posts`, `includes.posts`) and refuses the old names, as the renamed API does. Newest
first; `since_id` / `until_id` / `start_time` / `pagination_token` paging with `meta.next_token`; an
empty page is `{"meta": {"result_count": 0}}`; only the 800 most recent mentions (3200 own posts)
are reachable; `x-rate-limit-*` headers on every response; errors as X's problem objects. Posts
created after `clock()` are not there yet, so a demo can play a simulated week against it.
"""

from __future__ import annotations

import html
import itertools
import random
import re
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any

from reply_sla.local.fake_http import FakeHttpServer, FakeRequest, Reply

TWITTER_EPOCH_MS = 1288834974657
RATE_WINDOW_SECONDS = 900
# Requests per user token and 15-minute window, per endpoint (X's Pro-tier figures).
RATE_LIMITS = {"me": 75, "mentions": 300, "tweets": 900, "lookup": 900, "other": 900}
# X returns only this many of the most recent posts of a timeline, whatever the paging.
REACH = {"mentions": 800, "tweets": 3200}
PROBLEM_JSON = "application/problem+json"
_ID = re.compile(r"^[0-9]{1,19}$")
_MENTION = re.compile(r"(?<![\w@])@(\w{1,15})")
_TIMELINE_PARAMS = {
    "since_id",
    "until_id",
    "max_results",
    "pagination_token",
    "start_time",
    "end_time",
}
_APP_ONLY_REFUSED = (
    "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported "
    "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."
)


def _enum(words: str) -> frozenset[str]:
    return frozenset(words.split())


@dataclass(frozen=True)
class _Shape:
    """The names one spec version uses (2.167 renamed tweets to posts)."""

    fields_param: str
    referenced: str
    includes: str
    edit_history: str
    referenced_expansion: str
    problems: str
    post_fields: frozenset[str]
    expansions: frozenset[str]
    user_fields: frozenset[str]
    user_expansions: frozenset[str]


# The enums of each spec's parameters (tests check them against the spec files).
SHAPES = {
    "tweets": _Shape(
        fields_param="tweet.fields",
        referenced="referenced_tweets",
        includes="tweets",
        edit_history="edit_history_tweet_ids",
        referenced_expansion="referenced_tweets.id",
        problems="https://api.twitter.com/2/problems/",
        post_fields=_enum(
            "article attachments author_id card_uri community_id context_annotations "
            "conversation_id created_at display_text_range edit_controls edit_history_tweet_ids "
            "entities geo id in_reply_to_user_id lang matched_media_notes media_metadata "
            "non_public_metrics note_request_suggestions note_tweet organic_metrics "
            "paid_partnership possibly_sensitive promoted_metrics public_metrics "
            "referenced_tweets reply_settings scopes source suggested_source_links "
            "suggested_source_links_with_counts text withheld"
        ),
        expansions=_enum(
            "article.cover_media article.media_entities attachments.media_keys "
            "attachments.media_source_tweet attachments.poll_ids author_id "
            "edit_history_tweet_ids entities.mentions.username geo.place_id in_reply_to_user_id "
            "entities.note.mentions.username referenced_tweets.id "
            "referenced_tweets.id.attachments.media_keys referenced_tweets.id.author_id"
        ),
        user_fields=_enum(
            "affiliation confirmed_email connection_status created_at description entities id "
            "is_identity_verified location most_recent_tweet_id name parody pinned_tweet_id "
            "profile_banner_url profile_image_url protected public_metrics receives_your_dm "
            "subscription subscription_type url username verified verified_followers_count "
            "verified_type withheld"
        ),
        user_expansions=frozenset(
            {"affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id"}
        ),
    ),
    "posts": _Shape(
        fields_param="post.fields",
        referenced="referenced_posts",
        includes="posts",
        edit_history="edit_history_post_ids",
        referenced_expansion="referenced_posts",
        problems="https://api.x.com/2/problems/",
        post_fields=_enum(
            "article article_title attachments card_uri community_id context_annotations "
            "conversation_id created_at display_text_range edit_controls entities geo id lang "
            "matched_media_notes media_metadata non_public_metrics note_post "
            "note_request_suggestions organic_metrics paid_partnership possibly_sensitive "
            "promoted_metrics public_metrics reply_settings scopes source suggested_source_links "
            "suggested_source_links_with_counts text withheld"
        ),
        expansions=_enum(
            "article.cover_media article.media_entities attachments.media_keys "
            "attachments.media_source_tweet attachments.poll_ids author_id edit_history_post_ids "
            "entities.mentions.username geo.place_id in_reply_to_user_id referenced_posts "
            "username"
        ),
        user_fields=_enum(
            "confirmed_email connection_status created_at description entities id "
            "is_identity_verified location name parody profile_banner_url profile_image_url "
            "protected public_metrics receives_your_dm subscribes_to_you subscription "
            "subscription_type url username verified verified_followers_count verified_type "
            "withheld"
        ),
        user_expansions=frozenset({"affiliation", "most_recent_post_id", "pinned_post_id"}),
    ),
}


def iso_ms(moment: datetime) -> str:
    """X's timestamp format: UTC, milliseconds, `Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


@dataclass
class _User:
    id: str
    username: str
    name: str
    created_at: datetime
    description: str = ""


@dataclass
class _Tweet:
    id: str
    author: _User
    text: str
    created_at: datetime
    in_reply_to: _Tweet | None
    conversation_id: str
    mentions: list[_User]
    deleted: bool = False


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class _Token:
    user: _User | None  # None: an app-only Bearer token
    revoked: bool = False


@dataclass
class _Query:
    """A request's validated parameters."""

    fields: set[str] = field(default_factory=set)
    expansions: set[str] = field(default_factory=set)
    user_fields: set[str] = field(default_factory=set)
    params: dict[str, str] = field(default_factory=dict)


class _Invalid(Exception):
    """A query parameter X would refuse: (name, value, message)."""

    def __init__(self, name: str, value: str, message: str) -> None:
        super().__init__(message)
        self.name, self.value, self.message = name, value, message


class FakeX(FakeHttpServer):
    """The X API v2 in memory, served over HTTP on 127.0.0.1 from a daemon thread."""

    name = "fake-x"

    def __init__(
        self, clock: Callable[[], datetime] | None = None, field_family: str = "tweets"
    ) -> None:
        super().__init__()
        if field_family not in SHAPES:
            raise ValueError(f"field_family must be one of {sorted(SHAPES)}")
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.field_family = field_family
        self.shape = SHAPES[field_family]
        self._lock = threading.RLock()
        self._users: dict[str, _User] = {}
        self._tokens: dict[str, _Token] = {}
        self._tweets: dict[str, _Tweet] = {}
        self._seq = itertools.count(1)
        self._user_ids = itertools.count(0)
        self._faults: deque[_Fault] = deque()
        self._malformed: deque[str] = deque()
        self._rate: Counter[tuple[str, str, int]] = Counter()

    # --- the world -----------------------------------------------------------------------------

    def add_user(
        self, username: str, name: str | None = None, *, description: str = ""
    ) -> dict[str, Any]:
        """Create a user; its User object (id, name, username)."""
        username = username.lstrip("@")
        if not re.fullmatch(r"\w{1,15}", username):
            raise ValueError("an X username is 1-15 letters, digits or underscores")
        with self._lock:
            user = _User(
                id=str(2244994945 + 7919 * next(self._user_ids)),
                username=username,
                name=name if name is not None else username,
                created_at=self.clock().astimezone(UTC).replace(microsecond=0),
                description=description,
            )
            self._users[user.id] = user
            return self._user_object(user, set())

    def issue_token(self, user_id: str | None = None) -> str:
        """An OAuth 2.0 user-context token acting as the user, or an app-only token if none."""
        with self._lock:
            if user_id is not None and user_id not in self._users:
                raise KeyError(f"no user {user_id}")
            token = secrets.token_urlsafe(24)
            self._tokens[token] = _Token(self._users[user_id] if user_id else None)
            return token

    def revoke_token(self, token: str) -> None:
        """The token is refused from now on (expired, or access revoked by the user)."""
        with self._lock:
            self._tokens[token].revoked = True

    def post(
        self, author_id: str, text: str, created_at: datetime, *, in_reply_to: str | None = None
    ) -> dict[str, Any]:
        """Publish a post; users named with @username, and the author replied to, are mentioned."""
        if created_at.tzinfo is None:
            raise ValueError("created_at must carry a time zone")
        with self._lock:
            author = self._users[author_id]
            parent = self._tweets[in_reply_to] if in_reply_to else None
            named = {u.username.lower(): u for u in self._users.values()}
            mentioned = {
                named[m.lower()].id: named[m.lower()]
                for m in _MENTION.findall(text)
                if m.lower() in named
            }
            if parent is not None:
                mentioned.setdefault(parent.author.id, parent.author)
            mentioned.pop(author_id, None)
            millis = int(created_at.timestamp() * 1000)
            ident = str(((millis - TWITTER_EPOCH_MS) << 22) | (next(self._seq) & 0x3FFFFF))
            tweet = _Tweet(
                id=ident,
                author=author,
                text=text,
                created_at=created_at.astimezone(UTC),
                in_reply_to=parent,
                conversation_id=parent.conversation_id if parent else ident,
                mentions=list(mentioned.values()),
            )
            self._tweets[ident] = tweet
            every = self.shape.post_fields | {self.shape.referenced}
            return self._post_object(tweet, every, self.shape.expansions)

    def delete(self, tweet_id: str) -> None:
        """Delete a post: it leaves every timeline; references to it report it not found."""
        with self._lock:
            self._tweets[tweet_id].deleted = True

    def next_post_after(self, moment: datetime) -> datetime | None:
        """When the next scripted post appears (lets a simulation skip idle minutes)."""
        with self._lock:
            later = [t.created_at for t in self._tweets.values() if t.created_at > moment]
        return min(later, default=None)

    # --- fault injection -----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """The next `times` requests answer `status` (default body: X's problem for it)."""
        reply = self._problem(status) if body is None else body
        with self._lock:
            self._faults.extend(_Fault(status, dict(headers or {}), reply) for _ in range(times))

    def malformed_next(self, times: int = 1, kind: str = "shape") -> None:
        """The next `times` successful responses break the documented shape.

        kinds: `shape` (a JSON list for the object), `item` (the first post of `data` loses its
        `author_id` and gets a bad `created_at`), `html` (a 200 HTML page, as a proxy may send).
        """
        if kind not in ("shape", "item", "html"):
            raise ValueError(f"unknown kind {kind!r}")
        with self._lock:
            self._malformed.extend(kind for _ in range(times))

    # --- objects -------------------------------------------------------------------------------

    def _user_object(self, user: _User, fields: set[str]) -> dict[str, Any]:
        obj: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        extra = {
            "created_at": iso_ms(user.created_at),
            "description": user.description,
            "protected": False,
            "verified": False,
        }
        obj.update({k: v for k, v in extra.items() if k in fields})
        return obj

    def _post_object(
        self,
        tweet: _Tweet,
        fields: set[str] | frozenset[str],
        expansions: set[str] | frozenset[str],
    ) -> dict[str, Any]:
        shape = self.shape
        parent = tweet.in_reply_to
        # X escapes &, < and > in post text.
        obj: dict[str, Any] = {
            "id": tweet.id,
            "text": html.escape(tweet.text, quote=False),
            shape.edit_history: [tweet.id],
        }
        # An expansion brings the field it expands (2.167 lists some only as expansions).
        wanted = set(fields) | {f for f in ("author_id", "in_reply_to_user_id") if f in expansions}
        if shape.referenced_expansion in expansions:
            wanted.add(shape.referenced)
        values: dict[str, Any] = {
            "author_id": tweet.author.id,
            "conversation_id": tweet.conversation_id,
            "created_at": iso_ms(tweet.created_at),
            "in_reply_to_user_id": parent.author.id if parent else None,
            shape.referenced: [{"type": "replied_to", "id": parent.id}] if parent else None,
            "lang": "en",
            "possibly_sensitive": False,
            "reply_settings": "everyone",
        }
        obj.update({k: v for k, v in values.items() if k in wanted and v is not None})
        return obj

    def _expand(self, tweets: list[_Tweet], query: _Query, now: datetime) -> dict[str, Any]:
        """`data` with the `includes` (and partial `errors`) its expansions ask for."""
        shape = self.shape
        body: dict[str, Any] = {
            "data": [self._post_object(t, query.fields, query.expansions) for t in tweets]
        }
        users: dict[str, _User] = {}
        if "author_id" in query.expansions:
            users.update((t.author.id, t.author) for t in tweets)
        if "in_reply_to_user_id" in query.expansions:
            users.update(
                (t.in_reply_to.author.id, t.in_reply_to.author) for t in tweets if t.in_reply_to
            )
        included: dict[str, _Tweet] = {}
        errors: list[dict[str, Any]] = []
        if shape.referenced_expansion in query.expansions:
            for parent in (t.in_reply_to for t in tweets if t.in_reply_to):
                if self._visible(parent, now):
                    included[parent.id] = parent
                elif not any(e["resource_id"] == parent.id for e in errors):
                    errors.append(self._not_found("tweet", shape.referenced_expansion, parent.id))
        includes: dict[str, Any] = {}
        if users:
            includes["users"] = [self._user_object(u, query.user_fields) for u in users.values()]
        if included:
            includes[shape.includes] = [
                self._post_object(t, query.fields, set()) for t in included.values()
            ]
        if includes:
            body["includes"] = includes
        if errors:
            body["errors"] = errors
        return body

    def _problem(self, status: int) -> dict[str, Any]:
        if status == 402:
            return {
                "title": "CreditsDepleted",
                "detail": "Your account does not have any credits to fulfill this request.",
                "type": self.shape.problems + "credits",
                "status": 402,
            }
        phrase = HTTPStatus(status).phrase
        return {"title": phrase, "detail": phrase, "type": "about:blank", "status": status}

    def _not_found(self, resource: str, parameter: str, value: str) -> dict[str, Any]:
        return {
            "value": value,
            "detail": f"Could not find {resource} with {parameter}: [{value}].",
            "title": "Not Found Error",
            "resource_type": resource,
            "parameter": parameter,
            "resource_id": value,
            "type": self.shape.problems + "resource-not-found",
        }

    def _visible(self, tweet: _Tweet, now: datetime) -> bool:
        return not tweet.deleted and tweet.created_at <= now

    # --- requests ------------------------------------------------------------------------------

    def respond(self, request: FakeRequest) -> Reply:
        """Answer one request: (status, headers, JSON body or raw text)."""
        with self._lock:
            now = self.clock()
            route, match = _route(request.path)
            auth = request.headers.get("Authorization", "")
            secret = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
            window = int(now.timestamp()) // RATE_WINDOW_SECONDS * RATE_WINDOW_SECONDS
            self._rate[(secret or "-", route, window)] += 1
            used = self._rate[(secret or "-", route, window)]
            limit = RATE_LIMITS[route]
            headers = {
                "Date": format_datetime(now.astimezone(UTC), usegmt=True),
                "x-rate-limit-limit": str(limit),
                "x-rate-limit-remaining": str(max(0, limit - used)),
                "x-rate-limit-reset": str(window + RATE_WINDOW_SECONDS),
            }
            if self._faults:
                fault = self._faults.popleft()
                if fault.status == 429:
                    headers["x-rate-limit-remaining"] = "0"
                return (
                    fault.status,
                    {**headers, "Content-Type": PROBLEM_JSON, **fault.headers},
                    fault.body,
                )
            token = self._tokens.get(secret)
            if token is None or token.revoked:
                return 401, {**headers, "Content-Type": PROBLEM_JSON}, self._problem(401)
            if used > limit:
                return 429, {**headers, "Content-Type": PROBLEM_JSON}, self._problem(429)
            if request.method != "GET" or match is None:
                return 404, {**headers, "Content-Type": PROBLEM_JSON}, self._problem(404)
            try:
                status, body = self._answer(route, match, request.params, token, now)
            except _Invalid as bad:
                return 400, {**headers, "Content-Type": PROBLEM_JSON}, self._invalid(bad)
            if status != 200:
                return status, {**headers, "Content-Type": PROBLEM_JSON}, body
            if self._malformed:
                kind = self._malformed.popleft()
                if kind == "html":
                    page = "<!DOCTYPE html><html><body><h1>Something went wrong</h1></body></html>"
                    return 200, {**headers, "Content-Type": "text/html; charset=utf-8"}, page
                body = _break(kind, body)
            return 200, headers, body

    def _answer(
        self,
        route: str,
        match: re.Match[str],
        params: dict[str, list[str]],
        token: _Token,
        now: datetime,
    ) -> tuple[int, Any]:
        shape = self.shape
        fields = {
            shape.fields_param,
            "expansions",
            "media.fields",
            "poll.fields",
            "user.fields",
            "place.fields",
        }
        if route == "me":
            query = self._query(
                params, {"user.fields", "expansions", shape.fields_param}, shape.user_expansions
            )
            if token.user is None:
                return 403, {
                    "title": "Unsupported Authentication",
                    "detail": _APP_ONLY_REFUSED,
                    "type": shape.problems + "unsupported-authentication",
                    "status": 403,
                }
            return 200, {"data": self._user_object(token.user, query.user_fields)}
        ident = match.group(1)
        if not _ID.match(ident):
            raise _Invalid(
                "id",
                ident,
                f"The `id` query parameter value [{ident}] does not match ^[0-9]{{1,19}}$",
            )
        if route == "lookup":
            query = self._query(params, fields, shape.expansions)
            tweet = self._tweets.get(ident)
            if tweet is None or not self._visible(tweet, now):
                return 200, {"errors": [self._not_found("tweet", "id", ident)]}
            body = self._expand([tweet], query, now)
            body["data"] = body["data"][0]
            return 200, body
        allowed = fields | _TIMELINE_PARAMS | ({"exclude"} if route == "tweets" else set())
        query = self._query(params, allowed, shape.expansions)
        user = self._users.get(ident)
        if user is None:
            return 200, {"errors": [self._not_found("user", "id", ident)]}
        if route == "mentions":
            tweets = [t for t in self._tweets.values() if user in t.mentions]
        else:
            tweets = [t for t in self._tweets.values() if t.author is user]
            if "replies" in query.params.get("exclude", "").split(","):
                tweets = [t for t in tweets if t.in_reply_to is None]
        visible = [t for t in tweets if self._visible(t, now)]
        return 200, self._page(visible, query, REACH[route], now)

    def _query(
        self, params: dict[str, list[str]], allowed: set[str], expansions: frozenset[str]
    ) -> _Query:
        """The request's parameters, refused as X refuses them (names, enums, ranges)."""
        shape = self.shape
        enums = {
            shape.fields_param: shape.post_fields,
            "expansions": expansions,
            "user.fields": shape.user_fields,
            "exclude": frozenset({"replies", "retweets"}),
        }
        query = _Query()
        for name, values in params.items():
            if name not in allowed:
                message = (
                    f"The query parameter [{name}] is not one of [{','.join(sorted(allowed))}]"
                )
                raise _Invalid(name, values[-1], message)
            query.params[name] = values[-1]
        for name, value in query.params.items():
            problem = _value_problem(name, value, enums)
            if problem:
                raise _Invalid(name, value, f"The `{name}` query parameter value {problem}")
        for name, target in (
            (shape.fields_param, query.fields),
            ("expansions", query.expansions),
            ("user.fields", query.user_fields),
        ):
            if name in query.params:
                target.update(query.params[name].split(","))
        return query

    def _page(
        self, tweets: list[_Tweet], query: _Query, reach: int, now: datetime
    ) -> dict[str, Any]:
        """X's timeline paging: newest first, `since_id` over `start_time`, tokens both ways."""
        params = query.params
        chosen = sorted(tweets, key=lambda t: int(t.id), reverse=True)[:reach]
        since, until = params.get("since_id"), params.get("until_id")
        if since:
            chosen = [t for t in chosen if int(t.id) > int(since)]
        elif params.get("start_time"):
            start = _time(params["start_time"])
            chosen = [t for t in chosen if start is not None and t.created_at >= start]
        if until:
            chosen = [t for t in chosen if int(t.id) < int(until)]
        elif params.get("end_time"):
            end = _time(params["end_time"])
            chosen = [t for t in chosen if end is not None and t.created_at < end]
        limit = int(params.get("max_results") or 10)
        token = _decode_token(params["pagination_token"]) if "pagination_token" in params else None
        if token is not None and token[1]:  # previous_token: the page just above
            page = [t for t in chosen if int(t.id) > token[0]][-limit:]
        elif token is not None:
            page = [t for t in chosen if int(t.id) < token[0]][:limit]
        else:
            page = chosen[:limit]
        meta: dict[str, Any] = {"result_count": len(page)}
        if not page:
            return {"meta": meta}
        meta.update(newest_id=page[0].id, oldest_id=page[-1].id)
        if any(int(t.id) < int(page[-1].id) for t in chosen):
            meta["next_token"] = _encode_token(int(page[-1].id), previous=False)
        if token is not None and any(int(t.id) > int(page[0].id) for t in chosen):
            meta["previous_token"] = _encode_token(int(page[0].id), previous=True)
        return {**self._expand(page, query, now), "meta": meta}

    def _invalid(self, bad: _Invalid) -> dict[str, Any]:
        return {
            "errors": [{"parameters": {bad.name: [bad.value]}, "message": bad.message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": self.shape.problems + "invalid-request",
        }


def _value_problem(name: str, value: str, enums: dict[str, frozenset[str]]) -> str | None:
    """What X would say is wrong with one parameter's value, if anything."""
    if name in enums:
        bad = next((v for v in value.split(",") if v not in enums[name]), None)
        return None if bad is None else f"[{bad}] is not one of [{','.join(sorted(enums[name]))}]"
    if name in ("since_id", "until_id") and not _ID.match(value):
        return f"[{value}] does not match ^[0-9]{{1,19}}$"
    if name == "max_results" and not (value.isdigit() and 5 <= int(value) <= 100):
        return f"[{value}] is not between 5 and 100"
    if name in ("start_time", "end_time") and _time(value) is None:
        return f"[{value}] is not a valid RFC 3339 date-time"
    if name == "pagination_token" and _decode_token(value) is None:
        return f"[{value}] is not a valid pagination token"
    return None


def _route(path: str) -> tuple[str, re.Match[str] | None]:
    for name, pattern in (
        ("me", r"/2/users/(me)"),
        ("mentions", r"/2/users/([^/]+)/mentions"),
        ("tweets", r"/2/users/([^/]+)/tweets"),
        ("lookup", r"/2/tweets/([^/]+)"),
    ):
        if match := re.fullmatch(pattern, path):
            return name, match
    return "other", None


def _time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


def _encode_token(ident: int, *, previous: bool) -> str:
    """An opaque base36 token: the id to page from, and which way."""
    return _base36(ident * 2 + int(previous))


def _decode_token(token: str) -> tuple[int, bool] | None:
    try:
        number = int(token, 36)
    except ValueError:
        return None
    ident, previous = divmod(number, 2)
    return ident, bool(previous)


def _break(kind: str, body: Any) -> Any:
    """A body that is not the documented shape."""
    if kind == "item" and isinstance(body, dict) and isinstance(body.get("data"), list):
        first = {k: v for k, v in body["data"][0].items() if k != "author_id"}
        return {**body, "data": [{**first, "created_at": "yesterday"}, *body["data"][1:]]}
    return [body] if kind == "shape" else body


# --- a scripted week ---------------------------------------------------------------------------

QUESTIONS = [
    "@acme my order #{n} has not arrived yet. Any news?",
    "@acme the app keeps crashing when I open my basket, is it broken?",
    "Hey @acme how do I change the delivery address on an order?",
    "@acme I was charged twice for order #{n} & want a refund <now>",
    "@acme is the Madrid store open on Sunday?",
    "@acme ¿dónde está mi pedido {n}? No funciona el seguimiento.",
]
REPLIES = [
    "Sorry about that! Your parcel leaves today.",
    "Thanks for telling us. Could you send us a DM with your order number?",
    "Yes: My orders > Edit, until it ships.",
    "We have refunded the duplicate charge; you will see it in 3-5 days.",
]
FOLLOW_UPS = ["the tracking link still shows nothing.", "that did not help, still broken."]
KINDS = ("fast", "late", "never", "follow_up", "thanks")


def script_conversations(
    fake: FakeX, week_start: datetime, *, threads: int = 12, seed: int = 1
) -> dict[str, Any]:
    """Load a deterministic week of conversations with the brand @acme; its account entry fields.

    Kinds, in equal shares and shuffled by the seed: answered fast, answered late, never answered,
    a follow-up after the reply, a thanks after the reply. Returns the account entry's
    `{"credentials": {"bearer_token", "user_id"}, "own_ids": [...]}` (the caller adds the base URL).
    """
    rng = random.Random(seed)
    brand = fake.add_user("acme", "ACME Support")
    token = fake.issue_token(brand["id"])
    customers = [
        fake.add_user(username, name)
        for username, name in [
            ("lucia_f", "Lucía Fernández"),
            ("tombaker", "Tom Baker"),
            ("amira_k", "Amira K."),
            ("jorge", "Jorge 🚲"),
            ("li_wei", "Li Wei"),
        ]
    ]
    kinds = [KINDS[i % len(KINDS)] for i in range(threads)]
    rng.shuffle(kinds)
    for index, kind in enumerate(kinds):
        customer = customers[index % len(customers)]
        # Conversations open over the first six days, so every one plays out within the week.
        day = week_start + timedelta(days=index * 6 // max(threads, 1))
        asked = day + timedelta(
            hours=rng.choice([8, 9, 10, 11, 13, 15, 17, 19, 21]), minutes=rng.randrange(60)
        )
        root = fake.post(customer["id"], rng.choice(QUESTIONS).format(n=1000 + index), asked)
        if kind == "never":
            continue
        waited = timedelta(
            minutes=rng.randrange(75, 300) if kind == "late" else rng.randrange(4, 50)
        )
        reply = fake.post(
            brand["id"],
            f"@{customer['username']} {rng.choice(REPLIES)}",
            asked + waited,
            in_reply_to=root["id"],
        )
        if kind == "follow_up":
            fake.post(
                customer["id"],
                f"@acme {rng.choice(FOLLOW_UPS)}",
                asked + waited + timedelta(minutes=rng.randrange(20, 240)),
                in_reply_to=reply["id"],
            )
        elif kind == "thanks":
            fake.post(
                customer["id"],
                "@acme thanks!",
                asked + waited + timedelta(minutes=3),
                in_reply_to=reply["id"],
            )
    return {
        "credentials": {"bearer_token": token, "user_id": brand["id"]},
        "own_ids": [brand["id"]],
    }


__all__ = ["SHAPES", "FakeX", "iso_ms", "script_conversations"]
