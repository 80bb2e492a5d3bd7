"""The Discourse adapter against the fake Discourse forum on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reply_sla.adapters.channels import build_channel_client
from reply_sla.adapters.channels.discourse import FEED, DiscourseClient
from reply_sla.adapters.channels.http import USER_AGENT
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction, Message
from reply_sla.errors import ChannelAuthError, ChannelDataError, ChannelError, ChannelRateLimited
from reply_sla.local.fake_discourse import (
    SMALL_ACTION,
    WHISPER,
    FakeDiscourse,
    rate_limit_body,
    script_conversations,
)
from tests.fakes import RecordingSession

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
LATEST = "/latest.json"


class World:
    """A running forum with the brand's staff, two customers and a movable clock."""

    def __init__(self, fake: FakeDiscourse, clock: list[datetime]) -> None:
        self.fake, self.clock = fake, clock
        fake.add_user("acme_support", "ACME Support", moderator=True, groups=["support"])
        fake.add_user("marta", "Marta", groups=["support"])
        fake.add_user("acme_bot", "ACME Bot")
        fake.add_user("carol", "Carol")
        fake.add_user("dan", "Dan")
        self.key = fake.issue_api_key()

    def account(self, **overrides: Any) -> AccountConfig:
        fields: dict[str, Any] = {
            "id": "acme-forum",
            "brand": "acme",
            "channel": "discourse",
            "api_base_url": self.fake.base_url,
            "credentials": self.credentials(),
            "staff_groups": ["support"],
            "automated_ids": ["acme_bot"],
        }
        return AccountConfig(**{**fields, **overrides})

    def credentials(self, key: str | None = None) -> dict[str, str]:
        return {"api_key": key or self.key, "api_username": "acme_support"}

    def client(self, key: str | None = None, **options: Any) -> DiscourseClient:
        self.sleeps: list[float] = []
        options.setdefault("sleep", self.sleeps.append)
        account = self.account(**options.pop("account", {}))
        return DiscourseClient(account, self.credentials(key), **options)

    def ago(self, minutes: float) -> datetime:
        return self.clock[0] - timedelta(minutes=minutes)

    def topic(
        self, minutes_ago: float, text: str = "Where is my order?", user: str = "carol"
    ) -> int:
        topic_id: int = self.fake.create_topic(user, f"About: {text}", text, self.ago(minutes_ago))[
            "topic_id"
        ]
        return topic_id

    def reply(self, topic_id: int, minutes_ago: float, text: str, user: str, **kw: Any) -> str:
        return str(self.fake.reply(topic_id, user, text, self.ago(minutes_ago), **kw)["id"])

    def requests(self) -> int:
        return sum(self.fake.requests.values())


@pytest.fixture
def world():
    clock = [T0]
    with FakeDiscourse(lambda: clock[0]) as fake:
        yield World(fake, clock)


def texts(messages: list[Message]) -> list[tuple[str, Direction]]:
    return [(m.text, m.direction) for m in messages]


def test_first_poll_backfills_the_window_oldest_first(world):
    # Given a topic 8 days old, a pinned one older still, and a thread of the last two hours
    world.topic(8 * 24 * 60, "ancient question")
    world.fake.create_topic(
        "acme_support", "Rules", "Be kind", world.ago(90 * 24 * 60), pinned_globally=True
    )
    thread = world.topic(120)
    world.reply(thread, 100, "Checking with the warehouse", "marta", post_type=WHISPER)
    world.reply(thread, 90, "Ticket #42 opened", "acme_bot", reply_to_post_number=1)
    answer = world.reply(thread, 60, "It ships today", "marta", reply_to_post_number=1)
    world.reply(thread, 50, "Thanks!", "carol", reply_to_post_number=4)
    world.reply(thread, 45, "", "acme_support", post_type=SMALL_ACTION)
    # When the account is polled for the first time (7-day backfill)
    result = world.client().fetch_new({}, T0)
    # Then only the window's posts come, oldest first, with directions, thread and parents
    assert texts(result.messages) == [
        ("Where is my order?", Direction.INBOUND),
        ("Checking with the warehouse", Direction.INTERNAL),
        ("Ticket #42 opened", Direction.AUTOMATED),
        ("It ships today", Direction.OUTBOUND),
        ("Thanks!", Direction.INBOUND),
        ("", Direction.INTERNAL),
    ]
    assert {m.thread_id for m in result.messages} == {str(thread)}
    assert [m.parent_id for m in result.messages][2:5] == [
        result.messages[0].message_id,
        result.messages[0].message_id,
        answer,
    ]
    assert result.complete and not result.errors and not result.notes
    assert result.messages[3].url == f"{world.fake.base_url}/t/about-where-is-my-order/{thread}/4"


