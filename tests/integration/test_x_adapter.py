"""The X adapter against the fake X API on 127.0.0.1, in both key families (2.166 and 2.167)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reply_sla.adapters.channels import build_channel_client
from reply_sla.adapters.channels.http import USER_AGENT
from reply_sla.adapters.channels.x import POSTS, TWEETS, XClient
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction
from reply_sla.errors import (
    ChannelAuthError,
    ChannelDataError,
    ChannelError,
    ChannelRateLimited,
)
from reply_sla.local.fake_x import FakeX, script_conversations
from tests.fakes import RecordingSession

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


class World:
    """A running fake with the brand, a customer, the brand's bot and a movable clock."""

    def __init__(self, fake: FakeX, clock: list[datetime]) -> None:
        self.fake, self.clock = fake, clock
        self.brand = fake.add_user("acme", "Acme Support")["id"]
        self.carol = fake.add_user("carol", "Carol")["id"]
        self.bot = fake.add_user("acmebot", "Acme Bot")["id"]
        self.token = fake.issue_token(self.brand)
        self.mentions = f"/2/users/{self.brand}/mentions"
        self.own_posts = f"/2/users/{self.brand}/tweets"

    def account(self, **overrides: Any) -> AccountConfig:
        fields: dict[str, Any] = {
            "id": "acme-x",
            "brand": "acme",
            "channel": "x",
            "api_base_url": self.fake.base_url,
            "credentials": {"bearer_token": self.token},
            "automated_ids": [self.bot],
        }
        return AccountConfig(**{**fields, **overrides})

    def client(self, credentials: dict[str, str] | None = None, **options: Any) -> XClient:
        self.sleeps: list[float] = []
        options.setdefault("sleep", self.sleeps.append)
        account = self.account(**options.pop("account", {}))
        creds = credentials or {"bearer_token": self.token, "user_id": self.brand}
        return XClient(account, creds, **options)

    def mention(self, minutes_ago: float, text: str = "@acme help", **kw: Any) -> dict[str, Any]:
        return self.fake.post(
            self.carol, text, self.clock[0] - timedelta(minutes=minutes_ago), **kw
        )

    def own(self, minutes_ago: float, text: str = "@carol on it", **kw: Any) -> dict[str, Any]:
        return self.fake.post(
            self.brand, text, self.clock[0] - timedelta(minutes=minutes_ago), **kw
        )


@pytest.fixture
def world():
    clock = [T0]
    with FakeX(lambda: clock[0]) as fake:
        yield World(fake, clock)


@pytest.fixture(params=["tweets", "posts"])
def any_world(request):
    clock = [T0]
    with FakeX(lambda: clock[0], field_family=request.param) as fake:
        yield World(fake, clock)


def test_first_poll_backfills_the_window_oldest_first_in_either_family(any_world):
    # Given a mention 8 days ago, one 2 hours ago, the bot's and the brand's replies to it
    any_world.mention(8 * 24 * 60, "@acme ancient")
    root = any_world.mention(120, "@acme where is my order? <3 & more")
    bot = any_world.fake.post(
        any_world.bot,
        "@carol ticket #42 opened",
        T0 - timedelta(minutes=90),
        in_reply_to=root["id"],
    )
    reply = any_world.own(60, "@carol Looking now!", in_reply_to=root["id"])
    # When the account is polled for the first time (7-day backfill)
    result = any_world.client().fetch_new({}, T0)
    # Then the window's customer post and the brand's reply come, oldest first, by conversation
    assert [(m.text, m.direction) for m in result.messages] == [
        ("@acme where is my order? <3 & more", Direction.INBOUND),
        ("@carol Looking now!", Direction.OUTBOUND),
    ]
    assert [m.thread_id for m in result.messages] == [root["id"], root["id"]]
    assert result.messages[1].parent_id == root["id"]
    assert result.cursors == {"mentions": root["id"], "own": reply["id"]}
    assert result.complete and result.errors == [] and result.notes == []
    # And the bot's reply is not seen: it mentions only carol and is not the brand's own post
    assert bot["id"] not in {m.message_id for m in result.messages}


def test_bot_replies_seen_in_mentions_are_automated(world):
    # Given the brand's bot answering a customer and naming the brand
    root = world.mention(30)
    world.fake.post(
        world.bot, "@carol @acme ticket #42", T0 - timedelta(minutes=20), in_reply_to=root["id"]
    )
    # When polled, Then the bot's post is automated, not the brand's human reply
    result = world.client().fetch_new({}, T0)
    assert [m.direction for m in result.messages] == [Direction.INBOUND, Direction.AUTOMATED]


