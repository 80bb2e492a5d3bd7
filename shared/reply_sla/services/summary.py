"""Build a brand's weekly summary, store it as JSON, CSV and HTML, and send the notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reply_sla.domain.notices import human_duration
from reply_sla.domain.report_files import summary_csv, summary_html, summary_json
from reply_sla.domain.summary import WeekFacts, weekly_summary
from reply_sla.domain.weeks import week_bounds
from reply_sla.ports import Notifier, ReportStore, ThreadStore

LINK_SECONDS = 7 * 86400
FILES = {
    "summary.json": "application/json",
    "summary.csv": "text/csv; charset=utf-8",
    "summary.html": "text/html; charset=utf-8",
}


@dataclass
class SummaryReport:
    brand: str
    week: str
    prefix: str
    keys: list[str]
    link: str
    headline: dict[str, object]


def _pct(value: object) -> str:
    return f"{float(value) * 100:.0f}%" if isinstance(value, int | float) else "n/a"


def build_weekly_summary(
    brand: str,
    brand_name: str,
    timezone: str,
    week: str,
    store: ThreadStore,
    reports: ReportStore,
    notifier: Notifier | None,
    now: datetime,
) -> SummaryReport:
    """Compute the week's metrics from the week index, write the three files, notify managers."""
    start, end = week_bounds(week, timezone)
    messages, turns, events = store.week_items(brand, week)
    facts = WeekFacts(
        start=start,
        end=end,
        now=now,
        messages=messages,
        turns=turns,
        events=events,
        open_turns=store.open_turns(brand),
    )
    summary = weekly_summary(
        facts, brand=brand, brand_name=brand_name, week=week, timezone=timezone
    )
    prefix = f"summaries/{brand}/{week}/"
    bodies = {
        "summary.json": summary_json(summary),
        "summary.csv": summary_csv(summary),
        "summary.html": summary_html(summary),
    }
    for name, content in bodies.items():
        reports.put(prefix + name, content, FILES[name])
    link = reports.download_link(prefix + "summary.html", LINK_SECONDS)
    metrics = summary["metrics"]
    headline: dict[str, object] = {
        "response_rate": metrics["response_rate"],
        "sla_attainment": metrics["sla_attainment"],
        "turns_opened": metrics["turns_opened"],
        "breaches": len(metrics["breaches"]),
        "open_overdue": metrics["open_overdue"],
    }
    if notifier is not None:
        median = metrics["first_response_seconds"]["calendar"]["median"]
        body = "\n".join(
            [
                f"{brand_name}: how you answered your customers in week {week} ({timezone}).",
                "",
                f"Inbound messages:       {metrics['inbound_messages']}",
                f"Conversations to answer: {metrics['turns_opened']}",
                f"Response rate:          {_pct(metrics['response_rate'])}",
                f"Answered on time:       {_pct(metrics['sla_attainment'])}"
                f" ({metrics['turns_on_time']} of {metrics['turns_due']})",
                "Median first response:  "
                + (human_duration(median) if median is not None else "n/a"),
                f"Breaches:               {len(metrics['breaches'])}",
                f"Still overdue now:      {metrics['open_overdue']}",
                "",
                "The full report (valid for 7 days):",
                link,
                "",
                f"Also in the bucket: {prefix}summary.json and {prefix}summary.csv",
            ]
        )
        notifier.publish(
            f"[replysla] {brand_name} week {week}: "
            f"{_pct(metrics['sla_attainment'])} answered on time",
            body + "\n",
            {"brand": brand, "level": "summary"},
        )
    return SummaryReport(
        brand=brand,
        week=week,
        prefix=prefix,
        keys=[prefix + name for name in bodies],
        link=link,
        headline=headline,
    )