def test_idle_poll_is_one_request_and_keeps_the_cursor(world):
    # Given a polled forum where nothing happened since
    thread = world.topic(30)
    world.reply(thread, 20, "On it", "marta")
    client = world.client()
    first = client.fetch_new({}, T0)
    world.fake.requests.clear()
    # When polled again with its cursors
    world.clock[0] = T0 + timedelta(minutes=1)
    again = client.fetch_new(first.cursors, world.clock[0])
    # Then nothing comes, one /latest.json call was made, and the cursor stays put
    print(f"\nDiscourse API calls, idle poll: {world.requests()}")
    assert again.messages == [] and again.cursors == first.cursors
    assert world.fake.requests == {LATEST: 1} and again.pages == 1


def test_busy_poll_of_100_new_posts(world):
    # Given a polled forum, then 20 new topics of 5 posts each (100 new messages)
    client = world.client()
    cursors = client.fetch_new({}, T0).cursors
    world.clock[0] = T0 + timedelta(hours=1)
    for n in range(20):
        thread = world.topic(50 - n, f"question {n}")
        for k in range(4):
            world.reply(thread, 45 - n - k / 10, f"post {n}.{k}", ("marta", "carol")[k % 2])
    world.fake.requests.clear()
    # When polled
    result = client.fetch_new(cursors, world.clock[0])
    # Then all 100 come, oldest first, with one list page and one call per topic
    print(f"\nDiscourse API calls, busy poll (100 new posts in 20 topics): {world.requests()}")
    assert len(result.messages) == 100 and len({m.message_id for m in result.messages}) == 100
    assert [m.created_at for m in result.messages] == sorted(m.created_at for m in result.messages)
    assert world.requests() == 21 and result.complete


def test_busy_poll_of_100_new_posts_in_one_long_topic(world):
    # Given a polled forum, then one topic of 100 posts (more than the 20 /t/{id}.json carries)
    client = world.client()
    cursors = client.fetch_new({}, T0).cursors
    world.clock[0] = T0 + timedelta(hours=2)
    thread = world.topic(110, "long one")
    for n in range(99):
        world.reply(thread, 100 - n, f"post {n}", ("marta", "carol")[n % 2])
    world.fake.requests.clear()
    # When polled
    result = client.fetch_new(cursors, world.clock[0])
    # Then all 100 come, the rest by id in two /t/{id}/posts.json calls
    print(f"\nDiscourse API calls, busy poll (100 new posts in one topic): {world.requests()}")
    assert len(result.messages) == 100 and result.messages[-1].text == "post 98"
    assert world.fake.requests == {LATEST: 1, f"/t/{thread}.json": 1, f"/t/{thread}/posts.json": 2}