def test_incremental_poll_asks_by_since_id_and_returns_only_new_posts(any_world):
    # Given a first poll that saw one mention and one reply
    root = any_world.mention(30)
    any_world.own(20, in_reply_to=root["id"])
    session = RecordingSession()
    client = any_world.client(session=session)
    first = client.fetch_new({}, T0)
    # When the clock moves on, the customer follows up, and the account is polled again
    any_world.clock[0] = T0 + timedelta(minutes=10)
    follow_up = any_world.mention(5, "@acme still nothing", in_reply_to=root["id"])
    session.calls.clear()
    second = client.fetch_new(first.cursors, any_world.clock[0])
    # Then only the follow-up comes, asked for by since_id from the cursors, without start_time
    assert [m.message_id for m in second.messages] == [follow_up["id"]]
    assert second.messages[0].thread_id == root["id"]
    assert [c["params"]["since_id"] for c in session.calls] == [
        first.cursors["mentions"],
        first.cursors["own"],
    ]
    assert not any("start_time" in c["params"] for c in session.calls)
    assert second.cursors == {"mentions": follow_up["id"], "own": first.cursors["own"]}


def test_paging_follows_next_token_until_there_is_none(world):
    # Given a cursor at a first mention and twelve newer ones
    first = world.mention(13, "@acme message 0")
    for minute in range(12, 0, -1):
        world.mention(minute, f"@acme message {13 - minute}")
    session = RecordingSession()
    client = world.client(session=session, page_limit=5)
    # When polled with pages of five
    result = client.fetch_new({"mentions": first["id"], "own": None}, T0)
    # Then every mention after the cursor comes exactly once, in order, across three pages
    assert [m.text for m in result.messages] == [f"@acme message {n}" for n in range(1, 13)]
    assert result.cursors["mentions"] == result.messages[-1].message_id
    tokens = [c["params"].get("pagination_token") for c in session.calls if "mentions" in c["url"]]
    assert len(tokens) == 3 and tokens[0] is None and all(tokens[1:])
    assert result.pages == 3 + 1  # and one page of the brand's (empty) own posts


def test_max_pages_keeps_the_cursor_until_the_chain_is_read_whole(world):
    # Given twelve mentions newer than the cursor
    first = world.mention(13)
    for minute in range(12, 0, -1):
        world.mention(minute, f"@acme message {13 - minute}")
    cursors = {"mentions": first["id"], "own": None}
    # When polled with at most two pages of five
    short = world.client(page_limit=5, max_pages=2).fetch_new(cursors, T0)
    # Then it is incomplete and the cursor stays: the oldest new ones were not reached yet
    assert (short.complete, len(short.messages), short.cursors["mentions"]) == (
        False,
        10,
        first["id"],
    )
    assert short.notes == [
        "mentions: stopped after 2 pages; the cursor stays and the next poll asks again"
    ]
    # And a poll that reads the whole chain gets every one of them, nothing skipped
    whole = world.client(page_limit=5).fetch_new(short.cursors, T0)
    assert len(whole.messages) == 12 and whole.complete


def test_first_poll_cut_short_moves_on_from_the_newest(world):
    # Given twelve mentions and no cursor
    for minute in range(12, 0, -1):
        world.mention(minute)
    # When the first poll may read one page of five
    result = world.client(page_limit=5, max_pages=1).fetch_new({}, T0)
    # Then the newest five come, the cursor is the newest, and the note says older ones are skipped
    assert (
        len(result.messages) == 5 and result.cursors["mentions"] == result.messages[-1].message_id
    )
    assert "mentions: stopped after 1 pages; older ones skipped" in result.notes


def test_a_first_poll_that_reaches_800_mentions_says_older_ones_are_out_of_reach(world):
    # Given 805 mentions in the last day
    for n in range(805):
        world.fake.post(world.carol, f"@acme {n}", T0 - timedelta(seconds=900 - n))
    # When the account is polled for the first time
    result = world.client().fetch_new({}, T0)
    # Then X's 800 come and a note says the rest of the window is out of reach
    assert len(result.messages) == 800 and result.messages[0].text == "@acme 5"
    assert result.notes == [
        "mentions: X returns only the 800 most recent; any older ones in the backfill window "
        "are out of reach"
    ]


def test_own_ids_come_from_users_me_once(world):
    # Given credentials without user_id and no configured own ids
    client = world.client({"bearer_token": world.token})
    # When own ids are asked twice and the account polled
    ids = client.own_ids(), client.own_ids()
    client.fetch_new({}, T0)
    # Then the token's user id is returned, and users/me asked once
    assert ids == (frozenset({world.brand}), frozenset({world.brand}))
    assert world.fake.requests["/2/users/me"] == 1


