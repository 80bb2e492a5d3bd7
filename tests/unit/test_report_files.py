"""The summary as files: JSON round-trips, CSV cells are never formulas, the HTML is whole,
self-contained and inert whatever customers wrote."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from reply_sla.domain.models import EventType, Priority
from reply_sla.domain.report_files import (
    BREACH_COLUMNS,
    CSV_COLUMNS,
    HTML_BREACH_ROWS,
    breaches_csv,
    clean_text,
    csv_safe,
    summary_csv,
    summary_html,
    summary_json,
)
from reply_sla.domain.summary import SCHEMA_VERSION, weekly_summary
from tests.unit.builders import MADRID, WEEK, event, facts, inbound_at, turn, utc

TUESDAY = utc(17, 9)
SAFE_LINK = "https://social.example/@ana/late"
# What a hostile customer can put in a name, a handle, a message or a link.
HOSTILE_TEXTS = {
    "script": "<script>document.title='PWNED-script'</script>",
    "img": "<img src=x onerror=\"document.title='PWNED-img'\">",
    "svg": '"><svg onload="document.title=\'PWNED-svg\'"><circle r="9"/></svg>',
    "style": "</style><script>document.title='PWNED-style'</script>",
    "js_link": "javascript:document.title='PWNED-js'",
    "data_link": "data:text/html,<script>document.title='PWNED-data'</script>",
    "quote_link": "https://social.example/x\" onmouseover=\"document.title='PWNED-quote'",
    "long_link": "https://social.example/" + "a" * 100_000,
    "bidi": "refund \u202eorder 1234\u202c please \u2066x\u2069",
    "template": "{{7*7}} ${7*7} <%= 7*7 %>",
    "formula": '=HYPERLINK("http://evil.example","click")',
    "command": "+cmd|' /C calc'!A0",
    "minus": "-2+3",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "spaced": "  =1+1",
    "separators": "line\u2028break\u2029para\r\nand\x00nul\x1b[31m",
    "long": "A" * 100_000,
    "long_words": "spam " * 20_000,
}
PWNED = "PWNED"


def _late(hours: float = 3, **fields: object):
    return turn(TUESDAY, replied_at=TUESDAY + timedelta(hours=hours), **fields)


def hostile_summary() -> dict[str, Any]:
    """A week whose every customer-derived string is hostile."""
    turns = []
    for index, (name, text) in enumerate(HOSTILE_TEXTS.items()):
        link = text if name.endswith("_link") else f"https://social.example/@c/{index}"
        turns.append(
            _late(
                author_handle=text,
                author_name=text,
                author_id=text[:300],
                text=text,
                url=link,
                account_id="acme-x" if index % 2 else "acme-mastodon",
                priority=Priority.HIGH,
            )
        )
    turns.append(_late(author_handle="@ana", url=SAFE_LINK))
    week_facts = facts(
        messages=[inbound_at(TUESDAY), inbound_at(TUESDAY, account_id="acme-x")],
        turns=turns,
        events=[
            event(TUESDAY, EventType.BREACHED, "breach"),
            event(TUESDAY, EventType.DISMISSED, account_id="acme-x").model_copy(
                update={"detail": {"by": HOSTILE_TEXTS["script"], "reason": "spam"}}
            ),
        ],
    )
    return weekly_summary(
        week_facts, brand="acme", brand_name="<b>ACME</b>", week=WEEK, timezone=MADRID
    )


def _summary(*turns, brand: str = "acme"):
    """A week on two accounts whose breaches carry hostile customer strings."""
    turns = turns or (
        _late(author_handle=HOSTILE_TEXTS["formula"], url=SAFE_LINK),
        _late(author_handle=HOSTILE_TEXTS["command"], author_name="-2+3", account_id="acme-x"),
        _late(author_handle="", author_name=HOSTILE_TEXTS["script"], text=HOSTILE_TEXTS["script"]),
        turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=5), account_id="acme-x"),
    )
    week_facts = facts(
        messages=[inbound_at(TUESDAY), inbound_at(TUESDAY, account_id="acme-x")],
        turns=list(turns),
        events=[event(TUESDAY, EventType.BREACHED, "breach")],
    )
    return weekly_summary(week_facts, brand=brand, brand_name="Acme", week=WEEK, timezone=MADRID)


def _cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


class Page(HTMLParser):
    """Every tag with its attributes, text, and whether tags close in order."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: list[tuple[str, str, str | None]] = []
        self.open: list[str] = []
        self.mismatches: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.mismatches.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(html: bytes) -> Page:
    page = Page()
    page.feed(html.decode())
    page.close()
    return page


# JSON ----------------------------------------------------------------------------------------


