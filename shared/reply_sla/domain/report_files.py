"""The weekly summary as files: JSON, two CSVs and one self-contained HTML page.

Customer text is hostile data. In the HTML every customer string is stripped of control and
bidi characters, capped and escaped, links are kept only when they are http(s), and a
Content-Security-Policy forbids scripts, so nothing a customer wrote can run or load anything.
In the CSVs every cell that a spreadsheet would read as a formula (=, +, -, @, tab, CR) is
prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from reply_sla.domain.aggregates import FLAT_METRICS, flat_metrics
from reply_sla.domain.notices import channel_name, human_duration
from reply_sla.domain.weeks import WEEKDAYS, parse_iso

# The historical columns of summary.csv come first, in this order (a contract); every other
# flat metric follows.
_LEGACY_COLUMNS = [
    "scope",
    "key",
    "inbound_messages",
    "turns_opened",
    "turns_answered",
    "turns_dismissed",
    "response_rate",
    "turns_due",
    "turns_on_time",
    "sla_attainment",
    "open_overdue",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "first_response_mean_seconds",
    "first_response_median_business_seconds",
    "next_response_median_seconds",
    "breaches",
    "escalations_sent",
]
CSV_COLUMNS = _LEGACY_COLUMNS + [m for m in FLAT_METRICS if m not in _LEGACY_COLUMNS]
BREACH_COLUMNS = [
    "week",
    "turn",
    "status",
    "channel",
    "account",
    "priority",
    "kind",
    "private",
    "customer",
    "author_id",
    "opened_at",
    "due_at",
    "replied_at",
    "waited_seconds",
    "target_seconds",
    "owner",
    "link",
    "text",
]
# How much the HTML shows; the CSVs and the JSON have everything.
HTML_BREACH_ROWS = 200
HTML_RISK_ROWS = 100
CUSTOMER_SHOWN = 60
MAX_LINK_CHARS = 2048
EXCERPT_SHOWN = 160

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def clean_text(text: str, limit: int) -> str:
    """Customer text as one inert line: no control or bidi characters, capped at `limit`."""
    text = _BIDI.sub("", text[: limit * 4])
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def summary_json(summary: Mapping[str, Any]) -> bytes:
    # Compact: a busy week has tens of thousands of breach rows.
    return (json.dumps(summary, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


# -- CSV ---------------------------------------------------------------------------------------


def csv_safe(value: Any) -> Any:
    """A cell no spreadsheet evaluates: text that would start a formula gets a leading `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.lstrip(" ")[:1] in _FORMULA_START:
        return "'" + value
    return value


def _write_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_safe(row.get(k)) for k in columns})
    return out.getvalue().encode()


def _csv_row(scope: str, key: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"scope": scope, "key": key, **flat_metrics(metrics)}
    row["escalations_sent"] = ";".join(f"{k}={v}" for k, v in metrics["escalations_sent"].items())
    return row


def summary_csv(summary: Mapping[str, Any]) -> bytes:
    """One row for the brand, then one per channel and one per account; one column per metric."""
    rows = [_csv_row("brand", summary["brand"], summary["metrics"])]
    rows += [_csv_row("channel", k, m) for k, m in summary["by_channel"].items()]
    rows += [_csv_row("account", k, m) for k, m in summary["by_account"].items()]
    return _write_csv(CSV_COLUMNS, rows)


def breaches_csv(summary: Mapping[str, Any]) -> bytes:
    """Every breach of the week, one row each, with the link to the conversation."""
    week = summary["week"]
    rows = [
        {
            **b,
            "week": week,
            "customer": clean_text(str(b["customer"]), 200),
            "author_id": clean_text(str(b.get("author_id", "")), 200),
            "text": clean_text(str(b.get("text", "")), 500),
            "link": clean_text(str(b["link"]), 2000),
        }
        for b in summary["metrics"]["breaches"]
    ]
    return _write_csv(BREACH_COLUMNS, rows)


# -- HTML: formatting ----------------------------------------------------------------------------


def _h(text: Any) -> str:
    return escape(str(text), quote=True)


def _customer(text: str, limit: int = CUSTOMER_SHOWN) -> str:
    return _h(clean_text(text, limit)) or "(no name)"


def _pct(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value * 100:.0f}%"


def _dur(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else human_duration(value)


def _num(value: Any) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _link(url: str, label: str) -> str:
    """A link only to an http(s) conversation (of a sane length); anything else is text."""
    if (
        url.startswith(("https://", "http://"))
        and len(url) <= MAX_LINK_CHARS
        and not any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in url)
    ):
        return f'<a href="{_h(url)}" rel="noopener noreferrer nofollow">{label}</a>'
    return label


def _local(text: str | None, zone: ZoneInfo, fmt: str = "%a %d %b %H:%M") -> str:
    if not text:
        return ""
    return parse_iso(text).astimezone(zone).strftime(fmt)


# -- HTML: charts (inline SVG, drawn from our own numbers only) ---------------------------------


def _sparkline(values: Sequence[Any], label: str) -> str:
    """A small trend line; weeks without data leave a gap."""
    width, height, pad = 120, 30, 3
    points = [(i, float(v)) for i, v in enumerate(values) if isinstance(v, int | float)]
    body = ""
    if points:
        low = min(v for _i, v in points)
        high = max(v for _i, v in points)
        span = (high - low) or 1.0
        step = (width - 2 * pad) / max(1, len(values) - 1)

        def xy(i: int, v: float) -> str:
            return (
                f"{pad + i * step:.1f},{height - pad - (v - low) / span * (height - 2 * pad):.1f}"
            )

        segments: list[list[str]] = [[]]
        for i, v in enumerate(values):
            if isinstance(v, int | float):
                segments[-1].append(xy(i, float(v)))
            elif segments[-1]:
                segments.append([])
        body = "".join(
            f'<polyline points="{" ".join(s)}" fill="none" stroke="#3461c1" stroke-width="2"/>'
            for s in segments
            if len(s) > 1
        )
        last_i, last_v = points[-1]
        body += f'<circle cx="{xy(last_i, last_v).split(",")[0]}" '
        body += f'cy="{xy(last_i, last_v).split(",")[1]}" r="2.5" fill="#3461c1"/>'
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{_h(label)}, last {len(values)} weeks">{body}</svg>'
    )


_SERIES_COLORS = ("#3461c1", "#2e7d32", "#8e44ad", "#c62828")


def _line_chart(
    weeks: Sequence[str],
    series: Sequence[tuple[str, Sequence[Any]]],
    *,
    label: str,
    percent: bool,
) -> str:
    """Weekly values as lines; percent charts run from 0 to 100 %."""
    width, height, left, bottom, top = 560, 220, 44, 28, 12
    values = [float(v) for _n, vs in series for v in vs if isinstance(v, int | float)]
    high = 1.0 if percent else max([*values, 1.0]) * 1.1
    plot_w, plot_h = width - left - 10, height - top - bottom
    step = plot_w / max(1, len(weeks) - 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + plot_h - (v / high) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 24}" role="img" '
        f'aria-label="{_h(label)}">'
    ]
    for fraction in (0.0, 0.5, 1.0):
        tick = high * fraction
        text = f"{tick * 100:.0f}%" if percent else _dur(tick)
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - 10}" y2="{y(tick):.1f}" '
            'stroke="#e3e7ed"/>'
            f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" class="axis">'
            f"{_h(text)}</text>"
        )
    for i, week in enumerate(weeks):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 8}" text-anchor="middle" class="axis">'
            f"{_h(week[-3:])}</text>"
        )
    for index, (name, vs) in enumerate(series):
        color = _SERIES_COLORS[index % len(_SERIES_COLORS)]
        points = [(i, float(v)) for i, v in enumerate(vs) if isinstance(v, int | float)]
        if len(points) > 1:
            path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2.5"/>'
            )
        for i, v in points:
            shown = f"{v * 100:.0f}%" if percent else _dur(v)
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{color}">'
                f"<title>{_h(name)} {_h(weeks[i])}: {_h(shown)}</title></circle>"
            )
        parts.append(
            f'<rect x="{left + index * 180}" y="{height + 8}" width="10" height="10" '
            f'fill="{color}"/><text x="{left + index * 180 + 14}" y="{height + 17}" '
            f'class="axis">{_h(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _bar_chart(daily: Sequence[Mapping[str, Any]]) -> str:
    """Stacked bars per day: answered on time, answered late, still open."""
    width, height, pad = 560, 200, 28
    peak = max([d["on_time"] + d["late"] + d["open"] for d in daily] + [1])
    slot = (width - pad) / max(1, len(daily))
    bar = slot * 0.6
    colors = {"on_time": "#2e7d32", "late": "#c62828", "open": "#f9a825"}
    parts = [
        f'<svg viewBox="0 0 {width} {height + 40}" role="img" '
        'aria-label="Turns opened per day and how they ended" class="chart">',
        f'<line x1="{pad}" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/>',
        f'<text x="0" y="12" class="axis">{peak}</text>',
    ]
    for index, day in enumerate(daily):
        x = pad + index * slot + (slot - bar) / 2
        y = float(height)
        for key in ("on_time", "late", "open"):
            h = (height - 20) * day[key] / peak
            if h:
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="{colors[key]}"><title>{_h(day["date"])}: {day[key]} '
                    f"{key.replace('_', ' ')}</title></rect>"
                )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height + 16}" text-anchor="middle" class="axis">'
            f"{_h(day['date'][5:])}</text>"
        )
    legend_x = pad
    for key, label in (("on_time", "on time"), ("late", "late"), ("open", "unanswered")):
        parts.append(
            f'<rect x="{legend_x}" y="{height + 26}" width="10" height="10" fill="{colors[key]}"/>'
            f'<text x="{legend_x + 14}" y="{height + 35}" class="axis">{label}</text>'
        )
        legend_x += 110
    parts.append("</svg>")
    return "".join(parts)


def _heatmap(grid: Sequence[Sequence[int]], label: str, color: str) -> str:
    """Weekday x hour of the day; darker is more."""
    cell, left, top = 20, 40, 18
    peak = max([max(row) for row in grid] + [1])
    width, height = left + 24 * cell + 4, top + 7 * cell + 4
    parts = [
        f'<svg class="chart heat" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_h(label)}">'
    ]
    for hour in range(0, 24, 3):
        parts.append(
            f'<text x="{left + hour * cell + cell / 2}" y="12" text-anchor="middle" '
            f'class="axis">{hour:02d}</text>'
        )
    for day, row in enumerate(grid):
        parts.append(
            f'<text x="{left - 6}" y="{top + day * cell + 14}" text-anchor="end" class="axis">'
            f"{WEEKDAYS[day][:3]}</text>"
        )
        for hour, count in enumerate(row):
            opacity = 0.06 + 0.94 * count / peak if count else 0.0
            fill = color if count else "#f0f2f5"
            parts.append(
                f'<rect x="{left + hour * cell}" y="{top + day * cell}" width="{cell - 2}" '
                f'height="{cell - 2}" rx="3" fill="{fill}" fill-opacity="{opacity or 1:.2f}">'
                f"<title>{WEEKDAYS[day]} {hour:02d}:00: {count}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


# -- HTML: page ----------------------------------------------------------------------------------

_STYLE = """
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 color:#1d2733;background:#f5f7fa;-webkit-text-size-adjust:100%}
main{max-width:980px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.6em 0 .5em}
.muted{color:#5b6573}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px}
.card{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:1.6em}.card span{color:#5b6573;font-size:.85em}
.up{color:#2e7d32}.down{color:#c62828}.same{color:#5b6573}
.score{display:flex;gap:16px;align-items:center;flex-wrap:wrap;background:#fff;
 border-radius:8px;padding:12px;box-shadow:0 1px 2px #0002}
.score b{font-size:2.6em;line-height:1}
ul.findings{background:#fff;border-radius:8px;padding:10px 10px 10px 30px;margin:0;
 box-shadow:0 1px 2px #0002}
ul.findings li{margin:.25em 0}
table{width:100%;border-collapse:collapse;background:#fff;font-size:.88em}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e7ed;vertical-align:top}
th{background:#eef2f6}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.text{overflow-wrap:anywhere;min-width:12em}td.who{overflow-wrap:anywhere;max-width:16em}
td.when{white-space:nowrap}
.chart{display:block;width:100%;max-width:560px;height:auto;background:#fff;border-radius:8px}
.heat{max-width:540px}.spark{display:block;margin-top:4px;max-width:100%;height:auto}
.axis{font-size:11px;fill:#5b6573}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:12px}
footer{color:#5b6573;font-size:.8em;margin:2em 0}
code{overflow-wrap:anywhere}
@page{margin:12mm}
@media print{body{background:#fff;font-size:11pt}main{max-width:none;padding:0}
 .card,.chart,.score,ul.findings{box-shadow:none;border:1px solid #ccc}
 .scroll{overflow:visible}a{color:inherit;text-decoration:none}
 tr,.card,.chart,svg,.score,li{break-inside:avoid}h2{break-after:avoid}}
"""

# No script, no remote anything: the page may only use its own inline styles and images.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _previous(summary: Mapping[str, Any], name: str) -> Any:
    series = summary.get("trends", {}).get("metrics", {}).get(name) or []
    return series[-2] if len(series) >= 2 else None


def _series(summary: Mapping[str, Any], name: str) -> list[Any]:
    return list(summary.get("trends", {}).get("metrics", {}).get(name) or [])


def _change(now: Any, before: Any, kind: str, higher_is_better: bool) -> str:
    """'▲ 4 pts vs last week', coloured by whether the change is good."""
    if not isinstance(now, int | float) or not isinstance(before, int | float):
        return '<span class="same">no figure for last week</span>'
    delta = float(now) - float(before)
    if abs(delta) < 1e-9:
        return '<span class="same">= last week</span>'
    if kind == "pct":
        amount = f"{abs(delta) * 100:.0f} pts"
    elif kind == "dur":
        amount = human_duration(abs(delta))
    else:
        amount = _num(abs(delta))
    good = (delta > 0) == higher_is_better
    arrow = "▲" if delta > 0 else "▼"
    return f'<span class="{"up" if good else "down"}">{arrow} {amount}</span> vs last week'


def _cards(summary: Mapping[str, Any]) -> str:
    m = summary["metrics"]
    first = m["first_response_seconds"]
    specs = [
        ("response_rate", _pct, "pct", True, "response rate",
         f"{m['turns_answered']} of {m['turns_opened']} answered"),
        ("sla_attainment", _pct, "pct", True, "answered on time",
         f"{m['turns_on_time']} of {m['turns_due']} due"),
        ("first_response_median_business_seconds", _dur, "dur", False,
         "median first response", f"business time; calendar {_dur(first['calendar']['median'])}"),
        ("breaches", _num, "num", False, "breaches", "answered late or not at all"),
        ("open_overdue", _num, "num", False, "still overdue", "waiting past the deadline now"),
        ("inbound_messages", _num, "num", True, "inbound messages", "from customers"),
        ("customers_at_risk", _num, "num", False, "customers at risk", "see the list below"),
        ("silent_longest_business_seconds", _dur, "dur", False, "longest silence",
         "customers waiting, brand silent"),
    ]  # fmt: skip
    cards = []
    for name, fmt, kind, higher, label, sub in specs:
        series = _series(summary, name)
        now = series[-1] if series else None
        cards.append(
            f'<div class="card"><b>{_h(fmt(now))}</b>{_h(label)}<br><span>{_h(sub)}</span>'
            f"<br><span>{_change(now, _previous(summary, name), kind, higher)}</span>"
            f"{_sparkline(series, label)}</div>"
        )
    return "".join(cards)


def _scope_table(summary: Mapping[str, Any]) -> str:
    rows = []
    for scope, group in (("channel", summary["by_channel"]), ("account", summary["by_account"])):
        for key, x in group.items():
            first = x["first_response_seconds"]
            stretches = x["silent_stretches"]
            name = channel_name(key) if scope == "channel" else key
            rows.append(
                f"<tr><td>{_h(scope)}</td><td>{_h(name)}"
                f'</td><td class="num">{_num(x["inbound_messages"])}</td>'
                f'<td class="num">{_num(x["turns_opened"])}</td>'
                f'<td class="num">{_pct(x["response_rate"])}</td>'
                f'<td class="num">{_pct(x["sla_attainment"])}</td>'
                f'<td class="num">{_dur(first["business"]["median"])}</td>'
                f'<td class="num">{_dur(first["calendar"]["median"])}</td>'
                f'<td class="num">{_dur(first["calendar"]["p90"])}</td>'
                f'<td class="num">{_dur(x["next_response_seconds"]["calendar"]["median"])}</td>'
                f'<td class="num">{len(x["breaches"])}</td>'
                f'<td class="num">{_num(x["open_overdue"])}</td>'
                f'<td class="num">{_num(sum(x["escalations_sent"].values()))}</td>'
                f'<td class="num">{_dur(stretches[0]["business_seconds"] if stretches else 0)}</td>'
                f'<td class="num">{_num(x["conversation_ratio"])}</td>'
                f'<td class="num">{len(x["customers_at_risk"])}</td>'
                f'<td class="num">{_num(x["reputation_score"])}</td></tr>'
            )
    head = "".join(
        f'<th class="num">{_h(h)}</th>'
        for h in (
            "inbound", "turns", "response rate", "on time", "median first (business)",
            "median first (calendar)", "p90 first", "median next", "breaches", "overdue now",
            "escalations", "longest silence", "replies per broadcast", "at risk", "score",
        )
    )  # fmt: skip
    return (
        f'<div class="scroll"><table><thead><tr><th>scope</th><th>name</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _breach_table(summary: Mapping[str, Any], zone: ZoneInfo) -> str:
    breaches = summary["metrics"]["breaches"]
    rows = "".join(
        f'<tr><td class="who">{_link(str(b["link"]), _customer(str(b["customer"])))}</td>'
        f"<td>{_h(channel_name(str(b['channel'])))}{' (private)' if b.get('private') else ''}"
        f"</td><td>{_h(b['priority'])}</td>"
        f'<td class="when">{_h(_local(str(b["opened_at"]), zone, "%a %d %H:%M"))}</td>'
        f'<td class="num">{_h(human_duration(b["waited_seconds"]))}</td>'
        f'<td class="num">{_h(human_duration(b["target_seconds"]))}</td>'
        f"<td>{_h(b['status'])}</td><td>{_h(b['owner'])}</td>"
        f'<td class="text">{_h(clean_text(str(b.get("text", "")), EXCERPT_SHOWN))}</td></tr>'
        for b in breaches[:HTML_BREACH_ROWS]
    )
    if not breaches:
        rows = '<tr><td colspan="9">No breaches this week.</td></tr>'
    more = len(breaches) - HTML_BREACH_ROWS
    note = (
        f'<p class="muted">{more:,} more breaches are in breaches.csv and summary.json.</p>'
        if more > 0
        else ""
    )
    return (
        '<div class="scroll"><table><thead><tr><th>customer</th><th>channel</th>'
        '<th>priority</th><th>wrote</th><th class="num">waited</th><th class="num">target</th>'
        "<th>status</th><th>owner</th><th>message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>{note}"
    )


def _risk_table(summary: Mapping[str, Any]) -> str:
    people = summary["metrics"]["customers_at_risk"]
    if not people:
        return '<p class="muted">Nobody: no customer breached twice in 4 weeks or complained and waited past the deadline.</p>'  # noqa: E501
    rows = "".join(
        f'<tr><td class="who">{_link(str(p["link"]), _customer(str(p["customer"])))}</td>'
        f"<td>{_h(channel_name(str(p['channel'])))}</td><td>{_h(p['account'])}</td>"
        f'<td class="num">{_num(p["breaches_4_weeks"])}</td>'
        f'<td class="num">{_num(p["breaches_this_week"])}</td>'
        f"<td>{'yes' if p['complained'] else ''}</td></tr>"
        for p in people[:HTML_RISK_ROWS]
    )
    more = len(people) - HTML_RISK_ROWS
    note = f'<p class="muted">{more:,} more in summary.json.</p>' if more > 0 else ""
    return (
        '<div class="scroll"><table><thead><tr><th>customer</th><th>channel</th><th>account</th>'
        '<th class="num">breaches in 4 weeks</th><th class="num">this week</th>'
        f"<th>complained</th></tr></thead><tbody>{rows}</tbody></table></div>{note}"
    )


def _silence_table(summary: Mapping[str, Any], zone: ZoneInfo) -> str:
    stretches = summary["metrics"]["silent_stretches"]
    if not stretches:
        return '<p class="muted">No stretch in which customers waited and the brand was silent.</p>'
    rows = "".join(
        f"<tr><td>{_h(_local(s['start'], zone))}</td><td>{_h(_local(s['end'], zone))}</td>"
        f'<td class="num">{_h(human_duration(s["business_seconds"]))}</td>'
        f'<td class="num">{_h(human_duration(s["calendar_seconds"]))}</td>'
        f'<td class="num">{_num(s["turns_waiting"])}</td></tr>'
        for s in stretches
    )
    return (
        '<div class="scroll"><table><thead><tr><th>from</th><th>to</th>'
        '<th class="num">business time</th><th class="num">calendar time</th>'
        f'<th class="num">customers waiting</th></tr></thead><tbody>{rows}</tbody></table></div>'
    )


def _pause_table(summary: Mapping[str, Any]) -> str:
    rows = []
    for account, x in summary["by_account"].items():
        pause = x["pause_audit"]
        for kind, seconds_key, label in (
            ("dismissed", "waited_seconds", "had waited"),
            ("snoozed", "paused_seconds", "paused"),
        ):
            part = pause[kind]
            if not part["count"]:
                continue
            people = ", ".join(
                f"{_customer(person, 40)} ({v['count']})" for person, v in part["by"].items()
            )
            rows.append(
                f"<tr><td>{_h(account)}</td><td>{kind}</td>"
                f'<td class="num">{_num(part["count"])}</td>'
                f'<td class="num">{_h(human_duration(part[seconds_key]))} {label}</td>'
                f"<td>{people}</td></tr>"
            )
    if not rows:
        return '<p class="muted">No wait was dismissed or snoozed this week.</p>'
    return (
        '<div class="scroll"><table><thead><tr><th>account</th><th>action</th>'
        '<th class="num">turns</th><th class="num">time</th><th>by</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _weeks_title(weeks: Sequence[str]) -> str:
    if len(weeks) == 1:
        return "This week (earlier weeks appear once their summaries are stored)"
    return f"The last {len(weeks)} weeks"


def _trend_charts(summary: Mapping[str, Any], weeks: Sequence[str]) -> str:
    scores = [
        v / 100 if isinstance(v, int | float) else None
        for v in _series(summary, "reputation_score")
    ]
    rates = _line_chart(
        weeks,
        [
            ("on time", _series(summary, "sla_attainment")),
            ("response rate", _series(summary, "response_rate")),
            ("score / 100", scores),
        ],
        label="On time, response rate and reputation score by week",
        percent=True,
    )
    times = _line_chart(
        weeks,
        [
            (
                "median first reply (business)",
                _series(summary, "first_response_median_business_seconds"),
            ),
            ("p90 first reply (business)", _series(summary, "first_response_p90_business_seconds")),
        ],
        label="First response times by week",
        percent=False,
    )
    return f'<div class="grid2">{rates}{times}</div>'


def summary_html(summary: Mapping[str, Any]) -> bytes:
    """One self-contained page a manager opens on a laptop or a phone, or prints to PDF."""
    m = summary["metrics"]
    tz = str(summary["timezone"])
    zone = ZoneInfo(tz)
    brand = _h(clean_text(str(summary["brand_name"]), 80))
    week = _h(summary["week"])
    period = summary["period"]
    weeks = list(summary.get("trends", {}).get("weeks") or [summary["week"]])
    score = m["reputation_score"]
    parts = m["reputation_components"]
    findings = "".join(f"<li>{_h(line)}</li>" for line in summary.get("findings", []))
    escalations = ", ".join(f"{_h(k)}: {v}" for k, v in m["escalations_sent"].items()) or "none"
    ratio = m["conversation_ratio"]
    ratio_text = (
        f"{ratio:g} replies per broadcast post ({m['brand_replies']} replies, "
        f"{m['broadcasts']} broadcasts)"
        if isinstance(ratio, int | float)
        else "not available (no broadcasts seen on channels that show them)"
    )
    generated = parse_iso(str(summary["generated_at"])).astimezone(zone)
    heat = m["hour_of_week"]
    inbound_heat = _heatmap(
        heat["inbound_messages"], "Inbound messages by weekday and hour", "#3461c1"
    )
    breach_heat = _heatmap(heat["breaches"], "Breaches by weekday and hour", "#c62828")
    change = _change(score, _previous(summary, "reputation_score"), "num", True)
    components = (
        f"on time {_pct(parts['sla_attainment'])} · response rate {_pct(parts['response_rate'])}"
        f" · speed {_pct(parts['speed'])} · sentiment {_pct(parts['sentiment'])}"
    )
    first_day = _h(_local(period["start"], zone, "%d %b"))
    last_day = _h(_local(period["end"], zone, "%d %b %Y"))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{brand}: reply summary {week}</title>
<style>{_STYLE}</style></head>
<body><main>
<p class="muted">{brand} · week {week} · {first_day} to {last_day} ({_h(tz)})</p>
<h1>How {brand} answered its customers</h1>
<section class="score"><div><b>{_h(_num(score))}</b>
<span class="muted">reputation score (0 to 100)</span></div>
<div>{change}<br><span class="muted">{_h(components)}</span></div></section>
<h2>What stood out</h2>
<ul class="findings">{findings}</ul>
<h2>Headline figures</h2>
<section class="cards">{_cards(summary)}</section>
<h2>{_h(_weeks_title(weeks))}</h2>
{_trend_charts(summary, weeks)}
<h2>Turns opened per day</h2>
{_bar_chart(summary["daily"])}
<h2>When customers wrote, and when they were failed</h2>
<div class="grid2">
<div><p class="muted">Inbound messages by weekday and hour ({_h(tz)})</p>{inbound_heat}</div>
<div><p class="muted">Breaches by when the customer wrote</p>{breach_heat}</div>
</div>
<h2>By channel and account</h2>
{_scope_table(summary)}
<h2>Breaches ({len(m["breaches"]):,})</h2>
{_breach_table(summary, zone)}
<h2>Customers at risk ({len(m["customers_at_risk"]):,})</h2>
{_risk_table(summary)}
<h2>Silent stretches</h2>
<p class="muted">Longest stretches in which customers waited and the brand posted nothing.</p>
{_silence_table(summary, zone)}
<h2>Pause audit</h2>
{_pause_table(summary)}
<h2>Escalations and conversation</h2>
<p>Escalations sent: {escalations}.<br>Conversation: {_h(ratio_text)}.</p>
<footer><p>Generated by replysla on {_h(generated.strftime("%a %d %b %Y %H:%M %Z"))}.</p>
<p>Response rate = turns answered ÷ (turns opened − dismissed). On time = turns due this week
answered within their target ÷ turns due this week. A turn is one wait of a customer, from
their first unanswered message to the brand's reply. Business times use each policy's clock.</p>
<p>{_h(summary.get("reputation_formula", ""))}</p>
</footer>
</main></body></html>
"""
    return page.encode()
