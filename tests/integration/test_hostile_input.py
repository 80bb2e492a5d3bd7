"""Hostile input: malformed and adversarial items from every channel, through the poll service.

For each channel, a corpus of at least 30 items the platform's API could send (missing fields,
wrong types, invalid timestamps, duplicate ids, 1 MB texts, control and bidi characters, HTML
and script, emoji and combining marks, ids that collide across channels) is served by that
channel's fake server in one page, between well-formed items. The account is polled by the real
adapter and poll service into the real store on AWS's DynamoDB Local. Each item must be stored
safely (read back from the table: capped, one-line names, only http(s) links, no unencodable
text) or rejected with a reason in the poll's `skipped` list (what the handler logs), and the
rest of its page must be stored.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from reply_sla.adapters.channels.bluesky import BlueskyClient
from reply_sla.adapters.channels.discourse import DiscourseClient
from reply_sla.adapters.channels.mastodon import MastodonClient
from reply_sla.adapters.channels.meta import (
    COMMENT_FIELDS,
    IG_COMMENT_FIELDS,
    FacebookClient,
    InstagramClient,
)
from reply_sla.adapters.channels.x import TWEETS, XClient
from reply_sla.adapters.dynamodb_store import DynamoThreadStore, _deserialize
from reply_sla.config import AccountConfig, MonitorConfig
from reply_sla.domain.engine import PolicyEngine
from reply_sla.domain.models import MAX_TEXT_CHARS
from reply_sla.local.fake_bluesky import FakeBluesky
from reply_sla.local.fake_discourse import FakeDiscourse
from reply_sla.local.fake_http import FakeHttpServer, FakeRequest, Reply
from reply_sla.local.fake_mastodon import FakeMastodon
from reply_sla.local.fake_meta import FakeGraph
from reply_sla.local.fake_x import FakeX
from reply_sla.local.provision import provision_table
from reply_sla.services.polling import PollReport, poll_account
from tests.conftest import TEMPLATE, local_session
from tests.factories import message
from tests.fakes import FakeChannel

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
ENGINE = PolicyEngine.from_config(MonitorConfig())
MB = 1024 * 1024
# Ids another channel's account of the same brand already stored messages under (lower than
# the fakes' own ids, so that a cursor they move stays behind the next real post).
SHARED_ID = "1000000000000000999"
SHARED_URI = "at://did:plc:otheraccount/app.bsky.feed.post/3shared"
DELETE = object()
CONTROLS = "before\x00\x07\x1b[31mred\x1b[0m\r\x7f\x85after"
BIDI = "refund \u202egnp.exe\u202c \u2066\u2067isolated\u2069 \u200f"
EMOJI = "👩🏽‍💻🏳️‍🌈🇪🇸 Z̸̢̛͇̈́a̶̱͗l̴̰̈g̷̠̓ó̷̺ n\u0303 e\u0301"
NAME_WITH_CONTROLS = "Carol\r\nMallory\x00\nBcc: x"
NAME_ONE_LINE = "Carol Mallory Bcc: x"
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)><b>bold</b>'


@dataclass(frozen=True)
class Case:
    """One item of a corpus and what must become of it.

    `stored`: the message id it must be stored under (None: it must be rejected, with a logged
    reason containing `reason`, else its id `absent`; a stored item with a `reason` must have
    it logged too). `check` looks at the stored item as read back from the table. `absent`:
    the rejected item's id, which must not be stored. `served`: False for what another case's
    item carries (a reply inside a comment). `ignored`: not a message by the API's own rules
    (a like): neither stored nor a reason.
    """

    label: str
    item: Any
    stored: str | None = None
    reason: str = ""
    check: Callable[[dict[str, Any]], object] | None = None
    absent: str | None = None
    served: bool = True
    ignored: bool = False  # not a message at all (a like): neither stored nor an error

    @staticmethod
    def items(cases: list[Case]) -> list[Any]:
        return [case.item for case in cases if case.served]


class Injecting:
    """Mixin for a fake server: the next answer to one path gets extra items added."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._armed: dict[str, Callable[[Any], Any]] = {}
        self._arm_lock = threading.Lock()

    def arm(self, path: str, change: Callable[[Any], Any]) -> None:
        with self._arm_lock:
            self._armed[path] = change

    def respond(self, request: FakeRequest) -> Reply:
        status, headers, body = super().respond(request)  # type: ignore[misc]
        with self._arm_lock:
            change = self._armed.pop(request.path, None) if status == 200 else None
        if change is not None:
            body = change(copy.deepcopy(body))
        return status, headers, body


def injecting(fake_class: type[FakeHttpServer]) -> type[Any]:
    return type(f"Injecting{fake_class.__name__}", (Injecting, fake_class), {})


