"""Pure parsing of the Meta adapters: Graph times, usage headers, errors, cursors, items."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from reply_sla.adapters.channels.meta import (
    FacebookClient,
    GraphHttp,
    InstagramClient,
    comment_to_message,
    dm_to_message,
    format_cursor,
    graph_error,
    graph_retry_after,
    graph_usage,
    ig_comment_to_message,
    parse_cursor,
    parse_time,
)
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction
from reply_sla.errors import (
    ChannelAuthError,
    ChannelDataError,
    ChannelError,
    ChannelRateLimited,
    ConfigError,
)

PAGE_ID = "104000000000001"
IG_ID = "17841400000000001"
BOT_ID = "900"
ACCOUNT = AccountConfig(
    id="acme-facebook",
    brand="acme",
    channel="facebook",
    credentials={"page_access_token": "t", "page_id": PAGE_ID},
    automated_ids=[BOT_ID],
)
IG_ACCOUNT = AccountConfig(
    id="acme-instagram",
    brand="acme",
    channel="instagram",
    credentials={"access_token": "t", "ig_user_id": IG_ID},
)
OWN = frozenset({PAGE_ID})


def comment(**overrides: Any) -> dict[str, Any]:
    """A Comment as Graph sends it for the adapter's fields."""
    base: dict[str, Any] = {
        "id": "555_777",
        "created_time": "2026-11-16T09:00:00+0000",
        "message": "Where is my order?",
        "from": {"name": "Carol Díaz", "id": "200"},
        "permalink_url": "https://www.facebook.com/104/posts/555?comment_id=777",
    }
    return {**base, **overrides}


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    """A requests Response built in memory (no socket)."""
    made = requests.Response()
    made.status_code = status
    made._content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    made.headers.update(headers or {})
    made.url = "https://graph.facebook.com/v21.0/x"
    return made


def test_graph_times_with_a_basic_offset_become_aware_utc():
    # Given Graph's `+0000` and an ISO offset, When parsed, Then both are UTC instants
    assert parse_time("2026-11-16T09:00:00+0000", "x") == datetime(2026, 11, 16, 9, tzinfo=UTC)
    assert parse_time("2026-11-16T11:00:00+02:00", "x") == datetime(2026, 11, 16, 9, tzinfo=UTC)


def test_a_bad_time_is_a_data_error_saying_where():
    with pytest.raises(ChannelDataError, match="comment 1: bad time 'yesterday'"):
        parse_time("yesterday", "comment 1")


def test_usage_headers_give_the_highest_percentage_and_the_wait():
    # Given app usage and a business usage with a throttled Page
    headers = {
        "X-App-Usage": '{"call_count":28,"total_time":25,"total_cputime":25}',
        "X-Business-Use-Case-Usage": json.dumps(
            {
                "104": [
                    {
                        "type": "pages",
                        "call_count": 100,
                        "total_cputime": 40,
                        "total_time": 55,
                        "estimated_time_to_regain_access": 7,
                    }
                ]
            }
        ),
    }
    # When read, Then the busiest figure and the minutes to regain access come out
    assert graph_usage(headers) == (100, 7)


def test_missing_or_broken_usage_headers_say_nothing():
    assert graph_usage({}) == (None, 0)
    assert graph_usage({"X-App-Usage": "not json"}) == (None, 0)


def test_retry_after_prefers_regain_minutes_then_retry_after():
    # Given a throttled answer with a regain estimate, and one with only Retry-After
    business = {"1": [{"call_count": 100, "estimated_time_to_regain_access": 3}]}
    with_regain = response(400, {}, {"X-Business-Use-Case-Usage": json.dumps(business)})
    with_header = response(400, {}, {"Retry-After": "30"})
    # Then the wait is 3 minutes in seconds, else 30 s, else unknown
    assert graph_retry_after(with_regain) == 180.0
    assert graph_retry_after(with_header) == 30.0
    assert graph_retry_after(response(400, {})) is None


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001, 80002, 80003, 80004, 80005, 80006])
def test_throttling_codes_are_rate_limits(code):
    error = {"message": f"(#{code}) limit reached", "type": "OAuthException", "code": code}
    assert isinstance(graph_error("facebook", 400, error, "GET /x", 60.0), ChannelRateLimited)


def test_code_190_is_a_dead_token():
    # Given an expired session, When mapped, Then an auth error telling a person to renew it
    error = {"message": "Session has expired", "code": 190, "error_subcode": 463}
    mapped = graph_error("instagram", 400, error, "GET /x", None)
    assert isinstance(mapped, ChannelAuthError) and not isinstance(mapped, ChannelRateLimited)
    assert "Graph error 190/463" in str(mapped) and "renew" in str(mapped)


