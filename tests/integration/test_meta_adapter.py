"""The Facebook and Instagram adapters against the fake Graph API on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from reply_sla.adapters.channels import build_channel_client
from reply_sla.adapters.channels.http import USER_AGENT
from reply_sla.adapters.channels.meta import FacebookClient, InstagramClient, parse_cursor
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction
from reply_sla.errors import (
    ChannelAuthError,
    ChannelDataError,
    ChannelError,
    ChannelRateLimited,
)
from reply_sla.local.fake_meta import FakeGraph, script_conversations, throttle_body
from tests.fakes import RecordingSession

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


class World:
    """A running fake with a Page, its Instagram account, customers and a movable clock."""

    def __init__(self, fake: FakeGraph, clock: list[datetime]) -> None:
        self.fake, self.clock = fake, clock
        page = fake.add_page("ACME Support")
        self.page, self.token = page["id"], page["access_token"]
        self.ig = fake.add_instagram_account("acme", page_id=self.page)["id"]
        self.carol = fake.add_user("Carol Díaz")["id"]
        self.bot = fake.add_user("ACME Bot")["id"]
        self.dana = fake.add_user("Dana", username="dana.ig")["id"]
        self.sleeps: list[float] = []

    def ago(self, minutes: float) -> datetime:
        return self.clock[0] - timedelta(minutes=minutes)

    def account(self, channel: str = "facebook", **overrides: Any) -> AccountConfig:
        fields: dict[str, Any] = {
            "id": f"acme-{channel}",
            "brand": "acme",
            "channel": channel,
            "api_base_url": self.fake.base_url + "/v21.0",
            "credentials": {"token": "inline"},
            "automated_ids": [self.bot],
        }
        return AccountConfig(**{**fields, **overrides})

    def facebook(self, token: str | None = None, **options: Any) -> FacebookClient:
        options.setdefault("sleep", self.sleeps.append)
        account = self.account(**options.pop("account", {}))
        credentials = {"page_access_token": token or self.token, "page_id": self.page}
        return FacebookClient(account, credentials, **options)

    def instagram(self, *, dms: bool = True, **options: Any) -> InstagramClient:
        options.setdefault("sleep", self.sleeps.append)
        credentials = {"access_token": self.token, "ig_user_id": self.ig}
        if dms:
            credentials["page_id"] = self.page
        return InstagramClient(self.account("instagram"), credentials, **options)

    def post(self, minutes_ago: float, text: str = "Winter sale!") -> str:
        return self.fake.post(self.page, text, self.ago(minutes_ago))["id"]

    def comment(self, target: str, minutes_ago: float, text: str = "Help?", **kw: Any) -> str:
        author = kw.pop("author", self.carol)
        return self.fake.comment(target, author, text, self.ago(minutes_ago), **kw)["id"]


@pytest.fixture
def world():
    clock = [T0]
    with FakeGraph(lambda: clock[0]) as fake:
        yield World(fake, clock)


def test_first_poll_backfills_comments_replies_and_messenger_oldest_first(world):
    # Given an old post, a recent post with a question, the Page's and the bot's replies, and
    # a Messenger conversation
    old = world.post(8 * 24 * 60, "Old news")
    world.comment(old, 30, "On an old post")
    post = world.post(180)
    question = world.comment(post, 120, "Where is my order?")
    world.comment(post, 100, "Ticket #42 opened", parent_id=question, author=world.bot)
    reply = world.comment(post, 60, "On its way!", parent_id=question, author=world.page)
    world.fake.message(world.page, world.carol, "Private question", world.ago(50))
    world.fake.message(world.page, world.carol, "Ask away", world.ago(40), from_brand=True)
    client = world.facebook()
    # When the Page is polled for the first time
    result = client.fetch_new({}, T0)
    # Then the recent post's thread and the conversation come, oldest first, with directions
    assert [(m.text, m.direction, m.private) for m in result.messages] == [
        ("Where is my order?", Direction.INBOUND, False),
        ("Ticket #42 opened", Direction.AUTOMATED, False),
        ("On its way!", Direction.OUTBOUND, False),
        ("Private question", Direction.INBOUND, True),
        ("Ask away", Direction.OUTBOUND, True),
    ]
    ask, _, answer, dm, _ = result.messages
    assert ask.thread_id == question and ask.parent_id is None
    assert (answer.message_id, answer.thread_id, answer.parent_id) == (reply, question, question)
    assert answer.url.startswith("https://www.facebook.com/") and ask.author_name == "Carol Díaz"
    assert dm.thread_id.startswith("t_") and dm.url.startswith("https://www.facebook.com/")
    assert (
        result.complete
        and result.errors == []
        and set(result.cursors)
        == {
            "comments",
            "messenger",
        }
    )
    # And polling with the cursors finds nothing more
    assert client.fetch_new(result.cursors, T0).messages == []


def test_a_visitor_post_is_a_thread_with_its_comments(world):
    # Given a customer's post on the Page and the Page's comment under it
    visitor = world.fake.post(world.page, "Broken on arrival", world.ago(30), author_id=world.carol)
    world.comment(visitor["id"], 20, "Sorry! DM us", author=world.page)
    # When polled, Then the post roots the thread and the comment joins it
    post, answer = world.facebook().fetch_new({}, T0).messages
    assert (post.direction, post.thread_id, post.parent_id) == (
        Direction.INBOUND,
        visitor["id"],
        None,
    )
    assert (answer.direction, answer.thread_id) == (Direction.OUTBOUND, visitor["id"])


def test_incremental_poll_asks_comments_since_the_watermark(world):
    # Given a first poll that saw one comment
    post = world.post(60)
    first_id = world.comment(post, 30)
    session = RecordingSession()
    client = world.facebook(session=session)
    first = client.fetch_new({}, T0)
    # When the clock moves on, a reply comes, and the Page is polled again
    world.clock[0] = T0 + timedelta(minutes=10)
    follow = world.comment(post, 2, "Any news?", parent_id=first_id)
    session.calls.clear()
    second = client.fetch_new(first.cursors, world.clock[0])
    # Then only the reply comes, asked for since the watermark (one second earlier), in stream
    assert [m.message_id for m in second.messages] == [follow]
    (comments_call,) = [c for c in session.calls if c["url"].endswith("/comments")]
    watermark, _ = parse_cursor(first.cursors["comments"])
    assert watermark == T0 - timedelta(minutes=35)  # the newest comment, less the 5-min overlap
    params = comments_call["params"]
    assert params["since"] == str(int(watermark.timestamp()) - 1)
    assert (params["filter"], params["order"]) == ("stream", "chronological")
    assert second.cursors["messenger"] == first.cursors["messenger"]  # nothing new: kept


def test_late_and_same_second_comments_are_not_skipped_nor_repeated(world):
    # Given a first poll whose newest comment is at T0 - 1 min
    post = world.post(60)
    newest = world.comment(post, 1, "First")
    client = world.facebook()
    first = client.fetch_new({}, T0)
    # When a comment of the same second and one 3 minutes older surface afterwards
    same = world.comment(post, 1, "Same second")
    late = world.comment(post, 4, "Surfaced late")
    # Then a new client with the stored cursors gets both, and not the first one again
    restarted = world.facebook().fetch_new(first.cursors, T0)
    assert [m.message_id for m in restarted.messages] == [late, same]
    assert newest not in {m.message_id for m in restarted.messages}
    assert world.facebook().fetch_new(restarted.cursors, T0).messages == []


def test_comment_pages_are_followed_to_the_end(world):
    # Given seven comments on a post
    post = world.post(60)
    ids = [world.comment(post, 50 - n, f"c{n}") for n in range(7)]
    client = world.facebook(page_limit=2)
    # When polled with pages of two
    result = client.fetch_new({}, T0)
    # Then every comment comes once, in order, across four comment pages
    assert [m.message_id for m in result.messages] == ids
    assert world.fake.requests[f"/v21.0/{post}/comments"] == 4


def test_max_pages_stops_early_and_the_next_poll_goes_on_without_gaps(world):
    # Given two posts with seven comments each
    posts = [world.post(60), world.post(59)]
    ids = {world.comment(p, 40 - n, f"{p[-2:]}-{n}") for p in posts for n in range(7)}
    client = world.facebook(page_limit=2, max_pages=2)
    # When polled with at most two pages per listing
    first = client.fetch_new({}, T0)
    # Then the poll is incomplete, says so, and the following polls bring the rest exactly once
    assert not first.complete and len(first.messages) == 8
    assert first.notes == [
        "comments: a listing stopped after 2 pages; the rest follows on the next poll"
    ]
    seen = [m.message_id for m in first.messages]
    result = first
    for _ in range(3):
        result = client.fetch_new(result.cursors, T0)
        seen += [m.message_id for m in result.messages]
    assert result.complete and sorted(seen) == sorted(ids)


def test_a_post_without_comments_costs_no_request(world):
    # Given a post nobody commented on, When polled
    post = world.post(60)
    world.facebook().fetch_new({}, T0)
    # Then its comments are never asked for (the feed's summary says there are none)
    assert world.fake.requests[f"/v21.0/{post}/comments"] == 0


def test_instagram_comments_replies_and_direct_messages(world):
    # Given a media with a customer's comment, the account's reply, and a Direct conversation
    media = world.fake.publish_media(world.ig, "New in", world.ago(300))
    top = world.comment(media["id"], 120, "Price?", author=world.dana)
    world.comment(media["id"], 60, "@dana.ig 20€", parent_id=top, author=world.ig)
    world.fake.message(world.page, world.dana, "Is it in stock?", world.ago(30))
    world.fake.message(world.page, world.dana, "Yes!", world.ago(20), from_brand=True)
    # When the Instagram account is polled
    result = world.instagram().fetch_new({}, T0)
    # Then comments thread by the top-level one, DMs by conversation, and directions follow
    assert [(m.text, m.direction, m.private, m.author_handle) for m in result.messages] == [
        ("Price?", Direction.INBOUND, False, "@dana.ig"),
        ("@dana.ig 20€", Direction.OUTBOUND, False, "@acme"),
        ("Is it in stock?", Direction.INBOUND, True, "@dana.ig"),
        ("Yes!", Direction.OUTBOUND, True, "@acme"),
    ]
    comment, reply, dm, _ = result.messages
    assert (comment.thread_id, reply.thread_id, reply.parent_id) == (top, top, top)
    assert comment.url == media["permalink"] and dm.channel == "instagram"
    assert set(result.cursors) == {"comments", "dms"}


def test_instagram_without_a_page_reads_no_direct_messages(world):
    # Given an Instagram account configured without page_id and a Direct message
    world.fake.message(world.page, world.dana, "Hello?", world.ago(5))
    # When polled, Then there is only the comments feed and no conversations request
    result = world.instagram(dms=False).fetch_new({}, T0)
    assert set(result.cursors) == {"comments"} and result.messages == []
    assert world.fake.requests[f"/v21.0/{world.page}/conversations"] == 0


def test_instagram_polls_keep_their_place_in_the_comments(world):
    # Given a first poll of a media's comments
    media = world.fake.publish_media(world.ig, "New in", world.ago(300))["id"]
    top = world.comment(media, 120, "Price?", author=world.dana)
    client = world.instagram(dms=False)
    first = client.fetch_new({}, T0)
    # When a reply comes to the old comment and the account is polled again
    world.clock[0] = T0 + timedelta(minutes=30)
    reply = world.comment(media, 1, "Still waiting", parent_id=top, author=world.dana)
    second = client.fetch_new(first.cursors, world.clock[0])
    # Then only the reply comes, in the old comment's thread
    assert [(m.message_id, m.thread_id) for m in second.messages] == [(reply, top)]


def test_conversations_older_than_the_cursor_stop_the_listing(world):
    # Given 30 conversations, all seen by a first poll
    for n in range(30):
        customer = world.fake.add_user(f"Customer {n}")["id"]
        world.fake.message(world.page, customer, f"Hi {n}", world.ago(300 - n))
    client = world.facebook(page_limit=10)
    first = client.fetch_new({}, T0)
    # When one of them gets a new message and the Page is polled again
    world.clock[0] = T0 + timedelta(minutes=30)
    world.fake.message(world.page, customer, "Hello again", world.ago(1))
    world.fake.requests.clear()
    second = client.fetch_new(first.cursors, world.clock[0])
    # Then the new message comes from the first conversations page alone
    assert [m.text for m in second.messages] == ["Hello again"]
    assert world.fake.requests[f"/v21.0/{world.page}/conversations"] == 1


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001, 80002])
def test_throttling_codes_are_rate_limits_with_the_wait_from_the_usage_header(world, code):
    # Given Graph throttles the next call (HTTP 400) with ten minutes to regain access
    world.fake.throttle_next(code, regain_minutes=10)
    client = world.facebook()
    # When polled, Then ChannelRateLimited says 600 s, without retrying
    with pytest.raises(ChannelRateLimited, match=f"Graph error {code}") as caught:
        client.fetch_new({}, T0)
    assert caught.value.retry_after_seconds == 600.0
    assert sum(world.fake.requests.values()) == 1


def test_throttling_with_http_403_is_still_a_rate_limit(world):
    # Given a throttling body on a 403 and no usage header, When polled
    world.fake.fail_next(403, body=throttle_body(4))
    # Then it is a rate limit (not an auth error), with no known wait
    with pytest.raises(ChannelRateLimited) as caught:
        world.facebook().fetch_new({}, T0)
    assert caught.value.retry_after_seconds is None


def test_an_exhausted_page_quota_waits_until_access_comes_back(world):
    # Given a Page quota of two calls an hour, already spent
    clock = [T0 + timedelta(minutes=15)]
    with FakeGraph(lambda: clock[0], calls_per_hour=2) as fake:
        page = fake.add_page("ACME")
        client = FacebookClient(
            world.account(api_base_url=fake.base_url),
            {"page_access_token": page["access_token"], "page_id": page["id"]},
        )
        client.fetch_new({}, clock[0])
        # When polled again, Then 80001 says to come back when the hour turns (45 min)
        with pytest.raises(ChannelRateLimited, match="80001") as caught:
            client.fetch_new({}, clock[0])
    assert caught.value.retry_after_seconds == 45 * 60.0


def test_a_dead_token_is_an_auth_error_that_does_not_show_the_token(world):
    # Given a token revoked by a password change
    world.fake.revoke_token(world.token)
    # When polled, Then ChannelAuthError names code 190, and the token is nowhere in it
    with pytest.raises(ChannelAuthError, match="Graph error 190/460") as caught:
        world.facebook().fetch_new({}, T0)
    assert world.token not in str(caught.value) and "renew" in str(caught.value)


def test_a_missing_permission_is_an_auth_error_naming_it(world):
    # Given a Page token without pages_messaging
    page = world.fake.add_page("Limited", permissions={"pages_read_engagement"})
    client = world.facebook(page["access_token"])
    client.credentials["page_id"] = page["id"]
    # When polled, Then ChannelAuthError names the permission
    with pytest.raises(ChannelAuthError, match="lacks the pages_messaging permission"):
        client.fetch_new({}, T0)


@pytest.mark.parametrize(
    ("kind", "problem"),
    [("shape", "expected a Graph page"), ("html", "not JSON")],
)
def test_a_malformed_page_is_a_data_error_and_moves_no_cursor(world, kind, problem):
    # Given a first poll, a new comment, and a malformed next answer
    post = world.post(60)
    world.comment(post, 30)
    client = world.facebook()
    cursors = client.fetch_new({}, T0).cursors
    new = world.comment(post, 1, "Again")
    world.fake.malformed_next(kind=kind)
    # When polled, Then ChannelDataError names the endpoint and the problem
    with pytest.raises(ChannelDataError, match=problem) as caught:
        client.fetch_new(cursors, T0)
    assert f"GET /v21.0/{world.page}/feed" in str(caught.value)
    # And the same cursors still fetch the new comment
    assert [m.message_id for m in client.fetch_new(cursors, T0).messages] == [new]


def test_one_malformed_comment_is_skipped_and_the_rest_kept(world):
    # Given two comments, and a comments page whose first item has a broken time
    post = world.post(60)
    first = world.comment(post, 30, "one")
    second = world.comment(post, 20, "two")
    client = world.facebook()
    get_json = client.http.get_json

    def break_comment_pages(target: str, params: Any = None) -> Any:
        if target.endswith("/comments"):  # the feed page before it stays intact
            world.fake.malformed_next(kind="item")
        return get_json(target, params)

    client.http.get_json = break_comment_pages  # type: ignore[method-assign]
    # When polled
    result = client.fetch_new({}, T0)
    # Then the good comment is kept and the bad one is named in errors
    assert [m.message_id for m in result.messages] == [second]
    assert len(result.errors) == 1 and first in result.errors[0] and "bad time" in result.errors[0]


def test_the_usage_headers_become_the_rate_limit_figures(world):
    # Given a Page quota of 10 calls an hour
    clock = [T0]
    with FakeGraph(lambda: clock[0], calls_per_hour=10) as fake:
        page = fake.add_page("ACME")
        client = FacebookClient(
            world.account(api_base_url=fake.base_url),
            {"page_access_token": page["access_token"], "page_id": page["id"]},
        )
        # When one poll makes two calls (feed, conversations)
        result = client.fetch_new({}, clock[0])
    # Then 20% of the quota is used: 80 (percent) remains, and no reset is announced
    assert (result.rate_limit_remaining, result.rate_limit_reset_at) == (80, None)


def test_requests_carry_the_token_in_a_header_with_timeouts_and_user_agent(world):
    # Given a post with a comment and a recording session
    post = world.post(60)
    world.comment(post, 30)
    session = RecordingSession()
    world.facebook(session=session, timeout=7.0).fetch_new({}, T0)
    # Then every request has (connect, read) timeouts, our User-Agent, a Bearer header, and
    # never the token in its URL or query
    assert len(session.calls) == 3  # feed, comments, conversations
    for c in session.calls:
        assert c["timeout"] == (5.0, 7.0)
        assert c["headers"]["User-Agent"] == USER_AGENT
        assert c["headers"]["Authorization"] == f"Bearer {world.token}"
        assert world.token not in c["url"] and "access_token" not in (c["params"] or {})


def test_a_503_is_retried_after_a_short_backoff(world):
    # Given the Graph API fails once with a transient 503
    world.fake.fail_next(503)
    client = world.facebook()
    # When polled, Then the GET is retried after one backoff and the poll succeeds
    assert client.fetch_new({}, T0).complete
    assert world.sleeps == [0.25]


def test_a_lasting_graph_error_is_a_channel_error_naming_it(world):
    # Given a Graph error that is neither throttling nor auth (unknown object)
    client = world.facebook()
    client.credentials["page_id"] = "424242"
    # When polled, Then a ChannelError carries Graph's code and message
    with pytest.raises(ChannelError, match="Graph error 100/33: Unsupported get request"):
        client.fetch_new({}, T0)


def test_thread_roots_come_from_the_comment_node(world):
    # Given a Facebook reply and an Instagram reply
    post = world.post(60)
    top = world.comment(post, 30)
    reply = world.comment(post, 20, parent_id=top, author=world.page)
    media = world.fake.publish_media(world.ig, "x", world.ago(60))["id"]
    ig_top = world.comment(media, 30, author=world.dana)
    ig_reply = world.comment(media, 20, parent_id=ig_top, author=world.ig)
    facebook, instagram = world.facebook(), world.instagram()
    # When their roots are asked, Then each is the top-level comment, with one call each
    assert facebook.thread_root(reply) == top and facebook.thread_root(top) == top
    assert instagram.thread_root(ig_reply) == ig_top
    assert world.fake.requests[f"/v21.0/{reply}"] == 1
    assert facebook.thread_root("m_abc") == "m_abc"  # a Messenger message: no call


def test_api_calls_per_poll_idle_and_busy(world):
    # Given four posts (media) with 20 comments each and four conversations of five messages
    posts = [world.post(600 - n) for n in range(4)]
    media = [world.fake.publish_media(world.ig, "m", world.ago(600 - n))["id"] for n in range(4)]
    customers = [world.fake.add_user(f"C{n}")["id"] for n in range(4)]
    ig_customers = [world.fake.add_user(f"I{n}", username=f"i{n}")["id"] for n in range(4)]
    for n in range(10):
        for target, brand, customer in [
            *((p, world.page, world.carol) for p in posts),
            *((m, world.ig, world.dana) for m in media),
        ]:
            top = world.comment(target, 300 - n * 10, f"q{n}", author=customer)
            world.comment(target, 295 - n * 10, f"a{n}", parent_id=top, author=brand)
    for n in range(5):
        for customer in customers + ig_customers:
            world.fake.message(world.page, customer, f"m{n}", world.ago(200 - n * 10))
    figures = {}
    for name, client in (("facebook", world.facebook()), ("instagram", world.instagram())):
        # When a busy poll (100 new messages) and an idle one (nothing new) run
        world.fake.requests.clear()
        busy = client.fetch_new({}, T0)
        busy_calls = sum(world.fake.requests.values())
        world.fake.requests.clear()
        idle = client.fetch_new(busy.cursors, T0)
        figures[name] = (len(busy.messages), busy_calls, len(idle.messages))
        figures[name] += (sum(world.fake.requests.values()),)
        print(
            f"\n{name}: busy poll, {len(busy.messages)} new messages: {busy_calls} API calls;"
            f" idle poll: {figures[name][3]} API calls"
        )
    # Then each channel takes 1 listing + 1 call per commented post + 1 conversations call
    assert figures == {"facebook": (100, 6, 0, 6), "instagram": (100, 6, 0, 6)}


def test_a_scripted_week_polls_into_the_expected_threads(world):
    # Given a scripted week on a fresh fake for each channel
    week = datetime(2026, 11, 16, tzinfo=UTC)
    for channel in ("facebook", "instagram"):
        with FakeGraph(lambda: week + timedelta(days=7)) as fake:
            entry = script_conversations(fake, week, threads=12, seed=3, channel=channel)
            account = world.account(channel, api_base_url=fake.base_url, automated_ids=[], **entry)
            client = build_channel_client(account, entry["credentials"])
            # When polled once at the end of the week
            result = client.fetch_new({}, week + timedelta(days=7))
        # Then every scripted thread is there: 12 threads, 2 of them private conversations
        threads = {m.thread_id for m in result.messages}
        private = {m.thread_id for m in result.messages if m.private}
        assert (len(threads), len(private)) == (12, 2), channel
        assert {m.direction for m in result.messages} == {Direction.INBOUND, Direction.OUTBOUND}
        assert entry["own_ids"] == [next(iter(client.own_ids()))]


def test_factory_builds_both_clients_and_credentials_are_checked(world):
    # Given Facebook and Instagram accounts
    fb = world.account()
    ig = world.account("instagram")
    # When clients are built, Then each gets its class, and own ids come from the credentials
    client = build_channel_client(fb, {"page_access_token": "t", "page_id": "1"})
    assert isinstance(client, FacebookClient) and client.own_ids() == frozenset({"1"})
    assert isinstance(
        build_channel_client(ig, {"access_token": "t", "ig_user_id": "17"}), InstagramClient
    )


def test_paging_next_urls_are_followed_only_on_the_api_origin(world):
    # Given a recording session and enough comments for two pages
    post = world.post(60)
    for n in range(3):
        world.comment(post, 30 - n)
    session = RecordingSession()
    world.facebook(session=session, page_limit=2).fetch_new({}, T0)
    # Then the second comments page is the absolute `paging.next` URL, on the fake's origin
    pages = [c["url"] for c in session.calls if "/comments" in c["url"]]
    assert len(pages) == 2 and "after" in parse_qs(urlsplit(pages[1]).query)
    assert pages[1].startswith(world.fake.base_url)
