"""Weekly aggregates: what a summary keeps of its week so later summaries need not re-read it.

Each summary stores, per scope (the brand, each channel, each account), its figures as one flat
row (`flat_metrics`), plus the customers whose turns breached that week. The next summaries read
the last 7 rows for their 8-week trends and the last 3 weeks' breach authors for customers at
risk, instead of the old weeks' messages and turns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

AGGREGATE_VERSION = 1
TREND_WEEKS = 8

# One number per metric and scope, in this order in the CSV (after its historical columns) and
# in the trends. Names follow SLA_SEMANTICS §7; `_seconds` are calendar seconds and
# `_business_seconds` the policy's clock.
# The metrics a summary scope already holds as plain numbers, copied as they are.
_PLAIN_METRICS: tuple[str, ...] = (
    "inbound_messages",
    "turns_opened",
    "turns_answered",
    "turns_dismissed",
    "response_rate",
    "turns_due",
    "turns_on_time",
    "sla_attainment",
    "open_overdue",
)
FLAT_METRICS: tuple[str, ...] = (
    *_PLAIN_METRICS,
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "first_response_mean_seconds",
    "first_response_median_business_seconds",
    "first_response_p90_business_seconds",
    "first_response_mean_business_seconds",
    "next_response_median_seconds",
    "next_response_p90_seconds",
    "next_response_mean_seconds",
    "next_response_median_business_seconds",
    "next_response_p90_business_seconds",
    "next_response_mean_business_seconds",
    "breaches",
    "escalations_total",
    "dismissed_waited_seconds",
    "snoozes",
    "snoozed_seconds",
    "snoozed_calendar_seconds",
    "silent_longest_business_seconds",
    "silent_longest_calendar_seconds",
    "brand_replies",
    "broadcasts",
    "conversation_ratio",
    "customers_at_risk",
    "reputation_score",
)

Number = int | float | None


@dataclass(frozen=True)
class WeekHistory:
    """The stored aggregates of earlier weeks, as a summary reads them.

    `scopes`: week label → scope key (`brand`, `channel:<c>`, `account:<a>`) → flat row.
    `breach_authors`: one row per customer and earlier week of the risk window
    (`week`, `account`, `channel`, `author_id`, `customer`, `breaches`, `link`, `last_due_at`).
    """

    weeks: tuple[str, ...] = ()
    scopes: Mapping[str, Mapping[str, Mapping[str, Number]]] = field(default_factory=dict)
    escalations: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    breach_authors: Sequence[Mapping[str, Any]] = ()


def scope_key(scope: str, name: str) -> str:
    return "brand" if scope == "brand" else f"{scope}:{name}"


def _stat(metrics: Mapping[str, Any], which: str, clock: str, stat: str) -> Number:
    value = metrics[which][clock][stat]
    return value if isinstance(value, int | float) else None


def flat_metrics(metrics: Mapping[str, Any]) -> dict[str, Number]:
    """One scope's metrics as plain numbers (a CSV row, a stored aggregate, a trend point)."""
    row: dict[str, Number] = {name: metrics[name] for name in _PLAIN_METRICS}
    for which in ("first_response", "next_response"):
        for clock, suffix in (("calendar", "seconds"), ("business", "business_seconds")):
            for stat in ("median", "p90", "mean"):
                row[f"{which}_{stat}_{suffix}"] = _stat(metrics, f"{which}_seconds", clock, stat)
    pause = metrics["pause_audit"]
    stretches = metrics["silent_stretches"]
    row.update(
        breaches=len(metrics["breaches"]),
        escalations_total=sum(metrics["escalations_sent"].values()),
        dismissed_waited_seconds=pause["dismissed"]["waited_seconds"],
        snoozes=pause["snoozed"]["count"],
        snoozed_seconds=pause["snoozed"]["paused_seconds"],
        snoozed_calendar_seconds=pause["snoozed"]["paused_calendar_seconds"],
        silent_longest_business_seconds=stretches[0]["business_seconds"] if stretches else 0,
        silent_longest_calendar_seconds=stretches[0]["calendar_seconds"] if stretches else 0,
        brand_replies=metrics["brand_replies"],
        broadcasts=metrics["broadcasts"],
        conversation_ratio=metrics["conversation_ratio"],
        customers_at_risk=len(metrics["customers_at_risk"]),
        reputation_score=metrics["reputation_score"],
    )
    return {name: row[name] for name in FLAT_METRICS}