@pytest.mark.parametrize(
    ("code", "message", "named"),
    [
        (
            10,
            "(#10) This endpoint requires the 'pages_read_engagement' permission",
            "pages_read_engagement",
        ),
        (
            283,
            "(#283) Requires pages_read_engagement permission to manage the object",
            "pages_read_engagement",
        ),
        (230, "(#230) Requires instagram_manage_messages permission", "instagram_manage_messages"),
        (200, "(#200) Permissions error", None),
    ],
)
def test_permission_errors_name_the_missing_permission(code, message, named):
    mapped = graph_error("facebook", 403, {"message": message, "code": code}, "GET /x", None)
    assert isinstance(mapped, ChannelAuthError)
    assert (
        f"lacks the {named} permission" in str(mapped)
        if named
        else "lacks a permission" in str(mapped)
    )


def test_other_graph_errors_are_channel_errors_with_code_and_message():
    error = {"message": "Unsupported get request.", "code": 100, "error_subcode": 33}
    mapped = graph_error("facebook", 400, error, "GET /v21.0/42", None)
    assert type(mapped) is ChannelError
    assert str(mapped) == (
        "facebook: GET /v21.0/42 returned HTTP 400, Graph error 100/33: Unsupported get request."
    )


def test_graph_http_maps_by_code_whatever_the_status_and_redacts_the_token():
    # Given a throttling body on HTTP 403 and a 190 body quoting the token
    http = GraphHttp("facebook", "https://graph.facebook.com/v21.0", secrets=["EAAGsecret"])
    throttled = response(403, {"error": {"message": "(#4) limit", "code": 4}})
    dead = response(400, {"error": {"message": "Bad token EAAGsecret", "code": 190}})
    # When checked, Then 403+4 is a rate limit, and 190 an auth error without the token
    with pytest.raises(ChannelRateLimited):
        http._check(throttled, "/v21.0/x")
    with pytest.raises(ChannelAuthError) as caught:
        http._check(dead, "/v21.0/x")
    assert "EAAGsecret" not in str(caught.value) and "***" in str(caught.value)


def test_graph_http_leaves_non_graph_bodies_to_the_shared_mapping():
    http = GraphHttp("facebook", "https://graph.facebook.com/v21.0")
    with pytest.raises(ChannelAuthError, match="HTTP 401"):
        http._check(response(401, b"<html>no</html>"), "/v21.0/x")


def test_cursors_round_trip_and_unreadable_ones_start_over():
    # Given a watermark and the ids seen at or after it
    moment = datetime(2026, 11, 16, 9, 0, 5, tzinfo=UTC)
    text = format_cursor(moment, {"2_1", "1_1"})
    # When written and read back, Then they are the same; ids are sorted for stable strings
    assert text == "2026-11-16T09:00:05Z 1_1,2_1"
    assert parse_cursor(text) == (moment, frozenset({"1_1", "2_1"}))
    assert parse_cursor(format_cursor(moment, set())) == (moment, frozenset())
    assert parse_cursor(None) == (None, frozenset())
    assert parse_cursor("12345") == (None, frozenset())


def test_a_customer_top_level_comment_roots_its_thread():
    message = comment_to_message(comment(), account=ACCOUNT, own_ids=OWN)
    assert (message.direction, message.thread_id, message.parent_id) == (
        Direction.INBOUND,
        "555_777",
        None,
    )
    assert (message.channel, message.author_id, message.author_name) == (
        "facebook",
        "200",
        "Carol Díaz",
    )
    assert message.url.endswith("comment_id=777") and not message.private
    assert message.created_at == datetime(2026, 11, 16, 9, tzinfo=UTC)


def test_the_pages_reply_joins_the_top_level_comment_as_outbound():
    reply = comment(id="555_778", parent={"id": "555_777"}, **{"from": {"id": PAGE_ID}})
    message = comment_to_message(reply, account=ACCOUNT, own_ids=OWN)
    assert (message.direction, message.thread_id, message.parent_id) == (
        Direction.OUTBOUND,
        "555_777",
        "555_777",
    )


def test_automated_ids_win_over_own_ids():
    bot = comment(**{"from": {"id": BOT_ID, "name": "ACME Bot"}})
    message = comment_to_message(bot, account=ACCOUNT, own_ids=OWN | {BOT_ID})
    assert message.direction is Direction.AUTOMATED


def test_a_comment_without_from_is_an_unknown_customer():
    # Graph leaves `from` out when the commenter's privacy hides them
    message = comment_to_message(comment(**{"from": None}), account=ACCOUNT, own_ids=OWN)
    assert (message.direction, message.author_id, message.author_name) == (
        Direction.INBOUND,
        "",
        "",
    )


