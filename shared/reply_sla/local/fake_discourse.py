"""An in-memory Discourse forum on 127.0.0.1 that answers as the Discourse API documents.

Stdlib only. Responses follow shared/specs/discourse-openapi.json and Discourse's own controllers:
`/latest.json` newest bump first with pinned topics ahead on page 0, `page=N` paging with
`more_topics_url` on full pages, `/t/{id}.json` with the first 20 posts and the stream of every
post id, `/t/{id}/posts.json?post_ids[]=`, `/posts/{id}.json`, `/groups/{name}/members.json`,
`Api-Key` / `Api-Username` headers, `{"errors": [...], "error_type": ...}` bodies and the admin API
key limit (HTTP 429 with `Retry-After` and `extras.wait_seconds`). Whispers are shown to staff
only and, like small actions, never bump a topic. Items created after `clock()` are not there yet,
so a demo can play a simulated week against it.
"""

from __future__ import annotations

import html
import itertools
import random
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any

from reply_sla.local.fake_http import FakeHttpServer, FakeRequest, Reply
from reply_sla.local.fake_mastodon import iso_ms

REGULAR, MODERATOR_ACTION, SMALL_ACTION, WHISPER = 1, 2, 3, 4
CHUNK_SIZE = 20  # TopicView.chunk_size: the posts /t/{id}.json carries
DEFAULT_PER_PAGE = 30  # SiteSetting.topics_per_page
# DISCOURSE_MAX_ADMIN_API_REQS_PER_KEY_PER_MINUTE's default.
ADMIN_API_REQS_PER_MINUTE = 60
INVALID_KEY = (
    "You are not permitted to view the requested resource. The API username or key is invalid."
)
NOT_PERMITTED = "You are not permitted to view the requested resource."
NOT_FOUND = "The requested URL or resource could not be found."
_ERROR_TYPES = {400: "invalid_parameters", 403: "invalid_access", 404: "not_found"}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Discourse's `render_json_error` body."""
    body: dict[str, Any] = {"errors": [message or HTTPStatus(status).phrase]}
    if status in _ERROR_TYPES:
        body["error_type"] = _ERROR_TYPES[status]
    return body


def rate_limit_body(wait_seconds: int) -> dict[str, Any]:
    """The body of Discourse's `RateLimiter::LimitExceeded` answer."""
    unit = "second" if wait_seconds == 1 else "seconds"
    return {
        "errors": [
            f"You’ve performed this action too many times. Please wait {wait_seconds} {unit} "
            "before trying again."
        ],
        "error_type": "rate_limit",
        "extras": {"wait_seconds": wait_seconds, "time_left": f"{wait_seconds} {unit}"},
    }


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80] or "topic"


def cook(raw: str) -> str:
    """Discourse's cooked HTML for plain paragraphs: escaped, one `<p>` per paragraph."""
    paragraphs = [p for p in re.split(r"\n\s*\n", raw.strip()) if p.strip()]
    return "\n".join(
        f"<p>{html.escape(p).replace(chr(10), '<br>' + chr(10))}</p>" for p in paragraphs
    )


@dataclass
class _User:
    id: int
    username: str
    name: str
    admin: bool
    moderator: bool
    trust_level: int
    created_at: datetime

    @property
    def staff(self) -> bool:
        return self.admin or self.moderator

    @property
    def avatar_template(self) -> str:
        return f"/letter_avatar_proxy/v4/letter/{self.username[0].lower()}/8c91f0/{{size}}.png"

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "avatar_template": self.avatar_template,
        }


@dataclass
class _Group:
    id: int
    name: str
    members: dict[str, tuple[_User, bool, datetime]] = field(default_factory=dict)


@dataclass
class _Post:
    id: int
    topic: _Topic
    number: int
    author: _User
    raw: str
    created_at: datetime
    post_type: int
    reply_to: int | None
    action_code: str | None = None


@dataclass
class _Topic:
    id: int
    title: str
    author: _User
    created_at: datetime
    category_id: int
    archetype: str
    pinned_globally: bool
    allowed: set[int]
    posts: list[_Post] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return _slug(self.title)


@dataclass
class _Key:
    username: str | None  # None: an "all users" key, acting as the Api-Username sent
    revoked: bool = False
    calls: deque[datetime] = field(default_factory=deque)


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    body: Any