def test_users_me_without_a_user_is_a_data_error(world):
    # Given users/me answers something that is not a user
    world.fake.malformed_next(kind="shape")
    client = world.client({"bearer_token": world.token})
    # When own ids are resolved, Then ChannelDataError names the endpoint
    with pytest.raises(ChannelDataError, match="GET /2/users/me: no user id"):
        client.own_ids()


def test_configured_own_ids_and_user_id_spare_the_users_me_call(world):
    # Given configured own ids (a second brand handle too) and a user_id in the credentials
    client = world.client(account={"own_ids": [world.brand, "999"]})
    # When the account is polled
    client.fetch_new({}, T0)
    # Then own ids are the configured ones and users/me is never called
    assert client.own_ids() == frozenset({world.brand, "999"})
    assert world.fake.requests["/2/users/me"] == 0


def test_an_app_only_token_without_user_id_says_to_configure_user_id(world):
    # Given an app-only Bearer token and no user_id
    client = world.client({"bearer_token": world.fake.issue_token()})
    # When own ids are resolved, Then ChannelAuthError says a user_id is needed
    with pytest.raises(ChannelAuthError, match="needs the brand's numeric X id as credentials"):
        client.own_ids()


def test_an_app_only_token_with_user_id_polls(world):
    # Given an app-only Bearer token with the brand's user_id, and a mention
    world.mention(5)
    client = world.client({"bearer_token": world.fake.issue_token(), "user_id": world.brand})
    # When polled, Then the mention comes (timelines accept app-only tokens)
    assert len(client.fetch_new({}, T0).messages) == 1


def test_a_client_guessing_the_old_names_switches_to_the_renamed_ones_once():
    # Given a server that speaks 2.167 (post.fields, referenced_posts, includes.posts)
    with FakeX(lambda: T0, field_family="posts") as fake:
        brand, carol = fake.add_user("acme")["id"], fake.add_user("carol")["id"]
        root = fake.post(carol, "@acme hi", T0 - timedelta(minutes=5))
        reply = fake.post(brand, "@carol hello", T0 - timedelta(minutes=4), in_reply_to=root["id"])
        account = AccountConfig(
            id="acme-x",
            brand="acme",
            channel="x",
            api_base_url=fake.base_url,
            credentials={"bearer_token": "-"},
        )
        client = XClient(account, {"bearer_token": fake.issue_token(brand), "user_id": brand})
        # When it is polled twice
        first = client.fetch_new({}, T0)
        second = client.fetch_new(first.cursors, T0)
        requests = Counter(fake.requests)
    # Then the first request with tweet.fields is refused once, and everything after uses posts
    assert client.field_family is POSTS
    assert requests[f"/2/users/{brand}/mentions"] == 3  # refused, accepted, then the second poll
    assert [(m.message_id, m.parent_id) for m in first.messages] == [
        (root["id"], None),
        (reply["id"], root["id"]),
    ]
    assert second.messages == []


def test_a_client_guessing_the_new_names_switches_back_to_the_old_ones(world):
    # Given a 2.166 server and a client that starts with the 2.167 names
    world.mention(5)
    client = world.client(field_family=POSTS)
    # When polled, Then it switches to the tweets family and reads the mention
    assert len(client.fetch_new({}, T0).messages) == 1 and client.field_family is TWEETS


def test_thread_root_is_the_conversation_id_in_one_lookup(any_world):
    # Given a thread root, the brand's reply and the customer's reply to that
    root = any_world.mention(30)
    reply = any_world.own(20, in_reply_to=root["id"])
    again = any_world.mention(10, "@acme thanks", in_reply_to=reply["id"])
    client = any_world.client()
    # When the root of the deepest post is asked, Then it is the conversation, in one lookup
    assert client.thread_root(again["id"]) == root["id"]
    assert client.thread_root(root["id"]) == root["id"]
    # (a 2.167 server refuses the first guess at the field names once)
    refused = 1 if any_world.fake.field_family == "posts" else 0
    assert any_world.fake.requests[f"/2/tweets/{again['id']}"] == 1 + refused


def test_a_deleted_post_roots_its_own_thread(world):
    # Given a post deleted after it was fetched, When its root is asked, Then it is itself
    gone = world.mention(10)
    world.fake.delete(gone["id"])
    assert world.client().thread_root(gone["id"]) == gone["id"]


