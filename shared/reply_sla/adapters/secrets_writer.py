"""Stores an account's credentials in Secrets Manager (one JSON secret per account)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from reply_sla.errors import ConfigError


def store_credentials(client: Any, name: str, credentials: Mapping[str, str]) -> str:
    """Create the secret, or put a new version if it exists; returns its ARN. Never logs values."""
    body = json.dumps(dict(credentials))
    try:
        try:
            response = client.create_secret(
                Name=name,
                SecretString=body,
                Description="replysla channel credentials",
                Tags=[{"Key": "app", "Value": "replysla"}],
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise
            response = client.put_secret_value(SecretId=name, SecretString=body)
    except (ClientError, BotoCoreError) as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ConfigError(f"cannot store the secret {name}: {code}") from exc
    return str(response["ARN"])