class FakeDiscourse(FakeHttpServer):
    """A Discourse forum in memory, served over HTTP on 127.0.0.1 from a daemon thread."""

    name = "fake-discourse"

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        *,
        rate_limit_per_minute: int | None = ADMIN_API_REQS_PER_MINUTE,
    ) -> None:
        super().__init__()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.rate_limit_per_minute = rate_limit_per_minute
        self._lock = threading.RLock()
        self._users: dict[str, _User] = {}
        self._groups: dict[str, _Group] = {}
        self._topics: dict[int, _Topic] = {}
        self._posts: dict[int, _Post] = {}
        self._keys: dict[str, _Key] = {}
        self._user_ids = itertools.count(1)
        self._group_ids = itertools.count(41)
        self._topic_ids = itertools.count(11)
        self._post_ids = itertools.count(101)
        self._faults: deque[_Fault] = deque()
        self._malformed: deque[tuple[str, str | None]] = deque()

    # --- the world -----------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        name: str | None = None,
        *,
        admin: bool = False,
        moderator: bool = False,
        groups: Iterable[str] = (),
        trust_level: int = 1,
    ) -> dict[str, Any]:
        """Create a user (joining the named groups, created as needed); its basic user entity."""
        with self._lock:
            if username.lower() in self._users:
                raise ValueError(f"username {username!r} is taken")
            now = self.clock()
            user = _User(
                id=next(self._user_ids),
                username=username,
                name=name if name is not None else username,
                admin=admin,
                moderator=moderator,
                trust_level=4 if admin or moderator else trust_level,
                created_at=now.astimezone(UTC) - timedelta(days=365),
            )
            self._users[username.lower()] = user
            for group in groups:
                self.add_to_group(group, username)
            return user.summary()

    def add_to_group(self, group: str, username: str, *, owner: bool = False) -> None:
        """Put a user in a group (created if new)."""
        with self._lock:
            user = self._users[username.lower()]
            found = self._groups.setdefault(group.lower(), _Group(next(self._group_ids), group))
            found.members[user.username.lower()] = (user, owner, user.created_at)

    def issue_api_key(self, username: str | None = None) -> str:
        """An admin API key: for one user, or (None) for all users, acting as `Api-Username`."""
        with self._lock:
            if username is not None and username.lower() not in self._users:
                raise KeyError(f"no user {username}")
            key = secrets.token_hex(32)
            self._keys[key] = _Key(username)
            return key

    def revoke_api_key(self, key: str) -> None:
        """The key stops working, as when an admin revokes it."""
        with self._lock:
            self._keys[key].revoked = True

    def create_topic(
        self,
        username: str,
        title: str,
        raw: str,
        created_at: datetime,
        *,
        category_id: int = 1,
        pinned_globally: bool = False,
        private_with: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Open a topic with its first post (a private message when `private_with` is given).

        Returns `{"topic_id", "slug", "post": <post entity as /posts/{id}.json>}`.
        """
        _aware(created_at)
        with self._lock:
            author = self._users[username.lower()]
            allowed = {self._users[u.lower()].id for u in private_with}
            topic = _Topic(
                id=next(self._topic_ids),
                title=title,
                author=author,
                created_at=created_at.astimezone(UTC),
                category_id=category_id,
                archetype="private_message" if allowed else "regular",
                pinned_globally=pinned_globally,
                allowed=allowed | {author.id} if allowed else set(),
            )
            self._topics[topic.id] = topic
            post = self._add_post(topic, author, raw, created_at, REGULAR, None, None)
            return {
                "topic_id": topic.id,
                "slug": topic.slug,
                "post": self._single_post(post, author),
            }

    def reply(
        self,
        topic_id: int,
        username: str,
        raw: str,
        created_at: datetime,
        *,
        reply_to_post_number: int | None = None,
        post_type: int = REGULAR,
        action_code: str | None = None,
    ) -> dict[str, Any]:
        """Add a post to a topic (`post_type` 4 is a whisper, 3 a small action); its entity."""
        _aware(created_at)
        if post_type not in (REGULAR, MODERATOR_ACTION, SMALL_ACTION, WHISPER):
            raise ValueError(f"unknown post_type {post_type}")
        with self._lock:
            topic = self._topics[topic_id]
            if topic.posts and created_at < topic.posts[-1].created_at:
                raise ValueError("posts of a topic are created in time order")
            if reply_to_post_number is not None and not any(
                p.number == reply_to_post_number for p in topic.posts
            ):
                raise ValueError(f"topic {topic_id} has no post #{reply_to_post_number}")
            author = self._users[username.lower()]
            post = self._add_post(
                topic, author, raw, created_at, post_type, reply_to_post_number, action_code
            )
            return self._single_post(post, author)

    def _add_post(
        self,
        topic: _Topic,
        author: _User,
        raw: str,
        created_at: datetime,
        post_type: int,
        reply_to: int | None,
        action_code: str | None,
    ) -> _Post:
        post = _Post(
            id=next(self._post_ids),
            topic=topic,
            number=len(topic.posts) + 1,
            author=author,
            raw=raw,
            created_at=created_at.astimezone(UTC),
            post_type=post_type,
            reply_to=reply_to,
            action_code=action_code,
        )
        topic.posts.append(post)
        self._posts[post.id] = post
        return post

    def next_post_after(self, moment: datetime) -> datetime | None:
        """When the next scripted post appears (lets a simulation skip idle minutes)."""
        with self._lock:
            later = [p.created_at for p in self._posts.values() if p.created_at > moment]
        return min(later, default=None)

    # --- fault injection -----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """The next `times` requests answer `status` with Discourse's body for it.

        A 429 carries `Retry-After: 30` and Discourse's error-code header unless `headers` are
        given, and `extras.wait_seconds` matching `Retry-After` unless `body` is.
        """
        if status == 429:
            extra = (
                dict(headers)
                if headers is not None
                else {
                    "Retry-After": "30",
                    "Discourse-Rate-Limit-Error-Code": "admin_api_key_rate_limit",
                }
            )
            reply = rate_limit_body(int(extra.get("Retry-After") or 30)) if body is None else body
        else:
            extra = dict(headers or {})
            default = error_body(403, INVALID_KEY) if status == 403 else error_body(status)
            reply = default if body is None else body
        with self._lock:
            self._faults.extend(_Fault(status, extra, reply) for _ in range(times))

    def malformed_next(self, times: int = 1, kind: str = "shape", path: str | None = None) -> None:
        """The next `times` successful responses (to `path`, if given) break the documented shape.

        kinds: `shape` (the list where an object is due), `fields` (topics and posts without
        `id` and times), `html` (a 200 HTML page, as a misbehaving proxy sends), `item` (only the
        first topic, post or member of the page is broken).
        """
        if kind not in ("shape", "fields", "html", "item"):
            raise ValueError(f"unknown kind {kind!r}")
        with self._lock:
            self._malformed.extend((kind, path) for _ in range(times))

    # --- entities ------------------------------------------------------------------------------

    def _visible_posts(self, topic: _Topic, viewer: _User | None, now: datetime) -> list[_Post]:
        def shown(post: _Post) -> bool:
            if post.created_at > now:
                return False
            # Whispers are for staff (and their author) only.
            return post.post_type != WHISPER or (
                viewer is not None and (viewer.staff or viewer is post.author)
            )

        return [p for p in topic.posts if shown(p)]

    def _topic_visible(self, topic: _Topic, viewer: _User | None, now: datetime) -> bool:
        if topic.created_at > now:
            return False
        if topic.archetype != "private_message":
            return True
        return viewer is not None and (viewer.admin or viewer.id in topic.allowed)

    @staticmethod
    def _bumped_at(topic: _Topic, now: datetime) -> datetime:
        # Only regular posts bump a topic: whispers and small actions do not (PostCreator).
        bumps = [
            p.created_at for p in topic.posts if p.post_type == REGULAR and p.created_at <= now
        ]
        return max(bumps, default=topic.created_at)

    def _post_fields(self, post: _Post, viewer: _User | None, now: datetime) -> dict[str, Any]:
        """The fields every post serialization shares."""
        author, topic = post.author, post.topic
        replies = sum(
            1 for p in self._visible_posts(topic, viewer, now) if p.reply_to == post.number
        )
        staff = viewer is not None and viewer.staff
        mine = viewer is post.author
        return {
            "id": post.id,
            "username": author.username,
            "avatar_template": author.avatar_template,
            "created_at": iso_ms(post.created_at),
            "cooked": cook(post.raw),
            "post_number": post.number,
            "post_type": post.post_type,
            "updated_at": iso_ms(post.created_at),
            "reply_count": replies,
            # Discourse sends an integer (or null); the spec says string (MANIFEST.md).
            "reply_to_post_number": post.reply_to,
            "quote_count": 0,
            "incoming_link_count": 0,
            "reads": 1,
            "readers_count": 0,
            "score": 0.2,
            "yours": mine,
            "topic_id": topic.id,
            "topic_slug": topic.slug,
            "primary_group_name": None,
            "flair_name": None,
            "flair_url": None,
            "flair_bg_color": None,
            "flair_color": None,
            "version": 1,
            "can_edit": staff or mine,
            "can_delete": staff or mine,
            "can_recover": staff or mine,
            "can_wiki": staff,
            "user_title": None,
            "bookmarked": False,
            "actions_summary": [{"id": 2, "can_act": not mine}],
            "moderator": author.moderator,
            "admin": author.admin,
            "staff": author.staff,
            "user_id": author.id,
            "hidden": False,
            "trust_level": author.trust_level,
            "deleted_at": None,
            "user_deleted": False,
            "edit_reason": None,
            "can_view_edit_history": True,
            "wiki": False,
            "reviewable_id": 0,
            "reviewable_score_count": 0,
            "reviewable_score_pending_count": 0,
        }

    def _stream_post(
        self, post: _Post, viewer: _User | None, now: datetime, include_raw: bool
    ) -> dict[str, Any]:
        """A post of `/t/{id}.json` and `/t/{id}/posts.json` (`raw` with `include_raw`)."""
        entity = self._post_fields(post, viewer, now)
        entity.update(
            name=post.author.name,
            display_username=post.author.name,
            link_counts=[],
            read=True,
        )
        if include_raw:
            entity["raw"] = post.raw
        return entity

    def _single_post(
        self, post: _Post, viewer: _User | None, now: datetime | None = None
    ) -> dict[str, Any]:
        """A post as `/posts/{id}.json` serializes it (as of `now`, its creation by default)."""
        entity = self._post_fields(post, viewer, now or post.created_at)
        entity.update(
            name=post.author.name,
            display_username=post.author.name,
            posts_count=len(post.topic.posts),
            flair_group_id=None,
            raw=post.raw,
            post_url=f"/t/{post.topic.slug}/{post.topic.id}/{post.number}",
            mentioned_users=[],
        )
        return entity

    def _list_item(self, topic: _Topic, viewer: _User | None, now: datetime) -> dict[str, Any]:
        posts = self._visible_posts(topic, viewer, now)
        public = [p for p in posts if p.post_type == REGULAR]
        last = public[-1] if public else posts[-1]
        posters = [
            {"extras": "latest", "description": "Most Recent Poster", "user_id": last.author.id}
        ]
        if topic.author is not last.author:
            posters.insert(0, {"description": "Original Poster", "user_id": topic.author.id})
        for poster in posters:
            poster["primary_group_id"] = None
        return {
            "id": topic.id,
            "title": topic.title,
            "fancy_title": html.escape(topic.title),
            "slug": topic.slug,
            "posts_count": len(public),
            "reply_count": max(0, len(public) - 1),
            # For staff, the highest post number counts whispers too (TopicListItemSerializer).
            "highest_post_number": posts[-1].number,
            "created_at": iso_ms(topic.created_at),
            "last_posted_at": iso_ms(last.created_at),
            "bumped": True,
            "bumped_at": iso_ms(self._bumped_at(topic, now)),
            "archetype": topic.archetype,
            "unseen": False,
            "pinned": topic.pinned_globally,
            "unpinned": None,
            "visible": True,
            "closed": False,
            "archived": False,
            "views": 1,
            "like_count": 0,
            "has_summary": False,
            "last_poster_username": last.author.username,
            "category_id": topic.category_id,
            "op_like_count": 0,
            "pinned_globally": topic.pinned_globally,
            "featured_link": None,
            "posters": posters,
        }

    def _topic_view(
        self, topic: _Topic, viewer: _User | None, now: datetime, include_raw: bool
    ) -> dict[str, Any]:
        posts = self._visible_posts(topic, viewer, now)
        public = [p for p in posts if p.post_type == REGULAR]
        last = (public or posts)[-1]
        staff = viewer is not None and viewer.staff
        authors = list({p.author.id: p.author for p in posts}.values())
        pinned_at = iso_ms(topic.created_at) if topic.pinned_globally else None
        return {
            "post_stream": {
                "posts": [
                    self._stream_post(p, viewer, now, include_raw) for p in posts[:CHUNK_SIZE]
                ],
                "stream": [p.id for p in posts],
            },
            "timeline_lookup": [[1, max(0, (now - posts[0].created_at).days)]],
            "suggested_topics": [],
            "tags": [],
            "tags_descriptions": {},
            "id": topic.id,
            "title": topic.title,
            "fancy_title": html.escape(topic.title),
            "posts_count": len(public),
            "created_at": iso_ms(topic.created_at),
            "views": 1,
            "reply_count": max(0, len(public) - 1),
            "like_count": 0,
            "last_posted_at": iso_ms(last.created_at),
            "visible": True,
            "closed": False,
            "archived": False,
            "has_summary": False,
            "archetype": topic.archetype,
            "slug": topic.slug,
            "category_id": topic.category_id,
            "word_count": sum(len(p.raw.split()) for p in public),
            "deleted_at": None,
            "user_id": topic.author.id,
            "featured_link": None,
            "pinned_globally": topic.pinned_globally,
            "pinned_at": pinned_at,
            "pinned_until": None,
            "image_url": None,
            "slow_mode_seconds": 0,
            "draft": None,
            "draft_key": f"topic_{topic.id}",
            "draft_sequence": 0,
            "unpinned": None,
            "pinned": topic.pinned_globally,
            "current_post_number": 1,
            "highest_post_number": posts[-1].number,
            "deleted_by": None,
            "has_deleted": False,
            "actions_summary": [
                {"id": i, "count": 0, "hidden": False, "can_act": viewer is not None}
                for i in (4, 8, 10, 7)
            ],
            "chunk_size": CHUNK_SIZE,
            "bookmarked": False,
            "bookmarks": [],
            "topic_timer": None,
            "message_bus_last_id": 0,
            "participant_count": len(authors),
            "show_read_indicator": False,
            "thumbnails": None,
            "slow_mode_enabled_until": None,
            "details": {
                "can_edit": staff,
                "notification_level": 1,
                "can_move_posts": staff,
                "can_delete": staff,
                "can_remove_allowed_users": staff,
                "can_create_post": viewer is not None,
                "can_reply_as_new_topic": viewer is not None,
                "can_convert_topic": staff,
                "can_review_topic": staff,
                "can_close_topic": staff,
                "can_archive_topic": staff,
                "can_split_merge_topic": staff,
                "can_edit_staff_notes": staff,
                "can_toggle_topic_visibility": staff,
                "can_pin_unpin_topic": staff,
                "can_moderate_category": staff,
                "can_remove_self_id": viewer.id if viewer is not None else 0,
                "participants": [
                    {
                        **user.summary(),
                        "post_count": sum(1 for p in posts if p.author is user),
                        "primary_group_name": None,
                        "flair_name": None,
                        "flair_url": None,
                        "flair_color": None,
                        "flair_bg_color": None,
                        "flair_group_id": None,
                        "admin": user.admin,
                        "moderator": user.moderator,
                        "trust_level": user.trust_level,
                    }
                    for user in authors
                ],
                "created_by": topic.author.summary(),
                "last_poster": last.author.summary(),
            },
        }

    def _member(self, user: _User, added_at: datetime, now: datetime) -> dict[str, Any]:
        posted = [
            p.created_at for p in self._posts.values() if p.author is user and p.created_at <= now
        ]
        return {
            **user.summary(),
            "title": None,
            "last_posted_at": iso_ms(max(posted, default=user.created_at)),
            "last_seen_at": iso_ms(now),
            "added_at": iso_ms(added_at),
            "timezone": "Europe/Madrid",
        }

    # --- requests ------------------------------------------------------------------------------

    def respond(self, request: FakeRequest) -> Reply:
        """Answer one request: (status, headers, JSON body or raw text)."""
        headers_in = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            now = self.clock()
            headers = {"Date": format_datetime(now.astimezone(UTC), usegmt=True)}
            if self._faults:
                fault = self._faults.popleft()
                return fault.status, {**headers, **fault.headers}, fault.body
            key_value = headers_in.get("api-key")
            viewer: _User | None = None
            if key_value is not None:
                key = self._keys.get(key_value)
                acting = (headers_in.get("api-username") or "").lower()
                viewer = self._users.get(acting or (key.username or "").lower()) if key else None
                if (
                    key is None
                    or key.revoked
                    or viewer is None
                    or (
                        key.username is not None and key.username.lower() != viewer.username.lower()
                    )
                ):
                    return 403, headers, error_body(403, INVALID_KEY)
                wait = self._throttle(key, now)
                if wait is not None:
                    headers.update(
                        {
                            "Retry-After": str(wait),
                            "Discourse-Rate-Limit-Error-Code": "admin_api_key_rate_limit",
                        }
                    )
                    return 429, headers, rate_limit_body(wait)
            status, body = self._route(request, viewer, now)
            if status == 200 and self._malformed and self._malformed[0][1] in (None, request.path):
                body = _break(self._malformed.popleft()[0], body)
                if isinstance(body, str):
                    headers["Content-Type"] = "text/html; charset=utf-8"
            return status, headers, body

    def _throttle(self, key: _Key, now: datetime) -> int | None:
        """Seconds to wait when the key is over its per-minute limit (a sliding minute)."""
        if self.rate_limit_per_minute is None:
            return None
        while key.calls and now - key.calls[0] >= timedelta(minutes=1):
            key.calls.popleft()
        if len(key.calls) >= self.rate_limit_per_minute:
            return max(1, int((key.calls[0] + timedelta(minutes=1) - now).total_seconds()))
        key.calls.append(now)
        return None

    def _route(self, request: FakeRequest, viewer: _User | None, now: datetime) -> tuple[int, Any]:
        path = request.path
        if request.method != "GET":
            return 404, error_body(404, NOT_FOUND)
        if path == "/latest.json":
            return self._latest(request, viewer, now)
        if match := re.fullmatch(r"/t/(\d+)(/posts)?\.json", path):
            topic = self._topics.get(int(match.group(1)))
            if topic is None or topic.created_at > now:
                return 404, error_body(404, NOT_FOUND)
            if not self._topic_visible(topic, viewer, now):
                return 403, error_body(403, NOT_PERMITTED)
            include_raw = bool(request.param("include_raw"))
            if match.group(2):
                return self._topic_posts(request, topic, viewer, now, include_raw)
            return 200, self._topic_view(topic, viewer, now, include_raw)
        if match := re.fullmatch(r"/posts/(\d+)\.json", path):
            post = self._posts.get(int(match.group(1)))
            if post is None or post not in self._visible_posts(post.topic, viewer, now):
                return 404, error_body(404, NOT_FOUND)
            if not self._topic_visible(post.topic, viewer, now):
                return 403, error_body(403, NOT_PERMITTED)
            return 200, self._single_post(post, viewer, now)
        if match := re.fullmatch(r"/groups/([^/]+)/members\.json", path):
            return self._members(request, match.group(1), now)
        return 404, error_body(404, NOT_FOUND)

    def _latest(self, request: FakeRequest, viewer: _User | None, now: datetime) -> tuple[int, Any]:
        try:
            page = int(request.param("page") or 0)
            per_page = int(request.param("per_page") or DEFAULT_PER_PAGE)
        except ValueError:
            return 400, error_body(400, "Invalid parameters")
        if page < 0 or not 1 <= per_page <= 100:
            return 400, error_body(400, "Invalid parameters")
        topics = [
            t
            for t in self._topics.values()
            if t.archetype == "regular" and self._topic_visible(t, viewer, now)
        ]
        # TopicQuery: pinned topics lead page 0, then the newest bump first.
        topics.sort(key=lambda t: (t.pinned_globally, self._bumped_at(t, now), t.id), reverse=True)
        chosen = topics[page * per_page : (page + 1) * per_page]
        items = [self._list_item(t, viewer, now) for t in chosen]
        users: dict[int, dict[str, Any]] = {}
        for topic in chosen:
            for post in self._visible_posts(topic, viewer, now):
                users.setdefault(post.author.id, post.author.summary())
        topic_list: dict[str, Any] = {
            "can_create_topic": viewer is not None,
            "draft": None,
            "draft_key": "new_topic",
            "draft_sequence": 0,
            "per_page": per_page,
            "topics": items,
        }
        if len(items) == per_page:  # TopicListSerializer#include_more_topics_url?
            query = f"no_definitions=true&page={page + 1}"
            if request.param("per_page"):
                query += f"&per_page={per_page}"
            topic_list["more_topics_url"] = f"/latest?{query}"
        return 200, {"users": list(users.values()), "primary_groups": [], "topic_list": topic_list}

    def _topic_posts(
        self,
        request: FakeRequest,
        topic: _Topic,
        viewer: _User | None,
        now: datetime,
        include_raw: bool,
    ) -> tuple[int, Any]:
        try:
            wanted = {int(v) for v in request.params.get("post_ids[]", [])}
        except ValueError:
            return 400, error_body(400, "Invalid parameters")
        posts = self._visible_posts(topic, viewer, now)
        chosen = [p for p in posts if p.id in wanted] if wanted else posts[:CHUNK_SIZE]
        return 200, {
            "post_stream": {
                "posts": [self._stream_post(p, viewer, now, include_raw) for p in chosen]
            },
            "id": topic.id,
        }

    def _members(self, request: FakeRequest, name: str, now: datetime) -> tuple[int, Any]:
        group = self._groups.get(name.lower())
        if group is None:
            return 404, error_body(404, NOT_FOUND)
        try:
            limit = int(request.param("limit") or 50)
            offset = int(request.param("offset") or 0)
        except ValueError:
            return 400, error_body(400, "Invalid parameters")
        if not 0 <= limit <= 1000 or offset < 0:
            return 400, error_body(400, "Invalid parameters")
        # GroupsController#members: owners first, then by username (descending by default).
        rows = sorted(group.members.values(), key=lambda m: m[0].username.lower(), reverse=True)
        rows.sort(key=lambda m: not m[1])
        return 200, {
            "members": [
                self._member(u, added, now) for u, _, added in rows[offset : offset + limit]
            ],
            "owners": [self._member(u, added, now) for u, owner, added in rows if owner],
            "meta": {"total": len(rows), "limit": limit, "offset": offset},
        }


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("created_at must carry a time zone")


def _break(kind: str, body: Any) -> Any:
    """A body that is not the documented shape."""
    if kind == "html":
        return "<!DOCTYPE html><html><body><h1>Oops! That page doesn’t exist.</h1></html>"
    if not isinstance(body, dict):
        return body
    lists = [
        (body.get("topic_list"), "topics", ("bumped_at",)),
        (body.get("post_stream"), "posts", ("created_at",)),
        (body, "members", ("username",)),
    ]
    for holder, key, item_fields in lists:
        if not isinstance(holder, dict) or not isinstance(holder.get(key), list):
            continue
        items = holder[key]
        if kind == "shape":
            return [holder]
        if kind == "fields":
            strip = ("id", *item_fields)
            holder[key] = [{k: v for k, v in i.items() if k not in strip} for i in items] or [{}]
        elif items:  # item: the first one only
            holder[key] = [{k: v for k, v in items[0].items() if k not in item_fields}, *items[1:]]
        return body
    return [body] if kind == "shape" else body


# --- a scripted week -----------------------------------------------------------------------------

QUESTIONS = [
    ("Order #{n} not arrived", "Hi, my order #{n} has not arrived yet. Any news?"),
    ("App crashes on the basket", "The app keeps crashing when I open my basket. Is it broken?"),
    ("Changing a delivery address", "How do I change the delivery address on order {n}?"),
    ("Charged twice", "I was charged twice for the same order, I want a refund."),
    ("Madrid store on Sunday?", "Is the Madrid store open on Sunday?"),
    ("Shipping to the Canary Islands", "Do you ship to the Canary Islands?"),
    ("Discount code not working", "My discount code SAVE{n} does not work at checkout <b>help</b>"),
    ("¿Dónde está mi pedido?", "Hola, ¿dónde está mi pedido {n}? No funciona el seguimiento."),
]
REPLIES = [
    "Sorry about that! We checked and your parcel leaves today.",
    "Thanks for telling us. Could you send us a private message with your order number?",
    "Yes: My orders > Edit lets you change it until it ships.",
    "We refunded the duplicate charge; you will see it in 3-5 days.",
]
FOLLOW_UPS = [
    "Thanks, but the tracking link still shows nothing.",
    "That did not help, the problem is still there.",
]


def script_conversations(
    fake: FakeDiscourse, week_start: datetime, *, threads: int = 12, seed: int = 1
) -> dict[str, Any]:
    """Load a deterministic week of forum conversations; the account entry fields to poll it.

    Kinds, in turn: answered fast, answered late (after a staff whisper), never answered, a
    follow-up after the answer (answered again), a thanks after the answer (then the topic is
    closed, a small action). Staff answer as members of the `support` group.
    """
    rng = random.Random(seed)
    fake.add_user("acme_support", "ACME Support", moderator=True, groups=["support"])
    fake.add_user("marta_acme", "Marta (ACME)", groups=["support"])
    fake.add_user("forum_admin", "Forum Admin", admin=True)
    customers = ["lucia", "tom", "amira", "jorge", "li_wei", "noor"]
    for username in customers:
        fake.add_user(username, username.replace("_", " ").title())
    fake.create_topic(
        "forum_admin",
        "Welcome to the ACME community",
        "Read this first: be kind, no order numbers in public.",
        week_start - timedelta(days=60),
        pinned_globally=True,
    )
    kinds = ["fast", "late", "never", "follow_up", "thanks"]
    staff = ["acme_support", "marta_acme"]
    for index in range(threads):
        kind = kinds[index % len(kinds)]
        day = week_start + timedelta(days=index * 7 // threads)
        asked = day + timedelta(
            hours=rng.choice([8, 9, 10, 11, 13, 16, 18, 21]), minutes=rng.randrange(60)
        )
        customer = customers[index % len(customers)]
        title, body = QUESTIONS[index % len(QUESTIONS)]
        topic = fake.create_topic(
            customer, title.format(n=1000 + index), body.format(n=1000 + index), asked
        )
        topic_id = topic["topic_id"]
        if kind == "never":
            continue
        answer_after = timedelta(
            minutes=rng.randrange(5, 50) if kind != "late" else rng.randrange(90, 300)
        )
        if kind == "late":
            fake.reply(
                topic_id,
                "marta_acme",
                "Escalating this to logistics before we answer.",
                asked + answer_after / 2,
                post_type=WHISPER,
            )
        answer = asked + answer_after
        fake.reply(topic_id, rng.choice(staff), rng.choice(REPLIES), answer, reply_to_post_number=1)
        if kind == "follow_up":
            later = answer + timedelta(minutes=rng.randrange(20, 180))
            fake.reply(topic_id, customer, rng.choice(FOLLOW_UPS), later, reply_to_post_number=2)
            fake.reply(
                topic_id,
                "acme_support",
                "We are on it and will update you today.",
                later + timedelta(minutes=rng.randrange(10, 120)),
                reply_to_post_number=3,
            )
        elif kind == "thanks":
            thanked = answer + timedelta(minutes=rng.randrange(3, 30))
            fake.reply(topic_id, customer, "Thanks!", thanked, reply_to_post_number=2)
            fake.reply(
                topic_id,
                "acme_support",
                "",
                thanked + timedelta(minutes=5),
                post_type=SMALL_ACTION,
                action_code="closed.enabled",
            )
    return {
        "credentials": {
            "api_key": fake.issue_api_key("acme_support"),
            "api_username": "acme_support",
        },
        "staff_usernames": ["acme_support"],
        "staff_groups": ["support"],
    }


__all__ = [
    "MODERATOR_ACTION",
    "REGULAR",
    "SMALL_ACTION",
    "WHISPER",
    "FakeDiscourse",
    "error_body",
    "rate_limit_body",
    "script_conversations",
]