def test_a_new_post_in_a_long_topic_reads_only_its_tail(world):
    # Given a polled 60-post topic, and one new reply to it
    thread = world.topic(200, "long one")
    for n in range(59):
        world.reply(thread, 190 - n, f"post {n}", "carol")
    client = world.client()
    first = client.fetch_new({}, T0)
    cursors = first.cursors
    world.clock[0] = T0 + timedelta(hours=1)
    new = world.reply(thread, 1, "anyone?", "dan")
    world.fake.requests.clear()
    # When polled
    result = client.fetch_new(cursors, world.clock[0])
    # Then the new post comes, from one call for the tail of the stream; the others are the
    # ones within the overlap before the last bump, delivered before (the poll service skips them)
    assert result.messages[-1].message_id == new
    overlap = {m.message_id for m in result.messages[:-1]}
    assert overlap <= {m.message_id for m in first.messages if m.created_at >= world.ago(200)}
    assert all(m.created_at >= T0 - timedelta(minutes=132 + 5) for m in result.messages)
    assert world.fake.requests[f"/t/{thread}/posts.json"] == 1


def test_latest_pages_are_walked_until_topics_older_than_the_cursor(world):
    # Given seven topics bumped a minute apart, listed two per page
    threads = [world.topic(10 - n, f"question {n}") for n in range(7)]
    # When polled from a cursor between the 2nd and 3rd topic
    cursor = json.dumps({"since": "2026-11-16T08:51:30Z", "seen": {}})
    result = world.client(page_limit=2).fetch_new({FEED: cursor}, T0)
    # Then topics 3..7 come once each, in order, and paging stops at the first older topic
    assert [m.thread_id for m in result.messages] == [str(t) for t in threads[2:]]
    assert world.fake.requests[LATEST] == 3


def test_a_whisper_in_an_idle_topic_comes_with_its_next_bump(world):
    # Given a polled thread, then busier topics move the cursor past it
    thread = world.topic(60)
    client = world.client()
    cursors = client.fetch_new({}, T0).cursors
    whisper = world.reply(thread, -10, "Escalated internally", "marta", post_type=WHISPER)
    world.clock[0] = T0 + timedelta(minutes=30)
    world.topic(5, "other")
    cursors = client.fetch_new(cursors, world.clock[0]).cursors
    # When the thread is bumped by the brand's answer an hour later, and polled
    world.clock[0] = T0 + timedelta(hours=2)
    answer = world.reply(thread, 1, "Fixed", "marta")
    result = client.fetch_new(cursors, world.clock[0])
    # Then the whisper (which bumped nothing) comes with the answer
    assert [(m.message_id, m.direction) for m in result.messages] == [
        (whisper, Direction.INTERNAL),
        (answer, Direction.OUTBOUND),
    ]


def test_a_post_committed_late_within_the_overlap_is_not_missed(world):
    # Given a poll that saw a topic bumped at T0
    world.topic(0, "newest")
    slow = world.topic(60, "slow")
    client = world.client()
    cursors = client.fetch_new({}, T0).cursors
    # When a post dated two minutes before that bump shows up only after the poll
    late = world.reply(slow, 2, "committed late", "dan")
    world.clock[0] = T0 + timedelta(minutes=1)
    result = client.fetch_new(cursors, world.clock[0])
    # Then the next poll still finds it (the unchanged newest topic is not read again)
    assert [m.message_id for m in result.messages] == [late]
    assert f"/t/{slow}.json" in world.fake.requests


def test_request_budget_spreads_a_big_backlog_over_polls_without_skipping(world):
    # Given six topics and a budget of three requests a poll
    threads = [world.topic(60 - n, f"question {n}") for n in range(6)]
    client = world.client(max_requests=3)
    # When polled three times with the cursors each poll returns
    results, cursors = [], {}
    for _ in range(3):
        result = client.fetch_new(cursors, T0)
        results.append(result)
        cursors = result.cursors
    # Then two topics come each time, oldest first, until all are read, each exactly once
    assert [[m.thread_id for m in r.messages] for r in results] == [
        [str(t) for t in threads[0:2]],
        [str(t) for t in threads[2:4]],
        [str(t) for t in threads[4:6]],
    ]
    assert [r.complete for r in results] == [False, False, True]
    assert "2 of 6 changed topics read" in results[0].notes[0]


