"""`replysla summaries ...` without AWS: the bucket is an in-memory fake."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from reply_sla.adapters.s3_reports import ReportNotFound, ReportObject
from reply_sla.cli import summary_commands
from reply_sla.cli.main import main
from reply_sla.cli.summary_commands import Progress

WRITTEN = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
DOWNLOAD = ["summaries", "download", "--bucket", "b", "--brand", "acme", "--week"]


@dataclass
class FakeBucket:
    objects: dict[str, bytes] = field(default_factory=dict)
    fail_after: int | None = None

    def list(self, prefix: str) -> list[ReportObject]:
        return [
            ReportObject(k, len(v), WRITTEN)
            for k, v in sorted(self.objects.items())
            if k.startswith(prefix)
        ]

    def download(self, key: str, sink: IO[bytes], progress: Any = None) -> int:
        if key not in self.objects:
            raise ReportNotFound(f"s3://bucket/{key} does not exist")
        body = self.objects[key]
        for start in range(0, len(body), 4):
            if self.fail_after is not None and start >= self.fail_after:
                raise ConnectionError("the connection dropped")
            sink.write(body[start : start + 4])
            if progress:
                progress(min(start + 4, len(body)), len(body))
        return len(body)


def week_files(brand: str, week: str) -> dict[str, bytes]:
    names = ["summary.json", "summary.csv", "breaches.csv", "summary.html"]
    return {f"summaries/{brand}/{week}/{n}": f"{week} {n}".encode() for n in names}


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> FakeBucket:
    fake = FakeBucket(
        {
            **week_files("acme", "2026-W46"),
            **week_files("acme", "2026-W47"),
            **week_files("acme", "latest"),
            **week_files("zeta", "2026-W47"),
        }
    )
    monkeypatch.setattr(summary_commands, "_reports", lambda args, outputs=None: fake)
    return fake


def test_list_shows_each_week_with_its_page_size(bucket, capsys):
    assert main(["summaries", "list", "--bucket", "b", "--brand", "acme"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "acme  2026-W46   summary.html 21 B      written 2026-11-23 06:00 UTC",
        "acme  2026-W47   summary.html 21 B      written 2026-11-23 06:00 UTC",
        "acme  latest     summary.html 19 B      written 2026-11-23 06:00 UTC",
    ]


def test_list_says_which_files_are_missing(bucket, capsys):
    del bucket.objects["summaries/zeta/2026-W47/breaches.csv"]
    main(["summaries", "list", "--bucket", "b", "--brand", "zeta"])
    assert "(missing: breaches.csv)" in capsys.readouterr().out


def test_download_one_format_into_a_brand_and_week_folder(bucket, tmp_path, capsys):
    code = main([*DOWNLOAD, "2026-W47", "--format", "csv", "--out", str(tmp_path)])
    assert code == 0
    folder = tmp_path / "acme" / "2026-W47"
    assert sorted(p.name for p in folder.iterdir()) == ["breaches.csv", "summary.csv"]
    assert (folder / "summary.csv").read_bytes() == b"2026-W47 summary.csv"
    assert capsys.readouterr().out.split() == [
        str(folder / "summary.csv"),
        str(folder / "breaches.csv"),
    ]


def test_a_dropped_download_leaves_no_half_file(bucket, tmp_path, capsys):
    bucket.fail_after = 8
    with pytest.raises(ConnectionError):
        main([*DOWNLOAD, "2026-W47", "--format", "html", "--out", str(tmp_path)])
    assert list((tmp_path / "acme" / "2026-W47").iterdir()) == []


def test_download_of_a_week_that_does_not_exist_says_so(bucket, tmp_path, capsys):
    code = main([*DOWNLOAD, "2026-W01", "--out", str(tmp_path)])
    assert code == 2
    assert "summaries/acme/2026-W01/summary.json does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--brand", "acme", "--week", "47"], "--week: expected an ISO week like 2026-W47"),
        (["--brand", "../etc", "--week", "2026-W47"], "--brand: '../etc' is not a brand id"),
    ],
)
def test_download_refuses_bad_arguments(bucket, capsys, argv, message):
    assert main(["summaries", "download", "--bucket", "b", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_bucket_or_a_stack_is_needed(capsys):
    assert main(["summaries", "list"]) == 2
    assert (
        "give --stack NAME (a deployed replysla stack) or --bucket NAME" in capsys.readouterr().err
    )


def test_open_downloads_the_latest_and_opens_it_in_the_browser(bucket, tmp_path, monkeypatch):
    opened: list[str] = []

    class Browser:
        def open(self, url: str) -> bool:
            opened.append(url)
            return True

    monkeypatch.setattr("webbrowser.get", lambda *a: Browser())
    code = main(["summaries", "open", "--bucket", "b", "--brand", "acme", "--out", str(tmp_path)])
    target = tmp_path / "acme" / "latest" / "summary.html"
    assert code == 0 and opened == [target.resolve().as_uri()]
    assert target.read_bytes() == b"latest summary.html"


def test_open_without_a_browser_says_where_the_file_is(bucket, tmp_path, monkeypatch, capsys):
    import webbrowser

    def none(*_a: Any) -> Any:
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr("webbrowser.get", none)
    code = main(["summaries", "open", "--bucket", "b", "--brand", "acme", "--out", str(tmp_path)])
    assert code == 0
    assert "no browser found here; the report is" in capsys.readouterr().out


def test_open_asks_which_brand_when_the_bucket_has_several(bucket, capsys):
    assert main(["summaries", "open", "--bucket", "b"]) == 2
    assert "the bucket has summaries for acme, zeta; say which" in capsys.readouterr().err


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_on_a_terminal():
    ticks = iter([0.0, 0.5, 1.0, 1.5, 2.0])
    stream = Tty()
    progress = Progress("summary.html", stream, clock=lambda: next(ticks))
    progress(512 * 1024, 1024 * 1024)
    progress(1024 * 1024, 1024 * 1024)
    progress.finish(1024 * 1024)
    text = stream.getvalue()
    assert "\r  summary.html   [############            ]  50% 512.0 KB of 1.0 MB" in text
    assert "100% 1.0 MB of 1.0 MB" in text
    assert text.endswith("  summary.html   1.0 MB in 1.5 s\n")


def test_progress_on_a_pipe_is_one_line_at_the_end():
    stream = io.StringIO()
    progress = Progress("summary.csv", stream, clock=lambda: 0.0)
    progress(10, 20)
    progress.finish(20)
    assert stream.getvalue() == "  summary.csv    20 B in 0.0 s\n"


def test_build_needs_a_configuration(capsys):
    code = main(["summaries", "build", "--brand", "acme", "--week", "2026-W47", "--table", "t"])
    assert code == 2
    assert (
        "give --stack NAME, or --config FILE with --table and --bucket" in capsys.readouterr().err
    )


def test_simulate_summary_asks_for_the_brand_when_the_config_has_several(tmp_path, capsys):
    config = {
        "brands": {"acme": {"name": "ACME"}, "zeta": {"name": "Zeta"}},
        "accounts": [
            {"id": "a", "brand": "acme", "channel": "mastodon", "credentials": {"t": "x"}},
        ],
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    line = {
        "channel": "mastodon",
        "account": "a",
        "thread_id": "t",
        "message_id": "m",
        "author_id": "c",
        "created_at": "2026-11-17T09:00:00Z",
    }
    (tmp_path / "m.jsonl").write_text(json.dumps(line) + "\n")
    argv = [
        "simulate",
        "--config",
        str(tmp_path / "c.yaml"),
        "--messages",
        str(tmp_path / "m.jsonl"),
    ]
    assert main([*argv, "--summary"]) == 2
    assert "several brands (acme, zeta); pick one" in capsys.readouterr().err
    assert main([*argv, "--summary", "--brand", "acme"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["week"] == "2026-W47" and summary["metrics"]["turns_opened"] == 1


def test_simulate_summary_of_no_messages_says_so(tmp_path, capsys):
    config = {"brands": {"acme": {"name": "ACME"}}, "accounts": []}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "m.jsonl").write_text("")
    argv = [
        "simulate",
        "--config",
        str(tmp_path / "c.yaml"),
        "--messages",
        str(tmp_path / "m.jsonl"),
    ]
    assert main([*argv, "--summary"]) == 2
    assert "no messages to replay" in capsys.readouterr().err


def test_downloaded_paths_stay_under_the_output_folder(bucket, tmp_path: Path):
    # a brand id is a folder name: nothing can climb out of --out
    with pytest.raises(Exception, match="not a brand id"):
        summary_commands._safe_name("..", "--brand")
