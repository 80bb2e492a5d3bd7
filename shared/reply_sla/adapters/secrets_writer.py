"""Stores an account's credentials in Secrets Manager: a secret of its own, or one entry of a
secret shared by several accounts (`name#entry`; a secret costs 0.40 USD a month, so one secret
for all of a stack's accounts is the default of `replysla channels add`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from reply_sla.errors import ConfigError

#: Secrets Manager's limit on a secret's value.
MAX_SECRET_BYTES = 65_536


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))


def _current(client: Any, secret_id: str) -> dict[str, Any] | None:
    """The shared secret's entries, or None when it does not exist yet. Never logs values."""
    try:
        raw = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ConfigError(
            f"cannot add an entry to the secret {secret_id}: it is not a JSON object of "
            "account entries (give --secret a secret of its own)"
        )
    return value


def store_credentials(client: Any, name: str, credentials: Mapping[str, str]) -> str:
    """Store the credentials and return the secret's ARN. Never logs values.

    `name` is a secret holding these credentials alone (created, or given a new version), or
    `name#entry` for the `entry` object of a shared secret: the other entries are kept.
    """
    secret_id, _, entry = name.partition("#")
    try:
        existing: dict[str, Any] | None = None
        if entry:
            existing = _current(client, secret_id)
            value: dict[str, Any] = {**(existing or {}), entry: dict(credentials)}
        else:
            value = dict(credentials)
        body = json.dumps(value)
        if len(body.encode()) > MAX_SECRET_BYTES:
            raise ConfigError(
                f"the secret {secret_id} would exceed Secrets Manager's 64 KB with the entry "
                f"{entry!r}: give --secret another secret (e.g. {secret_id}-2#{entry})"
            )
        response = _write(client, secret_id, body, exists=existing is not None)
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(f"cannot store the secret {secret_id}: {_code(exc)}") from exc
    return str(response["ARN"])


def _write(client: Any, secret_id: str, body: str, *, exists: bool) -> Any:
    if not exists:
        try:
            return client.create_secret(
                Name=secret_id,
                SecretString=body,
                Description="replysla channel credentials",
                Tags=[{"Key": "app", "Value": "replysla"}],
            )
        except ClientError as exc:
            if _code(exc) != "ResourceExistsException":
                raise
    return client.put_secret_value(SecretId=secret_id, SecretString=body)
