"""Pure parsing of the X adapter: ids, pages of either key family, posts to Messages, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from reply_sla.adapters.channels.x import (
    XClient,
    id_key,
    is_repost,
    problem_detail,
    rate_limit_reset,
    read_page,
    tweet_to_message,
)
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction
from reply_sla.errors import ChannelDataError, ConfigError

BRAND_ID = "2244994945"
BOT_ID = "783214"
ROOT_ID = "1853000000000000000"
ACCOUNT = AccountConfig(
    id="acme-x",
    brand="acme",
    channel="x",
    credentials={"bearer_token": "t"},
    automated_ids=[BOT_ID],
)
USERS = {
    "99": {"id": "99", "username": "carol", "name": "Carol"},
    BRAND_ID: {"id": BRAND_ID, "username": "acme", "name": "Acme Support"},
}


def post(**overrides: Any) -> dict[str, Any]:
    """An X post as the mentions endpoint sends it with the adapter's fields (2.166 names)."""
    base: dict[str, Any] = {
        "id": ROOT_ID,
        "text": "@acme where is my order?",
        "edit_history_tweet_ids": [ROOT_ID],
        "author_id": "99",
        "conversation_id": ROOT_ID,
        "created_at": "2026-11-16T09:00:00.000Z",
    }
    return {**base, **overrides}


def reply(family_key: str = "referenced_tweets", **overrides: Any) -> dict[str, Any]:
    """The brand's reply to the root post."""
    return post(
        id="1853000000000000100",
        text="@carol Looking now!",
        author_id=BRAND_ID,
        in_reply_to_user_id="99",
        **{family_key: [{"type": "replied_to", "id": ROOT_ID}]},
        **overrides,
    )


def message(item: dict[str, Any], **kw: Any) -> Any:
    kw.setdefault("users", USERS)
    return tweet_to_message(item, account=ACCOUNT, own_ids=frozenset({BRAND_ID}), **kw)


def test_ids_compare_as_numbers_not_as_text():
    # Given ids of different lengths where text order is wrong ("9" > "10" as text)
    ids = ["10", "9", "1853000000000000100", "999999999999999999"]
    # When sorted by id_key, Then they are in numeric order
    assert sorted(ids, key=id_key) == ["9", "10", "999999999999999999", "1853000000000000100"]


def test_customer_post_is_inbound_and_its_conversation_is_the_thread():
    # Given a customer's post that starts a conversation, When normalized
    result = message(post())
    # Then it is inbound, roots its thread, and links to the post on x.com
    assert result.direction is Direction.INBOUND
    assert (result.thread_id, result.parent_id) == (ROOT_ID, None)
    assert (result.brand, result.account_id, result.channel) == ("acme", "acme-x", "x")
    assert (result.author_id, result.author_handle, result.author_name) == ("99", "@carol", "Carol")
    assert result.created_at == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    assert result.url == f"https://x.com/carol/status/{ROOT_ID}"
    assert result.text == "@acme where is my order?" and not result.private


@pytest.mark.parametrize("family_key", ["referenced_tweets", "referenced_posts"])
def test_brand_reply_is_outbound_with_parent_from_either_key_family(family_key):
    # Given the brand's reply, its reference under the 2.166 or the 2.167 name
    # When normalized
    result = message(reply(family_key))
    # Then it is outbound, names its parent, and its thread is the conversation
    assert result.direction is Direction.OUTBOUND
    assert (result.parent_id, result.thread_id) == (ROOT_ID, ROOT_ID)


def test_automated_ids_win_over_own_ids():
    # Given an auto-responder that is also one of the brand's own ids
    bot = post(author_id=BOT_ID)
    # When normalized with the bot among own ids, Then it is automated
    result = tweet_to_message(
        bot, account=ACCOUNT, own_ids=frozenset({BRAND_ID, BOT_ID}), users=USERS
    )
    assert result.direction is Direction.AUTOMATED


def test_x_escaped_text_becomes_plain_inert_text():
    # Given text as X sends it: &, < and > escaped
    escaped = post(text="&lt;script&gt;alert(1)&lt;/script&gt; caf\u00e9 &amp; more &amp;amp;")
    # When normalized, Then it reads as typed, once unescaped (never evaluated)
    assert message(escaped).text == "<script>alert(1)</script> café & more &amp;"


def test_unknown_author_gets_a_handle_less_message_and_the_generic_link():
    # Given a post whose author is not in includes (suspended, or not expanded)
    result = message(post(), users={})
    # Then the message still comes, without handle, linked by X's id-only URL
    assert (result.author_handle, result.author_name) == ("", "")
    assert result.url == f"https://x.com/i/web/status/{ROOT_ID}"


@pytest.mark.parametrize("includes_key", ["tweets", "posts"])
def test_missing_conversation_comes_from_the_included_parent_of_either_family(includes_key):
    # Given a reply without conversation_id whose parent is in includes.tweets or includes.posts
    item = {k: v for k, v in reply().items() if k != "conversation_id"}
    parent = post(id=ROOT_ID, conversation_id="1852000000000000000")
    page = read_page({"data": [item], "includes": {includes_key: [parent]}, "meta": {}}, "GET /x")
    # When normalized with the page's includes
    result = message(page.posts[0], included=page.included)
    # Then the thread is the parent's conversation
    assert result.thread_id == "1852000000000000000"


