"""Build a brand's weekly summary, store it as JSON, CSV and HTML, and send the notice.

The week's figures come from its own records (the `week` index); the 8-week trends and the
customers at risk from the weekly aggregates earlier summaries stored, so no old week's messages
are read again. Each build stores its own aggregate for the weeks after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from reply_sla.config import MonitorConfig
from reply_sla.domain.aggregates import TREND_WEEKS, history_from, week_aggregate
from reply_sla.domain.notices import MANAGERS, TEAM, human_duration, local_time, one_line
from reply_sla.domain.report_files import (
    breaches_csv,
    summary_csv,
    summary_html,
    summary_json,
)
from reply_sla.domain.summary import RISK_WEEKS, WeekFacts, weekly_summary
from reply_sla.domain.weeks import week_bounds, weeks_before
from reply_sla.ports import Notifier, ReportStore, SignedLink, ThreadStore

LINK_SECONDS = 7 * 86400
FILES = {
    "summary.json": "application/json",
    "summary.csv": "text/csv; charset=utf-8",
    "breaches.csv": "text/csv; charset=utf-8",
    "summary.html": "text/html; charset=utf-8",
}
Elapsed = Callable[[datetime, datetime], float]


def week_prefix(brand: str, week: str) -> str:
    return f"summaries/{brand}/{week}/"


def latest_prefix(brand: str) -> str:
    return f"summaries/{brand}/latest/"


@dataclass
class SummaryReport:
    brand: str
    week: str
    prefix: str
    keys: list[str]
    link: str
    headline: dict[str, object]
    link_expires_at: datetime | None = None
    link_note: str = ""
    items_read: int = 0
    requests: int = 0
    file_bytes: dict[str, int] = field(default_factory=dict)


def brand_calendar(config: MonitorConfig, brand: str) -> Elapsed | None:
    """Business time in the brand's calendar (silent stretches are measured in it), or None
    when the brand has none (calendar time)."""
    from reply_sla.domain.business_time import BusinessCalendar

    settings = config.brands.get(brand)
    if settings is None or settings.calendar is None:
        return None
    return BusinessCalendar.from_config(config.calendars[settings.calendar]).elapsed


def summary_files(summary: Mapping[str, Any]) -> dict[str, bytes]:
    """The four files of a summary, by name."""
    return {
        "summary.json": summary_json(summary),
        "summary.csv": summary_csv(summary),
        "breaches.csv": breaches_csv(summary),
        "summary.html": summary_html(summary),
    }


def _pct(value: object) -> str:
    return f"{float(value) * 100:.0f}%" if isinstance(value, int | float) else "n/a"


def _before(summary: Mapping[str, Any], name: str) -> Any:
    series = summary["trends"]["metrics"].get(name) or []
    return series[-2] if len(series) >= 2 else None


def link_note(link: SignedLink, timezone: str) -> str:
    """How long the link really works, in words a manager can act on."""
    until = local_time(link.expires_at, timezone)
    if link.credentials == "long-lived":
        return f"The link works for 7 days, until {until}."
    if link.expiry_known:
        return (
            f"The link works until {until}: it was signed with temporary AWS credentials that "
            "expire then (a link signed with long-lived keys lasts 7 days)."
        )
    return (
        "The link was signed with this function's temporary AWS credentials: it works until "
        f"they expire, which can be within hours (and never after {until})."
    )


def notice_text(summary: Mapping[str, Any], link: SignedLink, prefix: str) -> tuple[str, str]:
    """The Monday notice: subject and plain-text body (headline figures, findings, the link)."""
    m = summary["metrics"]
    tz = str(summary["timezone"])
    name = one_line(str(summary["brand_name"]), 40)
    week = summary["week"]
    start, end = (datetime.fromisoformat(summary["period"][k]) for k in ("start", "end"))
    first = m["first_response_seconds"]
    median_b, median_c = first["business"]["median"], first["calendar"]["median"]
    score, score_before = m["reputation_score"], _before(summary, "reputation_score")
    attainment_before = _before(summary, "sla_attainment")

    def line(label: str, value: str) -> str:
        return f"{label + ':':<24}{value}"

    lines = [
        f"{name}: how you answered your customers in week {week} "
        f"({local_time(start, tz)[:10]} to {local_time(end - timedelta(seconds=1), tz)[:10]}, "
        f"{tz}).",
        "",
        line(
            "Reputation score",
            "n/a"
            if score is None
            else f"{score} of 100"
            + (f" ({score_before} the week before)" if score_before is not None else ""),
        ),
        line(
            "Answered on time",
            f"{_pct(m['sla_attainment'])} ({m['turns_on_time']} of {m['turns_due']} due"
            + (
                f"; {_pct(attainment_before)} the week before)"
                if attainment_before is not None
                else ")"
            ),
        ),
        line("Response rate", f"{_pct(m['response_rate'])} of {m['turns_opened']} to answer"),
        line(
            "Median first response",
            "n/a"
            if median_b is None
            else f"{human_duration(median_b)} business time"
            + (f" ({human_duration(median_c)} calendar)" if median_c is not None else ""),
        ),
        line("Breaches", str(len(m["breaches"]))),
        line("Still overdue now", str(m["open_overdue"])),
        line("Customers at risk", str(len(m["customers_at_risk"]))),
        line("Inbound messages", str(m["inbound_messages"])),
        "",
        "What stood out:",
        *[f"- {finding}" for finding in summary["findings"][:5]],
        "",
        "The full report (open it in a browser; it prints to PDF):",
        link.url,
        link_note(link, tz),
        "",
        f"Also in the summaries bucket under {prefix}: summary.json, summary.csv, breaches.csv.",
        f"From a terminal, any time: replysla summaries download --brand {summary['brand']} "
        f"--week {week}",
    ]
    on_time = _pct(m["sla_attainment"])
    subject = f"[replysla] {name} week {week}: {on_time} on time, {len(m['breaches'])} breaches"
    return subject[:99], "\n".join(lines) + "\n"


def build_weekly_summary(
    brand: str,
    brand_name: str,
    timezone: str,
    week: str,
    store: ThreadStore,
    reports: ReportStore,
    notifier: Notifier | None,
    now: datetime,
    *,
    business_elapsed: Elapsed | None = None,
    update_latest: bool = True,
) -> SummaryReport:
    """Compute the week's summary as of `now`, write its files (and the brand's `latest/`
    copy), store its aggregate for later trends, and notify managers.

    Built again with the same `now` from the same stored facts, a week gives the same figures.
    """
    start, end = week_bounds(week, timezone)
    records = store.week_records(brand, week, as_columns=True)
    earlier = weeks_before(week, TREND_WEEKS - 1)
    risk_weeks = weeks_before(week, RISK_WEEKS - 1)
    stored = store.week_aggregates(brand, earlier, risk_weeks)
    facts = WeekFacts.of_records(
        records,
        start=start,
        end=end,
        now=now,
        open_turns=store.overdue_turns(brand, now),
        business=business_elapsed,
        timezone=timezone,
        history=history_from(earlier, stored, risk_weeks),
    )
    summary = weekly_summary(
        facts, brand=brand, brand_name=brand_name, week=week, timezone=timezone
    )
    bodies = summary_files(summary)
    prefix = week_prefix(brand, week)
    prefixes = [prefix, latest_prefix(brand)] if update_latest else [prefix]
    for folder in prefixes:
        for name, content in bodies.items():
            reports.put(folder + name, content, FILES[name])
    store.put_week_aggregate(brand, week, week_aggregate(summary), now)
    link = reports.signed_link(prefix + "summary.html", LINK_SECONDS)
    metrics = summary["metrics"]
    headline: dict[str, object] = {
        "response_rate": metrics["response_rate"],
        "sla_attainment": metrics["sla_attainment"],
        "turns_opened": metrics["turns_opened"],
        "breaches": len(metrics["breaches"]),
        "open_overdue": metrics["open_overdue"],
        "reputation_score": metrics["reputation_score"],
        "customers_at_risk": len(metrics["customers_at_risk"]),
    }
    if notifier is not None:
        subject, body = notice_text(summary, link, prefix)
        notifier.publish(
            subject, body, {"brand": brand, "level": "summary", "audience": [MANAGERS, TEAM]}
        )
    return SummaryReport(
        brand=brand,
        week=week,
        prefix=prefix,
        keys=[folder + name for folder in prefixes for name in bodies],
        link=link.url,
        headline=headline,
        link_expires_at=link.expires_at,
        link_note=link_note(link, timezone),
        items_read=records.items_read,
        requests=records.requests,
        file_bytes={name: len(content) for name, content in bodies.items()},
    )


def replayed_summary(
    facts: WeekFacts, config: MonitorConfig, brand: str | None, week: str | None
) -> dict[str, Any]:
    """The weekly summary of replayed messages (`replysla simulate --summary`): the same
    document the Monday run writes, for the replayed period, without earlier weeks' trends.

    `brand` may be omitted when the configuration has one brand; `week` labels the period
    (the ISO week of its start by default).
    """
    from reply_sla.domain.weeks import week_of
    from reply_sla.errors import ConfigError

    if brand is None:
        if len(config.brands) != 1:
            known = ", ".join(config.brands) or "none"
            raise ConfigError(f"--brand: the configuration has several brands ({known}); pick one")
        brand = next(iter(config.brands))
    settings = config.brands.get(brand)
    if settings is None:
        known = ", ".join(config.brands) or "none"
        raise ConfigError(f"--brand: no brand {brand!r} in the configuration (has: {known})")
    label = week or week_of(facts.start, settings.timezone)
    scoped = facts.only(lambda _channel, account: config.account(account).brand == brand)
    return weekly_summary(
        replace(scoped, business=brand_calendar(config, brand), timezone=settings.timezone),
        brand=brand,
        brand_name=settings.name,
        week=label,
        timezone=settings.timezone,
    )
