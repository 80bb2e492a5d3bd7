"""Ordered response policies (SLA_SEMANTICS §4-§6): the first match wins.

A policy gives first and next response targets in business or calendar time, an optional
`max_wait` cap in calendar time, and a ladder of levels at a percentage of the target or an offset
from the deadline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reply_sla.domain.business_time import BusinessCalendar, BusinessHoursPolicy
from reply_sla.domain.durations import duration_seconds
from reply_sla.domain.models import Message, Priority, TurnKind
from reply_sla.domain.policy import FixedWindowPolicy, LadderLevel, ResponsePolicy, SlaWindow

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_OFFSET = re.compile(r"^([+-])(\d+)([smhd])$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")
LADDER_HELP = "expected a percentage like 75% or an offset like +2h"


def parse_ladder_at(value: object) -> LadderLevel:
    """'75%' is a fraction of the target; '+2h' (or '-30m') an offset from the deadline."""
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    if match := _PERCENT.match(text):
        return LadderLevel(level="", fraction=float(match.group(1)) / 100)
    if match := _OFFSET.match(text):
        sign = 1 if match.group(1) == "+" else -1
        return LadderLevel(
            level="",
            fraction=1.0,
            offset_seconds=sign * int(match.group(2)) * _UNITS[match.group(3)],
        )
    raise ValueError(f"{LADDER_HELP}, got {value!r}")


class LadderStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    level: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_-]*$")
    at: str

    @field_validator("at", mode="before")
    @classmethod
    def _valid_at(cls, value: object) -> str:
        parse_ladder_at(value)
        return str(value)

    def to_level(self) -> LadderLevel:
        return parse_ladder_at(self.at).model_copy(update={"level": self.level})


class PolicyMatch(BaseModel):
    """Which turns a policy covers; an empty list or a missing key matches everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    brands: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    accounts: list[str] = Field(default_factory=list)
    private: bool | None = None
    priorities: list[Priority] = Field(default_factory=list)

    def covers(self, message: Message, priority: Priority) -> bool:
        return (
            (not self.brands or message.brand in self.brands)
            and (not self.channels or message.channel in self.channels)
            and (not self.accounts or message.account_id in self.accounts)
            and (self.private is None or message.private == self.private)
            and (not self.priorities or priority in self.priorities)
        )


DEFAULT_LADDER = [LadderStep(level="breach", at="100%")]
# The longest a person may snooze a turn at once when the policy says nothing (`max_snooze`).
DEFAULT_MAX_SNOOZE_SECONDS = 72 * 3600


class PolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    match: PolicyMatch = Field(default_factory=PolicyMatch)
    first_response: int
    next_response: int
    clock: Literal["business", "calendar"] = "business"
    calendar: str | None = None
    max_wait: int | None = None
    max_snooze: int = DEFAULT_MAX_SNOOZE_SECONDS
    ladder: list[LadderStep] = Field(default_factory=lambda: list(DEFAULT_LADDER))

    @field_validator("first_response", "next_response", "max_wait", "max_snooze", mode="before")
    @classmethod
    def _duration(cls, value: object) -> int | None:
        return None if value is None else duration_seconds(value)

    @field_validator("ladder")
    @classmethod
    def _distinct_levels(cls, steps: list[LadderStep]) -> list[LadderStep]:
        names = [s.level for s in steps]
        if len(names) != len(set(names)):
            raise ValueError(f"each level may appear once in a ladder, got {names}")
        if not steps:
            raise ValueError("a ladder needs at least one level (e.g. breach at 100%)")
        return steps


class ConfiguredPolicy:
    """One policy of the config, as the clock uses it (a ResponsePolicy)."""

    def __init__(self, config: PolicyConfig, calendar: BusinessCalendar | None) -> None:
        self.name = config.name
        self.config = config
        levels = [step.to_level() for step in config.ladder]
        self._inner: ResponsePolicy = (
            BusinessHoursPolicy(
                config.name, calendar, config.first_response, config.next_response, levels
            )
            if config.clock == "business" and calendar is not None
            else FixedWindowPolicy(config.name, config.first_response, config.next_response, levels)
        )
        self._levels = levels

    def window(self, kind: TurnKind, opened_at: datetime, priority: Priority) -> SlaWindow:
        """The inner clock's window; `max_wait` caps the deadline and each level in calendar
        time (a level is due at the earlier of its business instant and its share of max_wait)."""
        window = self._inner.window(kind, opened_at, priority)
        cap = self.config.max_wait
        if cap is None or window.due_at <= opened_at + timedelta(seconds=cap):
            return window
        capped_levels = tuple(
            (
                name,
                min(
                    at,
                    opened_at
                    + timedelta(seconds=max(0.0, cap * lvl.fraction + lvl.offset_seconds)),
                ),
            )
            for (name, at), lvl in zip(window.levels, self._levels, strict=True)
        )
        return window.model_copy(
            update={"due_at": opened_at + timedelta(seconds=cap), "levels": capped_levels}
        )

    def elapsed_seconds(self, start: datetime, end: datetime) -> float:
        return self._inner.elapsed_seconds(start, end)

    @property
    def clock(self) -> ResponsePolicy:
        """The policy's own clock (business or calendar time) without the `max_wait` cap."""
        return self._inner


class PolicyBook:
    """The ordered policies of a configuration: the first whose `match` covers a turn wins."""

    def __init__(
        self,
        policies: Sequence[PolicyConfig],
        calendars: Mapping[str, BusinessCalendar],
        brand_calendars: Mapping[str, str | None],
        fallback: ResponsePolicy | None = None,
    ) -> None:
        self._brand_calendars = dict(brand_calendars)
        self._calendars = dict(calendars)
        self._configs = list(policies)
        self._fallback = fallback or FixedWindowPolicy()
        self._built: dict[tuple[str, str | None], ConfiguredPolicy] = {}

    def _calendar_name(self, config: PolicyConfig, brand: str) -> str | None:
        return config.calendar or self._brand_calendars.get(brand)

    def _policy(self, config: PolicyConfig, brand: str) -> ConfiguredPolicy:
        calendar_name = self._calendar_name(config, brand)
        key = (config.name, calendar_name)
        if key not in self._built:
            calendar = self._calendars.get(calendar_name) if calendar_name else None
            self._built[key] = ConfiguredPolicy(config, calendar)
        return self._built[key]

    def policy_for(self, message: Message, priority: Priority) -> ResponsePolicy:
        for config in self._configs:
            if config.match.covers(message, priority):
                return self._policy(config, message.brand)
        return self._fallback

    def named(self, name: str, brand: str) -> ResponsePolicy:
        """The policy a stored turn was measured with (the fallback if it was removed since)."""
        for config in self._configs:
            if config.name == name:
                return self._policy(config, brand)
        return self._fallback