def test_json_round_trips_and_carries_its_schema_version():
    # Given a week's summary
    summary = _summary()
    # When it is written as JSON and read back
    document = json.loads(summary_json(summary))
    # Then nothing is lost and the schema version is there
    assert document == summary
    assert document["schema_version"] == SCHEMA_VERSION == 2


def test_json_keeps_every_key_of_schema_version_1():
    # Given the keys version 1 of summary.json had (a contract: add, never rename)
    top = {"schema_version", "brand", "brand_name", "week", "timezone", "period"}
    top |= {"generated_at", "metrics", "by_channel", "by_account", "daily", "open_overdue_turns"}
    metric_keys = {
        "inbound_messages", "turns_opened", "turns_answered", "turns_dismissed",
        "response_rate", "turns_due", "turns_on_time", "sla_attainment",
        "first_response_seconds", "next_response_seconds", "breaches", "open_overdue",
        "escalations_sent",
    }  # fmt: skip
    breach_keys = {
        "turn", "link", "channel", "account", "priority", "customer", "opened_at", "due_at",
        "replied_at", "waited_seconds", "target_seconds", "status", "owner",
    }  # fmt: skip
    # When a summary is written
    document = json.loads(summary_json(_summary()))
    # Then they are all still there
    assert top <= set(document)
    for scope in [document["metrics"], *document["by_channel"].values()]:
        assert metric_keys <= set(scope)
    assert breach_keys <= set(document["metrics"]["breaches"][0])
    assert set(document["daily"][0]) == {"date", "inbound", "opened", "on_time", "late", "open"}


# CSV -----------------------------------------------------------------------------------------


def test_csv_has_a_header_and_a_row_for_the_brand_each_channel_and_each_account():
    # Given a week on a Mastodon and an X account, When it is written as CSV
    header, *rows = _cells(summary_csv(_summary()))
    # Then there is one row per scope, brand first
    assert header == CSV_COLUMNS
    assert [(r[0], r[1]) for r in rows] == [
        ("brand", "acme"),
        ("channel", "mastodon"),
        ("channel", "x"),
        ("account", "acme-mastodon"),
        ("account", "acme-x"),
    ]


def test_csv_keeps_its_historical_columns_first_and_adds_every_metric_after():
    historical = [
        "scope", "key", "inbound_messages", "turns_opened", "turns_answered", "turns_dismissed",
        "response_rate", "turns_due", "turns_on_time", "sla_attainment", "open_overdue",
        "first_response_median_seconds", "first_response_p90_seconds",
        "first_response_mean_seconds", "first_response_median_business_seconds",
        "next_response_median_seconds", "breaches", "escalations_sent",
    ]  # fmt: skip
    assert CSV_COLUMNS[: len(historical)] == historical
    for added in ("reputation_score", "customers_at_risk", "silent_longest_business_seconds"):
        assert added in CSV_COLUMNS
    assert len(CSV_COLUMNS) == len(set(CSV_COLUMNS))


@pytest.mark.parametrize("writer", [summary_csv, breaches_csv], ids=["summary", "breaches"])
def test_csv_never_writes_a_cell_a_spreadsheet_would_run_as_a_formula(writer):
    # Given breaches whose customers are called =HYPERLINK(...), +cmd..., @SUM, tab-= and more
    cells = [cell for row in _cells(writer(hostile_summary())) for cell in row]
    # Then no cell starts (even after spaces) with a formula character
    assert not [c for c in cells if c.lstrip(" ")[:1] in ("=", "+", "-", "@", "\t", "\r", "\n")]


def test_breaches_csv_keeps_hostile_text_as_neutral_text():
    # Given a hostile week, When breaches.csv is written
    header, *rows = _cells(breaches_csv(hostile_summary()))
    assert header == BREACH_COLUMNS
    customers = [row[header.index("customer")] for row in rows]
    # Then the formula is there, but as text (a leading quote), and no control or bidi
    # character survives; a 100 KB message is cut short
    assert '\'=HYPERLINK("http://evil.example","click")' in customers
    raw = breaches_csv(hostile_summary()).decode()
    assert not re.search("[\u202a-\u202e\u2066-\u2069\x00\x1b\u2028\u2029]", raw)
    assert max(len(row[header.index("text")]) for row in rows) <= 500
    assert len(rows) == len(HOSTILE_TEXTS) + 1


