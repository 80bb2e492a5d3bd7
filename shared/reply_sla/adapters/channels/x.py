"""X adapter: a brand account's mentions and its own posts from the X API v2, by `since_id`."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from reply_sla.adapters.channels.http import (
    ChannelHttp,
    build_message,
    parse_channel_time,
    retry_after_header,
    server_now,
)
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction, Message
from reply_sla.errors import ChannelAuthError, ChannelDataError, ChannelError, ConfigError
from reply_sla.ports import FetchResult

CHANNEL = "x"
DEFAULT_BASE_URL = "https://api.x.com"
USERS_ME = "/2/users/me"
# X documents these reach limits: older posts are not returned, whatever the paging.
MENTIONS_REACH = 800
OWN_POSTS_REACH = 3200
MIN_RESULTS, MAX_RESULTS = 5, 100
USER_FIELDS = "username,name"
_ID = re.compile(r"^[0-9]{1,19}$")
# X usernames: letters, digits and underscores, at most 15 (older accounts up to 50).
_USERNAME = re.compile(r"^\w{1,50}$", re.ASCII)


@dataclass(frozen=True)
class FieldFamily:
    """The request parameters of one generation of the API (the specs renamed tweets to posts)."""

    name: str
    fields_param: str
    fields: str
    expansions: str


# X API <= 2.166: `tweet.fields`, `referenced_tweets`, `includes.tweets`.
TWEETS = FieldFamily(
    "tweets",
    "tweet.fields",
    "author_id,conversation_id,created_at,in_reply_to_user_id,referenced_tweets",
    "author_id,referenced_tweets.id",
)
# X API 2.167: `post.fields` no longer lists author_id or referenced_posts; the expansions add them.
POSTS = FieldFamily(
    "posts", "post.fields", "conversation_id,created_at", "author_id,referenced_posts"
)
_FAMILY_PARAMS = frozenset({"tweet.fields", "post.fields", "expansions"})


def id_key(value: str) -> int:
    """Sort key of an X id (a snowflake in a decimal string): ids compare as numbers."""
    return int(value)


def parse_time(value: Any, where: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime, or a `ChannelDataError` saying where."""
    return parse_channel_time(CHANNEL, value, where, "created_at")


def rate_limit_reset(response: requests.Response) -> float | None:
    """Seconds until `x-rate-limit-reset` on the server's clock, or Retry-After."""
    value = response.headers.get("x-rate-limit-reset", "").strip()
    if value.isdigit():
        reset = datetime.fromtimestamp(int(value), UTC)
        return max(0.0, (reset - server_now(response)).total_seconds())
    return retry_after_header(response)


def problem_detail(body: Any) -> str:
    """The human part of an X error body: a problem's detail (or title), then `errors[0]`'s."""
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else {}
    first = first if isinstance(first, dict) else {}
    parts = (body.get("detail") or body.get("title"), first.get("message") or first.get("detail"))
    return ": ".join(p for p in parts if isinstance(p, str) and p)


