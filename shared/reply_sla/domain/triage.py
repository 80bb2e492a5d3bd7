"""Triage (SLA_SEMANTICS §3): which inbound messages need a reply, and how urgently.

Ordered rules; every matching rule applies in order, so a later rule can override an earlier one.
Every decision records the names of the rules that matched. The built-in rules (English and
Spanish) come first; a configured rule with the same name replaces a built-in one, and
`triage_defaults: false` in the config drops them all.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reply_sla.domain.models import Message, Priority
from reply_sla.domain.policy import TriageDecision

PRIORITY_ORDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)


def step_up(priority: Priority, steps: int = 1) -> Priority:
    """One (or more) priority steps up, capped at urgent."""
    index = min(PRIORITY_ORDER.index(priority) + steps, len(PRIORITY_ORDER) - 1)
    return PRIORITY_ORDER[index]


def _fold(text: str) -> str:
    """Lower case without accents, so "Queja" matches "queja" and "reembolsó" "reembolso"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_MENTION = re.compile(r"(?<!\w)@[\w.-]+(?:@[\w.-]+)?")


def _without_mentions(text: str) -> str:
    """Replies on Mastodon, X or Bluesky start with @handles; "@acme thanks!" is just thanks."""
    return " ".join(_MENTION.sub(" ", text).split())


def _emoji_only(text: str) -> bool:
    stripped = [ch for ch in text if not ch.isspace()]
    return bool(stripped) and all(
        unicodedata.category(ch) in {"So", "Sk", "Mn", "Cf"} or ch in "!.?" for ch in stripped
    )


class TriageWhen(BaseModel):
    """Conditions of a rule; all given ones must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text_matches: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    emoji_only: bool | None = None
    brand_spoke_last: bool | None = None
    private: bool | None = None
    channels: list[str] = Field(default_factory=list)
    authors: list[str] = Field(default_factory=list)
    min_followers: int | None = Field(default=None, ge=0)

    @field_validator("text_matches")
    @classmethod
    def _valid_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns

    @cached_property
    def _patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(p, re.IGNORECASE) for p in self.text_matches]

    @cached_property
    def _keyword_pattern(self) -> re.Pattern[str] | None:
        if not self.keywords:
            return None
        words = "|".join(re.escape(_fold(k)) for k in self.keywords)
        return re.compile(rf"(?<!\w)(?:{words})(?!\w)")

    def holds(self, message: Message, brand_spoke_last: bool) -> bool:
        text = _without_mentions(message.text)
        checks = [
            not self._patterns or any(p.search(text) for p in self._patterns),
            self._keyword_pattern is None or bool(self._keyword_pattern.search(_fold(text))),
            self.emoji_only is None or _emoji_only(text) == self.emoji_only,
            self.brand_spoke_last is None or brand_spoke_last == self.brand_spoke_last,
            self.private is None or message.private == self.private,
            not self.channels or message.channel in self.channels,
            not self.authors
            or message.author_id in self.authors
            or message.author_handle.lstrip("@") in {a.lstrip("@") for a in self.authors},
            self.min_followers is None or (message.author_followers or 0) >= self.min_followers,
        ]
        return all(checks)


class TriageThen(BaseModel):
    """What a matching rule decides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    needs_reply: bool | None = None
    priority: Priority | None = None
    at_least: Priority | None = None
    step_up: int | None = Field(default=None, ge=1, le=3)


class TriageRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    when: TriageWhen = Field(default_factory=TriageWhen)
    then: TriageThen


_THANKS = (
    r"^\W*(thanks?( you)?( so much| a lot)?|thx|ty|cheers|great|perfect|ok(ay)?|got it|"
    r"gracias( mil)?|muchas gracias|vale|perfecto|genial|de acuerdo|ok gracias)\W*$"
)

BUILT_IN_RULES: tuple[TriageRule, ...] = (
    TriageRule(
        name="acknowledgement",
        when=TriageWhen(text_matches=[_THANKS], brand_spoke_last=True),
        then=TriageThen(needs_reply=False),
    ),
    TriageRule(
        name="emoji-only",
        when=TriageWhen(emoji_only=True, brand_spoke_last=True),
        then=TriageThen(needs_reply=False),
    ),
    TriageRule(
        name="complaint",
        when=TriageWhen(
            keywords=[
                "refund",
                "broken",
                "scam",
                "cancel",
                "worst",
                "lawyer",
                "fraud",
                "complaint",
                "reembolso",
                "estafa",
                "queja",
                "no funciona",
                "cancelar",
                "denuncia",
                "fraude",
                "abogado",
            ]
        ),
        then=TriageThen(priority=Priority.HIGH, needs_reply=True),
    ),
    TriageRule(
        name="private-message",
        when=TriageWhen(private=True),
        then=TriageThen(at_least=Priority.NORMAL),
    ),
)


class RuleTriage:
    """The ordered triage rules of one configuration."""

    def __init__(self, rules: Sequence[TriageRule], *, defaults: bool = True) -> None:
        configured = {rule.name for rule in rules}
        built_in = [r for r in BUILT_IN_RULES if r.name not in configured] if defaults else []
        self.rules: tuple[TriageRule, ...] = (*built_in, *rules)

    def decide(self, message: Message, brand_spoke_last: bool) -> TriageDecision:
        """Apply every matching rule in order; record which ones fired."""
        needs_reply, priority, fired = True, Priority.NORMAL, []
        for rule in self.rules:
            if not rule.when.holds(message, brand_spoke_last):
                continue
            fired.append(rule.name)
            then = rule.then
            if then.needs_reply is not None:
                needs_reply = then.needs_reply
            if then.priority is not None:
                priority = then.priority
            if then.at_least is not None and PRIORITY_ORDER.index(priority) < PRIORITY_ORDER.index(
                then.at_least
            ):
                priority = then.at_least
            if then.step_up:
                priority = step_up(priority, then.step_up)
        return TriageDecision(
            needs_reply=needs_reply, priority=priority, rule=",".join(fired) or "default"
        )
