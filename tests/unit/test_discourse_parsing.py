"""Pure parsing of the Discourse adapter: cooked HTML, posts, directions, cursors, rate limits."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from reply_sla.adapters.channels.discourse import (
    Cursor,
    DiscourseClient,
    Staff,
    Topic,
    check_post,
    cooked_to_text,
    direction_of,
    post_to_message,
    rate_limit_wait,
)
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction
from reply_sla.errors import ChannelDataError, ConfigError

ACCOUNT = AccountConfig(
    id="acme-forum",
    brand="acme",
    channel="discourse",
    api_base_url="https://forum.example",
    credentials={"api_key": "k", "api_username": "acme_support"},
    staff_usernames=["ACME_Support"],
    automated_ids=["acme_bot"],
)
STAFF = Staff(
    usernames=frozenset({"acme_support", "marta"}),
    automated=frozenset({"acme_bot"}),
    by_staff_flag=False,
)
TOPIC = Topic(id=12, slug="order-late", private=False)
BASE = "https://forum.example"


def post(**overrides: Any) -> dict[str, Any]:
    """A post as /t/{id}.json sends it with include_raw, trimmed to what the adapter reads."""
    base: dict[str, Any] = {
        "id": 102,
        "name": "Carol",
        "username": "carol",
        "created_at": "2026-11-16T09:00:00.000Z",
        "cooked": "<p>Where is my order?</p>",
        "raw": "Where is my order?",
        "post_number": 1,
        "post_type": 1,
        "reply_to_post_number": None,
        "user_id": 7,
        "staff": False,
    }
    return {**base, **overrides}


def message(**overrides: Any) -> Any:
    return post_to_message(post(**overrides), TOPIC, account=ACCOUNT, staff=STAFF, base_url=BASE)


def test_cooked_paragraphs_line_breaks_and_lists_become_lines():
    # Given cooked HTML with paragraphs, a <br> and a list
    cooked = "<p>Hello<br>\nthere</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n<p>Bye</p>"
    # When converted, Then each block and break is one line, without blank lines
    assert cooked_to_text(cooked) == "Hello\nthere\none\ntwo\nBye"


def test_cooked_entities_stay_inert_text_and_emoji_read_as_their_code():
    # Given escaped markup a customer typed, entities and an emoji image
    cooked = (
        '<p>&lt;script&gt;alert("x")&lt;/script&gt; &amp; caf&#233; '
        '<img src="/images/emoji/twitter/smile.png?v=12" title=":smile:" class="emoji" '
        'alt=":smile:" loading="lazy" width="20" height="20"></p>'
    )
    # When converted, Then the text is what they typed, as data
    assert cooked_to_text(cooked) == '<script>alert("x")</script> & café :smile:'


def test_real_script_and_style_elements_are_dropped():
    # Given HTML with an actual script element (never in cooked, but possible from a plugin)
    cooked = "<p>Hi<script>document.write('x')</script> there</p><style>p{}</style>"
    # When converted, Then only visible text remains
    assert cooked_to_text(cooked) == "Hi there"


def test_customer_first_post_is_an_inbound_message_of_the_topic_thread():
    # Given the customer's first post of topic 12, When normalized
    result = message()
    # Then it is inbound, its thread is the topic, and it links to the post
    assert result.direction is Direction.INBOUND
    assert (result.message_id, result.thread_id, result.parent_id) == ("102", "12", None)
    assert (result.author_id, result.author_handle, result.author_name) == (
        "carol",
        "@carol",
        "Carol",
    )
    assert (result.brand, result.account_id, result.channel) == ("acme", "acme-forum", "discourse")
    assert result.created_at == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    assert result.text == "Where is my order?"
    assert result.url == "https://forum.example/t/order-late/12/1"
    assert not result.private


def test_raw_is_preferred_and_cooked_is_the_fallback():
    # Given a post without raw (hidden posts lose it for non-staff), When normalized
    result = message(raw=None, cooked="<p>Hidden &amp; flagged</p>")
    # Then its text comes from the cooked HTML
    assert result.text == "Hidden & flagged"
    assert message(raw="  **bold** text\n").text == "**bold** text"


def test_parent_and_private_message_come_from_the_caller():
    # Given a reply in a private message whose parent the caller resolved
    pm = Topic(id=30, slug="my-address", private=True)
    result = post_to_message(
        post(id=301, post_number=2, reply_to_post_number=1),
        pm,
        account=ACCOUNT,
        staff=STAFF,
        base_url=BASE,
        parent_id="300",
    )
    # Then it is private, and keeps the parent and its topic thread
    assert (result.private, result.parent_id, result.thread_id) == (True, "300", "30")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"username": "ACME_Support"}, Direction.OUTBOUND),
        ({"username": "marta", "post_type": 4}, Direction.INTERNAL),
        ({"username": "acme_support", "post_type": 3}, Direction.INTERNAL),
        ({"username": "acme_support", "post_type": 2}, Direction.INTERNAL),
        ({"username": "Acme_Bot"}, Direction.AUTOMATED),
        ({"username": "system", "user_id": -1}, Direction.AUTOMATED),
        ({"username": "mod_volunteer", "staff": True}, Direction.INBOUND),
        ({"username": "carol"}, Direction.INBOUND),
    ],
)
def test_direction_of_each_kind_of_post(overrides, expected):
    # Given a post by staff, a whisper, a small action, a moderator action, a bot, the system
    # user, a forum moderator who is not the brand, a customer
    # When its direction is decided, Then internal types win, then bots, then the brand's people
    assert direction_of(post(**overrides), STAFF) is expected


def test_forum_staff_speak_for_the_brand_only_when_nobody_is_configured():
    # Given no configured staff, so the forum's staff flag decides
    fallback = Staff(usernames=frozenset(), automated=frozenset(), by_staff_flag=True)
    # When a moderator's and a customer's posts are judged
    # Then the moderator's is outbound and the customer's inbound
    assert direction_of(post(username="mod", staff=True), fallback) is Direction.OUTBOUND
    assert direction_of(post(staff=False), fallback) is Direction.INBOUND


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ({"created_at": None}, "post 102: missing or mistyped created_at"),
        ({"id": "102"}, "post 0: missing or mistyped id"),
        ({"username": None, "post_type": "1"}, "missing or mistyped post_type, username"),
        ({"created_at": "yesterday"}, "bad time"),
    ],
)
def test_undocumented_post_shapes_are_data_errors_naming_the_post(broken, problem):
    # Given a post that is not what the API documents
    item = post(**broken)
    where = "post 0" if broken.get("id") == "102" else "post"
    # When checked, Then a ChannelDataError names it and what is wrong
    with pytest.raises(ChannelDataError, match=problem):
        check_post(item, where)


def test_a_post_that_is_not_an_object_is_a_data_error():
    # Given a list where a post should be, When checked, Then a ChannelDataError says so
    with pytest.raises(ChannelDataError, match="expected an object, got list"):
        check_post([], "post 3")


def test_cursor_round_trips_through_its_stored_form():
    # Given a cursor with a window start and a seen topic
    cursor = Cursor(datetime(2026, 11, 16, 9, 0, tzinfo=UTC), {"12": "2026-11-16T09:05:00.000Z#3"})
    # When stored and read back
    stored = cursor.dump()
    # Then it is compact JSON and the same cursor
    assert (
        stored == '{"since":"2026-11-16T09:00:00.000Z","seen":{"12":"2026-11-16T09:05:00.000Z#3"}}'
    )
    assert Cursor.parse(stored) == cursor


def test_a_bare_timestamp_is_a_cursor_with_nothing_seen():
    # Given a hand-set cursor, When read, Then it starts there
    assert Cursor.parse("2026-11-16T09:00:00Z") == Cursor(datetime(2026, 11, 16, 9, tzinfo=UTC))


@pytest.mark.parametrize("stored", ["{not json", '{"seen": {}}', '{"since": "x"}', "yesterday"])
def test_an_unreadable_cursor_is_a_data_error(stored):
    # Given a cursor that is not one of ours, When read, Then a ChannelDataError names the feed
    with pytest.raises(ChannelDataError, match="unreadable topics cursor"):
        Cursor.parse(stored)


def test_rate_limit_wait_prefers_retry_after():
    # Given a 429 with Retry-After 23 and a body saying 40, When computed, Then 23 s
    response = SimpleNamespace(
        headers={"Retry-After": "23"}, json=lambda: {"extras": {"wait_seconds": 40}}
    )
    assert rate_limit_wait(response) == 23.0  # type: ignore[arg-type]


def test_rate_limit_wait_falls_back_to_extras_wait_seconds():
    # Given a 429 whose wait is only in the JSON body, When computed, Then that wait
    response = SimpleNamespace(
        headers={}, json=lambda: {"errors": ["slow"], "extras": {"wait_seconds": 40}}
    )
    assert rate_limit_wait(response) == 40.0  # type: ignore[arg-type]


def test_rate_limit_wait_is_unknown_for_a_plain_text_429():
    # Given the per-IP limiter's plain-text 429 without Retry-After, When computed, Then unknown
    def not_json() -> Any:
        raise ValueError("not JSON")

    response = SimpleNamespace(headers={}, json=not_json)
    assert rate_limit_wait(response) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("credentials", "base_url", "problem"),
    [
        ({"api_key": "k"}, "https://forum.example", "api_key' and 'api_username"),
        ({"api_username": "u"}, "https://forum.example", "api_key' and 'api_username"),
        ({"api_key": "k", "api_username": "u"}, None, "needs api_base_url"),
    ],
)
def test_missing_credentials_or_forum_are_config_errors_naming_the_account(
    credentials, base_url, problem
):
    # Given incomplete credentials or no forum address, When a client is built, Then ConfigError
    account = ACCOUNT.model_copy(update={"api_base_url": base_url})
    with pytest.raises(ConfigError, match=rf"'acme-forum'.*{problem}"):
        DiscourseClient(account, credentials)