def referenced(tweet: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A post's references, under either name (`referenced_tweets` or `referenced_posts`)."""
    refs = tweet.get("referenced_tweets", tweet.get("referenced_posts"))
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def tweet_to_message(
    tweet: Any,
    *,
    account: AccountConfig,
    own_ids: frozenset[str],
    users: Mapping[str, Mapping[str, Any]],
    included: Mapping[str, Mapping[str, Any]] | None = None,
    where: str = "post",
) -> Message:
    """An X post as a Message, its direction seen from the brand; its thread is the conversation."""
    if not isinstance(tweet, dict):
        raise ChannelDataError(CHANNEL, f"{where}: expected an object, got {type(tweet).__name__}")
    ident = tweet.get("id")
    if not isinstance(ident, str) or not _ID.match(ident):
        raise ChannelDataError(CHANNEL, f"{where}: id is not a numeric string")
    where = f"{where} (id {ident})"
    missing = [k for k in ("author_id", "created_at", "text") if not isinstance(tweet.get(k), str)]
    if missing:
        raise ChannelDataError(CHANNEL, f"{where}: missing {', '.join(missing)}")
    author_id: str = tweet["author_id"]
    if not _ID.fullmatch(author_id):
        raise ChannelDataError(CHANNEL, f"{where}: author_id is not an X id")
    if author_id in account.automated_ids:
        direction = Direction.AUTOMATED
    elif author_id in own_ids:
        direction = Direction.OUTBOUND
    else:
        direction = Direction.INBOUND
    replied = [r.get("id") for r in referenced(tweet) if r.get("type") == "replied_to"]
    parent = replied[0] if replied else None
    if replied and (not isinstance(parent, str) or not _ID.fullmatch(parent)):
        raise ChannelDataError(CHANNEL, f"{where}: the replied-to id is not an X id")
    thread = tweet.get("conversation_id")
    if not isinstance(thread, str) or not _ID.match(thread):
        # Without the conversation, the replied-to post (when expanded) still knows it.
        parent_post = (included or {}).get(parent or "", {})
        thread = parent_post.get("conversation_id") if parent else ident
    author = users.get(author_id, {})
    username = author.get("username")
    username = username if isinstance(username, str) and _USERNAME.match(username) else ""
    return build_message(
        CHANNEL,
        where,
        brand=account.brand,
        account_id=account.id,
        message_id=ident,
        thread_id=thread if isinstance(thread, str) and _ID.match(thread) else None,
        parent_id=parent,
        author_id=author_id,
        author_handle=f"@{username}" if username else "",
        author_name=author.get("name") or username,
        created_at=parse_time(tweet["created_at"], where),
        # X escapes &, < and > in post text; the result is inert data.
        text=html.unescape(tweet["text"]),
        url=f"https://x.com/{username or 'i/web'}/status/{ident}",
        direction=direction,
    )


def is_repost(post: Any) -> bool:
    """A repost (retweet): someone else's words, not a message to answer."""
    return isinstance(post, dict) and any(r.get("type") == "retweeted" for r in referenced(post))


@dataclass
class Page:
    """One timeline page: its posts, the users and posts it includes, its ids and next token."""

    posts: list[Any]
    users: dict[str, dict[str, Any]]
    included: dict[str, dict[str, Any]]
    ids: list[str]
    next_token: str | None


def read_page(body: Any, where: str) -> Page:
    """A timeline page in either key family; a `ChannelDataError` if it is not the documented shape.

    An empty page has no `data` (`{"meta": {"result_count": 0}}`); a body without `meta` is an
    error whose problem is told.
    """
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(meta, dict):
        raise ChannelDataError(CHANNEL, f"{where}: {problem_detail(body) or 'no `meta` object'}")
    posts, includes = body.get("data", []), body.get("includes", {})
    if not isinstance(posts, list) or not isinstance(includes, dict):
        raise ChannelDataError(CHANNEL, f"{where}: expected a `data` list and `includes` object")
    token = meta.get("next_token")
    if token is not None and (not isinstance(token, str) or not token):
        raise ChannelDataError(CHANNEL, f"{where}: meta.next_token is not a token")
    ids = [meta.get("newest_id")] + [p.get("id") for p in posts if isinstance(p, dict)]
    return Page(
        posts=posts,
        users={u["id"]: u for u in _objects(includes.get("users")) if isinstance(u.get("id"), str)},
        included={
            t["id"]: t
            for key in ("tweets", "posts")
            for t in _objects(includes.get(key))
            if isinstance(t.get("id"), str)
        },
        ids=[i for i in ids if isinstance(i, str) and _ID.match(i)],
        next_token=token,
    )


class _FieldFamilyRefused(ChannelError):
    """The server does not know this generation's field or expansion names."""


class _XHttp(ChannelHttp):
    """ChannelHttp that reads X's error bodies and says which refusals need a person."""

    def _check(self, response: requests.Response, path: str) -> None:
        status = response.status_code
        if status not in (400, 401, 402, 403):
            super()._check(response, path)
            return
        host = urlsplit(self.base_url).netloc
        where = f"GET {path} on {host} returned HTTP {status}{self._detail(response)}"
        if status == 400:
            if _FAMILY_PARAMS & _invalid_params(response):
                raise _FieldFamilyRefused(self.channel, where)
            raise ChannelError(self.channel, where)
        if status == 402:
            raise ChannelAuthError(
                self.channel,
                f"payment required (credits used up or plan limits): {where}; a person must top "
                "up the X developer account's credits or change its plan",
            )
        if status == 401:
            raise ChannelAuthError(
                self.channel,
                f"token refused: {where}; a person must authorize the app again and store a new "
                "bearer_token (OAuth 2.0 user tokens expire after 2 hours unless refreshed)",
            )
        if "unsupported-authentication" in _problem_type(response):
            raise ChannelAuthError(
                self.channel,
                f"this token cannot ask {path}: {where}; an app-only Bearer token needs the "
                "brand's numeric X id as credentials `user_id`",
            )
        raise ChannelAuthError(
            self.channel,
            f"access forbidden: {where}; a person must check the app's project, plan and the "
            "token's scopes (tweet.read, users.read)",
        )

    def _detail(self, response: requests.Response) -> str:
        detail = problem_detail(_json(response))
        return f" ({self._redact(detail[:200])})" if detail else ""


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _problem_type(response: requests.Response) -> str:
    body = _json(response)
    return str(body.get("type") or "") if isinstance(body, dict) else ""


def _invalid_params(response: requests.Response) -> set[str]:
    """The query parameters an X invalid-request problem names."""
    body = _json(response)
    if not isinstance(body, dict) or "invalid-request" not in str(body.get("type") or ""):
        return set()
    named = {str(body["parameter"])} if body.get("parameter") else set()
    for error in body.get("errors") or []:
        if isinstance(error, dict) and isinstance(error.get("parameters"), dict):
            named |= set(error["parameters"])
    return named


@dataclass
class _Feed:
    """What one feed's page chain yielded."""

    messages: list[Message] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    newest: str | None = None
    seen: int = 0
    pages: int = 0
    complete: bool = True


class XClient:
    """One brand account on X (the `ChannelClient` port); direct messages are not read."""

    channel: str = CHANNEL

    def __init__(
        self,
        account: AccountConfig,
        credentials: Mapping[str, str],
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        page_limit: int = MAX_RESULTS,
        max_pages: int = 50,
        backfill_seconds: int = 7 * 86400,
        sleep: Callable[[float], None] = time.sleep,
        field_family: FieldFamily = TWEETS,
    ) -> None:
        token = credentials.get("bearer_token")
        if not token:
            raise ConfigError(f"account {account.id!r}: x credentials need 'bearer_token'")
        user_id = credentials.get("user_id") or None
        if user_id is not None and not _ID.match(user_id):
            raise ConfigError(f"account {account.id!r}: x user_id must be the numeric X user id")
        self.account = account
        self.page_limit = min(max(page_limit, MIN_RESULTS), MAX_RESULTS)
        self.max_pages = max(1, max_pages)
        self.backfill_seconds = backfill_seconds
        # The first guess; a server that refuses its names gets the other family's (see _get).
        self.field_family = field_family
        self._http = _XHttp(
            CHANNEL,
            account.api_base_url or DEFAULT_BASE_URL,
            headers={"Authorization": f"Bearer {token}"},
            secrets=[token],
            session=session,
            timeout=timeout,
            sleep=sleep,
            retry_after=rate_limit_reset,
        )
        self._me: str | None = user_id or (account.own_ids[0] if account.own_ids else None)
        self._rate: tuple[int, datetime | None] | None = None

    def _self_id(self) -> str:
        if self._me is None:
            body, _ = self._http.get_json(USERS_ME)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict) or not _ID.match(str(data.get("id") or "")):
                problem = problem_detail(body)
                raise self._http.data_error(
                    USERS_ME, "no user id" + (f": {problem}" if problem else "")
                )
            self._me = str(data["id"])
        return self._me

    def own_ids(self) -> frozenset[str]:
        """The configured own ids and the polled user (credentials user_id, else /2/users/me)."""
        return frozenset(self.account.own_ids) | {self._self_id()}

    def _get(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        fields: str | None = None,
        expand: bool = True,
    ) -> dict[str, Any]:
        """GET with this family's field names; one retry with the other family's if refused."""
        for attempt in range(2):
            family = self.field_family
            query = {**params, family.fields_param: fields or family.fields}
            if expand:
                query["expansions"] = family.expansions
            try:
                body, response = self._http.get_json(path, query)
            except _FieldFamilyRefused:
                if attempt:
                    raise
                self.field_family = POSTS if family is TWEETS else TWEETS
                continue
            self._track_rate(response)
            if not isinstance(body, dict):
                raise self._http.data_error(path, f"expected an object, got {type(body).__name__}")
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    def _track_rate(self, response: requests.Response) -> None:
        """Keep the tightest rate-limit figures seen in this poll (each endpoint has its own)."""
        remaining = response.headers.get("x-rate-limit-remaining", "").strip()
        reset = response.headers.get("x-rate-limit-reset", "").strip()
        if not remaining.isdigit():
            return
        figures = (
            int(remaining),
            datetime.fromtimestamp(int(reset), UTC) if reset.isdigit() else None,
        )
        if self._rate is None or figures[0] < self._rate[0]:
            self._rate = figures

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        """New mentions and own posts (each by `since_id`), oldest first, thread = conversation."""
        me = quote(self._self_id(), safe="")
        own_ids = self.own_ids()
        horizon = now - timedelta(seconds=self.backfill_seconds)
        self._rate = None
        feeds = {
            "mentions": self._walk(
                f"/2/users/{me}/mentions", {}, cursors.get("mentions"), horizon, own_ids
            ),
            # Reposts are someone else's words; the brand's replies are what closes a turn.
            "own": self._walk(
                f"/2/users/{me}/tweets",
                {"exclude": "retweets"},
                cursors.get("own"),
                horizon,
                own_ids,
            ),
        }
        messages: dict[str, Message] = {}
        notes: list[str] = []
        new_cursors: dict[str, str | None] = {}
        for name, feed in feeds.items():
            for message in feed.messages:
                messages.setdefault(message.message_id, message)
            old = cursors.get(name)
            new_cursors[name] = _next_cursor(old, feed)
            if not feed.complete:
                notes.append(
                    f"{name}: stopped after {self.max_pages} pages; "
                    + (
                        "the cursor stays and the next poll asks again"
                        if old
                        else "older ones skipped"
                    )
                )
            reach = MENTIONS_REACH if name == "mentions" else OWN_POSTS_REACH
            if feed.complete and feed.seen >= reach:
                notes.append(
                    f"{name}: X returns only the {reach} most recent; any older ones "
                    + ("since the last poll" if old else "in the backfill window")
                    + " are out of reach"
                )
        rate = self._rate
        return FetchResult(
            messages=sorted(messages.values(), key=lambda m: (m.created_at, id_key(m.message_id))),
            cursors=new_cursors,
            pages=sum(f.pages for f in feeds.values()),
            complete=all(f.complete for f in feeds.values()),
            notes=notes,
            errors=[e for f in feeds.values() for e in f.errors],
            rate_limit_remaining=rate[0] if rate else None,
            rate_limit_reset_at=rate[1] if rate else None,
        )

    def _walk(
        self,
        path: str,
        params: dict[str, str],
        cursor: str | None,
        horizon: datetime,
        own_ids: frozenset[str],
    ) -> _Feed:
        """One feed's pages, newest first: all since the cursor, or back to the horizon if none."""
        feed = _Feed()
        query = {**params, "max_results": str(self.page_limit), "user.fields": USER_FIELDS}
        if cursor:
            query["since_id"] = cursor
        else:
            query["start_time"] = horizon.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        token: str | None = None
        while True:
            if feed.pages == self.max_pages:
                feed.complete = False
                return feed
            page_query = {**query, "pagination_token": token} if token else query
            body = self._get(path, page_query)
            feed.pages += 1
            token = self._read_page(path, body, feed, own_ids)
            if token is None:
                return feed

    def _read_page(
        self, path: str, body: dict[str, Any], feed: _Feed, own_ids: frozenset[str]
    ) -> str | None:
        """Add a page's posts to the feed (skipping malformed ones); the next page's token."""
        page = read_page(body, f"GET {path}")
        for index, item in enumerate(page.posts):
            if is_repost(item):
                continue  # a repost of a mention carries no new words
            try:
                message = tweet_to_message(
                    item,
                    account=self.account,
                    own_ids=own_ids,
                    users=page.users,
                    included=page.included,
                    where=f"GET {path}: item {index}",
                )
            except ChannelDataError as exc:
                feed.errors.append(str(exc))
                continue
            feed.messages.append(message)
        feed.seen += len(page.posts)
        for ident in page.ids:
            if feed.newest is None or id_key(ident) > id_key(feed.newest):
                feed.newest = ident
        return page.next_token

    def thread_root(self, message_id: str) -> str:
        """The post's `conversation_id`: X names the root of every thread (one lookup).

        A post that is gone (deleted, or now protected) roots its own thread.
        """
        path = f"/2/tweets/{quote(message_id, safe='')}"
        body = self._get(path, {}, fields="conversation_id", expand=False)
        data = body.get("data")
        if data is None and body.get("errors"):
            return message_id
        root = data.get("conversation_id") if isinstance(data, dict) else None
        if not isinstance(root, str) or not _ID.match(root):
            raise self._http.data_error(path, "expected a post with a conversation_id")
        return root


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _next_cursor(old: str | None, feed: _Feed) -> str | None:
    """The newest id seen, once the whole chain since the old cursor was read; never backwards."""
    if feed.newest is None or (old and not feed.complete):
        return old
    if old and _ID.match(old) and id_key(feed.newest) <= id_key(old):
        return old
    return feed.newest


__all__ = [
    "POSTS",
    "TWEETS",
    "FieldFamily",
    "Page",
    "XClient",
    "id_key",
    "is_repost",
    "problem_detail",
    "rate_limit_reset",
    "read_page",
    "tweet_to_message",
]
