"""Meta Graph API adapters: a Facebook Page (comments, Messenger) and an Instagram account.

Both speak the Graph API: field expansion, `{"data": [...], "paging": {...}}` pages followed by
`paging.next`, the `{"error": {...}}` envelope with its codes, and usage headers instead of
counters. Comments and conversations have no id to page forward from, so every feed keeps a time
cursor: a watermark (everything older was seen) plus the ids already seen at or after it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from reply_sla.adapters.channels.http import (
    ChannelHttp,
    build_message,
    naming,
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

FACEBOOK = "facebook"
INSTAGRAM = "instagram"
# The config contract: Graph's own host when an account names no api_base_url.
DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"
# Throttling: app (4), user (17), Page (32), per-API (613) and business-use-case (800xx) limits.
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80001, 80007)})
DEAD_TOKEN_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
_PERMISSION = re.compile(r"\b(pages_[a-z_]+|instagram_[a-z_]+|business_management)\b")
# Graph caps `limit` at 100 on these edges; a conversation's nested messages come 25 at a time.
MAX_LIMIT = 100
NESTED_MESSAGES = 25
POST_FIELDS = "id,created_time,from,message,permalink_url,comments.limit(0).summary(true)"
COMMENT_FIELDS = "id,created_time,message,from,parent{id},permalink_url"
DM_FIELDS = "id,created_time,from,to,message"
CONVERSATION_FIELDS = f"id,updated_time,link,messages.limit({NESTED_MESSAGES}){{{DM_FIELDS}}}"
MEDIA_FIELDS = "id,timestamp,permalink,caption,username,comments_count"
IG_COMMENT_FIELDS = "id,timestamp,text,username,from"


def parse_time(value: Any, where: str, channel: str = FACEBOOK) -> datetime:
    """A Graph datetime (`2026-11-16T09:00:00+0000`) as aware UTC, or a `ChannelDataError`."""
    return parse_channel_time(channel, value, where, "time")


def graph_usage(headers: Mapping[str, str]) -> tuple[int | None, int]:
    """The highest usage percentage in `X-App-Usage` / `X-Business-Use-Case-Usage`, and the
    minutes until access comes back (0 when not throttled)."""
    used: int | None = None
    regain = 0
    for name in ("X-App-Usage", "X-Business-Use-Case-Usage"):
        try:
            data = json.loads(headers.get(name) or "null")
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        # X-App-Usage is one figure set; the business header lists sets per business object.
        entries = (
            [data]
            if name == "X-App-Usage"
            else [e for v in data.values() if isinstance(v, list) for e in v if isinstance(e, dict)]
        )
        for entry in entries:
            figures = [entry.get(k) for k in ("call_count", "total_cputime", "total_time")]
            numbers = [int(f) for f in figures if isinstance(f, int | float)]
            if numbers:
                used = max(used or 0, *numbers)
            wait = entry.get("estimated_time_to_regain_access")
            if isinstance(wait, int | float):
                regain = max(regain, int(wait))
    return used, regain


def graph_retry_after(response: requests.Response) -> float | None:
    """Seconds to wait: `estimated_time_to_regain_access` (minutes), else `Retry-After`."""
    _, regain = graph_usage(response.headers)
    return regain * 60.0 if regain else retry_after_header(response)


def graph_error(
    channel: str, status: int, error: Mapping[str, Any], where: str, retry_after: float | None
) -> ChannelError:
    """The channel error for a Graph `error` object: throttled, dead token, permission or other."""
    code = error.get("code")
    subcode = error.get("error_subcode")
    message = str(error.get("message") or "")[:200]
    text = f"{where} returned HTTP {status}, Graph error {code}"
    text += f"/{subcode}" if subcode else ""
    text += f": {message}"
    if code in THROTTLE_CODES:
        return ChannelRateLimited(channel, f"rate limited: {text}", retry_after)
    if code in DEAD_TOKEN_CODES:
        return ChannelAuthError(channel, f"access token refused, a person must renew it: {text}")
    if code in PERMISSION_CODES:
        named = _PERMISSION.search(message)
        need = f"the {named.group(1)} permission" if named else "a permission"
        return ChannelAuthError(channel, f"the token lacks {need}: {text}")
    return ChannelError(channel, text)


class GraphHttp(ChannelHttp):
    """`ChannelHttp` that reads Graph's error envelope, whatever the HTTP status says."""

    def _check(self, response: requests.Response, path: str) -> None:
        if not 200 <= response.status_code < 300:
            try:
                body = response.json()
            except ValueError:
                body = None
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                # Graph throttles with 400 (sometimes 403): the code decides, not the status.
                raise graph_error(
                    self.channel,
                    response.status_code,
                    {k: self._redact(str(v)) if k == "message" else v for k, v in error.items()},
                    f"GET {path}",
                    self._retry_after(response),
                )
        super()._check(response, path)


