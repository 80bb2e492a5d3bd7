"""The summary as files: JSON round-trips, CSV cells are never formulas, HTML is inert and whole."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from html.parser import HTMLParser

from reply_sla.domain.models import EventType
from reply_sla.domain.report_files import CSV_COLUMNS, summary_csv, summary_html, summary_json
from reply_sla.domain.summary import weekly_summary
from tests.unit.builders import MADRID, WEEK, event, facts, inbound_at, turn, utc

TUESDAY = utc(17, 9)
SAFE_LINK = "https://social.example/@ana/late"
HOSTILE = {
    "formula": '=HYPERLINK("http://evil","click")',
    "command": "+cmd|' /C calc'!A0",
    "script": "<script>alert(1)</script>",
}


def _late(hours: float = 3, **fields: object):
    return turn(TUESDAY, replied_at=TUESDAY + timedelta(hours=hours), **fields)


def _summary(*turns, brand: str = "acme"):
    """A week on two accounts whose breaches carry hostile customer strings."""
    turns = turns or (
        _late(author_handle=HOSTILE["formula"], url=SAFE_LINK),
        _late(author_handle=HOSTILE["command"], author_name="-2+3", account_id="acme-x"),
        _late(author_handle="", author_name=HOSTILE["script"], text=HOSTILE["script"]),
        turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=5), account_id="acme-x"),
    )
    week_facts = facts(
        messages=[inbound_at(TUESDAY), inbound_at(TUESDAY, account_id="acme-x")],
        turns=list(turns),
        events=[event(TUESDAY, EventType.BREACHED, "breach")],
    )
    return weekly_summary(week_facts, brand=brand, brand_name="Acme", week=WEEK, timezone=MADRID)


def _csv_cells(summary) -> list[list[str]]:
    return list(csv.reader(io.StringIO(summary_csv(summary).decode())))


class _Page(HTMLParser):
    """Collects the attributes of every tag and checks that tags close in order."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.attrs: list[tuple[str, str, str | None]] = []
        self.open: list[str] = []
        self.mismatches: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.mismatches.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()


def _page(summary) -> _Page:
    page = _Page()
    page.feed(summary_html(summary).decode())
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
    assert document["schema_version"] == 1


# CSV -----------------------------------------------------------------------------------------


def test_csv_has_a_header_and_a_row_for_the_brand_each_channel_and_each_account():
    # Given a week on a Mastodon and an X account
    # When it is written as CSV
    header, *rows = _csv_cells(_summary())
    # Then there is one row per scope, brand first
    assert header == CSV_COLUMNS
    assert [(r[0], r[1]) for r in rows] == [
        ("brand", "acme"),
        ("channel", "mastodon"),
        ("channel", "x"),
        ("account", "acme-mastodon"),
        ("account", "acme-x"),
    ]


def test_csv_never_writes_a_cell_a_spreadsheet_would_run_as_a_formula():
    # Given breaches whose customers are called =HYPERLINK(...), +cmd... and -2+3
    # When the summary is written as CSV
    cells = [cell for row in _csv_cells(_summary()) for cell in row]
    # Then no cell starts with a formula character, and the hostile text is nowhere
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    raw = summary_csv(_summary()).decode()
    assert "HYPERLINK" not in raw and "cmd|" not in raw


def test_csv_writes_a_formula_like_key_as_text():
    # Given a brand whose id looks like a formula
    summary = _summary(brand="=1+1")
    # When the summary is written as CSV
    brand_row = _csv_cells(summary)[1]
    # Then the cell is prefixed so a spreadsheet shows it as text
    assert brand_row[:2] == ["brand", "'=1+1"]


# HTML ----------------------------------------------------------------------------------------


def test_html_escapes_customer_text():
    # Given a breach by a customer named <script>alert(1)</script>
    # When the summary is written as HTML
    html = summary_html(_summary()).decode()
    # Then the name is shown escaped and no script tag exists
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()


def test_html_loads_nothing_from_elsewhere():
    # Given a week's summary whose breaches link to their conversations
    summary = _summary()
    # When the summary is written as HTML
    page = _page(summary)
    # Then no tag has a src, no stylesheet or frame is linked, and the only hrefs are breach links
    assert [a for a in page.attrs if a[1] == "src"] == []
    assert page.tags.isdisjoint({"script", "link", "img", "iframe", "object", "embed"})
    hrefs = [(tag, value) for tag, name, value in page.attrs if name == "href"]
    assert hrefs == [("a", b["link"]) for b in summary["metrics"]["breaches"]]
    assert ("a", SAFE_LINK) in hrefs


def test_html_does_not_turn_a_javascript_url_into_a_link():
    # Given a breach whose link is a javascript: URL
    summary = _summary(_late(url="javascript:alert(document.cookie)", author_handle="@mallory"))
    # When the summary is written as HTML
    html = summary_html(summary).decode()
    # Then the customer is shown as text, not as a link
    assert "@mallory" in html
    assert "javascript:" not in html
    assert "<a " not in html


def test_html_has_an_inline_chart_and_a_mobile_viewport():
    # Given a week's summary, When written as HTML
    html = summary_html(_summary()).decode()
    # Then the chart is inline SVG and the page scales on a phone
    assert "<svg" in html
    assert '<meta name="viewport"' in html


def test_html_tags_are_balanced():
    # Given a week's summary with hostile customer strings
    # When the HTML is parsed
    page = _page(_summary())
    # Then every tag closes in order (tables, sections, the SVG and the rest) and none stays open
    assert page.mismatches == []
    assert page.open == []
    assert {"table", "section", "svg"} <= page.tags