def mutated(template: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy with dotted keys set (`account__id` is account.id); DELETE removes one."""
    item = copy.deepcopy(template)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = item
        for key in parents:
            node = node[key]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return item


# -- what "stored safely" means, read back from the table -------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def assert_safe(item: dict[str, Any]) -> None:
    """A stored message any reader can show: bounded, encodable, one-line names, web links."""
    assert len(item["text"]) <= MAX_TEXT_CHARS
    for name in ("author_name", "author_handle"):
        value = item.get(name, "")
        assert len(value) <= 200 and "\n" not in value and "\x00" not in value, (name, value)
    assert item.get("url", "") == "" or item["url"].startswith(("https://", "http://"))
    assert not item.get("url", "").lower().startswith("javascript")
    for text in _strings(item):
        text.encode("utf-8")  # no unpaired surrogate


@dataclass
class Table:
    client: Any
    name: str
    store: DynamoThreadStore

    def message(self, account_id: str, message_id: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.name,
            Key={"pk": {"S": f"MSG#{account_id}#{message_id}"}, "sk": {"S": "MSG"}},
            ConsistentRead=True,
        )
        return _deserialize(response["Item"]) if "Item" in response else None


@pytest.fixture
def table(dynamodb_local: str, aws_env: None) -> Table:
    name = f"replysla-hostile-{uuid.uuid4().hex[:8]}"
    session = local_session()
    provision_table(session, dynamodb_local, TEMPLATE, name)
    client = session.client("dynamodb", region_name="us-east-1", endpoint_url=dynamodb_local)
    store = DynamoThreadStore(client, name, sleep=lambda _s: None)
    # Another channel of the brand already holds messages under the shared ids.
    other = AccountConfig(id="acme-other", brand="acme", channel="x", credentials={"t": "x"})
    shared = [
        message(-60, message_id=ident, thread_id=ident, account_id=other.id)
        for ident in (SHARED_ID, SHARED_URI)
    ]
    poll_account(other, FakeChannel(shared), store, ENGINE.book, ENGINE.triage, T0)
    return Table(client, name, store)


def poll(account: AccountConfig, client: Any, table: Table, now: datetime = T0) -> PollReport:
    return poll_account(account, client, table.store, ENGINE.book, ENGINE.triage, now)


def verify(
    table: Table, account_id: str, cases: list[Case], report: PollReport, good: list[str]
) -> None:
    """Every case stored safely or rejected with its reason; the well-formed items stored."""
    assert len(cases) >= 30, f"only {len(cases)} hostile items"
    problems: list[str] = []
    reasons = list(report.skipped)
    assert all(len(r) <= 600 for r in reasons), [r for r in reasons if len(r) > 600][:1]
    for mid in good:
        if table.message(account_id, mid) is None:
            problems.append(f"well-formed item {mid} was not stored")

    def fragment_of(case: Case) -> str:
        if case.ignored:
            return ""
        return case.reason or (case.absent if case.stored is None else "") or ""

    # The most specific reasons first, so a general one cannot take another item's reason.
    for case in sorted(cases, key=lambda c: -len(fragment_of(c))):
        fragment = fragment_of(case)
        assert fragment or case.stored or case.ignored, f"{case.label}: name its reason"
        if fragment:
            match = next((r for r in reasons if fragment in r), None)
            if match is None:
                problems.append(f"{case.label}: no logged reason containing {fragment[:40]!r}")
            else:
                reasons.remove(match)
        if case.stored is not None:
            item = table.message(account_id, case.stored)
            if item is None:
                problems.append(f"{case.label}: not stored under {case.stored[:40]!r}")
                continue
            try:
                assert_safe(item)
                if case.check is not None:
                    assert case.check(item) is not False
            except AssertionError as exc:
                problems.append(f"{case.label}: stored unsafely or wrongly: {exc!r}"[:300])
        if case.absent is not None and table.message(account_id, case.absent) is not None:
            problems.append(f"{case.label}: {case.absent[:40]!r} was stored")
    if reasons:
        problems.append(f"reasons no case explains: {reasons}")
    assert not problems, "\n".join(problems)
    for ident in (SHARED_ID, SHARED_URI):
        other = table.message("acme-other", ident)
        assert other is not None and other["account_id"] == "acme-other"


# -- the corpus every channel shares, through its own field names -----------------------------


@dataclass(frozen=True)
class Fields:
    """Where a channel's item keeps each thing (dotted with `__`), and how text is sent."""

    id: str
    time: str
    text: str
    author: str | None
    author_id: str
    author_name: str | None
    url: str | None
    # The text field's value for a text (Mastodon sends HTML, the others plain text).
    encode: Callable[[str], str] = lambda text: text
    # Graph leaves `from` out for authors it hides: not an error there.
    author_required: bool = True
    # What the reason for an item without a usable id says.
    id_reason: str = "id"


def common_cases(
    template: dict[str, Any],
    fields: Fields,
    new_id: Callable[[int], Any],
    good_id: Any,
    parse: Callable[[str], str] = lambda text: text,
) -> list[Case]:
    """The corpus every channel gets, built from one of its well-formed items.

    `new_id(n)` is a fresh id and `good_id` a well-formed item's id in the same page, as the
    API sends ids; `parse` is what the adapter makes of a text sent as `fields.encode(text)`.
    """
    n = iter(range(1, 1000))

    def item(**changes: Any) -> tuple[str, dict[str, Any]]:
        ident = new_id(next(n))
        return ident, mutated(template, **{fields.id: ident, **changes})

    def text_is(expected: str) -> Callable[[dict[str, Any]], bool]:
        return lambda stored: stored["text"] == expected[:MAX_TEXT_CHARS]

    cases: list[Case] = []

    def stored(label: str, check: Callable[[dict[str, Any]], object] | None = None, **ch: Any):
        ident, body = item(**ch)
        cases.append(Case(label, body, stored=ident, check=check))

    def rejected(label: str, reason: str, **ch: Any) -> None:
        ident, body = item(**ch)
        if fields.id in ch:  # no usable id: the reason says what is wrong with it
            cases.append(Case(label, body, reason=reason or fields.id_reason))
        else:  # the reason names the item by its id
            cases.append(Case(label, body, reason=reason, absent=ident))

    t, x = fields.text, fields.encode
    rejected("time missing", "", **{fields.time: DELETE})
    rejected("time is a number", "", **{fields.time: 1763283600})
    rejected("time is not a date", "", **{fields.time: "2026-02-30T10:00:00Z"})
    rejected("time is words", "yesterday", **{fields.time: "yesterday-ish"})
    rejected("time in year 1", "implausible", **{fields.time: "0001-01-01T00:00:00Z"})
    rejected("time in year 9999", "implausible", **{fields.time: "9999-12-31T23:59:59Z"})
    stored(
        "time without a zone (UTC)",
        lambda s: s["created_at"].startswith("2026-11-16T08:50:00"),
        **{fields.time: "2026-11-16T08:50:00"},
    )
    stored(
        "time with a +14:00 offset",
        lambda s: s["created_at"].startswith("2026-11-16T08:50:00"),
        **{fields.time: "2026-11-16T22:50:00+14:00"},
    )
    stored("text of 1 MB", lambda s: len(s["text"]) == MAX_TEXT_CHARS, **{t: x("a" * MB)})
    stored("control characters", text_is(parse(CONTROLS)), **{t: x(CONTROLS)})
    stored("bidi controls", text_is(parse(BIDI)), **{t: x(BIDI)})
    stored("emoji and combining marks", text_is(parse(EMOJI)), **{t: x(EMOJI)})
    stored("unpaired surrogate", lambda s: "\ufffd" in s["text"], **{t: x("broken \ud83d end")})
    stored("HTML and script", text_is(parse(SCRIPT)), **{t: x(SCRIPT)})
    stored("empty text", None, **{t: x("")})
    if fields.author is not None and fields.author_required:
        rejected("author missing", "", **{fields.author: DELETE})
        rejected("author is a string", "", **{fields.author: "carol"})
    rejected("author id is a number", "", **{fields.author_id: 12345})
    if fields.author_name is not None:
        stored(
            "author name of 1 MB",
            lambda s: 0 < len(s["author_name"]) <= 200,
            **{fields.author_name: "N" * MB},
        )
        stored(
            "author name with newlines and controls",
            lambda s: s["author_name"] == NAME_ONE_LINE,
            **{fields.author_name: NAME_WITH_CONTROLS},
        )
    if fields.url is not None:
        stored("javascript link", lambda s: s["url"] == "", **{fields.url: "javascript:alert(1)"})
        stored("link of 1 MB", lambda s: s["url"] == "", **{fields.url: "https://e.x/" + "a" * MB})
    rejected("id missing", "", **{fields.id: DELETE})
    rejected("id of 1 MB", "", **{fields.id: "9" * MB})
    rejected("id with spaces and a newline", "", **{fields.id: "12 34\n56"})
    rejected("id is an object", "", **{fields.id: {"id": "1"}})
    cases += [
        Case("not an object: a string", "just a string", reason="expected an object"),
        Case("not an object: null", None, reason="expected an object"),
        Case("not an object: a list", [template], reason="expected an object"),
    ]
    # A copy of a well-formed item's id with other words: the first one in the page stays.
    dup_of_good = mutated(template, **{fields.id: good_id, t: x("a different text")})
    cases.append(Case("duplicate of a well-formed item", dup_of_good, stored=good_id))
    twin = new_id(next(n))
    cases.append(
        Case(
            "same new id twice",
            mutated(template, **{fields.id: twin, t: x("first copy")}),
            stored=twin,
            check=text_is(parse("first copy")),
        )
    )
    cases.append(Case("same new id twice (2nd)", mutated(template, **{fields.id: twin}), twin))
    return cases


# -- Mastodon ---------------------------------------------------------------------------------

NOTIFICATIONS = "/api/v1/notifications"


def _mastodon_html(text: str) -> str:
    return "<p>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "</p>"


def test_mastodon_hostile_items_are_stored_safely_or_rejected(table: Table):
    # Given a brand on a Mastodon server, one poll done, and two new mentions
    clock = [T0 - timedelta(minutes=30)]
    with injecting(FakeMastodon)(lambda: clock[0]) as fake:
        brand = fake.add_account("acme", "ACME")["id"]
        carol = fake.add_account("carol", "Carol")["id"]
        token = fake.issue_token(brand)
        account = AccountConfig(
            id="acme-mastodon",
            brand="acme",
            channel="mastodon",
            api_base_url=fake.base_url,
            credentials={"access_token": token},
            own_ids=[brand],
        )
        client = MastodonClient(account, {"access_token": token}, sleep=lambda _s: None)
        fake.post(carol, "@acme first", T0 - timedelta(minutes=40))
        poll(account, client, table, clock[0])
        good = [
            fake.post(carol, f"@acme question {i}", T0 - timedelta(minutes=20 - i))["id"]
            for i in range(2)
        ]
        clock[0] = T0
        raw = requests.get(
            fake.base_url + NOTIFICATIONS,
            headers={"Authorization": f"Bearer {token}"},
            params={"types[]": "mention"},
            timeout=5,
        ).json()
        template = next(n for n in raw if n["status"]["id"] == good[0])
        cases = mastodon_cases(template, good[0])
        # When the next page of mentions carries the hostile items among the new ones
        fake.arm(NOTIFICATIONS, lambda body: [*body[:1], *Case.items(cases), *body[1:]])
        report = poll(account, client, table)
        # Then each is stored safely or rejected with a logged reason, and the page is stored
        verify(table, account.id, cases, report, good)
        # And the next poll goes on from there with nothing stuck
        later = fake.post(carol, "@acme still there?", T0 + timedelta(minutes=1))["id"]
        clock[0] = T0 + timedelta(minutes=2)
        again = poll(account, client, table, clock[0])
        assert again.skipped == [] and table.message(account.id, later) is not None


def mastodon_cases(template: dict[str, Any], good_id: str) -> list[Case]:
    fields = Fields(
        id="status__id",
        time="status__created_at",
        text="status__content",
        author="status__account",
        author_id="status__account__id",
        author_name="status__account__display_name",
        url="status__url",
        encode=_mastodon_html,
    )
    counter = iter(range(1, 1000))

    def new_id(_n: int) -> str:
        return f"91000000000000{next(counter):05d}"

    cases = common_cases(template, fields, new_id, good_id, parse=lambda text: text.strip())
    one = iter(range(500, 1000))

    def status(**changes: Any) -> tuple[str, dict[str, Any]]:
        ident = f"92000000000000{next(one):05d}"
        body = mutated(template, **{"status__id": ident, **changes})
        return changes.get("status__id", ident), body

    for label, changes, reason in [
        ("mention without a status", {"status": DELETE}, "status: expected an object"),
        ("notification without created_at", {"created_at": DELETE}, "missing created_at"),
        ("status id is a number", {"status__id": 12345}, "id is not a string"),
        ("content is a list", {"status__content": ["<p>hi</p>"]}, "content is not a string"),
        ("account acct missing", {"status__account__acct": DELETE}, "missing acct"),
        ("in_reply_to_id is an object", {"status__in_reply_to_id": {"id": "1"}}, "parent id"),
    ]:
        ident, body = status(**changes)
        absent = ident if isinstance(ident, str) else None
        cases.append(Case(label, body, reason=reason, absent=absent))
    for label, changes, check in [
        (
            "script and handlers in HTML",
            {"status__content": '<p>hi<script>alert("x")</script><img onerror="alert(1)"></p>'},
            lambda s: s["text"] == "hi",
        ),
        ("content missing", {"status__content": DELETE}, lambda s: s["text"] == ""),
        ("visibility is an object", {"status__visibility": {"v": 1}}, lambda s: not s["private"]),
        (
            "reply to a status the server does not have",
            {"status__in_reply_to_id": "99999999999999999"},
            lambda s: s["thread_id"] == s["message_id"],
        ),
        ("unknown nested fields", {"status__junk": {"a": [{"b": ["c"] * 100}]}}, None),
        (
            "id that another channel's account stored",
            {"status__id": SHARED_ID},
            lambda s: s["account_id"] == "acme-mastodon",
        ),
    ]:
        ident, body = status(**changes)
        cases.append(Case(label, body, stored=ident, check=check))
    return cases


# -- X ----------------------------------------------------------------------------------------


def _x_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_x_hostile_items_are_stored_safely_or_rejected(table: Table):
    # Given a brand on X, one poll done, and two new mentions
    clock = [T0 - timedelta(minutes=30)]
    with injecting(FakeX)(lambda: clock[0]) as fake:
        brand = fake.add_user("acme", "ACME")["id"]
        carol = fake.add_user("carol", "Carol")["id"]
        token = fake.issue_token(brand)
        account = AccountConfig(
            id="acme-x",
            brand="acme",
            channel="x",
            api_base_url=fake.base_url,
            credentials={"bearer_token": token, "user_id": brand},
        )
        client = XClient(account, {"bearer_token": token, "user_id": brand}, sleep=lambda _s: 0)
        fake.post(carol, "@acme first", T0 - timedelta(minutes=40))
        poll(account, client, table, clock[0])
        good = [
            fake.post(carol, f"@acme question {i}", T0 - timedelta(minutes=20 - i))["id"]
            for i in range(2)
        ]
        clock[0] = T0
        mentions = f"/2/users/{brand}/mentions"
        raw = requests.get(
            fake.base_url + mentions,
            headers={"Authorization": f"Bearer {token}"},
            params={
                TWEETS.fields_param: TWEETS.fields,
                "expansions": TWEETS.expansions,
                "user.fields": "username,name",
            },
            timeout=5,
        ).json()
        template = next(p for p in raw["data"] if p["id"] == good[0])
        cases, users = x_cases(template, good[0])

        def inject(body: dict[str, Any]) -> dict[str, Any]:
            body["data"] = [*body["data"][:1], *Case.items(cases), *body["data"][1:]]
            body["includes"]["users"] += users
            return body

        # When the next page of mentions carries the hostile posts among the new ones
        fake.arm(mentions, inject)
        report = poll(account, client, table)
        # Then each is stored safely or rejected with a logged reason, and the page is stored
        verify(table, account.id, cases, report, good)
        # And the next poll goes on from there with nothing stuck
        later = fake.post(carol, "@acme still there?", T0 + timedelta(minutes=1))["id"]
        clock[0] = T0 + timedelta(minutes=2)
        again = poll(account, client, table, clock[0])
        assert again.skipped == [] and table.message(account.id, later) is not None


def x_cases(template: dict[str, Any], good_id: str) -> tuple[list[Case], list[dict[str, Any]]]:
    """X's corpus, and the users its posts' authors are (X sends them in `includes`)."""
    fields = Fields(
        id="id",
        time="created_at",
        text="text",
        author=None,
        author_id="author_id",
        author_name=None,
        url=None,
        encode=_x_escape,
    )
    counter = iter(range(1, 1000))

    def new_id(_n: int = 0) -> str:
        return f"10000000000000{next(counter):05d}"

    cases = common_cases(template, fields, new_id, good_id)
    users = [
        {"id": "3000000001", "name": "N" * MB, "username": "bigname"},
        {"id": "3000000002", "name": NAME_WITH_CONTROLS, "username": "mallory"},
        {"id": "3000000003", "name": "Eve", "username": "eve</a><script>"},
    ]
    for label, changes, check in [
        (
            "author name of 1 MB",
            {"author_id": "3000000001"},
            lambda s: 0 < len(s["author_name"]) <= 200,
        ),
        (
            "author name with newlines and controls",
            {"author_id": "3000000002"},
            lambda s: s["author_name"] == NAME_ONE_LINE,
        ),
        (
            "username with markup: no handle, a link by id",
            {"author_id": "3000000003"},
            lambda s: s["author_handle"] == "" and s["url"].startswith("https://x.com/i/web/"),
        ),
        (
            "author without a user in includes",
            {"author_id": "3000000009"},
            lambda s: s["author_name"] == "" and s["author_id"] == "3000000009",
        ),
        (
            "conversation id is garbage: its own thread",
            {"conversation_id": "not-an-id"},
            lambda s: s["thread_id"] == s["message_id"],
        ),
        ("unknown nested fields", {"junk": {"a": [{"b": ["c"] * 100}]}}, None),
        (
            "reply to a post the server does not have",
            {"referenced_tweets": [{"type": "replied_to", "id": "1999999999999999999"}]},
            None,
        ),
        (
            "id that another channel's account stored",
            {"id": SHARED_ID},
            lambda s: s["account_id"] == "acme-x",
        ),
    ]:
        ident = changes.get("id") or new_id()
        cases.append(Case(label, mutated(template, **{"id": ident, **changes}), ident, check=check))
    for label, changes, reason in [
        ("text missing", {"text": DELETE}, "missing text"),
        ("text is a list", {"text": ["a"]}, "missing text"),
        ("author id is not an X id", {"author_id": "carol"}, "author_id is not an X id"),
        ("id is a number", {"id": 1234567}, "id is not a numeric string"),
        (
            "replied-to reference without an id",
            {"referenced_tweets": [{"type": "replied_to"}]},
            "replied-to id",
        ),
    ]:
        ident = new_id()
        body = mutated(template, **{"id": ident, **changes})
        absent = ident if "id" not in changes else None
        cases.append(Case(label, body, reason=reason, absent=absent))
    return cases, users


# -- Facebook and Instagram -------------------------------------------------------------------


def _graph_template(fake: Any, token: str, path: str, fields: str, good_id: str) -> Any:
    raw = requests.get(
        fake.base_url + path,
        headers={"Authorization": f"Bearer {token}"},
        params={"fields": fields, "filter": "stream", "limit": "100"},
        timeout=5,
    ).json()
    return next(c for c in raw["data"] if c["id"] == good_id)


def _graph_inject(cases: list[Case]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def inject(body: dict[str, Any]) -> dict[str, Any]:
        body["data"] = [*body["data"][:1], *Case.items(cases), *body["data"][1:]]
        return body

    return inject


def test_facebook_hostile_comments_are_stored_safely_or_rejected(table: Table):
    # Given a Page with a post, one poll done, and two new comments
    clock = [T0 - timedelta(minutes=30)]
    with injecting(FakeGraph)(lambda: clock[0]) as fake:
        page = fake.add_page("ACME Support")
        carol = fake.add_user("Carol")["id"]
        post = fake.post(page["id"], "Winter sale", T0 - timedelta(hours=3))["id"]
        credentials = {"page_access_token": page["access_token"], "page_id": page["id"]}
        account = AccountConfig(
            id="acme-facebook",
            brand="acme",
            channel="facebook",
            api_base_url=fake.base_url + "/v21.0",
            credentials=credentials,
        )
        client = FacebookClient(account, credentials, sleep=lambda _s: None)
        fake.comment(post, carol, "First", T0 - timedelta(minutes=40))
        poll(account, client, table, clock[0])
        good = [
            fake.comment(post, carol, f"Question {i}", T0 - timedelta(minutes=20 - i))["id"]
            for i in range(2)
        ]
        clock[0] = T0
        path = f"/v21.0/{post}/comments"
        template = _graph_template(fake, page["access_token"], path, COMMENT_FIELDS, good[0])
        cases = facebook_cases(template, good[0], post)
        # When the post's next comments carry the hostile ones among the new ones
        fake.arm(path, _graph_inject(cases))
        report = poll(account, client, table)
        # Then each is stored safely or rejected with a logged reason, and the page is stored
        verify(table, account.id, cases, report, good)
        later = fake.comment(post, carol, "Still there?", T0 + timedelta(minutes=1))["id"]
        clock[0] = T0 + timedelta(minutes=2)
        again = poll(account, client, table, clock[0])
        assert again.skipped == [] and table.message(account.id, later) is not None


def facebook_cases(template: dict[str, Any], good_id: str, post: str) -> list[Case]:
    fields = Fields(
        id="id",
        time="created_time",
        text="message",
        author="from",
        author_id="from__id",
        author_name="from__name",
        url="permalink_url",
        author_required=False,
    )
    prefix = post.split("_")[-1]
    counter = iter(range(1, 1000))

    def new_id(_n: int = 0) -> str:
        return f"{prefix}_9000000000{next(counter):05d}"

    cases = common_cases(template, fields, new_id, good_id)
    for label, changes, check in [
        ("message missing", {"message": DELETE}, lambda s: s["text"] == ""),
        ("from missing (a hidden author)", {"from": DELETE}, lambda s: s["author_id"] == ""),
        (
            "reply to a comment the API does not show",
            {"parent": {"id": f"{prefix}_8999"}},
            lambda s: s["thread_id"] == f"{prefix}_8999",
        ),
        ("unknown nested fields", {"junk": {"a": [{"b": ["c"] * 100}]}}, None),
        (
            "id that another channel's account stored",
            {"id": SHARED_ID},
            lambda s: s["account_id"] == "acme-facebook",
        ),
    ]:
        ident = changes.get("id") or new_id()
        cases.append(Case(label, mutated(template, **{"id": ident, **changes}), ident, check=check))
    for label, changes, reason in [
        ("message is an object", {"message": {"text": "hi"}}, "message is not a string"),
        ("from is a string", {"from": "Carol"}, "from is not an object"),
        ("parent is a list", {"parent": ["x"]}, "parent is not an object"),
        ("parent id is a number", {"parent": {"id": 5}}, "thread id is not a string"),
        ("id is a number", {"id": 1234567}, "id is not a string"),
    ]:
        ident = new_id()
        body = mutated(template, **{"id": ident, **changes})
        absent = ident if "id" not in changes else None
        cases.append(Case(label, body, reason=reason, absent=absent))
    return cases


def test_instagram_hostile_comments_are_stored_safely_or_rejected(table: Table):
    # Given an Instagram account with a media, one poll done, and two new comments
    clock = [T0 - timedelta(minutes=30)]
    with injecting(FakeGraph)(lambda: clock[0]) as fake:
        page = fake.add_page("ACME Support")
        ig = fake.add_instagram_account("acme", page_id=page["id"])["id"]
        dana = fake.add_user("Dana", username="dana.ig")["id"]
        media = fake.publish_media(ig, "New drop", T0 - timedelta(hours=3))["id"]
        credentials = {"access_token": page["access_token"], "ig_user_id": ig}
        account = AccountConfig(
            id="acme-instagram",
            brand="acme",
            channel="instagram",
            api_base_url=fake.base_url + "/v21.0",
            credentials=credentials,
        )
        client = InstagramClient(account, credentials, sleep=lambda _s: None)
        fake.comment(media, dana, "First", T0 - timedelta(minutes=40))
        poll(account, client, table, clock[0])
        good = [
            fake.comment(media, dana, f"Question {i}", T0 - timedelta(minutes=20 - i))["id"]
            for i in range(2)
        ]
        clock[0] = T0
        path = f"/v21.0/{media}/comments"
        fields = f"{IG_COMMENT_FIELDS},replies{{{IG_COMMENT_FIELDS}}}"
        template = _graph_template(fake, page["access_token"], path, fields, good[0])
        cases = instagram_cases(template, good[0])
        # When the media's comments carry the hostile ones among the new ones
        fake.arm(path, _graph_inject(cases))
        report = poll(account, client, table)
        # Then each is stored safely or rejected with a logged reason, and the page is stored
        verify(table, account.id, cases, report, good)
        later = fake.comment(media, dana, "Still there?", T0 + timedelta(minutes=1))["id"]
        clock[0] = T0 + timedelta(minutes=2)
        again = poll(account, client, table, clock[0])
        assert again.skipped == [] and table.message(account.id, later) is not None


def instagram_cases(template: dict[str, Any], good_id: str) -> list[Case]:
    fields = Fields(
        id="id",
        time="timestamp",
        text="text",
        author="from",
        author_id="from__id",
        author_name="username",
        url=None,
        author_required=False,
    )
    counter = iter(range(1, 1000))

    def new_id(_n: int = 0) -> str:
        return f"1790000000{next(counter):07d}"

    cases = common_cases(template, fields, new_id, good_id)
    reply_id = new_id()
    for label, changes, check in [
        ("text missing", {"text": DELETE}, lambda s: s["text"] == ""),
        ("from missing", {"from": DELETE}, lambda s: s["author_id"] == ""),
        (
            "username is a number",
            {"username": 42, "from": DELETE},
            lambda s: s["author_name"] == "",
        ),
        ("unknown nested fields", {"junk": {"a": [{"b": ["c"] * 100}]}}, None),
        (
            "id that another channel's account stored",
            {"id": SHARED_ID},
            lambda s: s["account_id"] == "acme-instagram",
        ),
    ]:
        ident = changes.get("id") or new_id()
        cases.append(Case(label, mutated(template, **{"id": ident, **changes}), ident, check=check))
    # A malformed replies edge is named, and the comment it came with is kept.
    ident = new_id()
    cases.append(
        Case(
            "replies that are not a page",
            mutated(template, id=ident, replies="none"),
            stored=ident,
            reason=f"{ident}: replies: expected a Graph page",
        )
    )
    parent = new_id()
    reply = mutated(template, id=reply_id, text="a reply in the thread")
    cases.append(
        Case(
            "comment with a well-formed reply",
            mutated(template, id=parent, replies={"data": [reply]}),
            stored=parent,
        )
    )
    cases.append(
        Case(
            "its reply, stored in the comment's thread",
            reply,
            stored=reply_id,
            check=lambda s: s["thread_id"] == parent and s["parent_id"] == parent,
            served=False,
        )
    )
    for label, changes, reason in [
        ("text is a list", {"text": ["hi"]}, "text is not a string"),
        ("from is a string", {"from": "dana"}, "from is not an object"),
        ("id is a number", {"id": 1234567}, "id is not a string"),
    ]:
        ident = new_id()
        body = mutated(template, **{"id": ident, **changes})
        absent = ident if "id" not in changes else None
        cases.append(Case(label, body, reason=reason, absent=absent))
    return cases


# -- Discourse --------------------------------------------------------------------------------


def test_discourse_hostile_posts_are_stored_safely_or_rejected(table: Table):
    # Given a forum topic, one poll done, and two new replies
    clock = [T0 - timedelta(minutes=30)]
    with injecting(FakeDiscourse)(lambda: clock[0]) as fake:
        fake.add_user("acme_support", "ACME Support", moderator=True)
        fake.add_user("carol", "Carol")
        credentials = {"api_key": fake.issue_api_key(), "api_username": "acme_support"}
        account = AccountConfig(
            id="acme-forum",
            brand="acme",
            channel="discourse",
            api_base_url=fake.base_url,
            credentials=credentials,
            staff_usernames=["acme_support"],
        )
        client = DiscourseClient(account, credentials, sleep=lambda _s: None)
        topic = fake.create_topic("carol", "Order", "Where is it?", T0 - timedelta(minutes=40))
        topic_id = topic["topic_id"]
        poll(account, client, table, clock[0])
        good = [
            str(
                fake.reply(topic_id, "carol", f"Question {i}", T0 - timedelta(minutes=20 - i))["id"]
            )
            for i in range(2)
        ]
        clock[0] = T0
        path = f"/t/{topic_id}.json"
        raw = requests.get(
            fake.base_url + path,
            headers={"Api-Key": credentials["api_key"], "Api-Username": "acme_support"},
            params={"include_raw": "true"},
            timeout=5,
        ).json()
        template = next(p for p in raw["post_stream"]["posts"] if str(p["id"]) == good[0])
        cases, topics = discourse_cases(template, good[0])

        def inject(body: dict[str, Any]) -> dict[str, Any]:
            posts = Case.items(cases)
            body["post_stream"]["posts"] += posts
            ids = [p["id"] for p in posts if isinstance(p, dict) and type(p.get("id")) is int]
            body["post_stream"]["stream"] += [*dict.fromkeys(ids), "not-a-post-id"]
            return body

        def listing(body: dict[str, Any]) -> dict[str, Any]:
            body["topic_list"]["topics"] += topics
            return body

        # When the topic's page carries the hostile posts (and the listing hostile topics)
        fake.arm(path, inject)
        fake.arm("/latest.json", listing)
        report = poll(account, client, table)
        # Then each is stored safely or rejected with a logged reason, and the rest is stored
        verify(table, account.id, cases, report, good)
        later = fake.reply(topic_id, "carol", "Still there?", T0 + timedelta(minutes=1))["id"]
        clock[0] = T0 + timedelta(minutes=2)
        again = poll(account, client, table, clock[0])
        assert again.skipped == [] and table.message(account.id, str(later)) is not None


def discourse_cases(
    template: dict[str, Any], good_id: str
) -> tuple[list[Case], list[dict[str, Any]]]:
    """Discourse's corpus of posts, and hostile topics for /latest.json."""
    fields = Fields(
        id="id",
        time="created_at",
        text="raw",
        author=None,
        author_id="username",
        author_name="name",
        url=None,
        id_reason="mistyped id",
    )
    numbers = iter(range(1000, 2000))
    counter = iter(range(900001, 990000))

    def post(**changes: Any) -> tuple[Any, dict[str, Any]]:
        ident = changes.get("id", next(counter))
        return ident, mutated(template, **{"id": ident, "post_number": next(numbers), **changes})

    # Post ids are numbers in Discourse's JSON and strings in the store; every post has its own
    # post number.
    cases = []
    for case in common_cases(
        template,
        fields,
        lambda _n: next(counter),
        int(good_id),
        parse=lambda text: text.strip(),
    ):
        item = case.item
        if isinstance(item, dict):
            item = mutated(item, post_number=next(numbers))
        cases.append(
            replace(
                case,
                item=item,
                stored=None if case.stored is None else str(case.stored),
                absent=None if case.absent is None else str(case.absent),
            )
        )
    for label, changes, check in [
        (
            "raw missing: cooked HTML with script",
            {"raw": DELETE, "cooked": "<p>hi<script>alert(1)</script></p>"},
            lambda s: s["text"] == "hi",
        ),
        ("unknown post type", {"post_type": 99}, lambda s: s["direction"] == "inbound"),
        ("reply to post number words", {"reply_to_post_number": "two"}, no_parent),
        ("reply to a post number not there", {"reply_to_post_number": 77777}, no_parent),
        ("a system user", {"user_id": -1}, lambda s: s["direction"] == "automated"),
        ("a unicode username", {"username": "josé_ñ"}, lambda s: s["author_id"] == "josé_ñ"),
        ("unknown nested fields", {"junk": {"a": [{"b": ["c"] * 100}]}}, None),
        (
            "id that another channel's account stored",
            {"id": int(SHARED_ID)},
            lambda s: s["account_id"] == "acme-forum",
        ),
    ]:
        ident, body = post(**changes)
        cases.append(Case(label, body, str(ident), check=check))
    for label, changes, reason in [
        ("id is a boolean", {"id": True}, "mistyped id"),
        ("post type is a string", {"post_type": "1"}, "mistyped post_type"),
        ("post number missing", {"post_number": DELETE}, "mistyped post_number"),
        ("cooked is a list", {"raw": DELETE, "cooked": ["<p>hi</p>"]}, "cooked is not a string"),
        ("username with a newline", {"username": "car\nol"}, "author id"),
    ]:
        ident, body = post(**changes)
        absent = str(ident) if type(ident) is int else None
        cases.append(Case(label, body, reason=reason, absent=absent))
    # Served elsewhere: an entry of the topic's `stream`, and topics of /latest.json.
    cases.append(Case("stream entry not a post id", None, reason="`stream` holds", served=False))
    topics: list[dict[str, Any]] = [
        {"id": "abc", "bumped_at": "2026-11-16T08:59:00.000Z"},
        {"id": 880001, "bumped_at": "soon"},
        {"id": 880002, "bumped_at": "2026-11-16T08:59:00.000Z", "highest_post_number": 3},
    ]
    gone = "topic 880002 was listed but is gone"
    cases += [
        Case("topic id is a string", topics[0], reason="missing id", served=False),
        Case("topic bumped_at is words", topics[1], reason="880001", served=False),
        Case("listed topic that is gone", topics[2], reason=gone, served=False),
    ]
    return cases, topics


def no_parent(stored: dict[str, Any]) -> bool:
    return "parent_id" not in stored


# -- Bluesky ----------------------------------------------------------------------------------

BLUESKY_NOTIFICATIONS = "/xrpc/app.bsky.notification.listNotifications"


def test_bluesky_hostile_notifications_are_stored_safely_or_rejected(table: Table):
    # Given a brand on Bluesky, one poll done, and two new mentions
    BlueskyClient.forget_sessions()
    clock = [T0 - timedelta(minutes=30)]
    with injecting(FakeBluesky)(lambda: clock[0]) as fake:
        brand = fake.add_account("acme.bsky.social", "ACME")["did"]
        carol = fake.add_account("carol.example.com", "Carol")["did"]
        credentials = {
            "identifier": "acme.bsky.social",
            "app_password": fake.add_app_password(brand),
        }
        account = AccountConfig(
            id="acme-bluesky",
            brand="acme",
            channel="bluesky",
            api_base_url=fake.base_url,
            credentials=credentials,
        )
        client = BlueskyClient(account, credentials, sleep=lambda _s: None)
        fake.post(carol, "@acme.bsky.social first", T0 - timedelta(minutes=40))
        poll(account, client, table, clock[0])
        good = [
            fake.post(carol, f"@acme.bsky.social q {i}", T0 - timedelta(minutes=20 - i))["uri"]
            for i in range(2)
        ]
        clock[0] = T0
        session = requests.post(
            fake.base_url + "/xrpc/com.atproto.server.createSession",
            json={"identifier": "acme.bsky.social", "password": credentials["app_password"]},
            timeout=5,
        ).json()
        raw = requests.get(
            fake.base_url + BLUESKY_NOTIFICATIONS,
            headers={"Authorization": f"Bearer {session['accessJwt']}"},
            timeout=5,
        ).json()
        template = next(n for n in raw["notifications"] if n["uri"] == good[0])
        cases = bluesky_cases(template, good[0], carol)

        def inject(body: dict[str, Any]) -> dict[str, Any]:
            listed = body["notifications"]
            body["notifications"] = [*listed[:1], *Case.items(cases), *listed[1:]]
            return body

        # When the next page of notifications carries the hostile ones among the new ones
        fake.arm(BLUESKY_NOTIFICATIONS, inject)
        report = poll(account, client, table)
        # Then each is stored safely or rejected with a logged reason, and the page is stored
        verify(table, account.id, cases, report, good)
        later = fake.post(carol, "@acme.bsky.social there?", T0 + timedelta(minutes=1))["uri"]
        clock[0] = T0 + timedelta(minutes=2)
        again = poll(account, client, table, clock[0])
        assert again.skipped == [] and table.message(account.id, later) is not None
    BlueskyClient.forget_sessions()


def bluesky_cases(template: dict[str, Any], good_id: str, did: str) -> list[Case]:
    fields = Fields(
        id="uri",
        time="record__createdAt",
        text="record__text",
        author="author",
        author_id="author__did",
        author_name="author__displayName",
        url=None,
        id_reason="uri",
    )
    counter = iter(range(1, 1000))

    def new_id(_n: int = 0) -> str:
        return f"at://{did}/app.bsky.feed.post/3hostile{next(counter):04d}"

    cases = common_cases(template, fields, new_id, good_id, parse=lambda t: t.strip())
    root = new_id()
    for label, changes, check in [
        (
            "a reply in another thread",
            {"record__reply": {"root": {"uri": root}, "parent": {"uri": root}}},
            lambda s: s["thread_id"] == root and s["parent_id"] == root,
        ),
        (
            "handle that is not a domain: linked by DID",
            {"author__handle": "evil.example/../x y"},
            lambda s: s["url"].startswith(f"https://bsky.app/profile/{did}/post/"),
        ),
        ("display name blank", {"author__displayName": "   "}, lambda s: s["author_name"]),
        ("unknown nested fields", {"junk": {"a": [{"b": ["c"] * 100}]}}, None),
        ("a like (not a message)", {"reason": "like"}, None),
    ]:
        ident = new_id()
        body = mutated(template, **{"uri": ident, **changes})
        if changes.get("reason") == "like":
            # A server that ignores `reasons` sends likes: not messages, and not errors.
            cases.append(Case(label, body, absent=ident, ignored=True))
            continue
        cases.append(Case(label, body, ident, check=check))
    for label, changes, reason in [
        (
            "uri of another collection",
            {"uri": f"at://{did}/app.bsky.feed.like/3x"},
            "not a post uri",
        ),
        ("text is a number", {"record__text": 42}, "record has no text"),
        ("record is a string", {"record": "hi"}, "record: expected an object"),
        ("reply without a root", {"record__reply": {"parent": {"uri": root}}}, "reply.root"),
        ("indexedAt missing", {"indexedAt": DELETE}, "indexedAt"),
        ("handle missing", {"author__handle": DELETE}, "missing handle"),
    ]:
        ident = new_id()
        body = mutated(template, **{"uri": ident, **changes})
        absent = ident if "uri" not in changes else None
        cases.append(Case(label, body, reason=reason, absent=absent))
    return cases
