"""The SLA clock of SLA_SEMANTICS §2 and §4 as the skeleton applies it (fixed calendar window)."""

from __future__ import annotations

from datetime import timedelta

from reply_sla.domain.models import Direction, EventType, ThreadState, TurnKind, TurnStatus
from reply_sla.domain.policy import FixedWindowPolicy, ReplyToEveryInbound
from reply_sla.domain.turns import advance_thread
from tests.factories import at, inbound, message, outbound

POLICY = FixedWindowPolicy()  # first response 1 h, next response 2 h
TRIAGE = ReplyToEveryInbound()


def new_thread() -> ThreadState:
    return ThreadState(brand="acme", account_id="acme-mastodon", channel="mastodon", thread_id="t1")


def run(*messages, state=None, open_turn=None):
    return advance_thread(state or new_thread(), open_turn, list(messages), POLICY, TRIAGE)


def test_turn_opens_at_platform_created_at_of_first_inbound():
    # §4: a turn opens at the platform's created_at, not when we polled it.
    # Given a new thread, When a customer writes at 09:10
    result = run(inbound(10))
    # Then one first-response turn opens at 09:10, due one hour later
    [turn] = result.new_turns
    assert turn.opened_at == at(10)
    assert turn.kind is TurnKind.FIRST
    assert turn.due_at == at(70)
    assert turn.next_level == "breach" and turn.next_level_at == at(70)
    assert [e.type for e in result.events] == [EventType.TURN_OPENED]


def test_follow_up_does_not_restart_the_turn():
    # §4: more inbound messages while a turn is open keep its start.
    # Given an open turn, When the customer writes twice more
    result = run(inbound(0), inbound(20), inbound(40))
    # Then there is still one turn, opened at the first message
    [turn] = result.new_turns
    assert turn.opened_at == at(0)
    assert turn.inbound_count == 3
    assert result.state.turns == 1


def test_brand_reply_closes_the_turn_at_the_reply_created_at():
    # §4: the reply's platform created_at is the response time.
    # Given a customer at 09:00, When the brand replies at 09:25
    result = run(inbound(0), outbound(25))
    # Then the turn is answered after 25 minutes and not breached
    [turn] = result.new_turns
    assert turn.status is TurnStatus.ANSWERED
    assert turn.replied_at == at(25)
    assert turn.response_seconds == 25 * 60
    assert not turn.breached
    assert turn.next_level is None
    assert result.state.open_turn is None
    assert [e.type for e in result.events] == [EventType.TURN_OPENED, EventType.REPLIED]


def test_late_reply_is_a_breach_and_exact_target_is_not():
    # §5: breached iff the wait is strictly greater than the target.
    # Given two threads, When one reply comes at exactly 60 min and one at 61 min
    exact = run(inbound(0), outbound(60)).new_turns[0]
    late = run(inbound(0), outbound(61)).new_turns[0]
    # Then only the second breached
    assert not exact.breached
    assert late.breached


def test_next_inbound_after_a_reply_opens_a_next_response_turn():
    # §4: after a reply, the next inbound message opens the next turn (next_response target).
    # Given an answered turn, When the customer follows up after the reply
    result = run(inbound(0), outbound(10), inbound(30))
    # Then a second turn opens at the follow-up with the 2 h next-response target
    first, second = sorted(result.new_turns, key=lambda t: t.seq)
    assert first.status is TurnStatus.ANSWERED
    assert second.seq == 2 and second.kind is TurnKind.NEXT
    assert second.opened_at == at(30)
    assert second.target_seconds == 7200
    assert second.due_at == at(30) + timedelta(hours=2)
    assert result.state.open_turn == 2


def test_automated_reply_does_not_close_the_turn():
    # §2: an auto-responder is outbound but does not close a turn.
    # Given an open turn, When the brand's bot answers
    result = run(inbound(0), message(1, direction=Direction.AUTOMATED))
    # Then the turn is still open
    [turn] = result.new_turns
    assert turn.status is TurnStatus.OPEN
    assert result.state.open_turn == 1


def test_internal_message_is_ignored():
    # §2: internal notes never close a turn.
    result = run(inbound(0), message(5, direction=Direction.INTERNAL, author_id="brand"))
    assert result.new_turns[0].status is TurnStatus.OPEN


def test_brand_message_before_the_question_does_not_close_it():
    # §4: a reply closes the turn only if it comes after the turn opened (late-polled old post).
    # Given an open turn stored from an earlier poll
    opened = run(inbound(30))
    state, turn = opened.state, opened.new_turns[0]
    # When a brand post written before the question arrives in a later poll
    later = run(outbound(10), state=state, open_turn=turn)
    # Then the turn stays open and the customer still spoke last
    assert later.changed_turns == []
    assert later.state.open_turn == 1
    assert later.state.last_speaker is Direction.INBOUND


def test_thread_started_by_the_brand_opens_a_first_turn_on_the_customer_reply():
    # §1: a turn opens at the first inbound message after the brand last spoke.
    result = run(outbound(0), inbound(5))
    [turn] = result.new_turns
    assert turn.kind is TurnKind.FIRST and turn.opened_at == at(5)


def test_messages_are_applied_in_platform_time_order():
    # Given a poll that returns the reply before the question, When applied
    result = run(outbound(20), inbound(0))
    # Then the reply still closes the turn
    assert result.new_turns[0].status is TurnStatus.ANSWERED


def test_reply_across_polls_updates_the_stored_turn():
    # Given a turn opened in one poll, When the reply arrives in the next poll
    first = run(inbound(0))
    second = run(outbound(90), state=first.state, open_turn=first.new_turns[0])
    # Then the stored turn is changed (not a new one) and is a breach after 90 min
    assert second.new_turns == []
    [turn] = second.changed_turns
    assert turn.status is TurnStatus.ANSWERED and turn.breached


def test_text_is_capped_on_messages():
    long = message(0, text="x" * 10_000)
    assert len(long.text) == 2000


def dm(minutes: float, **kw):
    return inbound(minutes, private=True, **kw).model_copy(update={"channel": "facebook"})


SLOW = FixedWindowPolicy(first_response_seconds=48 * 3600, next_response_seconds=48 * 3600)


def test_meta_dm_turn_is_due_before_the_messaging_window_closes():
    # §4: a Messenger DM can be answered in-channel only within 24 h of the customer's last
    # message. Given a 48 h policy, When a customer writes a DM
    result = advance_thread(new_thread(), None, [dm(0)], SLOW, TRIAGE)
    [turn] = result.new_turns
    # Then the turn is due 23 h later (24 h minus the 1 h margin), not 48 h
    assert turn.due_at == at(23 * 60)
    assert turn.next_level_at == at(23 * 60)


def test_new_dm_moves_the_messaging_window_but_never_past_the_policy():
    first = advance_thread(new_thread(), None, [dm(0)], SLOW, TRIAGE)
    # When the customer writes again 10 h later
    later = advance_thread(first.state, first.new_turns[0], [dm(600)], SLOW, TRIAGE)
    [turn] = later.changed_turns
    # Then the window closes 24 h after that message (minus the margin)
    assert turn.due_at == at(600 + 23 * 60)
    # And a public comment on the same channel is not capped
    public = inbound(0).model_copy(update={"channel": "facebook"})
    assert advance_thread(new_thread(), None, [public], SLOW, TRIAGE).new_turns[0].due_at == at(
        48 * 60
    )
