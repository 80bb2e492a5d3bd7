"""The parts of a summary: the reputation formula, weekly aggregates and trends, findings, and
local hours of the week."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from reply_sla.domain.aggregates import FLAT_METRICS, WeekHistory, history_from, trends
from reply_sla.domain.findings import breach_kind, findings
from reply_sla.domain.reputation import REPUTATION_FORMULA, WEIGHTS, reputation, speed_of
from reply_sla.domain.summary import weekly_summary
from reply_sla.domain.weeks import LocalHours, week_bounds, weeks_before
from tests.unit.test_summary_week import facts

# reputation -----------------------------------------------------------------------------------


def test_the_weights_add_up_to_one_and_are_printed_in_the_formula():
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    for name, weight in WEIGHTS.items():
        assert f"{weight:.2f} × {name}" in REPUTATION_FORMULA


@pytest.mark.parametrize(
    ("response", "target", "speed"),
    [(0, 3600, 1.0), (1800, 3600, 0.75), (3600, 3600, 0.5), (7200, 3600, 0.0), (9e9, 60, 0.0)],
)
def test_speed_against_target(response, target, speed):
    assert speed_of(response, target) == speed


def test_a_perfect_week_scores_100_and_a_missing_part_is_left_out():
    assert (
        reputation({"sla_attainment": 1, "response_rate": 1, "speed": 1, "sentiment": 1})[0] == 100
    )
    # nothing was due: the score is over the other parts' weights (0.25 + 0.2 + 0.15)
    score, parts = reputation(
        {"sla_attainment": None, "response_rate": 1.0, "speed": 0.5, "sentiment": 0.0}
    )
    assert parts["sla_attainment"] is None
    assert score == round(100 * (0.25 * 1 + 0.2 * 0.5) / 0.6)
    assert reputation({name: None for name in WEIGHTS}) == (None, dict.fromkeys(WEIGHTS))


def test_halves_round_up():
    # 100 * 0.40 * 0.3125 / 0.40 = 31.25 -> 31; 0.5 of a point rounds up
    assert reputation({"sla_attainment": 0.315})[0] == 32
    assert reputation({"sla_attainment": 0.3125})[0] == 31


# aggregates and trends ------------------------------------------------------------------------


def test_history_keeps_the_weeks_it_found_and_the_risk_weeks_authors():
    stored = {
        "2026-W45": {"scopes": {"brand": {"turns_opened": 4}}, "breach_authors": [{"a": 1}]},
        "2026-W46": {"scopes": {"brand": {"turns_opened": 5}}, "breach_authors": [{"a": 2}]},
    }
    history = history_from(["2026-W44", "2026-W45", "2026-W46"], stored, ["2026-W46"])
    assert set(history.scopes) == {"2026-W45", "2026-W46"}
    assert history.breach_authors == [{"a": 2, "week": "2026-W46"}]


def test_trends_put_null_where_a_week_has_no_aggregate():
    summary = weekly_summary(
        facts(WeekHistory()), brand="acme", brand_name="ACME", week="2026-W47", timezone="UTC"
    )
    current = {"brand": summary["metrics"]}
    history = history_from(
        ["2026-W45", "2026-W46"],
        {"2026-W46": {"scopes": {"brand": {"breaches": 7}}, "escalations": {"brand": {"x": 1}}}},
        [],
    )
    result = trends(history, "2026-W47", current)
    assert result["weeks"] == ["2026-W45", "2026-W46", "2026-W47"]
    assert result["metrics"]["breaches"] == [None, 7, 4]
    assert set(FLAT_METRICS) <= set(result["metrics"])
    # a level seen in any week gets a series; a week with an aggregate but no such level is 0
    assert result["metrics"]["escalations_sent.x"] == [None, 1, 0]
    assert result["metrics"]["escalations_sent.breach"] == [None, 0, 3]


def test_weeks_before_cross_the_year():
    assert weeks_before("2027-W02", 3) == ["2026-W52", "2026-W53", "2027-W01"]


# findings -------------------------------------------------------------------------------------


def _summary_for(kinds: Counter, **metrics):
    base = {
        "breaches": [],
        "sla_attainment": None,
        "response_rate": None,
        "reputation_score": None,
        "open_overdue": 0,
        "customers_at_risk": [],
        "pause_audit": {"dismissed": {"count": 0}},
        "silent_stretches": [],
        "hour_of_week": {"inbound_messages": [[0] * 24 for _ in range(7)]},
        "turns_opened": 1,
    }
    summary = {"metrics": {**base, **metrics}, "timezone": "UTC", "by_channel": {}}
    return findings(summary, breach_kinds=kinds)


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (
            Counter({("facebook", True, 5): 3, ("x", False, 2): 1}),
            "3 of 4 breaches were Messenger DMs sent on a Saturday.",
        ),
        (
            Counter({("instagram", True, 1): 2, ("instagram", True, 3): 1, ("x", False, 0): 1}),
            "3 of 4 breaches were Instagram DMs.",
        ),
        (
            Counter({("x", False, 6): 1, ("mastodon", False, 6): 1, ("discourse", False, 1): 1}),
            "2 of 3 breaches were messages sent on a Sunday.",
        ),
        (
            Counter({("x", False, 0): 1, ("mastodon", False, 1): 1, ("discourse", False, 2): 1}),
            "The 3 breaches were spread over channels and days; no single pattern stands out.",
        ),
        (
            Counter({("discourse", False, 4): 1}),
            "The only breach was a forum post sent on a Friday.",
        ),
    ],
)
def test_the_breach_pattern_finding(kinds, expected):
    assert _summary_for(kinds)[0] == expected


def test_findings_carry_no_customer_text():
    # breach kinds are channels and days; the names and messages of customers never appear
    assert breach_kind("facebook", True) == ("a Messenger DM", "Messenger DMs")
    assert breach_kind("youtube", False) == ("a YouTube comment", "YouTube comments")
    assert breach_kind("newchannel", False) == ("a message on newchannel", "messages on newchannel")


def test_no_customer_needed_a_reply():
    assert _summary_for(Counter(), turns_opened=0) == ["No customer needed a reply this week."]


# local hours ----------------------------------------------------------------------------------


def test_local_hours_place_instants_by_weekday_and_hour_across_a_dst_change():
    # The week of the last Sunday of October 2026 in Madrid: clocks go back at 03:00 CEST
    start, end = week_bounds("2026-W43", "Europe/Madrid")
    hours = LocalHours(start, end, "Europe/Madrid")
    assert len(hours.starts) == 8 * 24  # the 7 days and the next Monday's
    # 02:30 CEST and 02:30 CET are both Sunday 02:00-03:00 (the repeated hour)
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp()  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC).timestamp()  # 02:30 CET
    assert hours.slot(first) == hours.slot(second) == 6 * 24 + 2
    assert hours.slot(datetime(2026, 10, 19, 9, 15, tzinfo=UTC).timestamp()) == 11  # Mon 11:15
    assert hours.slot(end.timestamp() + 8 * 86400) is None


def test_local_hours_skip_the_missing_spring_hour():
    start, end = week_bounds("2027-W12", "Europe/Madrid")  # Sunday 28 March 2027
    hours = LocalHours(start, end, "Europe/Madrid")
    # 01:30 UTC is 03:30 CEST: the 02:00 hour does not exist that day
    assert hours.slot(datetime(2027, 3, 28, 1, 30, tzinfo=UTC).timestamp()) == 6 * 24 + 3