def test_missing_conversation_without_parent_is_left_to_the_poll_service():
    # Given a reply without conversation_id and no included parent
    item = {k: v for k, v in reply().items() if k != "conversation_id"}
    # When normalized, Then it has no thread yet but names its parent
    result = message(item)
    assert (result.thread_id, result.parent_id) == (None, ROOT_ID)


def test_created_at_with_an_offset_becomes_utc():
    # Given a timestamp with a +02:00 offset, When normalized, Then it is the same instant in UTC
    result = message(post(created_at="2026-11-16T11:00:00+02:00"))
    assert result.created_at == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ({"author_id": None}, "missing author_id"),
        ({"id": 1853}, "id is not a numeric string"),
        ({"id": "abc"}, "id is not a numeric string"),
        ({"created_at": "yesterday"}, "bad created_at"),
        ({"text": None, "created_at": None}, "missing created_at, text"),
    ],
)
def test_undocumented_post_shapes_are_data_errors_naming_the_item(broken, problem):
    # Given a post that is not what the API documents
    # When normalized, Then a ChannelDataError says where and what
    with pytest.raises(ChannelDataError, match=problem) as caught:
        message(post(**broken), where="GET /x: item 3")
    assert "GET /x: item 3" in str(caught.value)


def test_reposts_are_recognised_in_either_key_family():
    # Given a repost under each name, a reply, and something that is not a post
    for key in ("referenced_tweets", "referenced_posts"):
        assert is_repost(post(**{key: [{"type": "retweeted", "id": "1"}]}))
    # Then only the reposts are reposts
    assert not is_repost(reply()) and not is_repost("not a post")


def test_empty_page_has_no_data_and_no_next_token():
    # Given X's empty page, When read, Then it has no posts, ids or next token
    page = read_page({"meta": {"result_count": 0}}, "GET /x")
    assert (page.posts, page.ids, page.next_token) == ([], [], None)


def test_page_ids_are_the_newest_id_and_every_item_id_even_malformed_ones():
    # Given a page whose second item lacks an author
    body = {
        "data": [post(), post(id="1853000000000000007", author_id=None)],
        "meta": {"newest_id": "1853000000000000007", "next_token": "7140dibdnow9c7btw3w2"},
    }
    # When read, Then the cursor can move past every item, and the next token is kept
    page = read_page(body, "GET /x")
    assert page.ids == ["1853000000000000007", ROOT_ID, "1853000000000000007"]
    assert page.next_token == "7140dibdnow9c7btw3w2"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([{"id": "1"}], "no `meta` object"),
        ({"data": {"id": "1"}, "meta": {}}, "expected a `data` list"),
        ({"data": [], "includes": [], "meta": {}}, "expected a `data` list"),
        ({"meta": {"next_token": 5}}, "next_token is not a token"),
        (
            {"errors": [{"detail": "Could not find user with id: [1].", "title": "Not Found"}]},
            "Could not find user",
        ),
    ],
)
def test_pages_that_are_not_the_documented_shape_are_data_errors(body, problem):
    # Given a body that is not a timeline page, When read, Then a ChannelDataError says why
    with pytest.raises(ChannelDataError, match=problem):
        read_page(body, "GET /2/users/1/mentions")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            },
            "Unauthorized",
        ),
        (
            {"title": "CreditsDepleted", "type": "https://api.x.com/2/problems/credits"},
            "CreditsDepleted",
        ),
        ({"errors": [{"code": 88, "message": "Rate limit exceeded"}]}, "Rate limit exceeded"),
        (
            {
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "errors": [{"message": "The query parameter [x] is not one of [y]"}],
            },
            "One or more parameters to your request was invalid.: The query parameter [x] is not "
            "one of [y]",
        ),
        ("<html>", ""),
    ],
)
def test_problem_detail_reads_problems_and_errors_arrays(body, detail):
    # Given an X error body of each documented kind, When read, Then its human text comes out
    assert problem_detail(body) == detail


def test_rate_limit_reset_counts_from_the_servers_date():
    # Given a 429 whose x-rate-limit-reset (epoch) is two minutes after the server's Date header
    reset = int(datetime(2026, 11, 16, 9, 2, tzinfo=UTC).timestamp())
    response = SimpleNamespace(
        headers={"Date": "Mon, 16 Nov 2026 09:00:00 GMT", "x-rate-limit-reset": str(reset)}
    )
    # When the wait is computed, Then it is 120 s whatever our own clock says
    assert rate_limit_reset(response) == 120.0  # type: ignore[arg-type]


def test_rate_limit_without_reset_falls_back_to_retry_after():
    # Given no x-rate-limit-reset but a Retry-After of 30 s, When computed, Then 30 s
    response = SimpleNamespace(headers={"Retry-After": "30"})
    assert rate_limit_reset(response) == 30.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("credentials", "problem"),
    [
        ({"access_token": "x"}, "need 'bearer_token'"),
        ({"bearer_token": "x", "user_id": "@acme"}, "numeric X user id"),
    ],
)
def test_bad_credentials_are_config_errors_naming_the_account(credentials, problem):
    # Given no bearer token, or a handle as user_id, When built, Then a ConfigError
    with pytest.raises(ConfigError, match=rf"'acme-x'.*{problem}"):
        XClient(ACCOUNT, credentials)