def test_csv_writes_a_formula_like_key_as_text():
    # Given a brand whose id looks like a formula, When the summary is written as CSV
    brand_row = _cells(summary_csv(_summary(brand="=1+1")))[1]
    # Then the cell is prefixed so a spreadsheet shows it as text
    assert brand_row[:2] == ["brand", "'=1+1"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1", "'=1"),
        (" +1", "' +1"),
        ("\t=1", "'\t=1"),
        ("-x", "'-x"),
        ("@x", "'@x"),
        ("ok", "ok"),
        (-1.5, -1.5),
        (None, ""),
        (True, "true"),
    ],
)
def test_csv_safe(value, expected):
    assert csv_safe(value) == expected


def test_clean_text_removes_controls_and_bidi_and_caps():
    assert clean_text("a\u202eb\u2028c\x00d", 50) == "ab c d"
    assert clean_text("x" * 500, 10) == "x" * 9 + "…"


# HTML ----------------------------------------------------------------------------------------


def test_html_has_no_script_no_handler_and_no_script_url_whatever_customers_wrote():
    # Given a week whose customers wrote script tags, handlers, javascript: links and more
    html = summary_html(hostile_summary())
    page = parse(html)
    # Then no script element exists, no attribute is an event handler, no URL runs script
    assert "script" not in page.tags
    assert [a for a in page.attrs if a[1].lower().startswith("on")] == []
    assert [a for a in page.attrs if a[1] in ("src", "srcdoc", "formaction", "action")] == []
    for _tag, name, value in page.attrs:
        assert "javascript:" not in (value or "").lower(), (name, value)
        assert "data:" not in (value or "").lower() or name == "content", (name, value)
    # And the hostile text is shown as text
    text = "".join(page.text)
    assert "<script>document.title='PWNED-script'</script>" in text
    assert "onerror=" in text


def test_html_links_only_to_http_conversations():
    summary = hostile_summary()
    page = parse(summary_html(summary))
    hrefs = [value for tag, name, value in page.attrs if name == "href"]
    assert hrefs and all(h and h.startswith(("https://", "http://")) for h in hrefs)
    assert SAFE_LINK in hrefs
    assert max(len(h) for h in hrefs) <= 2048
    assert max(len(h) for h in hrefs) <= 2048
    # a link with a quote in it stays one attribute: it was not turned into a link at all
    assert not [h for h in hrefs if '"' in h or "onmouseover" in h]
    assert {tag for tag, name, _ in page.attrs if name == "href"} == {"a"}


def test_html_loads_nothing_from_elsewhere_and_forbids_scripts():
    html = summary_html(hostile_summary())
    page = parse(html)
    assert page.tags.count("link") == 0 and "iframe" not in page.tags and "img" not in page.tags
    csp = [v for tag, name, v in page.attrs if tag == "meta" and name == "content" and v]
    assert any(v.startswith("default-src 'none'") for v in csp)
    assert b"@import" not in html and b"url(" not in html


def test_html_removes_bidi_overrides_and_caps_long_messages():
    html = summary_html(hostile_summary()).decode()
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", html)
    # a 100 KB message shows as an excerpt
    assert "A" * 200 not in html
    assert len(html) < 400_000


def test_html_tags_are_balanced_and_every_chart_is_well_formed_xml():
    # Given a hostile week, When the HTML is parsed
    html = summary_html(hostile_summary()).decode()
    page = parse(html.encode())
    # Then every tag closes in order and none stays open
    assert page.mismatches == []
    assert page.open == []
    # And each inline SVG chart is well-formed XML on its own
    charts = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert len(charts) >= 12  # 8 sparklines, 2 trend charts, the daily bars, 2 heatmaps
    for chart in charts:
        ET.fromstring(chart)


def test_html_has_the_headline_figures_findings_heatmap_and_formula():
    summary = _summary()
    html = summary_html(summary).decode()
    assert '<meta name="viewport"' in html
    assert "What stood out" in html and summary["findings"][0] in html.replace("&#x27;", "'")
    # without an earlier week's aggregate, each card says there is nothing to compare with
    assert "reputation score" in html and "no figure for last week" in html
    assert "Breaches by weekday and hour" in html and "Inbound messages by weekday" in html
    assert "reputation_score = 100" in html
    assert "@media print" in html


def test_html_caps_the_breach_table_and_points_to_the_csv():
    many = [_late(author_handle=f"@c{i}") for i in range(HTML_BREACH_ROWS + 5)]
    html = summary_html(_summary(*many)).decode()
    assert html.count('<td class="text">') == HTML_BREACH_ROWS
    assert "5 more breaches are in breaches.csv" in html


def test_html_generated_time_is_in_the_brands_zone():
    summary = _summary()
    summary["generated_at"] = datetime(2026, 11, 23, 6, 0, tzinfo=UTC).isoformat()
    assert "Mon 23 Nov 2026 07:00 CET" in summary_html(summary).decode()
