"""boto3 clients with timeouts and standard retries, pointed at AWS_ENDPOINT_URL when set."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    connect_timeout=5,
    read_timeout=20,
    retries={"mode": "standard", "max_attempts": 5},
)
# Presigned download links must be SigV4 (X-Amz-Expires, at most 7 days).
_S3_CONFIG = _CONFIG.merge(Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def client(service: str, endpoint_url: str | None = None, session: Any | None = None) -> Any:
    """A client for one service; `endpoint_url` is for local stacks (moto, DynamoDB Local)."""
    factory: Any = session or boto3.session.Session()
    config = _S3_CONFIG if service == "s3" else _CONFIG
    return factory.client(service, endpoint_url=endpoint_url or None, config=config)
