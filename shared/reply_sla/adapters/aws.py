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


def client(service: str, endpoint_url: str | None = None, session: Any | None = None) -> Any:
    """A client for one service; `endpoint_url` is for local stacks (moto, DynamoDB Local)."""
    factory: Any = session or boto3.session.Session()
    return factory.client(service, endpoint_url=endpoint_url or None, config=_CONFIG)