def test_a_topic_that_does_not_fit_what_is_left_goes_first_next_poll(world):
    # Given a small topic, then a 120-post one, and a budget of four requests a poll
    small = world.topic(300, "small")
    big = world.topic(200, "big")
    for n in range(119):
        world.reply(big, 190 - n, f"post {n}", "carol")
    client = world.client(max_requests=4, account={"staff_groups": []})
    # When polled twice
    first = client.fetch_new({}, T0)
    second = client.fetch_new(first.cursors, T0)
    # Then the first poll reads the small one and leaves the big one; the second reads it whole
    assert {m.thread_id for m in first.messages} == {str(small)} and not first.complete
    assert len(second.messages) == 120 and second.complete
    assert world.fake.requests[f"/t/{big}.json"] == 2


def test_a_topic_bigger_than_a_whole_poll_is_read_newest_first_with_a_note(world):
    # Given one topic of 200 new posts, and a budget of three requests a poll
    big = world.topic(300, "huge")
    for n in range(199):
        world.reply(big, 250 - n, f"post {n}", "carol")
    # When polled
    result = world.client(max_requests=3, account={"staff_groups": []}).fetch_new({}, T0)
    # Then its newest 100 posts come (two calls by id), and a note says older ones are skipped
    assert [m.text for m in result.messages] == [f"post {n}" for n in range(99, 199)]
    assert not result.complete
    assert result.notes == [
        f"topics: topic {big} has more new posts than 3 requests read; older ones skipped"
    ]


def test_max_pages_on_the_first_poll_skips_older_topics_with_a_note(world):
    # Given five recent topics, listed two per page, at most two pages
    threads = [world.topic(50 - n, f"question {n}") for n in range(5)]
    # When polled for the first time
    result = world.client(page_limit=2, max_pages=2).fetch_new({}, T0)
    # Then the four newest come, the note says older ones are skipped, and the poll is incomplete
    assert [m.thread_id for m in result.messages] == [str(t) for t in threads[1:]]
    assert not result.complete and "topics bumped before" in result.notes[0]


def test_a_new_client_with_stored_cursors_goes_on_where_the_last_one_stopped(world):
    # Given a first poll by one client, and a new post after it
    world.topic(30)
    cursors = world.client().fetch_new({}, T0).cursors
    world.clock[0] = T0 + timedelta(minutes=10)
    fresh = world.topic(2, "fresh")
    # When a new client (a cold start) polls with the stored cursors
    result = world.client().fetch_new(cursors, world.clock[0])
    # Then it gets exactly the new post
    assert [m.thread_id for m in result.messages] == [str(fresh)]


def test_staff_group_members_are_outbound_and_asked_once_per_client(world):
    # Given a brand answer by a member of the support group (not listed by name)
    thread = world.topic(30)
    world.reply(thread, 20, "On it", "marta")
    client = world.client()
    # When polled twice
    client.fetch_new({}, T0)
    result = client.fetch_new({}, T0)
    # Then her post is outbound, and the group's members were listed once
    assert texts(result.messages)[1] == ("On it", Direction.OUTBOUND)
    assert client.own_ids() == {"acme_support", "marta"}
    assert world.fake.requests["/groups/support/members.json"] == 1


def test_without_configured_staff_the_forums_moderators_speak_for_the_brand(world):
    # Given no staff_usernames, staff_groups or own_ids, and answers by a moderator and a member
    thread = world.topic(30)
    world.reply(thread, 20, "Moderator here", "acme_support")
    world.reply(thread, 10, "Just a member", "marta")
    # When polled
    result = world.client(account={"staff_groups": []}).fetch_new({}, T0)
    # Then the moderator's post is outbound, the member's inbound, and no group was asked
    assert [m.direction for m in result.messages[1:]] == [Direction.OUTBOUND, Direction.INBOUND]
    assert "/groups/support/members.json" not in world.fake.requests


