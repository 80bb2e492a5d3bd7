"""The weekly summary as files: JSON, CSV and one self-contained HTML page (inline SVG, no script).

Every customer-derived string is escaped; links are kept only when they are http(s).
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from typing import Any

from reply_sla.domain.notices import channel_name, human_duration

# Metrics copied as they are into the CSV; the response times are flattened after them.
_PLAIN_METRICS = (
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
CSV_COLUMNS = [
    "scope",
    "key",
    *_PLAIN_METRICS,
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "first_response_mean_seconds",
    "first_response_median_business_seconds",
    "next_response_median_seconds",
    "breaches",
    "escalations_sent",
]


def summary_json(summary: dict[str, Any]) -> bytes:
    return (json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()


def _csv_row(scope: str, key: str, metrics: dict[str, Any]) -> dict[str, Any]:
    first = metrics["first_response_seconds"]
    return {
        "scope": scope,
        "key": key,
        **{name: metrics[name] for name in _PLAIN_METRICS},
        "first_response_median_seconds": first["calendar"]["median"],
        "first_response_p90_seconds": first["calendar"]["p90"],
        "first_response_mean_seconds": first["calendar"]["mean"],
        "first_response_median_business_seconds": first["business"]["median"],
        "next_response_median_seconds": metrics["next_response_seconds"]["calendar"]["median"],
        "breaches": len(metrics["breaches"]),
        "escalations_sent": ";".join(f"{k}={v}" for k, v in metrics["escalations_sent"].items()),
    }


def _csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula in spreadsheets; customer-derived text is data.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def summary_csv(summary: dict[str, Any]) -> bytes:
    """One row for the brand, then one per channel and one per account."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    rows = [_csv_row("brand", summary["brand"], summary["metrics"])]
    rows += [_csv_row("channel", k, m) for k, m in summary["by_channel"].items()]
    rows += [_csv_row("account", k, m) for k, m in summary["by_account"].items()]
    for row in rows:
        writer.writerow({k: _csv_safe(v) for k, v in row.items()})
    return out.getvalue().encode()


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _dur(value: float | None) -> str:
    return "n/a" if value is None else human_duration(value)


def _link(url: str, label: str) -> str:
    if url.startswith(("https://", "http://")):
        return f'<a href="{escape(url, quote=True)}">{escape(label)}</a>'
    return escape(label)


def _bar_chart(daily: list[dict[str, Any]]) -> str:
    """Stacked bars per day: answered on time, answered late, still open."""
    width, height, pad = 560, 200, 28
    peak = max([d["on_time"] + d["late"] + d["open"] for d in daily] + [1])
    slot = (width - pad) / len(daily)
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
                    f'fill="{colors[key]}"><title>{escape(day["date"])}: {day[key]} '
                    f"{key.replace('_', ' ')}</title></rect>"
                )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height + 16}" text-anchor="middle" class="axis">'
            f"{escape(day['date'][5:])}</text>"
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


_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 color:#1d2733;background:#f5f7fa}
main{max-width:960px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .5em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.card{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:1.6em}.card span{color:#556;font-size:.85em}
table{width:100%;border-collapse:collapse;background:#fff;font-size:.9em}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e7ed;vertical-align:top}
th{background:#eef2f6}.num{text-align:right;font-variant-numeric:tabular-nums}
.chart{width:100%;max-width:560px;background:#fff;border-radius:8px}.axis{font-size:11px;fill:#556}
.scroll{overflow-x:auto}footer{color:#667;font-size:.8em;margin:2em 0}
@media print{body{background:#fff}.card,.chart{box-shadow:none;border:1px solid #ccc}
 a{color:inherit;text-decoration:none}tr{break-inside:avoid}}
"""


def summary_html(summary: dict[str, Any]) -> bytes:
    """One self-contained page a manager opens on a laptop or a phone, or prints."""
    m = summary["metrics"]
    first = m["first_response_seconds"]["calendar"]
    cards = [
        (
            _pct(m["response_rate"]),
            "response rate",
            f"{m['turns_answered']} of {m['turns_opened']} answered",
        ),
        (_pct(m["sla_attainment"]), "on time", f"{m['turns_on_time']} of {m['turns_due']} due"),
        (_dur(first["median"]), "median first response", f"p90 {_dur(first['p90'])}"),
        (str(len(m["breaches"])), "breaches", "turns answered late or not at all"),
        (str(m["open_overdue"]), "still overdue", "waiting past the deadline now"),
        (str(m["inbound_messages"]), "inbound messages", "from customers"),
    ]
    card_html = "".join(
        f'<div class="card"><b>{escape(v)}</b>{escape(label)}<br><span>{escape(sub)}</span></div>'
        for v, label, sub in cards
    )
    scope_rows = "".join(
        f"<tr><td>{escape(scope)}</td><td>{escape(name)}</td>"
        f'<td class="num">{x["inbound_messages"]}</td><td class="num">{x["turns_opened"]}</td>'
        f'<td class="num">{_pct(x["response_rate"])}</td>'
        f'<td class="num">{_pct(x["sla_attainment"])}</td>'
        f'<td class="num">{_dur(x["first_response_seconds"]["calendar"]["median"])}</td>'
        f'<td class="num">{len(x["breaches"])}</td></tr>'
        for scope, group in (("channel", summary["by_channel"]), ("account", summary["by_account"]))
        for key, x in group.items()
        for name in [channel_name(key) if scope == "channel" else key]
    )
    breach_rows = (
        "".join(
            f"<tr><td>{_link(b['link'], b['customer'] or b['turn'])}</td>"
            f"<td>{escape(channel_name(b['channel']))}</td><td>{escape(b['priority'])}</td>"
            f'<td class="num">{escape(human_duration(b["waited_seconds"]))}</td>'
            f'<td class="num">{escape(human_duration(b["target_seconds"]))}</td>'
            f"<td>{escape(b['status'])}</td><td>{escape(b['owner'])}</td></tr>"
            for b in m["breaches"]
        )
        or '<tr><td colspan="7">No breaches this week.</td></tr>'
    )
    escalations = ", ".join(f"{k}: {v}" for k, v in m["escalations_sent"].items()) or "none"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{escape(summary["brand_name"])}: reply summary {escape(summary["week"])}</title>
<style>{_STYLE}</style></head>
<body><main>
<p>{escape(summary["brand_name"])} · week {escape(summary["week"])}
 ({escape(summary["timezone"])})</p>
<h1>How {escape(summary["brand_name"])} answered its customers</h1>
<section class="cards">{card_html}</section>
<h2>Turns opened per day</h2>
{_bar_chart(summary["daily"])}
<h2>By channel and account</h2>
<div class="scroll"><table><thead><tr><th>scope</th><th>name</th><th class="num">inbound</th>
<th class="num">turns</th><th class="num">response rate</th><th class="num">on time</th>
<th class="num">median first response</th><th class="num">breaches</th></tr></thead>
<tbody>{scope_rows}</tbody></table></div>
<h2>Breaches</h2>
<div class="scroll"><table><thead><tr><th>customer</th><th>channel</th><th>priority</th>
<th class="num">waited</th><th class="num">target</th><th>status</th><th>owner</th></tr></thead>
<tbody>{breach_rows}</tbody></table></div>
<p>Escalations sent: {escape(escalations)}.</p>
<footer>Generated by replysla at {escape(summary["generated_at"])}. Response rate = turns answered /
(turns opened − dismissed). On time = turns due this week answered within their target / turns due
this week. A turn is one wait of a customer, from their first unanswered message to the
brand's reply.
</footer>
</main></body></html>
"""
    return page.encode()