def scopes_of(summary: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every scope's metrics of a summary document, by scope key."""
    scopes: dict[str, Mapping[str, Any]] = {"brand": summary["metrics"]}
    scopes.update({scope_key("channel", k): m for k, m in summary["by_channel"].items()})
    scopes.update({scope_key("account", k): m for k, m in summary["by_account"].items()})
    return scopes


def week_aggregate(summary: Mapping[str, Any]) -> dict[str, Any]:
    """What a summary stores of its week: flat rows per scope and the week's breach authors."""
    scopes = scopes_of(summary)
    authors: dict[tuple[str, str], dict[str, Any]] = {}
    for row in summary["metrics"]["breaches"]:
        key = (str(row["account"]), str(row["author_id"]))
        entry = authors.setdefault(
            key,
            {
                "account": row["account"],
                "channel": row["channel"],
                "author_id": row["author_id"],
                "customer": row["customer"],
                "breaches": 0,
                "link": row["link"],
                "last_due_at": row["due_at"],
            },
        )
        entry["breaches"] += 1
        if row["due_at"] >= entry["last_due_at"]:
            entry.update(link=row["link"], last_due_at=row["due_at"], customer=row["customer"])
    return {
        "aggregate_version": AGGREGATE_VERSION,
        "week": summary["week"],
        "generated_at": summary["generated_at"],
        "scopes": {key: flat_metrics(m) for key, m in scopes.items()},
        "escalations": {key: dict(m["escalations_sent"]) for key, m in scopes.items()},
        "breach_authors": sorted(authors.values(), key=lambda r: (r["account"], r["author_id"])),
    }


def history_from(
    weeks: Sequence[str], stored: Mapping[str, Mapping[str, Any]], risk_weeks: Sequence[str]
) -> WeekHistory:
    """The history a summary needs, from stored aggregates by week (missing weeks stay empty).

    `risk_weeks` are the earlier weeks whose breach authors count for customers at risk.
    """
    authors = [
        {**row, "week": week}
        for week in risk_weeks
        for row in stored.get(week, {}).get("breach_authors", [])
    ]
    return WeekHistory(
        weeks=tuple(weeks),
        scopes={w: stored[w].get("scopes", {}) for w in weeks if w in stored},
        escalations={w: stored[w].get("escalations", {}) for w in weeks if w in stored},
        breach_authors=authors,
    )


def trends(
    history: WeekHistory, week: str, current: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Each scope's flat metrics over the earlier weeks and this one, oldest first.

    A week without a stored aggregate gives `null` for every metric.
    """
    weeks = [*history.weeks, week]

    def series(key: str, flat_now: Mapping[str, Number]) -> dict[str, list[Number]]:
        rows = [history.scopes.get(w, {}).get(key) for w in history.weeks]
        out: dict[str, list[Number]] = {
            name: [row.get(name) if row else None for row in rows] + [flat_now.get(name)]
            for name in FLAT_METRICS
        }
        levels = set(current_levels(key))
        for w in history.weeks:
            levels |= set(history.escalations.get(w, {}).get(key, {}))
        for level in sorted(levels):
            counts: list[Number] = [
                (
                    history.escalations.get(w, {}).get(key, {}).get(level, 0)
                    if w in history.scopes
                    else None
                )
                for w in history.weeks
            ]
            out[f"escalations_sent.{level}"] = [*counts, current_levels(key).get(level, 0)]
        return out

    def current_levels(key: str) -> Mapping[str, int]:
        metrics = current.get(key)
        return metrics["escalations_sent"] if metrics else {}

    flat_now = {key: flat_metrics(m) for key, m in current.items()}
    out: dict[str, Any] = {"weeks": weeks, "metrics": series("brand", flat_now["brand"])}
    for scope in ("channel", "account"):
        prefix = f"{scope}:"
        out[f"by_{scope}"] = {
            key.removeprefix(prefix): series(key, flat_now[key])
            for key in current
            if key.startswith(prefix)
        }
    return out
