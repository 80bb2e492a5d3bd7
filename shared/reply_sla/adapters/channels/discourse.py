"""Discourse adapter: topics bumped since the cursor from /latest.json, their new posts by topic."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlencode

import requests

from reply_sla.adapters.channels.http import (
    MAX_MARKUP_CHARS,
    ChannelHttp,
    build_message,
    parse_channel_time,
    retry_after_header,
)
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction, Message
from reply_sla.errors import ChannelDataError, ChannelError, ConfigError
from reply_sla.ports import FetchResult

CHANNEL = "discourse"
FEED = "topics"
LATEST = "/latest.json"
REGULAR, MODERATOR_ACTION, SMALL_ACTION, WHISPER = 1, 2, 3, 4
# Staff-only or system posts: they never close a turn (SLA_SEMANTICS §2).
INTERNAL_POST_TYPES = frozenset({MODERATOR_ACTION, SMALL_ACTION, WHISPER})
MAX_PER_PAGE = 100  # /latest.json's `per_page` ceiling
POSTS_PER_REQUEST = 50  # post_ids[] per /t/{id}/posts.json call
MEMBERS_PER_PAGE = 1000  # GroupsController#members' `limit` ceiling
# Posts commit a little after their created_at and app servers' clocks differ: topics bumped up to
# this long before the newest bump seen are looked at again (the poll service skips stored posts).
OVERLAP = timedelta(minutes=5)
_BLOCKS = frozenset(
    {"p", "div", "li", "blockquote", "aside", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "tr"}
)


class _CookedText(HTMLParser):
    """Collects the text of Discourse's cooked HTML: a newline per block, emoji by their alt."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "img" and "emoji" in (dict(attrs).get("class") or ""):
            self.parts.append(dict(attrs).get("alt") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def cooked_to_text(cooked: str) -> str:
    """Plain text of cooked HTML: tags dropped, entities unescaped; the result is inert data."""
    parser = _CookedText()
    parser.feed(cooked[:MAX_MARKUP_CHARS])
    parser.close()
    lines = "".join(parser.parts).splitlines()
    return "\n".join(line.strip() for line in lines if line.strip())


def parse_time(value: Any, where: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime, or a `ChannelDataError` saying where."""
    return parse_channel_time(CHANNEL, value, where, "time")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rate_limit_wait(response: requests.Response) -> float | None:
    """Seconds to wait on a 429: `Retry-After`, else the JSON body's `extras.wait_seconds`."""
    header = retry_after_header(response)
    if header is not None:
        return header
    try:
        body = response.json()
    except ValueError:
        return None
    extras = body.get("extras") if isinstance(body, dict) else None
    wait = extras.get("wait_seconds") if isinstance(extras, dict) else None
    return max(0.0, float(wait)) if isinstance(wait, int | float) else None


def is_int(value: Any) -> bool:
    """A JSON integer (not a boolean, which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_post(item: Any, where: str) -> dict[str, Any]:
    """A post with the fields the adapter reads, typed as Discourse sends them."""
    if not isinstance(item, dict):
        raise ChannelDataError(CHANNEL, f"{where}: expected an object, got {type(item).__name__}")
    name = f"{where} {item['id']}" if is_int(item.get("id")) else where
    bad = [k for k in ("id", "post_number", "post_type") if not is_int(item.get(k))]
    bad += [k for k in ("username", "created_at") if not isinstance(item.get(k), str)]
    if bad:
        raise ChannelDataError(CHANNEL, f"{name}: missing or mistyped {', '.join(bad)}")
    for key in ("raw", "cooked"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise ChannelDataError(CHANNEL, f"{name}: {key} is not a string")
    parse_time(item["created_at"], name)
    return item


@dataclass(frozen=True)
class Topic:
    """What a message needs from its topic."""

    id: int
    slug: str
    private: bool


@dataclass(frozen=True)
class Staff:
    """Who speaks for the brand: usernames (lower case), or the forum's staff if none is set."""

    usernames: frozenset[str]
    automated: frozenset[str]
    by_staff_flag: bool


def direction_of(post: Mapping[str, Any], staff: Staff) -> Direction:
    """Internal post types first, then bots and system users, then the brand's own people."""
    username = str(post["username"]).lower()
    if post["post_type"] in INTERNAL_POST_TYPES:
        return Direction.INTERNAL
    user_id = post.get("user_id")
    # Discourse's own users (system, discobot) have ids below 1.
    if username in staff.automated or (isinstance(user_id, int) and user_id < 1):
        return Direction.AUTOMATED
    if username in staff.usernames or (staff.by_staff_flag and post.get("staff") is True):
        return Direction.OUTBOUND
    return Direction.INBOUND


def post_to_message(
    post: Mapping[str, Any],
    topic: Topic,
    *,
    account: AccountConfig,
    staff: Staff,
    base_url: str,
    parent_id: str | None = None,
) -> Message:
    """A checked post as a Message of its topic's thread, its direction seen from the brand."""
    raw = post.get("raw")
    text = raw.strip() if isinstance(raw, str) else cooked_to_text(post.get("cooked") or "")
    where = f"post {post['id']}"
    name = post.get("name") or post.get("display_username")
    return build_message(
        CHANNEL,
        where,
        brand=account.brand,
        account_id=account.id,
        message_id=str(post["id"]),
        thread_id=str(topic.id),
        parent_id=parent_id,
        author_id=post["username"],
        author_handle="@" + post["username"],
        author_name=name if isinstance(name, str) and name else post["username"],
        created_at=parse_time(post["created_at"], where),
        text=text,
        url=f"{base_url}/t/{quote(topic.slug or '-', safe='%-')}/{topic.id}/{post['post_number']}",
        direction=direction_of(post, staff),
        private=topic.private,
    )


@dataclass
class Cursor:
    """Topics bumped at or after `since` are looked at; `seen` skips those unchanged since."""

    since: datetime
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str) -> Cursor:
        """The stored JSON form; a bare timestamp is accepted too (a hand-set cursor)."""
        try:
            data = json.loads(value) if value.lstrip().startswith("{") else {"since": value}
            seen = data.get("seen") or {}
            if not isinstance(seen, dict):
                raise TypeError("seen")
            return cls(
                parse_time(data["since"], "cursor"), {str(k): str(v) for k, v in seen.items()}
            )
        except (ValueError, TypeError, KeyError, AttributeError, ChannelDataError):
            raise ChannelDataError(CHANNEL, f"unreadable {FEED} cursor {value[:60]!r}") from None

    def dump(self) -> str:
        return json.dumps({"since": iso(self.since), "seen": self.seen}, separators=(",", ":"))


@dataclass(frozen=True)
class _Listed:
    id: int
    bumped_at: datetime
    # Changes with every new post (whispers count for staff) and every bump.
    signature: str


@dataclass
class _Poll:
    """What one poll did: requests made, items skipped."""

    requests: int = 0
    errors: list[str] = field(default_factory=list)

    def skip(self, problem: str) -> None:
        if problem not in self.errors:
            self.errors.append(problem)


class DiscourseClient:
    """One brand's Discourse forum, read through an admin API key (the `ChannelClient` port)."""

    channel: str = CHANNEL

    def __init__(
        self,
        account: AccountConfig,
        credentials: Mapping[str, str],
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        page_limit: int = MAX_PER_PAGE,
        max_pages: int = 20,
        max_requests: int = 40,
        backfill_seconds: int = 7 * 86400,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        key, username = credentials.get("api_key"), credentials.get("api_username")
        if not key or not username:
            raise ConfigError(
                f"account {account.id!r}: discourse credentials need 'api_key' and 'api_username'"
            )
        if not account.api_base_url:
            raise ConfigError(f"account {account.id!r}: discourse needs api_base_url (the forum)")
        self.account = account
        self.page_limit = min(max(1, page_limit), MAX_PER_PAGE)
        self.max_pages = max(1, max_pages)
        self.max_requests = max(1, max_requests)
        self.backfill_seconds = backfill_seconds
        self._http = ChannelHttp(
            CHANNEL,
            account.api_base_url,
            headers={"Api-Key": key, "Api-Username": username},
            secrets=[key],
            session=session,
            timeout=timeout,
            sleep=sleep,
            retry_after=rate_limit_wait,
        )
        self._members: frozenset[str] | None = None

    def own_ids(self) -> frozenset[str]:
        """Usernames that speak for the brand: own_ids, staff_usernames and staff_groups' members.

        Group members are asked once per client.
        """
        if self._members is None:
            members: set[str] = set()
            for group in self.account.staff_groups:
                members |= self._group_members(group)
            self._members = frozenset(members)
        return frozenset(self.account.own_ids) | set(self.account.staff_usernames) | self._members

    def _group_members(self, group: str) -> set[str]:
        path = f"/groups/{quote(group, safe='')}/members.json"
        found: set[str] = set()
        offset = 0
        while True:
            body, _ = self._http.get_json(
                path, {"limit": str(MEMBERS_PER_PAGE), "offset": str(offset)}
            )
            members = body.get("members") if isinstance(body, dict) else None
            meta = body.get("meta") if isinstance(body, dict) else None
            if not isinstance(members, list) or not isinstance(meta, dict):
                raise self._http.data_error(path, "expected `members` and `meta`")
            found |= {m["username"] for m in members if isinstance(m, dict) and "username" in m}
            offset += len(members)
            total = meta.get("total")
            if not members or not isinstance(total, int) or offset >= total:
                return found

    def _staff(self) -> Staff:
        usernames = frozenset(u.lower() for u in self.own_ids())
        configured = (
            self.account.own_ids or self.account.staff_usernames or self.account.staff_groups
        )
        return Staff(
            usernames=usernames,
            automated=frozenset(u.lower() for u in self.account.automated_ids),
            # Nothing configured: the forum's admins and moderators speak for the brand.
            by_staff_flag=not configured,
        )

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        """Posts of the topics bumped since the cursor, oldest first; thread = topic."""
        staff = self._staff()
        stored = cursors.get(FEED)
        cursor = Cursor.parse(stored) if stored else None
        since = cursor.since if cursor else now - timedelta(seconds=self.backfill_seconds)
        seen = cursor.seen if cursor else {}
        poll = _Poll()
        listed, reached = self._list(since, poll)
        changed = sorted(
            (t for t in listed if seen.get(str(t.id)) != t.signature),
            key=lambda t: (t.bumped_at, t.id),
        )
        messages: dict[str, Message] = {}
        done: list[_Listed] = []
        notes: list[str] = []
        for topic in changed:
            # The first topic always goes, with a whole budget, so every poll moves on; the rest
            # keep to what is left, and one that does not fit goes first next time.
            first = not done
            allowance = self.max_requests - (0 if first else poll.requests)
            if allowance <= 0:
                break
            self._http.last_response = None
            try:
                found, finished = self._topic_messages(
                    topic.id, since, cursor is None, staff, poll, allowance
                )
            except ChannelError:
                gone = self._http.last_response
                if gone is None or gone.status_code not in (403, 404):
                    raise
                # Deleted or made private since it was listed: nothing of it to read.
                poll.skip(
                    f"{CHANNEL}: topic {topic.id} was listed but is gone (HTTP {gone.status_code})"
                )
                found, finished = [], True
            if not finished and not first:
                break
            if not finished:
                notes.append(
                    f"{FEED}: topic {topic.id} has more new posts than {self.max_requests} "
                    f"requests read; older ones skipped"
                )
            for message in found:
                messages.setdefault(message.message_id, message)
            done.append(topic)
        floor = since
        if not reached:
            # The pages ran out before `since`: what was bumped before the last topic is skipped.
            floor = max(since, min((t.bumped_at for t in listed), default=since))
            notes.append(
                f"{FEED}: stopped after {self.max_pages} pages of {LATEST}; topics bumped before "
                f"{iso(floor)} are skipped"
            )
        if len(done) < len(changed):
            notes.append(
                f"{FEED}: {len(done)} of {len(changed)} changed topics read ({self.max_requests} "
                "requests a poll); the rest follow on the next poll"
            )
            new_since = floor  # the rest keep their place: the same window, the read ones seen
        else:
            newest = max((t.bumped_at for t in listed), default=None)
            new_since = max(floor, newest - OVERLAP) if newest else floor
        read = {t.id for t in done}
        new_seen = {
            str(t.id): t.signature
            for t in listed
            if t.bumped_at >= new_since and (t.id in read or seen.get(str(t.id)) == t.signature)
        }
        return FetchResult(
            messages=sorted(messages.values(), key=lambda m: (m.created_at, int(m.message_id))),
            cursors={FEED: Cursor(new_since, new_seen).dump()},
            pages=poll.requests,
            complete=not notes,
            notes=notes,
            errors=poll.errors,
        )

    def _get(self, target: str, params: Mapping[str, str] | None, poll: _Poll) -> Any:
        poll.requests += 1
        body, _ = self._http.get_json(target, params)
        return body

    def _list(self, since: datetime, poll: _Poll) -> tuple[list[_Listed], bool]:
        """Topics bumped at or after `since`, newest first; whether the walk got back to it."""
        listed: dict[int, _Listed] = {}
        for page in range(self.max_pages):
            body = self._get(LATEST, {"page": str(page), "per_page": str(self.page_limit)}, poll)
            topic_list = body.get("topic_list") if isinstance(body, dict) else None
            topics = topic_list.get("topics") if isinstance(topic_list, dict) else None
            if not isinstance(topic_list, dict) or not isinstance(topics, list):
                raise self._http.data_error(LATEST, "expected a `topic_list` with `topics`")
            older = False
            for index, item in enumerate(topics):
                try:
                    topic = self._listed(item, f"GET {LATEST}: topic {index}")
                except ChannelDataError as exc:
                    poll.skip(str(exc))
                    continue
                if topic.bumped_at < since:
                    # Pinned topics lead page 0 whatever their age: they do not end the walk.
                    older = older or not (item.get("pinned") or item.get("pinned_globally"))
                    continue
                known = listed.get(topic.id)  # a bump during the walk can show a topic twice
                if known is None or topic.bumped_at > known.bumped_at:
                    listed[topic.id] = topic
            if older or not topics or "more_topics_url" not in topic_list:
                return list(listed.values()), True
        return list(listed.values()), False

    @staticmethod
    def _listed(item: Any, where: str) -> _Listed:
        if not isinstance(item, dict) or not is_int(item.get("id")):
            raise ChannelDataError(CHANNEL, f"{where}: missing id")
        where = f"{where} (id {item['id']})"
        if not isinstance(item.get("bumped_at"), str):
            raise ChannelDataError(CHANNEL, f"{where}: missing bumped_at")
        bumped_at = parse_time(item["bumped_at"], where)
        return _Listed(
            item["id"], bumped_at, f"{item['bumped_at']}#{item.get('highest_post_number')}"
        )

    def _topic_messages(
        self,
        topic_id: int,
        since: datetime,
        backfill: bool,
        staff: Staff,
        poll: _Poll,
        allowance: int,
    ) -> tuple[list[Message], bool]:
        """A topic's posts after its last regular post older than `since`, walking back; whether
        the walk got there within `allowance` requests.

        Whispers and small actions do not bump a topic, so those made while it was idle come
        with its next bump rather than never.
        """
        start = poll.requests
        finished = True
        path = f"/t/{topic_id}.json"
        body = self._get(path, {"include_raw": "true"}, poll)
        stream_body = body.get("post_stream") if isinstance(body, dict) else None
        stream = stream_body.get("stream") if isinstance(stream_body, dict) else None
        posts = stream_body.get("posts") if isinstance(stream_body, dict) else None
        if not isinstance(stream, list) or not isinstance(posts, list):
            raise self._http.data_error(path, "expected a `post_stream` with `posts` and `stream`")
        if not all(is_int(i) for i in stream):
            poll.skip(f"{CHANNEL}: GET {path}: `stream` holds entries that are not post ids")
            stream = [i for i in stream if is_int(i)]
        slug = body.get("slug")
        topic = Topic(
            id=topic_id,
            slug=slug[:200] if isinstance(slug, str) else "",
            private=body.get("archetype") == "private_message",
        )
        loaded: dict[int, dict[str, Any]] = {}
        asked: set[int] = set()
        self._keep(posts, loaded, asked, f"GET {path}: post", poll)
        picked: list[dict[str, Any]] = []
        end = len(stream)
        while end > 0:
            chunk = stream[max(0, end - POSTS_PER_REQUEST) : end]
            missing = [i for i in chunk if i not in loaded and i not in asked]
            if missing and poll.requests - start >= allowance:
                finished = False
                break
            if missing:
                asked.update(missing)
                more_path = f"/t/{topic_id}/posts.json"
                # `post_ids[]` repeats, so the query goes in the target.
                query = urlencode([("include_raw", "true")] + [("post_ids[]", i) for i in missing])
                more = self._get(f"{more_path}?{query}", None, poll)
                more_posts = more.get("post_stream") if isinstance(more, dict) else None
                items = more_posts.get("posts") if isinstance(more_posts, dict) else None
                if not isinstance(items, list):
                    raise self._http.data_error(more_path, "expected a `post_stream` with `posts`")
                self._keep(items, loaded, asked, f"GET {more_path}: post", poll)
            older = False
            for post_id in reversed(chunk):
                post = loaded.get(post_id)
                if post is None or post.get("deleted_at") or post.get("user_deleted") is True:
                    continue
                created = parse_time(post["created_at"], f"post {post_id}")
                if created < since and post["post_type"] == REGULAR:
                    older = True
                    break
                if not (backfill and created < since):
                    picked.append(post)
            if older:
                break
            end -= len(chunk)
        number_to_id = {p["post_number"]: p["id"] for p in loaded.values()}
        messages = []
        for post in reversed(picked):
            parent = post.get("reply_to_post_number")
            parent_id = number_to_id.get(parent) if is_int(parent) else None
            try:
                message = post_to_message(
                    post,
                    topic,
                    account=self.account,
                    staff=staff,
                    base_url=self._http.base_url,
                    parent_id=str(parent_id) if parent_id is not None else None,
                )
            except ChannelDataError as exc:
                # One bad post must not hold back the rest of the topic: skip it, say which.
                poll.skip(f"{exc} (GET {path})")
                continue
            messages.append(message)
        return messages, finished

    @staticmethod
    def _keep(
        items: list[Any],
        loaded: dict[int, dict[str, Any]],
        asked: set[int],
        where: str,
        poll: _Poll,
    ) -> None:
        for index, item in enumerate(items):
            try:
                post = check_post(item, f"{where} {index}")
            except ChannelDataError as exc:
                # One bad post must not hold back the rest: skip it (not asked again), say which.
                poll.skip(str(exc))
                if isinstance(item, dict) and isinstance(item.get("id"), int):
                    asked.add(item["id"])
                continue
            loaded.setdefault(post["id"], post)  # a repeated id: the first copy counts

    def thread_root(self, message_id: str) -> str:
        """The topic of a post (its thread): `topic_id` of `GET /posts/{id}.json`."""
        path = f"/posts/{quote(message_id, safe='')}.json"
        body, _ = self._http.get_json(path)
        topic_id = body.get("topic_id") if isinstance(body, dict) else None
        if not isinstance(topic_id, int):
            raise self._http.data_error(path, "expected a post with a `topic_id`")
        return str(topic_id)
