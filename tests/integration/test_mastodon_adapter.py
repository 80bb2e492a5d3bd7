"""The Mastodon adapter against the fake Mastodon server on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reply_sla.adapters.channels import build_channel_client
from reply_sla.adapters.channels.http import USER_AGENT
from reply_sla.adapters.channels.mastodon import MastodonClient
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction
from reply_sla.errors import (
    ChannelAuthError,
    ChannelDataError,
    ChannelError,
    ChannelRateLimited,
    ConfigError,
)
from reply_sla.local.fake_mastodon import FakeMastodon
from tests.fakes import RecordingSession

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
NOTIFICATIONS = "/api/v1/notifications"


class World:
    """A running fake with the brand, two customers and a movable clock."""

    def __init__(self, fake: FakeMastodon, clock: list[datetime]) -> None:
        self.fake, self.clock = fake, clock
        self.brand = fake.add_account("acme", "Acme Support")["id"]
        self.carol = fake.add_account("carol", "Carol")["id"]
        self.bot = fake.add_account("acmebot", "Acme Bot", bot=True)["id"]
        self.token = fake.issue_token(self.brand)

    def account(self, **overrides: Any) -> AccountConfig:
        fields: dict[str, Any] = {
            "id": "acme-mastodon",
            "brand": "acme",
            "channel": "mastodon",
            "api_base_url": self.fake.base_url,
            "credentials": {"access_token": self.token},
            "automated_ids": [self.bot],
        }
        return AccountConfig(**{**fields, **overrides})

    def client(self, token: str | None = None, **options: Any) -> MastodonClient:
        self.sleeps: list[float] = []
        options.setdefault("sleep", self.sleeps.append)
        account = self.account(**options.pop("account", {}))
        return MastodonClient(account, {"access_token": token or self.token}, **options)

    def mention(self, minutes_ago: float, text: str = "@acme help", **kw: Any) -> dict[str, Any]:
        return self.fake.post(
            self.carol, text, self.clock[0] - timedelta(minutes=minutes_ago), **kw
        )

    def own(self, minutes_ago: float, text: str = "On it", **kw: Any) -> dict[str, Any]:
        return self.fake.post(
            self.brand, text, self.clock[0] - timedelta(minutes=minutes_ago), **kw
        )


@pytest.fixture
def world():
    clock = [T0]
    with FakeMastodon(lambda: clock[0]) as fake:
        yield World(fake, clock)


def test_first_poll_backfills_the_window_oldest_first(world):
    # Given a mention 8 days ago, one 2 hours ago, the auto-responder's reply and the brand's
    world.mention(8 * 24 * 60, "@acme ancient")
    root = world.mention(120, "@acme where is my order?")
    reply = world.own(60, "Looking now!", in_reply_to=root["id"])
    bot_reply = "@carol @acme ticket #42 opened"
    world.fake.post(world.bot, bot_reply, T0 - timedelta(minutes=90), in_reply_to=root["id"])
    client = world.client()
    # When the account is polled for the first time (7-day backfill)
    result = client.fetch_new({}, T0)
    # Then only the window's messages come, oldest first, with directions and thread roots
    assert [(m.text, m.direction) for m in result.messages] == [
        ("@acme where is my order?", Direction.INBOUND),
        ("@carol @acme ticket #42 opened", Direction.AUTOMATED),
        ("Looking now!", Direction.OUTBOUND),
    ]
    assert result.messages[0].thread_id == root["id"]
    assert result.messages[2].thread_id is None and result.messages[2].parent_id == root["id"]
    assert result.complete and result.cursors["own"] == reply["id"]
    # And the cursors point at the newest items: polling with them finds nothing more
    assert client.fetch_new(result.cursors, T0).messages == []


def test_incremental_poll_asks_by_min_id_and_returns_only_new_items(world):
    # Given a first poll that saw one mention and one reply
    root = world.mention(30)
    world.own(20, in_reply_to=root["id"])
    session = RecordingSession()
    client = world.client(session=session)
    first = client.fetch_new({}, T0)
    # When the clock moves on, the customer follows up, and the account is polled again
    world.clock[0] = T0 + timedelta(minutes=10)
    follow_up = world.mention(5, "@acme still nothing", in_reply_to=root["id"])
    session.calls.clear()
    second = client.fetch_new(first.cursors, world.clock[0])
    # Then only the follow-up comes, asked for with min_id from the cursors
    assert [m.message_id for m in second.messages] == [follow_up["id"]]
    assert second.messages[0].parent_id == root["id"]
    assert [c["params"]["min_id"] for c in session.calls] == [
        first.cursors["mentions"],
        first.cursors["own"],
    ]
    assert int(second.cursors["mentions"] or 0) > int(first.cursors["mentions"] or 0)
    assert second.cursors["own"] == first.cursors["own"]  # a feed with nothing new keeps its cursor


def test_paging_follows_link_headers_across_pages_and_id_lengths(world):
    # Given a cursor at notification 1 and eleven newer mentions (ids 2..12: "9" < "10")
    for minute in range(12, 0, -1):
        world.mention(minute, f"@acme message {13 - minute}")
    client = world.client(page_limit=2)
    # When polled with pages of two
    result = client.fetch_new({"mentions": "1", "own": None}, T0)
    # Then every mention after the cursor comes exactly once, in order, across six pages
    assert [m.text for m in result.messages] == [f"@acme message {n}" for n in range(2, 13)]
    assert result.cursors["mentions"] == "12"
    assert world.fake.requests[NOTIFICATIONS] == 6
    assert result.pages == 6 + 1  # and one page of the brand's (empty) own posts


def test_max_pages_stops_early_without_skipping_anything(world):
    # Given five mentions newer than the cursor
    for minute in range(6, 0, -1):
        world.mention(minute)
    client = world.client(page_limit=2, max_pages=2)
    # When polled with at most two pages of two
    first = client.fetch_new({"mentions": "1", "own": None}, T0)
    # Then it is incomplete, its cursor is the newest contiguous item, and the next poll goes on
    assert (first.complete, len(first.messages), first.cursors["mentions"]) == (False, 4, "5")
    assert first.notes == ["mentions: stopped after 2 pages; the rest follows on the next poll"]
    second = client.fetch_new(first.cursors, T0)
    assert (second.complete, len(second.messages), second.cursors["mentions"]) == (True, 1, "6")


def test_own_ids_come_from_verify_credentials_once(world):
    # Given an account without configured own ids
    client = world.client()
    # When own ids are asked twice
    ids = client.own_ids(), client.own_ids()
    # Then the token's account id is returned and the API asked once
    assert ids == (frozenset({world.brand}), frozenset({world.brand}))
    assert world.fake.requests["/api/v1/accounts/verify_credentials"] == 1


def test_configured_own_ids_spare_the_api_call(world):
    # Given configured own ids, When the account is polled
    client = world.client(account={"own_ids": [world.brand, "999"]})
    client.fetch_new({}, T0)
    # Then they are used as given and verify_credentials is never called
    assert client.own_ids() == frozenset({world.brand, "999"})
    assert world.fake.requests["/api/v1/accounts/verify_credentials"] == 0


def test_thread_root_comes_from_the_status_context(world):
    # Given a thread root, the brand's reply and the customer's reply to that
    root = world.mention(30)
    reply = world.own(20, in_reply_to=root["id"])
    again = world.mention(10, "@acme thanks", in_reply_to=reply["id"])
    client = world.client()
    # When the root of the deepest status and of the root itself are asked
    # Then both are the root, with one context call each
    assert client.thread_root(again["id"]) == root["id"]
    assert client.thread_root(root["id"]) == root["id"]
    assert world.fake.requests[f"/api/v1/statuses/{again['id']}/context"] == 1


def test_direct_messages_are_private_both_ways(world):
    # Given a customer's DM and the brand's direct reply
    dm = world.mention(10, "@acme my address is 1 Main St", visibility="direct")
    world.own(5, "@carol thanks, fixed", visibility="direct", in_reply_to=dm["id"])
    # When polled, Then both messages are private
    result = world.client().fetch_new({}, T0)
    assert [(m.direction, m.private) for m in result.messages] == [
        (Direction.INBOUND, True),
        (Direction.OUTBOUND, True),
    ]


def test_rate_limit_carries_the_wait_until_x_ratelimit_reset(world):
    # Given the server answers 429 with a reset two minutes from its clock
    world.fake.fail_next(429, headers={"X-RateLimit-Reset": "2026-11-16T09:02:00.000000Z"})
    client = world.client(account={"own_ids": [world.brand]})
    # When polled, Then ChannelRateLimited says to come back in 120 s, without retrying
    with pytest.raises(ChannelRateLimited) as caught:
        client.fetch_new({}, T0)
    assert caught.value.retry_after_seconds == 120.0
    assert world.fake.requests[NOTIFICATIONS] == 1


def test_refused_token_is_an_auth_error_that_does_not_show_the_token(world):
    # Given a token the server does not know
    client = world.client(token="secret-token-that-is-wrong")
    # When own ids are resolved, Then ChannelAuthError, and the token is nowhere in the message
    with pytest.raises(ChannelAuthError) as caught:
        client.own_ids()
    assert "401" in str(caught.value) and "The access token is invalid" in str(caught.value)
    assert "secret-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("shape", "expected a JSON list"),
        ("fields", "missing id, created_at, account"),
        ("html", "not JSON"),
    ],
)
def test_malformed_page_is_a_data_error_and_moves_no_cursor(world, kind, problem):
    # Given a first poll, a new mention, and a malformed next page
    world.mention(30)
    client = world.client(account={"own_ids": [world.brand]})
    cursors = dict(client.fetch_new({}, T0).cursors)
    new = world.mention(1, "@acme hello again")
    world.fake.malformed_next(kind=kind)
    # When polled, Then ChannelDataError names the endpoint and the problem
    with pytest.raises(ChannelDataError, match=problem) as caught:
        client.fetch_new(cursors, T0)
    assert f"GET {NOTIFICATIONS}" in str(caught.value)
    # And the same cursors still fetch the new mention on the next poll
    assert [m.message_id for m in client.fetch_new(cursors, T0).messages] == [new["id"]]


def test_every_request_has_a_connect_and_read_timeout_and_our_user_agent(world):
    # Given a recording session, When the account is polled and a thread root asked
    root = world.mention(30)
    session = RecordingSession()
    client = world.client(session=session, timeout=7.0)
    client.fetch_new({}, T0)
    client.thread_root(root["id"])
    # Then every request carried (connect, read) timeouts and the User-Agent
    assert len(session.calls) == 4  # verify_credentials, notifications, statuses, context
    assert all(c["timeout"] == (5.0, 7.0) for c in session.calls)
    assert all(c["headers"]["User-Agent"] == USER_AGENT for c in session.calls)


def test_a_503_is_retried_after_a_short_backoff(world):
    # Given the server fails once with 503
    world.mention(5)
    world.fake.fail_next(503)
    client = world.client(account={"own_ids": [world.brand]})
    # When polled, Then the GET is retried after one backoff and the poll succeeds
    result = client.fetch_new({}, T0)
    assert len(result.messages) == 1
    assert world.fake.requests[NOTIFICATIONS] == 2
    assert world.sleeps == [0.25]


def test_a_lasting_5xx_gives_up_with_a_channel_error(world):
    # Given a server that keeps answering 502
    world.fake.fail_next(502, times=10)
    client = world.client(account={"own_ids": [world.brand]})
    # When polled, Then it gives up after a few retries with a ChannelError naming the status
    with pytest.raises(ChannelError, match="HTTP 502"):
        client.fetch_new({}, T0)
    assert world.fake.requests[NOTIFICATIONS] == 4
    assert world.sleeps == [0.25, 0.5, 1.0]


def test_unreachable_server_is_a_channel_error_after_retries(world):
    # Given a server that has gone away
    client = world.client(account={"own_ids": [world.brand]})
    world.fake.stop()
    # When polled, Then a ChannelError says the GET failed to connect
    with pytest.raises(ChannelError, match="ConnectionError"):
        client.fetch_new({}, T0)
    assert len(world.sleeps) == 3


def test_factory_builds_mastodon_and_refuses_channels_not_built_yet(world, monkeypatch):
    # Given a Mastodon account, and a channel whose adapter module does not exist
    from reply_sla.adapters import channels

    monkeypatch.setitem(channels.ADAPTERS, "x", "reply_sla.adapters.channels.nowhere:Client")
    x_account = world.account(id="acme-x", channel="x", api_base_url=None)
    # When clients are built, Then Mastodon gets a MastodonClient and X a ConfigError naming it
    assert isinstance(build_channel_client(world.account(), {"access_token": "t"}), MastodonClient)
    with pytest.raises(ConfigError, match="channel 'x' is not supported yet"):
        build_channel_client(x_account, {"bearer_token": "t"})


def test_one_malformed_item_is_skipped_and_the_rest_is_kept(world: World) -> None:
    # Given two new mentions, and a page whose newest item has a broken created_at
    first = world.fake.post(world.carol, "@acme one", T0)
    second = world.fake.post(world.carol, "@acme two", T0 + timedelta(minutes=1))
    world.clock[0] = T0 + timedelta(minutes=5)
    client = MastodonClient(world.account(), {"access_token": world.token})
    client.own_ids()  # the identity call comes first; the next answer is the mentions page
    world.fake.malformed_next(kind="item")
    # When polled
    result = client.fetch_new({}, world.clock[0])
    # Then the good one is kept, the bad one is named in errors, and the cursor moves on
    kept = {m.message_id for m in result.messages}
    assert len(kept) == 1 and kept <= {first["id"], second["id"]}
    assert len(result.errors) == 1 and "created_at" in result.errors[0]
    assert result.cursors["mentions"] is not None


def test_api_calls_per_poll_idle_and_busy(world: World) -> None:
    # Given a client with its identity resolved and cursors set after a first poll
    client = MastodonClient(world.account(), {"access_token": world.token})
    client.own_ids()
    cursors = client.fetch_new({}, world.clock[0]).cursors
    # When an idle account is polled
    world.fake.requests.clear()
    idle = client.fetch_new(cursors, world.clock[0])
    idle_calls = sum(world.fake.requests.values())
    # And when 100 new messages arrived (50 mentions, 50 brand replies)
    for i in range(50):
        status = world.fake.post(world.carol, f"@acme q{i}", T0 + timedelta(seconds=i))
        world.fake.post(
            world.brand, f"@carol a{i}", T0 + timedelta(seconds=60 + i), in_reply_to=status["id"]
        )
    world.clock[0] = T0 + timedelta(minutes=5)
    world.fake.requests.clear()
    busy = client.fetch_new(idle.cursors, world.clock[0])
    busy_calls = sum(world.fake.requests.values())
    print(f"\nMastodon API calls per poll: idle {idle_calls}, busy (100 new) {busy_calls}")
    # Then an idle poll asks each feed once, and a busy one pages 40 at a time
    assert idle.messages == [] and idle_calls == 2
    assert len(busy.messages) == 100 and busy_calls == 4