def test_text_is_kept_as_typed_never_interpreted():
    typed = "<script>alert('x')</script> &amp; café 😀"
    message = comment_to_message(comment(message=typed), account=ACCOUNT, own_ids=OWN)
    assert message.text == typed


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ({"id": None}, "missing id"),
        ({"id": 555}, "id is not a string"),
        ({"created_time": "soon"}, "bad time"),
        ({"from": "Carol"}, "from is not an object"),
        ({"parent": "555_1"}, "parent is not an object"),
    ],
)
def test_undocumented_comment_shapes_are_data_errors(broken, problem):
    with pytest.raises(ChannelDataError, match=problem) as caught:
        comment_to_message(comment(**broken), account=ACCOUNT, own_ids=OWN, where="GET /x")
    assert "GET /x" in str(caught.value)


def test_a_messenger_message_is_private_in_its_conversation():
    item = {
        "id": "m_abc",
        "created_time": "2026-11-16T09:00:00+0000",
        "from": {"name": "Carol Díaz", "email": "123@facebook.com", "id": "200"},
        "to": {"data": [{"name": "ACME", "id": PAGE_ID}]},
        "message": "Hello",
    }
    message = dm_to_message(
        item, account=ACCOUNT, channel="facebook", own_ids=OWN, conversation_id="t_1"
    )
    assert (message.private, message.thread_id, message.direction) == (
        True,
        "t_1",
        Direction.INBOUND,
    )
    assert message.author_handle == "" and message.author_name == "Carol Díaz"


def test_an_instagram_dm_from_the_account_by_username_is_outbound():
    item = {
        "id": "aWdf",
        "created_time": "2026-11-16T09:00:00+0000",
        "from": {"username": "ACME", "id": "3333"},
    }
    message = dm_to_message(
        item,
        account=IG_ACCOUNT,
        channel="instagram",
        own_ids=frozenset({IG_ID}),
        own_usernames={"acme"},
        conversation_id="c1",
    )
    assert (message.direction, message.author_handle, message.text) == (
        Direction.OUTBOUND,
        "@ACME",
        "",
    )


def test_instagram_replies_join_the_top_level_comment():
    reply = {
        "id": "1790002",
        "timestamp": "2026-11-16T09:00:00+0000",
        "text": "@dana 20€",
        "username": "acme",
        "from": {"id": IG_ID, "username": "acme"},
    }
    message = ig_comment_to_message(
        reply, account=IG_ACCOUNT, own_ids=frozenset({IG_ID}), thread_id="1790001"
    )
    assert (message.thread_id, message.parent_id, message.direction) == (
        "1790001",
        "1790001",
        Direction.OUTBOUND,
    )
    assert message.channel == "instagram" and message.author_handle == "@acme"


def test_an_instagram_reply_with_only_the_username_is_still_the_accounts():
    reply = {"id": "1790003", "timestamp": "2026-11-16T09:00:00+0000", "username": "Acme"}
    message = ig_comment_to_message(
        reply,
        account=IG_ACCOUNT,
        own_ids=frozenset({IG_ID}),
        own_usernames={"acme"},
        thread_id="1790001",
    )
    assert message.direction is Direction.OUTBOUND and message.author_id == ""


def test_instagram_item_errors_name_the_instagram_channel():
    with pytest.raises(ChannelDataError, match=r"^instagram: .*missing timestamp"):
        ig_comment_to_message({"id": "1"}, account=IG_ACCOUNT, own_ids=frozenset(), thread_id="1")


@pytest.mark.parametrize(
    ("cls", "account", "credentials", "missing"),
    [
        (FacebookClient, ACCOUNT, {"page_access_token": "t"}, "'page_id'"),
        (FacebookClient, ACCOUNT, {"access_token": "t"}, "'page_access_token', 'page_id'"),
        (InstagramClient, IG_ACCOUNT, {"access_token": "t"}, "'ig_user_id'"),
    ],
)
def test_missing_credentials_are_a_config_error_naming_the_keys(cls, account, credentials, missing):
    with pytest.raises(ConfigError, match=f"'{account.id}'.*need {missing}"):
        cls(account, credentials)


def test_the_default_base_url_is_graph_v21_and_own_ids_need_no_call():
    client = FacebookClient(
        ACCOUNT.model_copy(update={"own_ids": ["55"]}), dict(ACCOUNT.credentials or {})
    )
    assert client.http.base_url == "https://graph.facebook.com/v21.0"
    assert client.own_ids() == frozenset({PAGE_ID, "55"})
