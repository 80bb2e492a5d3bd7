"""summary.html in a real browser: headless Chromium, driven over the DevTools protocol.

The page must render every chart (each SVG has a non-zero rendered size), run no script at all
(no script is compiled from the page, and the hostile texts' payloads never change the page),
show a corpus of hostile customer texts as inert text, fit a phone's width without sideways
scrolling, and print to PDF.

Chromium is found as `chromium` on PATH or at $CHROMIUM; without it these tests fail with a
message saying what to install (never skip).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reply_sla.domain.report_files import summary_html
from tests.unit.test_report_files import HOSTILE_TEXTS, PWNED, hostile_summary


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail(
            "headless Chromium is needed to check summary.html: install it (Debian/Ubuntu: "
            "apt-get install chromium) or set CHROMIUM to its path"
        )
    return found


class DevTools:
    """A minimal Chrome DevTools Protocol client over one WebSocket (RFC 6455), stdlib only."""

    def __init__(self, ws_url: str) -> None:
        match = re.match(r"ws://([^:/]+):(\d+)(/.*)", ws_url)
        assert match, ws_url
        host, port, path = match.group(1), int(match.group(2)), match.group(3)
        self._sock = socket.create_connection((host, port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self._sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self._sock.recv(1)
        assert b" 101 " in head.split(b"\r\n", 1)[0], head
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            data += chunk
        return data

    def _send_text(self, text: str) -> None:
        payload = text.encode()
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._sock.sendall(header + mask + masked)

    def _receive(self) -> dict[str, Any]:
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(length)
            if first & 0x0F == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            message += payload
            if first & 0x80:
                return dict(json.loads(message))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self._send_text(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        while time.monotonic() < deadline:
            message = self._receive()
            if message.get("method") == method:
                return message
            self.events.append(message)
        raise TimeoutError(f"no {method} within {timeout} s")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def close(self) -> None:
        self._sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[DevTools]:
    profile = tempfile.mkdtemp(prefix="replysla-chromium-")
    process = subprocess.Popen(
        [
            chromium_path(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if process.poll() is not None:
                pytest.fail(f"Chromium exited with {process.returncode}")
            if time.monotonic() > deadline:
                pytest.fail("Chromium did not open its DevTools port within 60 s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
        devtools = DevTools(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Debugger"):
            devtools.call(f"{domain}.enable")
        yield devtools
        devtools.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)


def load(devtools: DevTools, html: bytes, folder: Path) -> str:
    """Open the page from a file, as a manager opens a downloaded summary.html."""
    path = folder / "summary.html"
    path.write_bytes(html)
    url = path.resolve().as_uri()
    devtools.events.clear()
    devtools.call("Page.navigate", url=url)
    devtools.wait_for("Page.loadEventFired")
    return url


def scripts_from(devtools: DevTools) -> list[str]:
    """Scripts the page compiled itself (inline, handlers, javascript: URLs): not ours."""
    return [
        e["params"].get("url", "")
        for e in devtools.events
        if e.get("method") == "Debugger.scriptParsed"
        and e["params"].get("url", "").startswith(("file:", "javascript:", "data:"))
    ]


def chart_sizes(devtools: DevTools) -> list[list[float]]:
    return list(
        devtools.evaluate(
            "[...document.querySelectorAll('svg')].map(s => {"
            " const r = s.getBoundingClientRect(); return [r.width, r.height]; })"
        )
    )


HOVER_AND_CLICK = """
(() => {
  for (const e of document.querySelectorAll('*')) {
    // (no click on links: that would leave the page)
    const types = ['mouseover', 'mouseenter', 'focus', 'load', 'error'];
    if (e.tagName !== 'A') types.push('click');
    for (const type of types) e.dispatchEvent(new Event(type, {bubbles: true}));
  }
  return document.title;
})()
"""


def test_hostile_texts_render_as_inert_text_and_no_script_runs(browser: DevTools, tmp_path: Path):
    # Given a summary whose customers wrote script tags, handlers, javascript: links, bidi
    # overrides and 100 KB messages
    summary = hostile_summary()
    # When Chromium opens it and every element gets mouse, focus, click, load and error events
    url = load(browser, summary_html(summary), tmp_path)
    title = browser.evaluate(HOVER_AND_CLICK)
    # Then no script was compiled from the page and none of the payloads ran
    assert scripts_from(browser) == [], url
    assert PWNED not in title and title.startswith("<b>ACME</b>: reply summary")
    assert browser.evaluate("document.scripts.length") == 0
    assert (
        browser.evaluate(
            "[...document.querySelectorAll('*')]"
            ".filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length"
        )
        == 0
    )
    assert browser.evaluate(
        "[...document.querySelectorAll('a')].every(a => ['https:', 'http:'].includes(a.protocol))"
    )
    # And the CSP of the page was never needed: nothing tried to run and was refused
    refused = [
        e for e in browser.events if "Content Security Policy" in json.dumps(e.get("params", {}))
    ]
    assert refused == []
    # And the hostile texts are on the page as text
    text = browser.evaluate("document.body.innerText")
    assert "<script>document.title='PWNED-script'</script>" in text
    assert "<img src=x onerror=" in text
    assert "javascript:document.title='PWNED-js'" in text
    assert "\u202e" not in text and "A" * 200 not in text
    assert HOSTILE_TEXTS["formula"] in text


def test_every_chart_renders_with_a_size(browser: DevTools, tmp_path: Path):
    load(browser, summary_html(hostile_summary()), tmp_path)
    sizes = chart_sizes(browser)
    # 8 sparklines, 2 trend charts, the daily bars and 2 heatmaps
    assert len(sizes) >= 13
    assert all(w > 0 and h > 0 for w, h in sizes), sizes
    # and each chart drew something: bars, cells, lines or points
    drawn = browser.evaluate(
        "[...document.querySelectorAll('svg.chart')]"
        ".map(s => s.querySelectorAll('rect,circle,polyline').length)"
    )
    assert all(n > 0 for n in drawn), drawn


def test_the_page_fits_a_phone_without_sideways_scrolling(browser: DevTools, tmp_path: Path):
    # Given a phone 390 px wide
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=390,
        height=844,
        deviceScaleFactor=3,
        mobile=True,
    )
    try:
        # When the summary opens on it
        load(browser, summary_html(hostile_summary()), tmp_path)
        # Then the page itself does not scroll sideways (wide tables scroll inside their box)
        width = browser.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
        # and every chart is drawn within the screen's width
        sizes = chart_sizes(browser)
        assert all(0 < w <= 390 and h > 0 for w, h in sizes), sizes
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")


def test_the_page_prints_to_pdf(browser: DevTools, tmp_path: Path):
    # Given the summary open in the browser, When it is printed to PDF (A4)
    load(browser, summary_html(hostile_summary()), tmp_path)
    browser.call("Emulation.setEmulatedMedia", media="print")
    try:
        sizes = chart_sizes(browser)
        assert all(w > 0 and h > 0 for w, h in sizes), sizes
    finally:
        browser.call("Emulation.setEmulatedMedia", media="")
    pdf = base64.b64decode(
        browser.call("Page.printToPDF", paperWidth=8.27, paperHeight=11.69, printBackground=True)[
            "data"
        ]
    )
    # Then a PDF of a few pages comes out
    assert pdf.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
    assert 2 <= pages <= 40, pages
    (tmp_path / "summary.pdf").write_bytes(pdf)
