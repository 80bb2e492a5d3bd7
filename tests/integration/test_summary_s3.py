"""The summaries bucket adapter on moto: listing, streamed downloads, clear errors, and links
that say how long they really work."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from botocore.credentials import RefreshableCredentials

from reply_sla.adapters.aws import client
from reply_sla.adapters.s3_reports import MAX_LINK_SECONDS, ReportNotFound, S3ReportStore
from tests.conftest import local_session

SIGNED_AT = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def bucket_signing_at(signed_at: datetime) -> S3ReportStore:
    s3 = client("s3", None, local_session())
    s3.create_bucket(Bucket="summaries")
    return S3ReportStore(s3, "summaries", clock=lambda: signed_at)


@pytest.fixture
def reports(moto_aws: None) -> S3ReportStore:
    return bucket_signing_at(SIGNED_AT)


def expires(url: str) -> int:
    return int(parse_qs(urlparse(url).query)["X-Amz-Expires"][0])


def test_put_list_and_download_with_progress(reports: S3ReportStore):
    body = b"x" * (200 * 1024 + 5)
    reports.put("summaries/acme/2026-W47/summary.html", body, "text/html; charset=utf-8")
    reports.put("summaries/acme/latest/summary.html", body, "text/html; charset=utf-8")
    listed = reports.list("summaries/acme/")
    assert [(o.key, o.size) for o in listed] == [
        ("summaries/acme/2026-W47/summary.html", len(body)),
        ("summaries/acme/latest/summary.html", len(body)),
    ]
    sink, seen = io.BytesIO(), []
    size = reports.download(
        "summaries/acme/2026-W47/summary.html", sink, lambda done, total: seen.append((done, total))
    )
    assert size == len(body) and sink.getvalue() == body
    assert seen[-1] == (len(body), len(body)) and len(seen) == 4  # 64 KB chunks


def test_a_missing_file_is_reported_by_its_address(reports: S3ReportStore):
    with pytest.raises(ReportNotFound, match="s3://summaries/summaries/acme/2026-W01/x does not"):
        reports.download("summaries/acme/2026-W01/x", io.BytesIO())
    with pytest.raises(ReportNotFound):
        reports.get("summaries/nothing")


def test_a_link_signed_with_long_lived_keys_works_for_7_days(reports: S3ReportStore):
    reports._client._request_signer._credentials.token = None  # an IAM user's keys
    link = reports.signed_link("summaries/acme/2026-W47/summary.html", MAX_LINK_SECONDS)
    assert link.credentials == "long-lived" and link.expiry_known
    assert expires(link.url) == 604800
    assert link.expires_at == SIGNED_AT + timedelta(days=7)


def test_a_link_signed_with_role_credentials_of_unknown_expiry_says_so(reports: S3ReportStore):
    # The Lambda runtime's role credentials: a session token, no expiry
    reports._client._request_signer._credentials.token = "session"
    link = reports.signed_link("summaries/acme/2026-W47/summary.html", MAX_LINK_SECONDS)
    assert link.credentials == "session" and not link.expiry_known
    assert expires(link.url) == 604800


def test_a_link_signed_with_expiring_credentials_is_cut_to_their_expiry(moto_aws: None):
    # Given credentials that expire in 3 hours (an assumed role, SSO). botocore refreshes them
    # when the wall clock comes within minutes of their expiry, so the link is signed now.
    signed_at = datetime.now(UTC).replace(microsecond=0)
    expiry = signed_at + timedelta(hours=3)
    reports = bucket_signing_at(signed_at)
    credentials = RefreshableCredentials.create_from_metadata(
        metadata={
            "access_key": "ASIA0000000000000000",
            "secret_key": "secret",
            "token": "session",
            "expiry_time": expiry.isoformat(),
        },
        refresh_using=lambda: {},
        method="test",
    )
    reports._client._request_signer._credentials = credentials
    # When a 7-day link is asked for
    link = reports.signed_link("summaries/acme/2026-W47/summary.html", MAX_LINK_SECONDS)
    # Then it is signed for what the credentials have left, and says so
    assert link.credentials == "session" and link.expiry_known
    assert link.expires_at == expiry
    assert expires(link.url) == 3 * 3600
