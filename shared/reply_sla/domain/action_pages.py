"""The plain HTML pages of the e-mail action links, and their HTTP response.

Every value shown is escaped (customer names and text are hostile data) and capped; no page
carries a script, an image or a link that would leak the token through the Referer header. A
GET only shows a form, so a mail scanner that fetches the link acts on nothing; the form's POST
does the action.
"""

from __future__ import annotations

import base64
import binascii
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from reply_sla.domain.notices import one_line

VALUE_CHARS = 300
# Names people type on the form, kept with the action.
NAME_CHARS = 100
NOTE_CHARS = 200

_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em;"
    "line-height:1.4;color:#222}dt{font-weight:bold}dd{margin:0 0 .5em 0}"
    "button{font-size:1.1em;padding:.5em 1.2em}input{font-size:1em;width:100%}"
)


def _text(value: str, limit: int = VALUE_CHARS) -> str:
    return html.escape(one_line(value, limit), quote=True)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{_text(title, 120)} · replysla</title><style>{_STYLE}</style></head>\n"
        f"<body><h1>{_text(title, 120)}</h1>\n{body}\n</body></html>\n"
    )


def _facts(facts: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<dt>{_text(label, 60)}</dt><dd>{_text(value)}</dd>" for label, value in facts)
    return f"<dl>{rows}</dl>" if rows else ""


def _paragraphs(lines: Sequence[str]) -> str:
    return "".join(f"<p>{_text(line, 600)}</p>" for line in lines)


def confirm_page(
    title: str, question: str, facts: Sequence[tuple[str, str]], token: str, button: str
) -> str:
    """The page a link opens: what the action will do, and a form that does it (POST)."""
    return _page(
        title,
        f"<p>{_text(question, 600)}</p>\n{_facts(facts)}\n"
        '<form method="post">'
        f'<input type="hidden" name="t" value="{html.escape(token, quote=True)}">'
        "<p><label>Your name (kept with the action, optional)<br>"
        f'<input type="text" name="by" maxlength="{NAME_CHARS}" autocomplete="name"></label></p>'
        "<p><label>Note (optional)<br>"
        f'<input type="text" name="note" maxlength="{NOTE_CHARS}"></label></p>'
        f'<p><button type="submit">{_text(button, 60)}</button></p></form>',
    )


def message_page(title: str, lines: Sequence[str], facts: Sequence[tuple[str, str]] = ()) -> str:
    """A page that only says something: the result of an action, or why there is none."""
    return _page(title, _paragraphs(lines) + _facts(facts))


def http_response(status: int, page: str, *, head: bool = False) -> dict[str, Any]:
    """The HTTP API (payload 2.0) response for a page; a HEAD gets the headers only."""
    headers = dict(_HEADERS)
    if status == 405:
        headers["Allow"] = "GET, HEAD, POST"
    return {
        "statusCode": status,
        "headers": headers,
        "body": "" if head else page,
        "isBase64Encoded": False,
    }


# Form bodies larger than this are not read (the form has three short fields).
MAX_BODY_BYTES = 8192


@dataclass(frozen=True)
class LinkRequest:
    """What the action endpoint needs of an HTTP API request."""

    method: str
    token: str
    form: dict[str, str] = field(default_factory=dict)


def read_request(event: Mapping[str, Any]) -> LinkRequest:
    """Method, token and form fields of an HTTP API (payload 2.0) event. The token comes from
    the form on a POST, else from the query string (`?t=`); anything malformed reads as empty,
    so the caller answers with a 4xx page."""
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    method = http.get("method") if isinstance(http, Mapping) else None
    query = event.get("queryStringParameters")
    token = query.get("t", "") if isinstance(query, Mapping) else ""
    form: dict[str, str] = {}
    body = event.get("body")
    if str(method).upper() == "POST" and isinstance(body, str) and body:
        raw = body.encode("utf-8", "replace")
        if event.get("isBase64Encoded"):
            try:
                raw = base64.b64decode(body, validate=True)
            except (ValueError, binascii.Error):
                raw = b""
        if len(raw) <= MAX_BODY_BYTES:
            try:
                fields = parse_qsl(raw.decode("utf-8", "replace"), max_num_fields=10)
            except ValueError:  # more fields than the form has
                fields = []
            form = {k: v for k, v in fields if k in _FIELDS}
        token = form.get("t", token)
    return LinkRequest(
        method=str(method or "").upper(),
        token=token if isinstance(token, str) else "",
        form=form,
    )


_FIELDS = {"t", "by", "note"}