def test_a_reply_to_a_deleted_post_keeps_its_conversation_despite_the_partial_error(world):
    # Given a customer replying to their own post, which they then delete
    gone = world.mention(20, "@acme first try")
    again = world.mention(10, "@acme second try", in_reply_to=gone["id"])
    world.fake.delete(gone["id"])
    # When polled (the page carries a resource-not-found error for the parent)
    result = world.client().fetch_new({}, T0)
    # Then the reply comes with the conversation as its thread, and nothing is an error
    assert [(m.message_id, m.thread_id) for m in result.messages] == [(again["id"], gone["id"])]
    assert result.errors == []


def test_rate_limit_figures_are_the_tightest_of_the_poll(world):
    # Given a client that already used the mentions endpoint twice this window
    client = world.client()
    client.fetch_new({}, T0)
    client.fetch_new({}, T0)
    # When polled again
    result = client.fetch_new({}, T0)
    # Then the remaining figure is the mentions endpoint's (300 - 3) and its reset is the window's
    assert result.rate_limit_remaining == 297
    assert result.rate_limit_reset_at == datetime(2026, 11, 16, 9, 15, tzinfo=UTC)


def test_rate_limit_carries_the_wait_until_x_rate_limit_reset(world):
    # Given the server answers 429 with a reset two minutes after its clock
    reset = int((T0 + timedelta(minutes=2)).timestamp())
    world.fake.fail_next(429, headers={"x-rate-limit-reset": str(reset)})
    # When polled, Then ChannelRateLimited says to come back in 120 s, without retrying
    with pytest.raises(ChannelRateLimited) as caught:
        world.client().fetch_new({}, T0)
    assert caught.value.retry_after_seconds == 120.0
    assert world.fake.requests[world.mentions] == 1


def test_refused_token_needs_a_person_and_is_never_shown(world):
    # Given a token the user revoked
    world.fake.revoke_token(world.token)
    client = world.client()
    # When polled, Then ChannelAuthError says a person must act, without the token in it
    with pytest.raises(ChannelAuthError) as caught:
        client.fetch_new({}, T0)
    text = str(caught.value)
    assert "HTTP 401" in text and "a person must authorize the app again" in text
    assert world.token not in text


def test_payment_required_needs_a_person(world):
    # Given the developer account ran out of credits
    world.fake.fail_next(402)
    # When polled, Then ChannelAuthError says payment is required and a person must act
    with pytest.raises(
        ChannelAuthError,
        match=r"payment required.*HTTP 402 \(Your account does not have any credits",
    ):
        world.client().fetch_new({}, T0)


@pytest.mark.parametrize(
    ("kind", "problem"),
    [("shape", "expected an object, got list"), ("html", "not JSON")],
)
def test_malformed_page_is_a_data_error_and_moves_no_cursor(world, kind, problem):
    # Given a first poll, a new mention, and a malformed next page
    world.mention(30)
    client = world.client()
    cursors = dict(client.fetch_new({}, T0).cursors)
    new = world.mention(1, "@acme hello again")
    world.fake.malformed_next(kind=kind)
    # When polled, Then ChannelDataError names the endpoint and the problem
    with pytest.raises(ChannelDataError, match=problem) as caught:
        client.fetch_new(cursors, T0)
    assert f"GET {world.mentions}" in str(caught.value)
    # And the same cursors still fetch the new mention on the next poll
    assert [m.message_id for m in client.fetch_new(cursors, T0).messages] == [new["id"]]


def test_a_malformed_post_is_skipped_and_named_while_the_rest_is_kept(world):
    # Given two new mentions, the newest of which comes without author and with a bad date
    older = world.mention(10, "@acme first")
    broken = world.mention(5, "@acme second")
    world.fake.malformed_next(kind="item")
    # When polled
    result = world.client().fetch_new({}, T0)
    # Then the good one is kept, the broken one named in errors, and the cursor moves past both
    assert [m.message_id for m in result.messages] == [older["id"]]
    assert result.errors == [
        f"x: GET {world.mentions}: item 0 (id {broken['id']}): missing author_id"
    ]
    assert result.cursors["mentions"] == broken["id"]


def test_every_request_has_timeouts_our_user_agent_and_the_token_only_in_its_header(world):
    # Given a recording session, When the account is polled and a thread root asked
    root = world.mention(30)
    session = RecordingSession()
    client = world.client({"bearer_token": world.token}, session=session, timeout=7.0)
    client.fetch_new({}, T0)
    client.thread_root(root["id"])
    # Then every request carried (connect, read) timeouts, the User-Agent, and the Bearer header
    assert len(session.calls) == 4  # users/me, mentions, own posts, lookup
    assert all(c["timeout"] == (5.0, 7.0) for c in session.calls)
    assert all(c["headers"]["User-Agent"] == USER_AGENT for c in session.calls)
    assert all(c["headers"]["Authorization"] == f"Bearer {world.token}" for c in session.calls)
    assert not any(world.token in c["url"] + str(c.get("params")) for c in session.calls)