def test_thread_root_is_the_topic_of_the_post(world):
    # Given a reply in a topic, When its thread root is asked, Then it is the topic id (one call)
    thread = world.topic(30)
    reply = world.reply(thread, 20, "On it", "marta")
    assert world.client().thread_root(reply) == str(thread)
    assert world.fake.requests[f"/posts/{reply}.json"] == 1


def test_rate_limit_carries_the_wait_from_retry_after_without_retrying(world):
    # Given the forum answers 429 with Retry-After 23
    world.fake.fail_next(429, headers={"Retry-After": "23"})
    # When polled, Then ChannelRateLimited says to come back in 23 s, after a single call
    with pytest.raises(ChannelRateLimited) as caught:
        world.client(account={"staff_groups": []}).fetch_new({}, T0)
    assert caught.value.retry_after_seconds == 23.0
    assert world.fake.requests[LATEST] == 1


def test_rate_limit_without_retry_after_uses_the_bodys_wait_seconds(world):
    # Given a 429 whose wait is only in extras.wait_seconds
    world.fake.fail_next(429, headers={}, body=rate_limit_body(41))
    # When polled, Then the wait comes from the body
    with pytest.raises(ChannelRateLimited) as caught:
        world.client(account={"staff_groups": []}).fetch_new({}, T0)
    assert caught.value.retry_after_seconds == 41.0


def test_the_forums_own_per_key_limit_is_a_rate_limit(world):
    # Given a forum that allows two requests a minute per key, and three topics to read
    world.fake.rate_limit_per_minute = 2
    for n in range(3):
        world.topic(30 - n, f"question {n}")
    # When polled, Then the third request is refused with the rest of the minute to wait
    with pytest.raises(ChannelRateLimited) as caught:
        world.client(account={"staff_groups": []}).fetch_new({}, T0)
    assert caught.value.retry_after_seconds == 60.0


def test_refused_key_is_an_auth_error_that_does_not_show_the_key(world):
    # Given a revoked key
    key = world.fake.issue_api_key()
    world.fake.revoke_api_key(key)
    # When polled, Then ChannelAuthError naming the 403, and the key is nowhere in it
    with pytest.raises(ChannelAuthError) as caught:
        world.client(key=key).fetch_new({}, T0)
    assert "HTTP 403" in str(caught.value) and key not in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "problem"),
    [("shape", "expected a `topic_list` with `topics`"), ("html", "not JSON")],
)
def test_malformed_page_is_a_data_error_and_moves_no_cursor(world, kind, problem):
    # Given a first poll, a new topic, and a malformed next page
    world.topic(30)
    client = world.client()
    cursors = dict(client.fetch_new({}, T0).cursors)
    world.clock[0] = T0 + timedelta(minutes=5)
    new = world.topic(1, "hello again")
    world.fake.malformed_next(kind=kind)
    # When polled, Then ChannelDataError names the endpoint and the problem
    with pytest.raises(ChannelDataError, match=problem) as caught:
        client.fetch_new(cursors, world.clock[0])
    assert f"GET {LATEST}" in str(caught.value)
    # And the same cursors still fetch the new topic on the next poll
    assert [m.thread_id for m in client.fetch_new(cursors, world.clock[0]).messages] == [str(new)]


def test_one_malformed_topic_in_the_list_is_skipped_and_named(world):
    # Given two new topics and a list page whose first topic lacks bumped_at
    first, second = world.topic(20, "one"), world.topic(10, "two")
    world.fake.malformed_next(kind="item", path=LATEST)
    # When polled
    result = world.client().fetch_new({}, T0)
    # Then the other topic is kept, and the error names the broken one
    assert [m.thread_id for m in result.messages] == [str(first)]
    assert result.errors == [f"discourse: GET {LATEST}: topic 0 (id {second}): missing bumped_at"]


