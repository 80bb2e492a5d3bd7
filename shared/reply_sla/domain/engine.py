"""The policy engine of one configuration: calendars, triage, the policy book, alert hours."""

from __future__ import annotations

from dataclasses import dataclass

from reply_sla.config import MonitorConfig
from reply_sla.domain.alerts import AlertHours
from reply_sla.domain.business_time import BusinessCalendar
from reply_sla.domain.policies import PolicyBook as ConfiguredBook
from reply_sla.domain.policy import FixedWindowPolicy, PolicyBook, ReplyToEveryInbound, Triage
from reply_sla.domain.triage import RuleTriage


@dataclass(frozen=True)
class PolicyEngine:
    calendars: dict[str, BusinessCalendar]
    book: PolicyBook
    triage: Triage
    alert_hours: AlertHours | None

    @classmethod
    def from_config(cls, config: MonitorConfig) -> PolicyEngine:
        """Build once per configuration; a config without policies keeps the fixed window
        (first response 1 h, next 2 h, calendar time)."""
        calendars = {
            name: BusinessCalendar.from_config(calendar)
            for name, calendar in config.calendars.items()
        }
        book: PolicyBook = (
            ConfiguredBook(
                config.policies,
                calendars,
                {name: brand.calendar for name, brand in config.brands.items()},
            )
            if config.policies
            else FixedWindowPolicy()
        )
        triage: Triage = (
            RuleTriage(config.triage, defaults=config.triage_defaults)
            if config.triage or config.triage_defaults
            else ReplyToEveryInbound()
        )
        quiet = config.notifications.quiet_hours
        alert_hours = (
            AlertHours(calendars[quiet.calendar], frozenset(config.notifications.bypass))
            if quiet is not None
            else None
        )
        return cls(calendars=calendars, book=book, triage=triage, alert_hours=alert_hours)
