"""Mastodon adapter: a brand account's mentions and its own posts, paged by `Link` headers."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import requests

from reply_sla.adapters.channels.http import (
    MAX_MARKUP_CHARS,
    ChannelHttp,
    build_message,
    naming,
    parse_channel_time,
    parse_link_header,
    platform_id,
    retry_after_header,
    server_now,
)
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction, Message
from reply_sla.errors import ChannelDataError, ChannelError, ConfigError
from reply_sla.ports import FetchResult

CHANNEL = "mastodon"
# The config contract: the platform's default server when an account names none.
DEFAULT_SERVER = "https://mastodon.social"
VERIFY_CREDENTIALS = "/api/v1/accounts/verify_credentials"
NOTIFICATIONS = "/api/v1/notifications"
# Mastodon caps `limit` at twice its default; asking for more would make a full page look short.
MAX_NOTIFICATIONS_LIMIT = 80
MAX_STATUSES_LIMIT = 40


def id_key(value: str) -> tuple[int, str]:
    """Sort key of a Mastodon id: digit strings compare as numbers (by length, then text)."""
    return len(value), value


class _PlainText(HTMLParser):
    """Collects the text of Mastodon's status HTML, a newline per `<br>` and per paragraph."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n")
        elif tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(content: str) -> str:
    """Plain text of status HTML: tags dropped, entities unescaped; the result is inert data."""
    parser = _PlainText()
    parser.feed(content[:MAX_MARKUP_CHARS])
    parser.close()
    return "".join(parser.parts).strip()