def test_a_503_is_retried_after_a_short_backoff(world):
    # Given the server fails once with 503
    world.mention(5)
    world.fake.fail_next(503)
    # When polled, Then the GET is retried after one backoff and the poll succeeds
    result = world.client().fetch_new({}, T0)
    assert len(result.messages) == 1
    assert world.fake.requests[world.mentions] == 2 and world.sleeps == [0.25]


def test_a_lasting_5xx_gives_up_with_a_channel_error(world):
    # Given a server that keeps answering 502
    world.fake.fail_next(502, times=10)
    # When polled, Then it gives up after a few retries with a ChannelError naming the status
    with pytest.raises(ChannelError, match="HTTP 502"):
        world.client().fetch_new({}, T0)
    assert world.fake.requests[world.mentions] == 4 and world.sleeps == [0.25, 0.5, 1.0]


@pytest.mark.parametrize("family", ["tweets", "posts"])
def test_api_calls_per_poll_idle_and_busy(family):
    # Given an account polled once already, on a server of each family
    clock = [T0]
    with FakeX(lambda: clock[0], field_family=family) as fake:
        world = World(fake, clock)
        client = world.client(field_family=TWEETS if family == "tweets" else POSTS)
        world.own(20, in_reply_to=world.mention(30)["id"])
        cursors = client.fetch_new({}, T0).cursors
        assert all(cursors.values())
        # When it is polled with nothing new (idle)
        fake.requests.clear()
        idle = client.fetch_new(cursors, T0)
        idle_calls = sum(fake.requests.values())
        # And with 100 new messages: 50 customer posts and the brand's 50 replies (busy)
        clock[0] = T0 + timedelta(hours=2)
        for n in range(50):
            root = world.mention(100 - n, f"@acme question {n}")
            world.own(50 - n, f"@carol answer {n}", in_reply_to=root["id"])
        fake.requests.clear()
        busy = client.fetch_new(idle.cursors, clock[0])
        busy_calls = sum(fake.requests.values())
    # Then an idle poll costs one request per feed, and a busy one too (100 per page)
    print(f"\nX API calls per poll ({family}): idle {idle_calls}, busy (100 new) {busy_calls}")
    assert (len(idle.messages), idle_calls) == (0, 2)
    assert (len(busy.messages), busy_calls) == (100, 2)


def test_scripted_week_plays_out_within_the_week_and_is_read_whole():
    # Given a scripted week of twelve conversations, played to its end
    end = T0 + timedelta(days=7)
    with FakeX(lambda: end) as fake:
        entry = script_conversations(fake, T0, threads=12, seed=1)
        account = AccountConfig(
            id="acme-x", brand="acme", channel="x", api_base_url=fake.base_url, **entry
        )
        # When the account is polled once, built from the entry as the service builds it
        result = build_channel_client(account, entry["credentials"]).fetch_new({}, end)
    # Then twelve threads come, each opened by a customer: 2 never answered, 6 answered (fast or
    # late), 4 with a follow-up or a thanks after the reply
    assert set(entry) == {"credentials", "own_ids"}
    assert set(entry["credentials"]) == {"bearer_token", "user_id"}
    threads: dict[str, list[Direction]] = {}
    for message in result.messages:
        threads.setdefault(message.thread_id or "", []).append(message.direction)
    shapes = Counter(tuple(d.value[0] for d in directions) for directions in threads.values())
    assert shapes == {("i",): 2, ("i", "o"): 6, ("i", "o", "i"): 4}
    assert fake.next_post_after(end) is None  # nothing spills past the week


def test_scripted_week_is_the_same_for_the_same_seed():
    # Given fakes loaded with seeds 1, 1 and 2, When their weeks are read
    def posts(seed: int) -> list[tuple[str, str]]:
        end = T0 + timedelta(days=7)
        with FakeX(lambda: end) as fake:
            entry = script_conversations(fake, T0, seed=seed)
            account = AccountConfig(
                id="acme-x", brand="acme", channel="x", api_base_url=fake.base_url, **entry
            )
            return [
                (m.created_at.isoformat(), m.text)
                for m in XClient(account, entry["credentials"]).fetch_new({}, end).messages
            ]

    # Then the same seed gives the same posts at the same times, another seed another week
    assert posts(1) == posts(1) != posts(2)


def test_factory_builds_an_x_client(world):
    # Given an X account entry, When its client is built, Then it is an XClient
    client = build_channel_client(world.account(), {"bearer_token": world.token})
    assert isinstance(client, XClient) and client.channel == "x"
