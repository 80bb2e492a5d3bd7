"""Triage of SLA_SEMANTICS §3: built-in English and Spanish rules, configured rules, the record."""

from __future__ import annotations

import pytest

from reply_sla.domain.models import Priority
from reply_sla.domain.triage import RuleTriage, TriageRule, TriageThen, TriageWhen, step_up
from tests.factories import inbound

DEFAULTS = RuleTriage([])


@pytest.mark.parametrize(
    "text", ["thanks!", "Thank you", "gracias", "Muchas gracias!!", "ok", "👍", "🙏🙏"]
)
def test_acknowledgement_after_the_brand_spoke_needs_no_reply(text):
    # Given the brand spoke last, When the customer only says thanks
    decision = DEFAULTS.decide(inbound(0, text=text), brand_spoke_last=True)
    # Then it needs no reply and the rule that said so is recorded
    assert decision.needs_reply is False
    assert decision.rule in {"acknowledgement", "emoji-only"}


def test_mentions_do_not_hide_an_acknowledgement():
    # Given a reply that starts with the brand's handle, as Mastodon and X replies do
    decision = DEFAULTS.decide(inbound(0, text="@acme@social.example thanks!"), True)
    # Then it is still only thanks
    assert decision.needs_reply is False and decision.rule == "acknowledgement"


def test_thanks_as_a_first_message_still_needs_a_reply():
    # Given a new thread (the brand never spoke), When the customer writes "thanks"
    decision = DEFAULTS.decide(inbound(0, text="thanks"), brand_spoke_last=False)
    # Then it is treated as any message: it needs a reply
    assert decision.needs_reply is True and decision.priority is Priority.NORMAL


def test_thanks_with_a_question_needs_a_reply():
    decision = DEFAULTS.decide(inbound(0, text="thanks, but where is my parcel?"), True)
    assert decision.needs_reply is True


@pytest.mark.parametrize(
    "text",
    [
        "I want a REFUND now",
        "the app is broken",
        "this is a scam",
        "quiero un reembolso",
        "esto es una estafa",
        "la web no funciona",
        "Quiero poner una QUEJA",
        "voy a cancelar mi pedido",
        "Reembolsó? nada",  # accents do not hide the word
    ],
)
def test_complaint_vocabulary_is_high_priority(text):
    decision = DEFAULTS.decide(inbound(0, text=text), brand_spoke_last=False)
    assert decision.priority is Priority.HIGH
    assert "complaint" in decision.rule


def test_keywords_match_whole_words_only():
    # "cancellation" contains "cancel" but "uncancelled"-like substrings must not fire
    decision = DEFAULTS.decide(inbound(0, text="what a brokenhearted song"), False)
    assert decision.priority is Priority.NORMAL


def test_private_message_is_at_least_normal():
    # Given a rule that makes a channel's public mentions low priority
    low = TriageRule(
        name="low-public", when=TriageWhen(private=False), then=TriageThen(priority=Priority.LOW)
    )
    triage = RuleTriage([low])
    # When a private and a public message arrive
    private = triage.decide(inbound(0, text="hi", private=True), False)
    public = triage.decide(inbound(0, text="hi"), False)
    # Then the public one is low, the private one stays at least normal, and both say why
    assert public.priority is Priority.LOW and public.rule == "low-public"
    assert private.priority is Priority.NORMAL and private.rule == "private-message"


def test_later_rules_override_earlier_ones():
    # Every matching rule applies in order: a configured rule runs after the built-ins.
    low = TriageRule(name="all-low", then=TriageThen(priority=Priority.LOW))
    decision = RuleTriage([low]).decide(inbound(0, text="hi", private=True), False)
    assert decision.priority is Priority.LOW
    assert decision.rule == "private-message,all-low"


def test_vip_author_is_one_step_up():
    vip = TriageRule(
        name="vip", when=TriageWhen(authors=["@cust-1@social.example"]), then=TriageThen(step_up=1)
    )
    triage = RuleTriage([vip])
    assert triage.decide(inbound(0, text="hello"), False).priority is Priority.HIGH
    assert triage.decide(inbound(0, text="refund please"), False).priority is Priority.URGENT


def test_follower_threshold():
    famous = TriageRule(
        name="famous", when=TriageWhen(min_followers=10_000), then=TriageThen(step_up=1)
    )
    triage = RuleTriage([famous])
    message = inbound(0, text="hello").model_copy(update={"author_followers": 25_000})
    assert triage.decide(message, False).priority is Priority.HIGH
    assert triage.decide(inbound(0, text="hello"), False).priority is Priority.NORMAL


def test_configured_rule_replaces_the_built_in_of_the_same_name():
    # Given a config that redefines "complaint" as urgent
    urgent = TriageRule(
        name="complaint",
        when=TriageWhen(keywords=["refund"]),
        then=TriageThen(priority=Priority.URGENT),
    )
    triage = RuleTriage([urgent])
    # Then only the configured one applies
    assert triage.decide(inbound(0, text="refund"), False).priority is Priority.URGENT
    assert triage.decide(inbound(0, text="estafa"), False).priority is Priority.NORMAL


def test_defaults_can_be_turned_off():
    triage = RuleTriage([], defaults=False)
    decision = triage.decide(inbound(0, text="thanks"), True)
    assert decision.needs_reply is True and decision.rule == "default"


def test_invalid_regex_is_refused_with_the_pattern():
    with pytest.raises(ValueError, match="invalid regular expression"):
        TriageWhen(text_matches=["(unclosed"])


def test_step_up_caps_at_urgent():
    assert step_up(Priority.URGENT) is Priority.URGENT
    assert step_up(Priority.LOW, 2) is Priority.HIGH
