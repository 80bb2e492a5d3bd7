"""Pure parsing of the Bluesky adapter: posts to Messages, cursors, rate limits, XRPC errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from reply_sla.adapters.channels.bluesky import (
    BlueskyClient,
    FeedCursor,
    SessionExpired,
    post_to_message,
    post_url,
    rate_limit_reset,
)
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction
from reply_sla.errors import ChannelAuthError, ChannelDataError, ChannelRateLimited, ConfigError

BRAND = "did:plc:brand00000000000000000000"
BOT = "did:plc:bot0000000000000000000000"
CAROL = "did:plc:carol000000000000000000000"
ROOT = f"at://{CAROL}/app.bsky.feed.post/3kroot0000000"
REPLY = f"at://{BRAND}/app.bsky.feed.post/3kreply000000"
ACCOUNT = AccountConfig(
    id="acme-bluesky",
    brand="acme",
    channel="bluesky",
    api_base_url="https://pds.example",
    credentials={"identifier": "acme.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
    automated_ids=[BOT],
)
CAROL_PROFILE = {"did": CAROL, "handle": "carol.example.com", "displayName": "Carol"}


def record(**overrides: Any) -> dict[str, Any]:
    """An app.bsky.feed.post record as a client writes it."""
    return {
        "$type": "app.bsky.feed.post",
        "text": "@acme.bsky.social where is my order?",
        "createdAt": "2026-11-16T09:00:00.000Z",
        "langs": ["en"],
        **overrides,
    }


def as_message(uri: str = ROOT, author: Any = None, rec: Any = None, own=frozenset({BRAND})):
    return post_to_message(
        uri,
        CAROL_PROFILE if author is None else author,
        record() if rec is None else rec,
        account=ACCOUNT,
        own_ids=own,
        where="GET /x",
    )


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    """A requests Response built in memory."""
    answer = requests.Response()
    answer.status_code = status
    answer._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    answer.headers = CaseInsensitiveDict(headers or {})
    answer.url = "https://pds.example/xrpc/x"
    return answer


class ScriptedSession:
    """A requests session that answers from a list and remembers what it was asked."""

    def __init__(self, *answers: requests.Response) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        return self.answers.pop(0)


def client(*answers: requests.Response, **options: Any) -> tuple[BlueskyClient, ScriptedSession]:
    BlueskyClient.forget_sessions()
    session = ScriptedSession(*answers)
    credentials = ACCOUNT.credentials or {}
    return BlueskyClient(ACCOUNT, credentials, session=session, **options), session  # type: ignore[arg-type]


SESSION = {
    "accessJwt": "eyJ.access.sig",
    "refreshJwt": "eyJ.refresh.sig",
    "did": BRAND,
    "handle": "acme.bsky.social",
}


def test_customer_root_post_is_an_inbound_thread_root():
    # Given a customer's post that replies to nothing, When normalized
    message = as_message()
    # Then it is inbound, roots its own thread, and links to bsky.app by handle
    assert message.direction is Direction.INBOUND
    assert message.thread_id == message.message_id == ROOT
    assert message.parent_id is None
    assert (message.brand, message.account_id, message.channel) == (
        "acme",
        "acme-bluesky",
        "bluesky",
    )
    assert (message.author_id, message.author_handle, message.author_name) == (
        CAROL,
        "@carol.example.com",
        "Carol",
    )
    assert message.created_at == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    assert message.text == "@acme.bsky.social where is my order?"
    assert message.url == "https://bsky.app/profile/carol.example.com/post/3kroot0000000"
    assert not message.private


def test_brand_reply_is_outbound_in_the_root_thread_with_its_parent():
    # Given the brand's reply to a reply in Carol's thread
    middle = f"at://{CAROL}/app.bsky.feed.post/3kmiddle00000"
    reply = {
        "root": {"uri": ROOT, "cid": "bafyreiroot"},
        "parent": {"uri": middle, "cid": "bafyreimiddle"},
    }
    brand = {"did": BRAND, "handle": "acme.bsky.social", "displayName": "Acme"}
    # When normalized
    message = as_message(REPLY, brand, record(text="On it!", reply=reply))
    # Then it is outbound, its thread is the root and its parent the post it answers
    assert message.direction is Direction.OUTBOUND
    assert (message.thread_id, message.parent_id) == (ROOT, middle)


def test_automated_ids_win_over_own_ids_and_the_name_falls_back_to_the_handle():
    # Given an auto-responder, also listed among own ids, without a display name
    bot = {"did": BOT, "handle": "acmebot.bsky.social", "displayName": ""}
    # When normalized
    message = as_message(author=bot, own=frozenset({BRAND, BOT}))
    # Then it is automated, named by its handle
    assert message.direction is Direction.AUTOMATED
    assert message.author_name == "acmebot.bsky.social"


def test_markup_in_post_text_stays_inert_text():
    # Given a post whose plain text contains markup and entities
    text = '<script>alert("x")</script> &amp; café 😀'
    # When normalized, Then the text is exactly what was typed
    assert as_message(rec=record(text=text)).text == text


def test_created_at_with_an_offset_or_without_a_zone_becomes_utc():
    # Given createdAt with a +02:00 offset and one without a zone (seen in the wild)
    for value in ("2026-11-16T11:00:00.000+02:00", "2026-11-16T09:00:00"):
        # When normalized, Then it is the same instant in UTC
        message = as_message(rec=record(createdAt=value))
        assert message.created_at == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
        assert message.created_at.tzinfo is UTC


def test_a_handle_that_does_not_resolve_links_by_did():
    # Given an author whose handle is invalid, When the link is made, Then it uses the DID
    assert (
        post_url(ROOT, "handle.invalid") == f"https://bsky.app/profile/{CAROL}/post/3kroot0000000"
    )
    assert post_url(ROOT, "carol.example.com").endswith("/carol.example.com/post/3kroot0000000")


@pytest.mark.parametrize(
    ("author", "rec", "problem"),
    [
        ("nobody", None, "author: expected an object"),
        ({"did": CAROL}, None, "missing handle"),
        (None, {"createdAt": "2026-11-16T09:00:00Z"}, "record has no text"),
        (None, record(createdAt="yesterday"), "bad datetime"),
        (None, record(reply={"root": {"cid": "x"}, "parent": {"uri": ROOT}}), "missing uri"),
    ],
)
def test_undocumented_post_shapes_are_data_errors_naming_the_post(author, rec, problem):
    # Given a post that is not what the lexicon documents, When normalized
    # Then a ChannelDataError says where, which post and what is wrong
    with pytest.raises(ChannelDataError, match=problem) as caught:
        as_message(author=author, rec=rec)
    assert f"GET /x {ROOT}" in str(caught.value)


def test_cursor_round_trips_as_compact_json():
    # Given a cursor in the middle of an unfinished walk
    cursor = FeedCursor(
        since=datetime(2026, 11, 16, 9, 0, 0, 123000, tzinfo=UTC),
        seen=frozenset({ROOT, REPLY}),
        resume="1763283600123::bafyreiabc",
        top=datetime(2026, 11, 16, 10, 0, tzinfo=UTC),
    )
    # When stored and read back
    stored = cursor.dumps()
    # Then it is the same cursor, written with the uris sorted
    assert stored is not None and FeedCursor.loads(stored) == cursor
    assert json.loads(stored)["seen"] == sorted([ROOT, REPLY])


def test_a_bare_timestamp_is_a_cursor_and_an_empty_one_is_none():
    # Given a hand-written timestamp, When read, Then it is the `since` of a cursor
    assert FeedCursor.loads("2026-11-16T09:00:00Z").since == datetime(2026, 11, 16, 9, tzinfo=UTC)
    # And a cursor without a position is stored as nothing
    assert FeedCursor.loads(None) == FeedCursor() and FeedCursor().dumps() is None


@pytest.mark.parametrize("stored", ["{not json", '{"since": 5}', '["x"]', "tomorrow"])
def test_unreadable_cursors_are_value_errors(stored):
    # Given a cursor that is not one this adapter wrote, When read, Then ValueError
    with pytest.raises(ValueError):
        FeedCursor.loads(stored)


def test_rate_limit_reset_counts_epoch_seconds_from_the_servers_date():
    # Given a 429 whose RateLimit-Reset is two minutes after the server's Date header
    reset = int(datetime(2026, 11, 16, 9, 2, tzinfo=UTC).timestamp())
    answer = SimpleNamespace(
        headers={"Date": "Mon, 16 Nov 2026 09:00:00 GMT", "RateLimit-Reset": str(reset)}
    )
    # When the wait is computed, Then it is 120 s whatever our own clock says
    assert rate_limit_reset(answer) == 120.0  # type: ignore[arg-type]


def test_rate_limit_without_reset_falls_back_to_retry_after():
    # Given no RateLimit-Reset but a Retry-After of 30 s, When computed, Then 30 s
    assert rate_limit_reset(SimpleNamespace(headers={"Retry-After": "30"})) == 30.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "credentials", [{"identifier": "acme.bsky.social"}, {"app_password": "x"}, {"token": "x"}]
)
def test_missing_credentials_are_a_config_error_naming_the_account(credentials):
    # Given credentials without an identifier or an app password, When built, Then ConfigError
    with pytest.raises(ConfigError, match=r"'acme-bluesky'.*'identifier' and 'app_password'"):
        BlueskyClient(ACCOUNT, credentials)


def test_a_refused_password_is_an_auth_error_without_the_password():
    # Given a server that refuses the app password
    refused = response(
        401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
    )
    bluesky, session = client(refused)
    # When own ids are resolved (which needs a session)
    with pytest.raises(ChannelAuthError) as caught:
        bluesky.own_ids()
    # Then the error says why, and the password went only in the POST body
    assert "Invalid identifier or password" in str(caught.value)
    assert "abcd-efgh-ijkl-mnop" not in str(caught.value)
    [call] = session.calls
    assert call["method"] == "POST" and call["url"].endswith("com.atproto.server.createSession")
    assert call["json"] == {"identifier": "acme.bsky.social", "password": "abcd-efgh-ijkl-mnop"}
    assert "Authorization" not in call["headers"]


def test_a_throttled_login_says_when_to_come_back():
    # Given createSession answers 429 with a reset five minutes after the server's Date
    reset = int(datetime(2026, 11, 16, 9, 5, tzinfo=UTC).timestamp())
    headers = {"Date": "Mon, 16 Nov 2026 09:00:00 GMT", "RateLimit-Reset": str(reset)}
    bluesky, _ = client(response(429, {"error": "RateLimitExceeded", "message": "x"}, headers))
    # When a session is needed, Then ChannelRateLimited carries the 300 s wait
    with pytest.raises(ChannelRateLimited) as caught:
        bluesky.own_ids()
    assert caught.value.retry_after_seconds == 300.0


def test_a_taken_down_account_needs_a_person():
    # Given createSession refuses the account as taken down (HTTP 400)
    body = {"error": "AccountTakedown", "message": "Account has been taken down"}
    bluesky, _ = client(response(400, body))
    # When a session is needed, Then it is an auth error, not a transient failure
    with pytest.raises(ChannelAuthError, match="AccountTakedown"):
        bluesky.own_ids()


def test_a_session_without_tokens_is_a_data_error():
    # Given createSession answers 200 without a refresh token
    bluesky, _ = client(response(200, {**SESSION, "refreshJwt": None}))
    # When a session is needed, Then ChannelDataError names the call and the missing key
    with pytest.raises(ChannelDataError, match=r"createSession: missing refreshJwt"):
        bluesky.own_ids()


def test_an_expired_token_that_cannot_be_refreshed_leads_to_a_new_login():
    # Given a session whose access token expires and whose refresh token is revoked
    expired = response(400, {"error": "ExpiredToken", "message": "Token has expired"})
    revoked = response(400, {"error": "ExpiredToken", "message": "Token has been revoked"})
    fresh = {**SESSION, "accessJwt": "eyJ.access2.sig", "refreshJwt": "eyJ.refresh2.sig"}
    page = response(200, {"posts": []})
    bluesky, session = client(response(200, SESSION), expired, revoked, response(200, fresh), page)
    # When a GET is made
    assert bluesky.thread_root(ROOT) == ROOT
    # Then it went: login, GET (expired), refresh (revoked), login, GET with the new token
    assert [(c["method"], c["url"].rsplit("/", 1)[-1].split("?")[0]) for c in session.calls] == [
        ("POST", "com.atproto.server.createSession"),
        ("GET", "app.bsky.feed.getPosts"),
        ("POST", "com.atproto.server.refreshSession"),
        ("POST", "com.atproto.server.createSession"),
        ("GET", "app.bsky.feed.getPosts"),
    ]
    assert session.calls[2]["headers"]["Authorization"] == "Bearer eyJ.refresh.sig"
    assert session.calls[4]["headers"]["Authorization"] == "Bearer eyJ.access2.sig"


def test_session_errors_never_show_the_tokens():
    # Given a server that echoes the refresh token in its refusal of it
    expired = response(400, {"error": "ExpiredToken", "message": "x"})
    echo = response(400, {"error": "InvalidToken", "message": "bad token eyJ.refresh.sig"})
    refused = response(401, {"error": "AuthenticationRequired", "message": "eyJ.access.sig?"})
    bluesky, _ = client(response(200, SESSION), expired, echo, refused)
    # When the session cannot be renewed
    with pytest.raises(ChannelAuthError) as caught:
        bluesky.thread_root(ROOT)
    # Then the error is an auth error and no token appears in it
    assert not isinstance(caught.value, SessionExpired)
    assert "eyJ" not in str(caught.value) and "***" in str(caught.value)