def parse_cursor(value: str | None) -> tuple[datetime | None, frozenset[str]]:
    """A time cursor `<watermark> <id,id,...>`; unreadable ones start over (no gap, at worst
    messages the store already holds)."""
    stamp, _, ids = (value or "").partition(" ")
    try:
        moment = datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None, frozenset()
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, frozenset(i for i in ids.split(",") if i)


def format_cursor(watermark: datetime, seen: set[str]) -> str:
    """The cursor string of a watermark and the ids seen at or after it."""
    stamp = watermark.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{stamp} {','.join(sorted(seen))}".strip()


def _require(item: Any, keys: tuple[str, ...], where: str, channel: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ChannelDataError(channel, f"{where}: expected an object, got {type(item).__name__}")
    missing = [key for key in keys if item.get(key) is None]
    if missing:
        named = naming(where, item.get("id"))
        raise ChannelDataError(channel, f"{named}: missing {', '.join(missing)}")
    platform_id(channel, item["id"], where)
    return item


def _text(item: dict[str, Any], key: str, where: str, channel: str) -> str:
    """An item's words (Graph leaves the field out when there are none)."""
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise ChannelDataError(channel, f"{where}: {key} is not a string")
    return (value or "").strip()


def _object(item: dict[str, Any], key: str, where: str, channel: str) -> dict[str, Any]:
    value = item.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ChannelDataError(channel, f"{where}: {key} is not an object")
    return value


def _direction(
    account: AccountConfig, author_id: str, handle: str, own_ids: frozenset[str], own: set[str]
) -> Direction:
    if author_id and author_id in account.automated_ids:
        return Direction.AUTOMATED
    if (author_id and author_id in own_ids) or (handle and handle.lower() in own):
        return Direction.OUTBOUND
    return Direction.INBOUND


def comment_to_message(
    item: Any,
    *,
    account: AccountConfig,
    own_ids: frozenset[str],
    thread_id: str | None = None,
    where: str = "comment",
) -> Message:
    """A Facebook Comment as a Message, threaded by its top-level comment (or the given thread:
    the visitor post it is under)."""
    item = _require(item, ("id", "created_time"), where, FACEBOOK)
    where = f"{where} {item['id']}"
    author = _object(item, "from", where, FACEBOOK)
    parent = _object(item, "parent", where, FACEBOOK).get("id")
    author_id = author.get("id") or ""
    return build_message(
        FACEBOOK,
        where,
        brand=account.brand,
        account_id=account.id,
        message_id=item["id"],
        thread_id=thread_id or parent or item["id"],
        parent_id=parent or (thread_id if thread_id != item["id"] else None),
        author_id=author_id,
        author_name=author.get("name"),
        created_at=parse_time(item["created_time"], where),
        text=_text(item, "message", where, FACEBOOK),
        url=item.get("permalink_url"),
        direction=_direction(account, str(author_id), "", own_ids, set()),
    )


def dm_to_message(
    item: Any,
    *,
    account: AccountConfig,
    channel: str,
    own_ids: frozenset[str],
    conversation_id: str,
    own_usernames: set[str] | None = None,
    url: str = "",
    where: str = "message",
) -> Message:
    """A Messenger or Instagram Direct message as a private Message of its conversation."""
    item = _require(item, ("id", "created_time"), where, channel)
    where = f"{where} {item['id']}"
    author = _object(item, "from", where, channel)
    author_id = author.get("id") or ""
    username = author.get("username")
    username = username if isinstance(username, str) else ""
    return build_message(
        channel,
        where,
        brand=account.brand,
        account_id=account.id,
        message_id=item["id"],
        thread_id=conversation_id,
        author_id=author_id,
        author_handle=f"@{username}" if username else "",
        author_name=author.get("name") or username,
        created_at=parse_time(item["created_time"], where, channel),
        text=_text(item, "message", where, channel),
        url=url,
        direction=_direction(account, str(author_id), username, own_ids, own_usernames or set()),
        private=True,
    )


def ig_comment_to_message(
    item: Any,
    *,
    account: AccountConfig,
    own_ids: frozenset[str],
    thread_id: str,
    own_usernames: set[str] | None = None,
    url: str = "",
    where: str = "comment",
) -> Message:
    """An Instagram comment or reply as a Message of its top-level comment's thread."""
    item = _require(item, ("id", "timestamp"), where, INSTAGRAM)
    where = f"{where} {item['id']}"
    author = _object(item, "from", where, INSTAGRAM)
    author_id = author.get("id") or ""
    username = item.get("username") or author.get("username")
    username = username if isinstance(username, str) else ""
    return build_message(
        INSTAGRAM,
        where,
        brand=account.brand,
        account_id=account.id,
        message_id=item["id"],
        thread_id=thread_id,
        parent_id=thread_id if thread_id != item["id"] else None,
        author_id=author_id,
        author_handle=f"@{username}" if username else "",
        author_name=username,
        created_at=parse_time(item["timestamp"], where, INSTAGRAM),
        text=_text(item, "text", where, INSTAGRAM),
        url=url,
        direction=_direction(account, str(author_id), username, own_ids, own_usernames or set()),
    )


def _unix(moment: datetime) -> str:
    return str(int(moment.timestamp()))


@dataclass
class _Feed:
    """What one feed's requests found, and how far back the next poll must look."""

    since: datetime
    found: dict[str, Message] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    pages: int = 0
    # An oldest-first chain stopped early: the next poll's watermark may not pass this.
    floor: datetime | None = None
    # A newest-first chain stopped early: its older items cannot be reached by a later poll.
    skipped: bool = False

    def stop(self, at: datetime) -> None:
        self.floor = at if self.floor is None else min(self.floor, at)


class _Pages:
    """One edge's pages, following `paging.next` for at most `max_pages` requests; `first` is a
    page already in hand (a nested edge of the parent's answer).

    The budget is per edge, not per feed: a feed-wide one would be spent on the same first
    posts at every poll, and the later posts would never be read.
    """

    def __init__(
        self,
        client: _GraphClient,
        feed: _Feed,
        target: str | None,
        params: dict[str, str] | None = None,
        first: Any = None,
        where: str = "",
    ) -> None:
        self._client, self._feed = client, feed
        self._target, self._params, self._first = target, params, first
        self._where = where or str(target)
        self.cut = False  # the budget ran out while more pages were there

    def __iter__(self) -> Iterator[list[Any]]:
        target, query = self._target, self._params
        if self._first is not None:
            data, target = self._client.envelope(self._first, self._where)
            yield data
        requests_made = 0
        while target:
            if requests_made == self._client.max_pages:
                self.cut = True
                return
            body, _ = self._client.http.get_json(target, query)
            requests_made += 1
            self._feed.pages += 1
            query = None  # `paging.next` carries its own query
            path = urlsplit(self._client.http.url(target)).path
            data, target = self._client.envelope(body, path)
            yield data


class _GraphClient:
    """What the Facebook and Instagram clients share: credentials, paging, time cursors."""

    channel: str
    # The token first, then the account's own Graph id.
    credential_keys: tuple[str, str]

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
        post_window_seconds: int = 7 * 86400,
        overlap_seconds: int = 300,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        missing = [key for key in self.credential_keys if not credentials.get(key)]
        if missing:
            names = ", ".join(repr(key) for key in missing)
            raise ConfigError(f"account {account.id!r}: {self.channel} credentials need {names}")
        self.account = account
        self.credentials = {k: str(v) for k, v in credentials.items() if v}
        token = self.credentials[self.credential_keys[0]]
        self.page_limit = min(max(1, page_limit), MAX_LIMIT)
        self.max_pages = max(1, max_pages)
        self.backfill = timedelta(seconds=backfill_seconds)
        self.post_window = timedelta(seconds=post_window_seconds)
        # Comments can surface a little after their created_time: look back this far again.
        self.overlap = timedelta(seconds=overlap_seconds)
        # Usernames of the account itself (Instagram replies may carry only the username).
        self.usernames: set[str] = set()
        self.http = GraphHttp(
            self.channel,
            account.api_base_url or DEFAULT_BASE_URL,
            # A header, not `access_token=` in the query: URLs end up in logs and errors.
            headers={"Authorization": f"Bearer {token}"},
            secrets=[token],
            session=session,
            timeout=timeout,
            sleep=sleep,
            retry_after=graph_retry_after,
        )

    def own_ids(self) -> frozenset[str]:
        """The configured own ids and the account's own Graph id (from the credentials)."""
        return frozenset(self.account.own_ids) | {self.credentials[self.credential_keys[1]]}

    def feeds(self) -> dict[str, Callable[[_Feed, datetime], None]]:
        """Feed name (its cursor key) -> the reader that fills a `_Feed`."""
        raise NotImplementedError

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        """Every feed's messages newer than its cursor, oldest first."""
        result = FetchResult(messages=[], cursors={})
        for name, read in self.feeds().items():
            watermark, seen = parse_cursor(cursors.get(name))
            feed = _Feed(since=watermark or now - self.backfill)
            read(feed, now)
            fresh = [m for m in feed.found.values() if m.message_id not in seen]
            result.messages += fresh
            result.cursors[name] = self._advance(feed, watermark) if fresh else cursors.get(name)
            result.pages += feed.pages
            result.errors += feed.errors
            if feed.floor is not None:
                result.notes.append(
                    f"{name}: a listing stopped after {self.max_pages} pages; "
                    "the rest follows on the next poll"
                )
            if feed.skipped:
                result.notes.append(
                    f"{name}: a newest-first listing was longer than {self.max_pages} pages; "
                    "its older items were skipped"
                )
            result.complete = result.complete and feed.floor is None and not feed.skipped
        result.messages.sort(key=lambda m: (m.created_at, m.message_id))
        response = self.http.last_response
        if response is not None:
            used, regain = graph_usage(response.headers)
            # Graph reports usage in percent of the quota: "remaining" is the percent left.
            result.rate_limit_remaining = None if used is None else max(0, 100 - used)
            if regain:
                result.rate_limit_reset_at = server_now(response) + timedelta(minutes=regain)
        return result

    def _advance(self, feed: _Feed, watermark: datetime | None) -> str:
        """The next cursor: the newest time found less the overlap, or where a chain stopped."""
        newest = max(m.created_at for m in feed.found.values())
        mark = max(newest - self.overlap, watermark or newest - self.overlap)
        if feed.floor is not None:
            # Where a chain stopped, not before it: the overlap would read the same pages again.
            mark = feed.floor
        # Everything at or after the mark comes again next time: remember it, to skip it then.
        seen = {m.message_id for m in feed.found.values() if m.created_at >= mark}
        return format_cursor(mark, seen)

    def envelope(self, body: Any, where: str) -> tuple[list[Any], str | None]:
        """A Graph page's `data` list and its `paging.next`; anything else is a data error."""
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise self.http.data_error(where, "expected a Graph page with a `data` list")
        paging = body.get("paging")
        following = paging.get("next") if isinstance(paging, dict) else None
        return body["data"], following if isinstance(following, str) and following else None

    def _nested(self, feed: _Feed, value: Any, where: str) -> Any:
        """An edge expanded inside an item (its first page); a malformed one is skipped, named,
        and the item it belongs to kept."""
        if value is None:
            return {"data": []}
        if isinstance(value, dict) and isinstance(value.get("data"), list):
            return value
        feed.errors.append(f"GET {where}: expected a Graph page with a `data` list")
        return {"data": []}

    def _keep(
        self, feed: _Feed, build: Callable[..., Message], item: Any, **kw: Any
    ) -> Message | None:
        """Normalize one item into the feed; a malformed one is skipped and named in errors."""
        try:
            message: Message = build(item, account=self.account, own_ids=self.own_ids(), **kw)
        except ChannelDataError as exc:
            # One bad item must not hold back the rest of the page.
            feed.errors.append(str(exc).removeprefix(f"{self.channel}: "))
            return None
        if message.created_at >= feed.since:
            feed.found.setdefault(message.message_id, message)
        return message

    def _dated(
        self, feed: _Feed, item: Any, key: str, where: str
    ) -> tuple[dict[str, Any], datetime] | None:
        """A container (post, media, conversation) and its time; a malformed one is skipped."""
        try:
            node = _require(item, ("id", key), where, self.channel)
            return node, parse_time(node[key], f"{where} {node['id']}", self.channel)
        except ChannelDataError as exc:
            feed.errors.append(str(exc).removeprefix(f"{self.channel}: "))
            return None

    def _conversations(self, feed: _Feed, page_id: str, platform: str) -> None:
        """Messenger or Instagram Direct: conversations by `updated_time`, newest first, each
        with its newest messages first; the conversation is the thread."""
        path = f"/{quote(page_id, safe='')}/conversations"
        params = {
            "platform": platform,
            "fields": CONVERSATION_FIELDS,
            "limit": str(self.page_limit),
        }
        listing = _Pages(self, feed, path, params)
        for data in listing:
            for index, item in enumerate(data):
                dated = self._dated(feed, item, "updated_time", f"GET {path}: conversation {index}")
                if dated is None:
                    continue
                conversation, updated = dated
                if updated < feed.since:
                    return  # newest first: the rest has nothing new
                link = conversation.get("link")
                link = link if isinstance(link, str) else ""
                url = f"https://www.facebook.com{link}" if link.startswith("/") else link
                where = f"{path}: conversation {conversation['id']}: messages"
                first = self._nested(feed, conversation.get("messages"), where)
                chain = _Pages(self, feed, None, first=first, where=where)
                for messages in chain:
                    built = [
                        self._keep(
                            feed,
                            dm_to_message,
                            message,
                            channel=self.channel,
                            own_usernames=self.usernames,
                            conversation_id=conversation["id"],
                            url=url,
                            where=f"GET {where[:-1]}",
                        )
                        for message in messages
                    ]
                    if any(m is not None and m.created_at < feed.since for m in built):
                        break  # newest first: the rest is older than the cursor
                feed.skipped = feed.skipped or chain.cut
        feed.skipped = feed.skipped or listing.cut


class FacebookClient(_GraphClient):
    """A Facebook Page: comments on its posts, visitor posts and Messenger (`ChannelClient`)."""

    channel = FACEBOOK
    credential_keys = ("page_access_token", "page_id")

    def feeds(self) -> dict[str, Callable[[_Feed, datetime], None]]:
        page_id = self.credentials["page_id"]
        return {
            "comments": self._comments,
            "messenger": lambda feed, _now: self._conversations(feed, page_id, "messenger"),
        }

    def _comments(self, feed: _Feed, now: datetime) -> None:
        """The Page feed's posts of the last `post_window_seconds`, then each one's new comments."""
        path = f"/{quote(self.credentials['page_id'], safe='')}/feed"
        params = {"fields": POST_FIELDS, "limit": str(self.page_limit)}
        horizon = now - self.post_window
        listing = _Pages(self, feed, path, params)
        for data in listing:
            for index, item in enumerate(data):
                dated = self._dated(feed, item, "created_time", f"GET {path}: post {index}")
                if dated is None:
                    continue
                post, created = dated
                if created < horizon:
                    return  # the feed is newest first
                author = post.get("from")
                visitor = isinstance(author, dict) and str(author.get("id")) not in self.own_ids()
                if visitor:  # a visitor post is a customer's thread of its own
                    self._keep(feed, comment_to_message, post, thread_id=post["id"], where="post")
                comments = post.get("comments")
                summary = comments.get("summary") if isinstance(comments, dict) else None
                # A post without a single comment needs no request of its own.
                if not isinstance(summary, dict) or summary.get("total_count") != 0:
                    self._post_comments(feed, post["id"], post["id"] if visitor else None)
        feed.skipped = feed.skipped or listing.cut

    def _post_comments(self, feed: _Feed, post_id: str, thread_id: str | None) -> None:
        path = f"/{quote(post_id, safe='')}/comments"
        params = {
            "fields": COMMENT_FIELDS,
            "filter": "stream",  # replies too, not only top-level comments
            "order": "chronological",
            # `since` is whole seconds: one earlier, so a comment in the cursor's second stays in.
            "since": str(int(feed.since.timestamp()) - 1),
            "limit": str(self.page_limit),
        }
        last = feed.since
        chain = _Pages(self, feed, path, params)
        for data in chain:
            for index, item in enumerate(data):
                where = f"GET {path}: comment" + ("" if isinstance(item, dict) else f" {index}")
                built = self._keep(feed, comment_to_message, item, thread_id=thread_id, where=where)
                last = max(last, built.created_at) if built else last
        if chain.cut:  # oldest first: everything up to `last` is in
            feed.stop(last)

    def thread_root(self, message_id: str) -> str:
        """A comment's top-level comment (itself when it is one); other ids are their own root."""
        if not re.fullmatch(r"\d+_\d+", message_id):
            return message_id  # a Messenger message: its conversation was set when fetched
        path = f"/{quote(message_id, safe='')}"
        body, _ = self.http.get_json(path, {"fields": "id,parent{id}"})
        item = _require(body, ("id",), f"GET {path}", FACEBOOK)
        return str(_object(item, "parent", f"GET {path}", FACEBOOK).get("id") or item["id"])


class InstagramClient(_GraphClient):
    """An Instagram professional account: comments on its media and, given the connected Page,
    its Direct messages (`ChannelClient`)."""

    channel = INSTAGRAM
    credential_keys = ("access_token", "ig_user_id")

    def feeds(self) -> dict[str, Callable[[_Feed, datetime], None]]:
        feeds: dict[str, Callable[[_Feed, datetime], None]] = {"comments": self._comments}
        page_id = self.credentials.get("page_id")
        if page_id:  # Instagram Direct is read through the connected Page's conversations
            feeds["dms"] = lambda feed, _now: self._conversations(feed, page_id, "instagram")
        return feeds

    def _comments(self, feed: _Feed, now: datetime) -> None:
        """Media of the last `post_window_seconds`, each one's comments with their replies.

        The comments edge has no `since`: every comment of a media with comments is read, and
        the ones before the cursor are dropped here.
        """
        path = f"/{quote(self.credentials['ig_user_id'], safe='')}/media"
        horizon = now - self.post_window
        params = {"fields": MEDIA_FIELDS, "since": _unix(horizon), "limit": str(self.page_limit)}
        listing = _Pages(self, feed, path, params)
        for data in listing:
            for index, item in enumerate(data):
                dated = self._dated(feed, item, "timestamp", f"GET {path}: media {index}")
                if dated is None:
                    continue
                media, created = dated
                if created < horizon:
                    return  # newest first
                if media.get("username"):
                    self.usernames.add(str(media["username"]).lower())
                if media.get("comments_count") != 0:
                    self._media_comments(feed, media["id"], str(media.get("permalink") or ""))
        feed.skipped = feed.skipped or listing.cut

    def _media_comments(self, feed: _Feed, media_id: str, url: str) -> None:
        path = f"/{quote(media_id, safe='')}/comments"
        fields = f"{IG_COMMENT_FIELDS},replies{{{IG_COMMENT_FIELDS}}}"
        chain = _Pages(self, feed, path, {"fields": fields, "limit": str(self.page_limit)})
        for data in chain:
            for index, item in enumerate(data):
                comment = self._dated(feed, item, "timestamp", f"GET {path}: comment {index}")
                if comment is None:
                    continue
                thread = comment[0]["id"]
                where = f"{path}: {thread}: replies"
                first = self._nested(feed, comment[0].get("replies"), where)
                replies = _Pages(self, feed, None, first=first, where=where)
                for batch in ([comment[0]], *replies):
                    for entry in batch:
                        self._keep(
                            feed,
                            ig_comment_to_message,
                            entry,
                            thread_id=thread,
                            own_usernames=self.usernames,
                            url=url,
                            where=f"GET {path}: comment",
                        )
                feed.skipped = feed.skipped or replies.cut
        # Newest first, with no `since`: a later poll would read the same first pages again.
        feed.skipped = feed.skipped or chain.cut

    def thread_root(self, message_id: str) -> str:
        """A reply's top-level comment (`parent_id`), else the comment itself."""
        path = f"/{quote(message_id, safe='')}"
        body, _ = self.http.get_json(path, {"fields": "id,parent_id"})
        item = _require(body, ("id",), f"GET {path}", INSTAGRAM)
        return str(item.get("parent_id") or item["id"])


__all__ = [
    "DEFAULT_BASE_URL",
    "FacebookClient",
    "GraphHttp",
    "InstagramClient",
    "comment_to_message",
    "dm_to_message",
    "format_cursor",
    "graph_error",
    "graph_retry_after",
    "graph_usage",
    "ig_comment_to_message",
    "parse_cursor",
    "parse_time",
]
