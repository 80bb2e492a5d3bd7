"""The Bluesky adapter against the fake Bluesky server on 127.0.0.1."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reply_sla.adapters.channels import build_channel_client
from reply_sla.adapters.channels.bluesky import BlueskyClient, FeedCursor
from reply_sla.adapters.channels.http import USER_AGENT
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction
from reply_sla.errors import ChannelAuthError, ChannelDataError, ChannelError, ChannelRateLimited
from reply_sla.local.fake_bluesky import FakeBluesky, script_conversations
from tests.fakes import RecordingSession

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
NOTIFICATIONS = "/xrpc/app.bsky.notification.listNotifications"
AUTHOR_FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
CREATE = "/xrpc/com.atproto.server.createSession"
REFRESH = "/xrpc/com.atproto.server.refreshSession"


class World:
    """A running fake with the brand, a customer, an auto-responder and a movable clock."""

    def __init__(self, fake: FakeBluesky, clock: list[datetime]) -> None:
        self.fake, self.clock = fake, clock
        self.brand = fake.add_account("acme.bsky.social", "Acme Support")["did"]
        self.carol = fake.add_account("carol.example.com", "Carol")["did"]
        self.bot = fake.add_account("acmebot.bsky.social", "Acme Bot")["did"]
        self.password = fake.add_app_password(self.brand)

    def account(self, **overrides: Any) -> AccountConfig:
        fields: dict[str, Any] = {
            "id": "acme-bluesky",
            "brand": "acme",
            "channel": "bluesky",
            "api_base_url": self.fake.base_url,
            "credentials": self.credentials(),
            "automated_ids": [self.bot],
        }
        return AccountConfig(**{**fields, **overrides})

    def credentials(self, password: str | None = None) -> dict[str, str]:
        return {"identifier": "acme.bsky.social", "app_password": password or self.password}

    def client(self, password: str | None = None, **options: Any) -> BlueskyClient:
        self.sleeps: list[float] = []
        options.setdefault("sleep", self.sleeps.append)
        account = self.account(**options.pop("account", {}))
        return BlueskyClient(account, self.credentials(password), **options)

    def mention(self, minutes_ago: float, text: str = "@acme.bsky.social help", **kw: Any) -> str:
        when = self.clock[0] - timedelta(minutes=minutes_ago)
        uri: str = self.fake.post(self.carol, text, when, **kw)["uri"]
        return uri

    def own(self, minutes_ago: float, text: str = "On it", **kw: Any) -> str:
        when = self.clock[0] - timedelta(minutes=minutes_ago)
        uri: str = self.fake.post(self.brand, text, when, **kw)["uri"]
        return uri


@pytest.fixture
def world():
    BlueskyClient.forget_sessions()
    clock = [T0]
    with FakeBluesky(lambda: clock[0]) as fake:
        yield World(fake, clock)
    BlueskyClient.forget_sessions()


def test_first_poll_backfills_the_window_oldest_first(world):
    # Given a mention 8 days ago, one 2 hours ago, the auto-responder's reply, the brand's reply
    world.mention(8 * 24 * 60, "@acme.bsky.social ancient")
    root = world.mention(120, "@acme.bsky.social where is my order?")
    bot = world.fake.post(
        world.bot, "ticket #42 opened", T0 - timedelta(minutes=90), reply_to_uri=root
    )["uri"]
    reply = world.own(60, "Looking now!", reply_to_uri=bot)
    # When the account is polled for the first time (7-day backfill)
    client = world.client()
    result = client.fetch_new({}, T0)
    # Then only the window's messages come, oldest first, each in the root's thread
    assert [(m.text, m.direction) for m in result.messages] == [
        ("@acme.bsky.social where is my order?", Direction.INBOUND),
        ("Looking now!", Direction.OUTBOUND),
    ]
    assert [(m.message_id, m.thread_id, m.parent_id) for m in result.messages] == [
        (root, root, None),
        (reply, root, bot),
    ]
    assert result.messages[1].url.startswith("https://bsky.app/profile/acme.bsky.social/post/")
    assert result.complete and not result.errors
    # And the cursors point at the newest items: polling with them finds nothing more
    assert client.fetch_new(result.cursors, T0).messages == []


def test_mentions_replies_and_quotes_all_come_in(world):
    # Given a brand post, a customer's quote of it, a reply to it and a mention elsewhere
    news = world.own(60, "Winter sale!")
    quote = world.fake.post(world.carol, "outlet too?", T0 - timedelta(minutes=50), quote_uri=news)
    reply = world.mention(40, "nice", reply_to_uri=news)
    mention = world.mention(30, "hey @acme.bsky.social")
    # When polled
    result = world.client().fetch_new({}, T0)
    # Then each is an inbound message; the quote and the mention root their own threads
    inbound = {m.message_id: m.thread_id for m in result.messages if m.direction == "inbound"}
    assert inbound == {quote["uri"]: quote["uri"], reply: news, mention: mention}


def test_incremental_poll_returns_only_new_items_and_idle_feeds_keep_their_cursor(world):
    # Given a first poll that saw one mention and one reply
    root = world.mention(30)
    world.own(20, reply_to_uri=root)
    client = world.client()
    first = client.fetch_new({}, T0)
    # When the clock moves on, the customer follows up, and the account is polled again
    world.clock[0] = T0 + timedelta(minutes=10)
    follow_up = world.mention(5, "@acme.bsky.social still nothing", reply_to_uri=root)
    second = client.fetch_new(first.cursors, world.clock[0])
    # Then only the follow-up comes, and the feed with nothing new keeps its cursor as it was
    assert [(m.message_id, m.thread_id) for m in second.messages] == [(follow_up, root)]
    assert second.cursors["own"] == first.cursors["own"]
    assert second.cursors["mentions"] != first.cursors["mentions"]


def test_paging_follows_cursors_across_pages(world):
    # Given eleven mentions after a first poll
    world.mention(60, "@acme.bsky.social message 0")
    client = world.client(page_limit=2)
    cursors = client.fetch_new({}, T0).cursors
    world.clock[0] = T0 + timedelta(minutes=20)
    for n in range(1, 12):
        world.mention(20 - n, f"@acme.bsky.social message {n}")
    world.fake.requests.clear()
    # When polled with pages of two
    result = client.fetch_new(cursors, world.clock[0])
    # Then every new mention comes exactly once, in order
    assert [m.text for m in result.messages] == [
        f"@acme.bsky.social message {n}" for n in range(1, 12)
    ]
    # over six pages down to the cursor's post, and a seventh that shows nothing is left
    assert world.fake.requests[NOTIFICATIONS] == 7
    assert result.pages == 7 + 1  # and one page of the brand's own posts


def test_a_short_page_does_not_end_the_walk(world):
    # Given four mentions, the newest taken down (the AppView drops it after paging)
    uris = [world.mention(minutes) for minutes in (40, 30, 20, 10)]
    world.fake.take_down(uris[-1])
    # When polled with pages of two (the first page holds one item)
    result = world.client(page_limit=2).fetch_new({}, T0)
    # Then the walk goes on past the short page and finds the other three
    assert [m.message_id for m in result.messages] == uris[:3]


def test_a_post_indexed_after_a_poll_but_sorting_before_it_is_not_skipped(world):
    # Given a poll at T0 that saw a mention from a minute ago
    world.mention(1, "@acme.bsky.social first")
    client = world.client()
    first = client.fetch_new({}, T0)
    # And a post created two minutes ago that the relay delivers only after that poll
    late = world.fake.post(
        world.carol,
        "@acme.bsky.social slow relay",
        T0 - timedelta(minutes=2),
        indexed_at=T0 + timedelta(seconds=30),
    )["uri"]
    world.clock[0] = T0 + timedelta(minutes=1)
    # When polled again, and once more
    second = client.fetch_new(first.cursors, world.clock[0])
    third = client.fetch_new(second.cursors, world.clock[0])
    # Then the late post comes once (the overlap re-reads, the cursor's seen uris dedupe)
    assert [m.message_id for m in second.messages] == [late]
    assert third.messages == []


def test_max_pages_stops_early_then_the_next_poll_finishes_without_gaps(world):
    # Given a first poll, then seven new mentions, and at most two pages of two per poll
    world.mention(60, "@acme.bsky.social m0")
    client = world.client(page_limit=2, max_pages=2)
    cursors = client.fetch_new({}, T0).cursors
    world.clock[0] = T0 + timedelta(minutes=30)
    for n in range(1, 8):
        world.mention(30 - n, f"@acme.bsky.social m{n}")
    # When polled, Then the newest four come, it is incomplete and says the rest follows
    first = client.fetch_new(cursors, world.clock[0])
    assert [m.text[-2:] for m in first.messages] == ["m4", "m5", "m6", "m7"]
    assert not first.complete
    assert first.notes == ["mentions: stopped after 2 pages; the rest follows on the next poll"]
    assert FeedCursor.loads(first.cursors["mentions"]).resume is not None
    # When two more arrive and the account is polled until a poll is complete
    world.clock[0] += timedelta(minutes=5)
    world.mention(2, "@acme.bsky.social m8")
    world.mention(1, "@acme.bsky.social m9")
    results = [first]
    while not results[-1].complete and len(results) < 6:
        results.append(client.fetch_new(results[-1].cursors, world.clock[0]))
    # Then the older three come next, then the two new ones: none skipped, none twice
    delivered = [m.text[-2:] for r in results for m in r.messages]
    assert delivered == ["m4", "m5", "m6", "m7", "m1", "m2", "m3", "m8", "m9"]
    assert results[-1].complete
    assert FeedCursor.loads(results[-1].cursors["mentions"]).resume is None


def test_first_poll_max_pages_keeps_the_newest_and_says_older_ones_are_skipped(world):
    # Given five mentions and room for two pages of two
    for minutes in range(5, 0, -1):
        world.mention(minutes)
    # When polled for the first time
    result = world.client(page_limit=2, max_pages=2).fetch_new({}, T0)
    # Then the newest four come, with a note; the next poll starts from them
    assert len(result.messages) == 4 and not result.complete
    assert result.notes == ["mentions: stopped after 2 pages; older ones skipped"]
    assert FeedCursor.loads(result.cursors["mentions"]).resume is None


def test_a_restarted_client_reuses_the_process_session_and_the_stored_cursors(world):
    # Given a first poll by one client instance
    root = world.mention(30)
    cursors = world.client().fetch_new({}, T0).cursors
    world.clock[0] = T0 + timedelta(minutes=5)
    again = world.mention(1, "@acme.bsky.social again", reply_to_uri=root)
    # When a new instance (a new Lambda invocation in the same process) polls with them
    result = world.client().fetch_new(cursors, world.clock[0])
    # Then it finds only the new post, and did not log in a second time
    assert [m.message_id for m in result.messages] == [again]
    assert world.fake.create_session_calls == 1


def test_many_clients_in_one_process_log_in_once(world):
    # Given 40 polls by 40 client instances (createSession allows 30 per 5 minutes)
    for _ in range(40):
        world.client().fetch_new({}, T0)
    # Then there was one login
    assert world.fake.create_session_calls == 1


def test_an_expired_access_token_is_refreshed_not_logged_in_again(world):
    # Given a session, then its access token expires
    world.mention(10)
    client = world.client()
    cursors = client.fetch_new({}, T0).cursors
    world.fake.expire_access_tokens()
    world.clock[0] = T0 + timedelta(minutes=5)
    new = world.mention(1, "@acme.bsky.social hello again")
    # When polled again
    result = client.fetch_new(cursors, world.clock[0])
    # Then the session was refreshed once and the poll found the new mention
    assert [m.message_id for m in result.messages] == [new]
    assert (world.fake.requests[REFRESH], world.fake.create_session_calls) == (1, 1)


def test_a_token_that_expires_mid_poll_is_refreshed_and_the_page_asked_again(world):
    # Given access tokens that last three requests
    world.fake.access_uses = 3
    for minutes in range(6, 0, -1):
        world.mention(minutes)
    # When a poll needs four pages and an author feed
    result = world.client(page_limit=2).fetch_new({}, T0)
    # Then all six came; the session was refreshed once, never re-created
    assert len(result.messages) == 6
    assert (world.fake.requests[REFRESH], world.fake.create_session_calls) == (1, 1)


def test_a_dead_refresh_token_leads_to_one_new_login(world):
    # Given a session whose tokens are all revoked
    client = world.client()
    client.fetch_new({}, T0)
    world.fake.revoke_sessions(world.brand)
    # When polled again
    client.fetch_new({}, T0)
    # Then the refresh failed and the client logged in again, once
    assert (world.fake.requests[REFRESH], world.fake.create_session_calls) == (1, 2)


def test_a_wrong_app_password_is_an_auth_error_without_the_password(world):
    # Given an app password the server does not know
    client = world.client(password="wxyz-wxyz-wxyz-wxyz")
    # When polled, Then ChannelAuthError says the login was refused, without the password
    with pytest.raises(ChannelAuthError) as caught:
        client.fetch_new({}, T0)
    assert "HTTP 401" in str(caught.value) and "Invalid identifier or password" in str(caught.value)
    assert "wxyz" not in str(caught.value)


def test_a_throttled_login_is_rate_limited_until_the_reset(world):
    # Given createSession answers 429 (the account logged in too often)
    world.fake.fail_next(429, method="com.atproto.server.createSession")
    # When polled, Then ChannelRateLimited says to come back when the window resets
    with pytest.raises(ChannelRateLimited) as caught:
        world.client().fetch_new({}, T0)
    assert caught.value.retry_after_seconds == 300.0 - (T0.timestamp() % 300)


def test_a_throttled_page_raises_with_the_wait_and_no_retry(world):
    # Given a session, and listNotifications answering 429 with a reset in 120 s
    client = world.client()
    client.own_ids()
    reset = str(int(T0.timestamp()) + 120)
    world.fake.fail_next(429, headers={"RateLimit-Reset": reset})
    # When polled, Then ChannelRateLimited says to come back in 120 s, without retrying
    with pytest.raises(ChannelRateLimited) as caught:
        client.fetch_new({}, T0)
    assert caught.value.retry_after_seconds == 120.0
    assert world.fake.requests[NOTIFICATIONS] == 1


def test_fetch_result_reports_the_rate_limit_headers(world):
    # Given a poll, Then the result carries the last answer's RateLimit-Remaining and -Reset
    result = world.client().fetch_new({}, T0)
    assert result.rate_limit_remaining == 3000 - 3  # login, notifications, author feed
    assert result.rate_limit_reset_at == datetime(2026, 11, 16, 9, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "problem"), [("shape", "`notifications` list"), ("html", "not JSON")]
)
def test_a_malformed_page_is_a_data_error_and_moves_no_cursor(world, kind, problem):
    # Given a first poll, a new mention, and a malformed next notifications page
    world.mention(30)
    client = world.client()
    cursors = dict(client.fetch_new({}, T0).cursors)
    new = world.mention(1, "@acme.bsky.social hello again")
    world.fake.malformed_next(kind=kind, method="app.bsky.notification.listNotifications")
    # When polled, Then ChannelDataError names the endpoint and the problem
    with pytest.raises(ChannelDataError, match=problem) as caught:
        client.fetch_new(cursors, T0)
    assert f"GET {NOTIFICATIONS}" in str(caught.value)
    # And the same cursors still fetch the new mention on the next poll
    assert [m.message_id for m in client.fetch_new(cursors, T0).messages] == [new]


def test_one_malformed_item_is_skipped_and_the_rest_is_kept(world):
    # Given two new mentions, and a page whose newest item has a broken createdAt
    first = world.mention(2, "@acme.bsky.social one")
    second = world.mention(1, "@acme.bsky.social two")
    world.fake.malformed_next(kind="item", method="app.bsky.notification.listNotifications")
    # When polled
    result = world.client().fetch_new({}, T0)
    # Then the good one is kept, the bad one is named in errors, and the cursor moves past both
    assert [m.message_id for m in result.messages] == [first]
    assert len(result.errors) == 1 and second in result.errors[0]
    assert "createdAt" in result.errors[0]
    assert FeedCursor.loads(result.cursors["mentions"]).seen == {first, second}


def test_own_ids_are_the_session_did_unless_configured(world):
    # Given one client without own ids and one with them
    plain, configured = world.client(), world.client(account={"own_ids": ["did:plc:other"]})
    # When asked, Then the first answers the session's DID, the second what is configured
    assert plain.own_ids() == {world.brand}
    assert configured.own_ids() == {"did:plc:other"}
    assert world.fake.create_session_calls == 1


def test_thread_root_comes_from_the_posts_reply_ref(world):
    # Given a root, the brand's reply and a customer's reply to that
    root = world.mention(30)
    reply = world.own(20, reply_to_uri=root)
    again = world.mention(10, "thanks", reply_to_uri=reply)
    client = world.client()
    # When the root of each is asked, Then it is the thread's root, one call each
    assert [client.thread_root(uri) for uri in (again, root)] == [root, root]
    assert world.fake.requests["/xrpc/app.bsky.feed.getPosts"] == 2
    # And a post that is gone roots its own thread
    world.fake.take_down(again)
    assert client.thread_root(again) == again


def test_every_request_has_timeouts_and_our_user_agent_and_the_session_token(world):
    # Given a recording session, When the account is polled and a thread root asked
    root = world.mention(30)
    session = RecordingSession()
    client = world.client(session=session, timeout=7.0)
    client.fetch_new({}, T0)
    client.thread_root(root)
    # Then every request carried (connect, read) timeouts and the User-Agent
    assert [c["method"] for c in session.calls] == ["POST"] + ["GET"] * (len(session.calls) - 1)
    assert all(c["timeout"] == (5.0, 7.0) for c in session.calls)
    assert all(c["headers"]["User-Agent"] == USER_AGENT for c in session.calls)
    # And the GETs the session's access token, the login none
    assert "Authorization" not in session.calls[0]["headers"]
    tokens = {c["headers"]["Authorization"] for c in session.calls[1:]}
    assert len(tokens) == 1 and tokens.pop().startswith("Bearer eyJ")


def test_a_token_echoed_in_an_error_is_redacted(world):
    # Given a session, and a server error that echoes the request's token and the app password
    session = RecordingSession()
    client = world.client(session=session)
    client.thread_root(world.mention(1))
    bearer = session.calls[-1]["headers"]["Authorization"].removeprefix("Bearer ")
    body = {"error": "UpstreamFailure", "message": f"refused {bearer} for {world.password}"}
    world.fake.fail_next(502, times=4, body=body)
    # When polled, Then the error names the failure but shows *** for both
    with pytest.raises(ChannelError) as caught:
        client.fetch_new({}, T0)
    assert "HTTP 502" in str(caught.value) and "refused *** for ***" in str(caught.value)


def test_a_503_is_retried_after_a_short_backoff(world):
    # Given a session, and the notifications answering 503 once
    world.mention(5)
    client = world.client()
    client.own_ids()
    world.fake.fail_next(503)
    # When polled, Then the GET is retried after one backoff and the poll succeeds
    result = client.fetch_new({}, T0)
    assert len(result.messages) == 1 and world.sleeps == [0.25]
    assert world.fake.requests[NOTIFICATIONS] == 3  # the 503, its retry, the empty last page


def test_a_failing_login_is_not_retried(world):
    # Given createSession answering 502
    world.fake.fail_next(502, method="com.atproto.server.createSession")
    # When polled, Then one login attempt was made (each counts against the daily limit)
    with pytest.raises(ChannelError, match="HTTP 502"):
        world.client().fetch_new({}, T0)
    assert world.fake.create_session_calls == 1 and world.sleeps == []


def test_unreachable_server_is_a_channel_error(world):
    # Given a server that has gone away
    client = world.client()
    world.fake.stop()
    # When polled, Then a ChannelError says the login failed to connect
    with pytest.raises(ChannelError, match="ConnectionError"):
        client.fetch_new({}, T0)


def test_factory_builds_the_bluesky_client(world):
    # Given a Bluesky account, When its client is built by the registry, Then it is ours
    client = build_channel_client(world.account(), world.credentials())
    assert isinstance(client, BlueskyClient) and client.channel == "bluesky"


def test_api_calls_per_poll_idle_and_busy(world):
    # Given an account with some history, polled once (session made, cursors stored)
    for days in (2, 1):
        root = world.mention(days * 24 * 60, f"@acme.bsky.social question {days} days ago")
        world.own(days * 24 * 60 - 10, "answer", reply_to_uri=root)
    client = world.client()
    cursors = client.fetch_new({}, T0).cursors
    # When it is polled with nothing new
    world.fake.requests.clear()
    idle = client.fetch_new(cursors, T0)
    idle_calls = sum(world.fake.requests.values())
    # And when 100 new messages came: 70 from customers, 30 brand replies
    world.clock[0] = T0 + timedelta(minutes=90)
    for n in range(70):
        uri = world.mention(85 - n, f"@acme.bsky.social question {n}")
        if n < 30:
            world.own(84 - n, f"answer {n}", reply_to_uri=uri)
    world.fake.requests.clear()
    busy = client.fetch_new(idle.cursors, world.clock[0])
    busy_calls = dict(world.fake.requests)
    # And when 100 new customer messages came
    world.clock[0] = T0 + timedelta(minutes=110)
    for n in range(100):
        world.mention(19.5 - n * 0.1, f"@acme.bsky.social burst {n}")
    world.fake.requests.clear()
    burst = client.fetch_new(busy.cursors, world.clock[0])
    burst_calls = dict(world.fake.requests)
    print(
        f"\nbluesky API calls per poll: idle={idle_calls} "
        f"busy(70 customer + 30 brand)={sum(busy_calls.values())} {busy_calls} "
        f"busy(100 customer)={sum(burst_calls.values())} {burst_calls}"
    )
    # Then an idle poll is one page per feed; a busy one a page per feed per 100 new items
    assert idle.messages == [] and idle_calls == 2
    assert len(busy.messages) == 100 and busy_calls == {NOTIFICATIONS: 1, AUTHOR_FEED: 1}
    assert len(burst.messages) == 100 and burst_calls == {NOTIFICATIONS: 2, AUTHOR_FEED: 1}


def test_a_scripted_week_polled_through_has_every_kind_of_conversation():
    # Given a fake with a scripted week, polled hourly through it with stored cursors
    BlueskyClient.forget_sessions()
    week = datetime(2026, 11, 16, tzinfo=UTC)
    clock = [week]
    with FakeBluesky(lambda: clock[0]) as fake:
        entry = script_conversations(fake, week, threads=12, seed=1)
        account = AccountConfig(
            id="acme-bluesky", brand="acme", channel="bluesky", api_base_url=fake.base_url, **entry
        )
        client = BlueskyClient(account, entry["credentials"])
        cursors: dict[str, str | None] = {}
        messages = []
        while clock[0] < week + timedelta(days=8):
            clock[0] += timedelta(hours=1)
            result = client.fetch_new(cursors, clock[0])
            cursors.update({k: v for k, v in result.cursors.items() if v})
            messages += result.messages
    # Then every message came once, and the threads show each kind of conversation
    assert len({m.message_id for m in messages}) == len(messages)
    threads: dict[str, list[Any]] = {}
    for m in sorted(messages, key=lambda m: m.created_at):
        threads.setdefault(m.thread_id or "", []).append(m)
    shapes = Counter()
    for posts in threads.values():
        directions = [m.direction for m in posts]
        if directions[0] == Direction.INBOUND and len(posts) == 1:
            shapes["never answered"] += 1
        elif directions[:2] == [Direction.INBOUND, Direction.OUTBOUND]:
            wait = posts[1].created_at - posts[0].created_at
            shapes["fast" if wait < timedelta(hours=1) else "late"] += 1
            if Direction.INBOUND in directions[2:]:
                shapes["customer again after a reply"] += 1
    assert shapes["never answered"] and shapes["fast"] and shapes["late"]
    assert shapes["customer again after a reply"] >= 2  # a follow-up and a thanks
    assert sum(1 for t in threads.values() if t[0].direction == Direction.INBOUND) == 12
