"""The summaries bucket: writes summary files, lists and downloads them, signs download links."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from reply_sla.errors import ReplySlaError
from reply_sla.ports import SignedLink

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# SigV4 presigned links last at most 7 days.
MAX_LINK_SECONDS = 7 * 86400
CHUNK_BYTES = 64 * 1024


class ReportNotFound(ReplySlaError):
    """No such summary file in the bucket."""


class ReportAccessDenied(ReplySlaError):
    """The credentials in use may not read or list the summaries bucket."""


@dataclass(frozen=True)
class ReportObject:
    key: str
    size: int
    last_modified: datetime


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3ReportStore:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._bucket = bucket
        # The real clock: a presigned link's validity starts when it is signed.
        self._clock = clock

    def _error(self, exc: ClientError, key: str) -> ReplySlaError:
        code = _code(exc)
        where = f"s3://{self._bucket}/{key}"
        if code in {"NoSuchKey", "404", "NotFound"}:
            return ReportNotFound(f"{where} does not exist")
        if code in {"NoSuchBucket"}:
            return ReportNotFound(f"bucket {self._bucket} does not exist")
        if code in {"AccessDenied", "403", "Forbidden"}:
            return ReportAccessDenied(
                f"access denied to {where}: these credentials need s3:GetObject and "
                "s3:ListBucket on the summaries bucket"
            )
        return ReplySlaError(f"{where}: {code or type(exc).__name__}")

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="AES256",
        )

    def get(self, key: str) -> bytes:
        try:
            return self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise self._error(exc, key) from exc

    def list(self, prefix: str) -> list[ReportObject]:
        """Every object under `prefix`, by key."""
        found: list[ReportObject] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
            if token:
                params["ContinuationToken"] = token
            try:
                page = self._client.list_objects_v2(**params)
            except ClientError as exc:
                raise self._error(exc, prefix) from exc
            found += [
                ReportObject(str(o["Key"]), int(o["Size"]), o["LastModified"])
                for o in page.get("Contents", [])
            ]
            if not page.get("IsTruncated"):
                return sorted(found, key=lambda o: o.key)
            token = page.get("NextContinuationToken")

    def download(
        self,
        key: str,
        sink: IO[bytes],
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Stream one object into `sink`, calling `progress(done, total)` after every chunk."""
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            raise self._error(exc, key) from exc
        total = int(response.get("ContentLength", 0))
        done = 0
        body = response["Body"]
        while chunk := body.read(CHUNK_BYTES):
            sink.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        return done

    def download_link(self, key: str, expires_seconds: int) -> str:
        """A presigned GET link (SigV4 links last at most 7 days)."""
        return str(
            self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": key},
                ExpiresIn=min(expires_seconds, MAX_LINK_SECONDS),
            )
        )

    def _signing_credentials(self) -> tuple[bool, datetime | None]:
        """Whether the client signs with temporary (session) credentials, and when they expire
        if botocore knows it (assumed roles, SSO, AWS_CREDENTIAL_EXPIRATION); the Lambda
        runtime's role credentials carry no expiry."""
        signer = getattr(self._client, "_request_signer", None)
        credentials = getattr(signer, "_credentials", None)
        if credentials is None:
            return False, None
        temporary = bool(getattr(credentials, "token", None))
        expiry = getattr(credentials, "_expiry_time", None)
        return temporary, expiry if isinstance(expiry, datetime) else None

    def signed_link(self, key: str, expires_seconds: int) -> SignedLink:
        """A presigned GET link and how long it really works, from when it is signed: a link
        signed with temporary credentials stops working when they expire, so it is cut to
        their expiry when that is known."""
        wanted = max(1, min(expires_seconds, MAX_LINK_SECONDS))
        signed_at = self._clock()
        temporary, expiry = self._signing_credentials()
        seconds, known = wanted, True
        if temporary and expiry is not None:
            seconds = max(1, min(wanted, int((expiry - signed_at).total_seconds())))
        elif temporary:
            known = False
        url = str(
            self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=seconds
            )
        )
        return SignedLink(
            url=url,
            expires_at=signed_at + timedelta(seconds=seconds),
            credentials="session" if temporary else "long-lived",
            expiry_known=known,
        )