def test_one_malformed_post_is_skipped_and_named(world):
    # Given a topic with two posts, whose view comes with the first post lacking created_at
    thread = world.topic(20)
    reply = world.reply(thread, 10, "more detail", "carol")
    world.fake.malformed_next(kind="item", path=f"/t/{thread}.json")
    # When polled
    result = world.client().fetch_new({}, T0)
    # Then the good post is kept, and the broken one named once (asked again by id, still broken)
    assert [m.message_id for m in result.messages] == [reply]
    assert len(result.errors) == 1 and "missing or mistyped created_at" in result.errors[0]


def test_every_request_has_timeouts_our_user_agent_and_the_api_headers(world):
    # Given a recording session, When the account is polled and a thread root asked
    thread = world.topic(30)
    session = RecordingSession()
    client = world.client(session=session, timeout=7.0)
    result = client.fetch_new({}, T0)
    client.thread_root(result.messages[0].message_id)
    # Then every request carried (connect, read) timeouts, the User-Agent and the API headers
    assert len(session.calls) == 4  # members, latest, topic, post
    assert all(c["timeout"] == (5.0, 7.0) for c in session.calls)
    assert all(c["headers"]["User-Agent"] == USER_AGENT for c in session.calls)
    assert all(c["headers"]["Api-Key"] == world.key for c in session.calls)
    assert all(c["headers"]["Api-Username"] == "acme_support" for c in session.calls)
    assert all(world.key not in c["url"] for c in session.calls)
    assert f"/t/{thread}.json" in session.calls[2]["url"]


def test_a_503_is_retried_after_a_short_backoff(world):
    # Given the forum fails once with 503
    world.topic(5)
    world.fake.fail_next(503)
    client = world.client(account={"staff_groups": []})
    # When polled, Then the GET is retried after one backoff and the poll succeeds
    result = client.fetch_new({}, T0)
    assert len(result.messages) == 1
    assert world.fake.requests[LATEST] == 2 and world.sleeps == [0.25]


def test_unreachable_forum_is_a_channel_error_after_retries(world):
    # Given a forum that has gone away
    client = world.client(account={"staff_groups": []})
    world.fake.stop()
    # When polled, Then a ChannelError says the GET failed to connect
    with pytest.raises(ChannelError, match="ConnectionError"):
        client.fetch_new({}, T0)
    assert len(world.sleeps) == 3


def test_factory_builds_the_discourse_client(world):
    # Given a Discourse account, When the registry builds its client, Then it is a DiscourseClient
    assert isinstance(build_channel_client(world.account(), world.credentials()), DiscourseClient)


def test_a_scripted_week_polled_every_half_hour_misses_nothing():
    # Given the demo's scripted week, polled every 30 simulated minutes from its start
    week = datetime(2026, 11, 16, tzinfo=UTC)
    clock = [week]
    with FakeDiscourse(lambda: clock[0]) as fake:
        entry = script_conversations(fake, week, threads=12, seed=1)
        account = AccountConfig(
            id="acme-forum",
            brand="acme",
            channel="discourse",
            api_base_url=fake.base_url,
            **entry,
        )
        client = DiscourseClient(account, entry["credentials"])
        seen: dict[str, Message] = {}
        cursors: dict[str, str | None] = {}
        while clock[0] <= week + timedelta(days=7, hours=12):
            result = client.fetch_new(cursors, clock[0])
            seen.update({m.message_id: m for m in result.messages})  # the poll service dedupes
            cursors = result.cursors
            clock[0] += timedelta(minutes=30)
        # When the whole week is read at once by a fresh client
        everything = DiscourseClient(account, entry["credentials"], backfill_seconds=9 * 86400)
        truth = everything.fetch_new({}, clock[0]).messages
    # Then the half-hourly polls saw every post, with the same directions
    assert {m.message_id: m.direction for m in truth} == {k: m.direction for k, m in seen.items()}
    directions = {m.direction for m in truth}
    assert directions == {Direction.INBOUND, Direction.OUTBOUND, Direction.INTERNAL}