def parse_time(value: Any, where: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime, or a `ChannelDataError` saying where."""
    return parse_channel_time(CHANNEL, value, where, "created_at")


def rate_limit_reset(response: requests.Response) -> float | None:
    """Seconds until Mastodon's `X-RateLimit-Reset` (ISO 8601), else from `Retry-After`."""
    value = response.headers.get("X-RateLimit-Reset")
    if value:
        try:
            reset = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            reset = reset if reset.tzinfo else reset.replace(tzinfo=UTC)
            return max(0.0, (reset - server_now(response)).total_seconds())
    return retry_after_header(response)


def _require(item: Any, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ChannelDataError(CHANNEL, f"{where}: expected an object, got {type(item).__name__}")
    missing = [key for key in keys if item.get(key) is None]
    if missing:
        named = naming(where, item.get("id"))
        raise ChannelDataError(CHANNEL, f"{named}: missing {', '.join(missing)}")
    platform_id(CHANNEL, item["id"], where)
    return item


def status_to_message(
    status: Any, *, account: AccountConfig, own_ids: frozenset[str], where: str = "status"
) -> Message:
    """A Mastodon Status entity as a Message, its direction seen from the brand."""
    status = _require(status, ("id", "created_at", "account"), where)
    where = f"{where} {status['id']}"
    author = _require(status["account"], ("id", "acct"), f"{where}: account")
    author_id = author["id"]
    if author_id in account.automated_ids:
        direction = Direction.AUTOMATED
    elif author_id in own_ids:
        direction = Direction.OUTBOUND
    else:
        direction = Direction.INBOUND
    parent = status.get("in_reply_to_id")
    content = status.get("content")
    if content is not None and not isinstance(content, str):
        raise ChannelDataError(CHANNEL, f"{where}: content is not a string")
    return build_message(
        CHANNEL,
        where,
        brand=account.brand,
        account_id=account.id,
        message_id=status["id"],
        thread_id=None if parent else status["id"],
        parent_id=parent or None,
        author_id=author_id,
        author_handle=f"@{author['acct']}" if isinstance(author["acct"], str) else "",
        author_name=author.get("display_name") or author.get("username") or "",
        created_at=parse_time(status["created_at"], where),
        text=html_to_text(content or ""),
        url=status.get("url") or status.get("uri"),
        direction=direction,
        private=status.get("visibility") == "direct",
    )


@dataclass
class _Feed:
    """What one feed's page chain yielded."""

    items: list[dict[str, Any]] = field(default_factory=list)
    newest: str | None = None
    pages: int = 0
    complete: bool = True
    errors: list[str] = field(default_factory=list)


class MastodonClient:
    """One brand account on a Mastodon server (the `ChannelClient` port)."""

    channel: str = CHANNEL

    def __init__(
        self,
        account: AccountConfig,
        credentials: Mapping[str, str],
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        page_limit: int = 40,
        max_pages: int = 50,
        backfill_seconds: int = 7 * 86400,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        token = credentials.get("access_token")
        if not token:
            raise ConfigError(f"account {account.id!r}: mastodon credentials need 'access_token'")
        self.account = account
        self.page_limit = max(1, page_limit)
        self.max_pages = max(1, max_pages)
        self.backfill_seconds = backfill_seconds
        self._http = ChannelHttp(
            CHANNEL,
            account.api_base_url or DEFAULT_SERVER,
            headers={"Authorization": f"Bearer {token}"},
            secrets=[token],
            session=session,
            timeout=timeout,
            sleep=sleep,
            retry_after=rate_limit_reset,
        )
        # Configured own ids spare the API call; the first one is the account the token belongs to.
        self._me: str | None = account.own_ids[0] if account.own_ids else None

    def _self_id(self) -> str:
        if self._me is None:
            body, _ = self._http.get_json(VERIFY_CREDENTIALS)
            self._me = _require(body, ("id",), f"GET {VERIFY_CREDENTIALS}")["id"]
        return self._me

    def own_ids(self) -> frozenset[str]:
        """The configured own ids, else the id of the token's account (asked once, then cached)."""
        return frozenset(self.account.own_ids) or frozenset({self._self_id()})

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        """New mentions (by notification id) and own posts (by status id), oldest first."""
        own_ids = self.own_ids()
        horizon = now - timedelta(seconds=self.backfill_seconds)
        statuses_path = f"/api/v1/accounts/{quote(self._self_id(), safe='')}/statuses"
        mentions = self._walk(
            NOTIFICATIONS,
            {"types[]": "mention"},
            cursors.get("mentions"),
            horizon,
            min(self.page_limit, MAX_NOTIFICATIONS_LIMIT),
        )
        own = self._walk(
            statuses_path,
            {"exclude_reblogs": "true"},
            cursors.get("own"),
            horizon,
            min(self.page_limit, MAX_STATUSES_LIMIT),
        )
        found: list[tuple[Any, str]] = [
            (n.get("status"), f"GET {NOTIFICATIONS}: notification {n['id']}: status")
            for n in mentions.items
            if n.get("type") == "mention"
        ]
        # A boost is someone else's post; older servers drop `exclude_reblogs` from their links.
        found += [(s, f"GET {statuses_path}: status") for s in own.items if not s.get("reblog")]
        messages: dict[str, Message] = {}
        errors: list[str] = [*mentions.errors, *own.errors]
        for status, where in found:
            try:
                message = status_to_message(
                    status, account=self.account, own_ids=own_ids, where=where
                )
            except ChannelDataError as exc:
                # One bad item must not hold back the rest of the page: skip it, say which.
                errors.append(str(exc))
                continue
            messages.setdefault(message.message_id, message)
        notes = [
            f"{feed}: stopped after {self.max_pages} pages; "
            + ("the rest follows on the next poll" if cursors.get(feed) else "older ones skipped")
            for feed, walked in (("mentions", mentions), ("own", own))
            if not walked.complete
        ]
        return FetchResult(
            messages=sorted(messages.values(), key=lambda m: (m.created_at, id_key(m.message_id))),
            cursors={
                "mentions": mentions.newest or cursors.get("mentions"),
                "own": own.newest or cursors.get("own"),
            },
            pages=mentions.pages + own.pages,
            complete=mentions.complete and own.complete,
            notes=notes,
            errors=errors,
            **self._rate_limit(),
        )

    def _rate_limit(self) -> dict[str, Any]:
        """Mastodon's X-RateLimit-Remaining and -Reset (ISO 8601) of the last answer."""
        response = self._http.last_response
        if response is None:
            return {}
        remaining = response.headers.get("X-RateLimit-Remaining", "")
        reset = response.headers.get("X-RateLimit-Reset", "")
        try:
            reset_at = datetime.fromisoformat(reset.replace("Z", "+00:00")) if reset else None
        except ValueError:
            reset_at = None
        return {
            "rate_limit_remaining": int(remaining) if remaining.isdigit() else None,
            "rate_limit_reset_at": reset_at,
        }

    def _walk(
        self,
        path: str,
        params: dict[str, str],
        cursor: str | None,
        horizon: datetime,
        limit: int,
    ) -> _Feed:
        """One feed's pages: forward from the cursor by `min_id`, or back to the horizon if none."""
        feed = _Feed()
        query: dict[str, str] | None = {**params, "limit": str(limit)}
        if cursor:
            query = {**params, "limit": str(limit), "min_id": cursor}
        # `prev` pages towards newer items, `next` towards older (Mastodon's Link header).
        rel = "prev" if cursor else "next"
        target: str | None = path
        while target is not None:
            if feed.pages == self.max_pages:
                feed.complete = False
                break
            body, response = self._http.get_json(target, query)
            feed.pages += 1
            query = None  # a Link URL carries its own query
            if not isinstance(body, list):
                raise self._http.data_error(
                    path, f"expected a JSON list, got {type(body).__name__}"
                )
            if not body:
                break
            # One malformed item must not hold back the rest of the page: it is skipped and
            # named, and moves no cursor. A page with nothing usable is not what the API
            # documents at all: an error, and the cursor stays.
            page: list[tuple[dict[str, Any], datetime]] = []
            problems: list[str] = []
            for index, item in enumerate(body):
                where = f"GET {path}: item {index}"
                try:
                    entry = _require(item, ("id", "created_at", "account"), where)
                    page.append((entry, parse_time(entry["created_at"], f"{where} {entry['id']}")))
                except ChannelDataError as exc:
                    problems.append(str(exc))
            if not page:
                first = problems[0].removeprefix(f"{CHANNEL}: ").removeprefix(f"GET {path}: ")
                raise self._http.data_error(path, first)
            feed.errors += problems
            newest = max((item["id"] for item, _ in page), key=id_key)
            if feed.newest is None or id_key(newest) > id_key(feed.newest):
                feed.newest = newest
            if cursor:
                feed.items += [item for item, _ in page]
            else:
                kept = [item for item, created in page if created >= horizon]
                feed.items += kept
                if len(kept) < len(page):
                    break  # reached items older than the backfill window
            # A short page is the last one either way: spare a request per feed and poll.
            if len(body) < limit:
                break
            target = parse_link_header(response.headers.get("Link", "")).get(rel)
        return feed

    def thread_root(self, message_id: str) -> str:
        """The first ancestor in the status's context (the status itself when it has none).

        Mastodon returns at most 40 ancestors; beyond that depth this is the oldest one shown.
        """
        path = f"/api/v1/statuses/{quote(message_id, safe='')}/context"
        self._http.last_response = None
        try:
            body, _ = self._http.get_json(path)
        except ChannelError:
            gone = self._http.last_response
            if gone is not None and gone.status_code == 404:
                return message_id  # deleted since it was fetched: it roots its own thread
            raise
        if not isinstance(body, dict) or not isinstance(body.get("ancestors"), list):
            raise self._http.data_error(path, "expected a Context with an `ancestors` list")
        if not body["ancestors"]:
            return message_id
        root: str = _require(body["ancestors"][0], ("id",), f"GET {path}: ancestors[0]")["id"]
        return root
