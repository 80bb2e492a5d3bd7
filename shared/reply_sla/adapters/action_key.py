"""The signing keys of the e-mail action links, from a Secrets Manager secret.

The secret is JSON: `{"kid": "k1", "key": "<at least 32 characters>"}`, plus, while a rotation
is under way, `"previous": {"k0": "<the old key>"}` so links already sent keep working until they
expire. The keyring is read once and kept per warm container for `max_age` seconds; a link
signed with a key id it does not know makes it read the secret again, at most once a minute.
Errors name the secret, never a key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from reply_sla.domain.action_tokens import ActionKeyring, parse_keyring
from reply_sla.errors import ConfigError

KEY_MAX_AGE = 300.0
REFRESH_EVERY = 60.0


class SecretsManagerActionKeys:
    """ActionKeySource on Secrets Manager; `client` is a boto3 secretsmanager client."""

    def __init__(
        self,
        client: Any,
        secret_id: str,
        *,
        max_age: float = KEY_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not secret_id:
            raise ConfigError("ACTION_KEY_SECRET_ARN is not set: no key to sign action links")
        self._client = client
        self._secret_id = secret_id
        self._max_age = max_age
        self._clock = clock
        self._cached: tuple[float, ActionKeyring] | None = None

    def keyring(self, *, refresh: bool = False) -> ActionKeyring:
        now = self._clock()
        if self._cached is not None:
            age = now - self._cached[0]
            if age < self._max_age and not (refresh and age >= REFRESH_EVERY):
                return self._cached[1]
        self._cached = (now, self._read())
        return self._cached[1]

    def _read(self) -> ActionKeyring:
        source = f"secret {self._secret_id}"
        try:
            response = self._client.get_secret_value(SecretId=self._secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise ConfigError(f"cannot read {source}: {code}") from exc
        except BotoCoreError as exc:
            raise ConfigError(f"cannot read {source}: {type(exc).__name__}") from exc
        text = response.get("SecretString")
        if not isinstance(text, str):
            raise ConfigError(f"{source} has no text value (SecretString)")
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(f"{source} is not JSON") from None
        try:
            return parse_keyring(document, source)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


_sources: dict[tuple[str, str | None], SecretsManagerActionKeys] = {}


def action_keys(secret_id: str, endpoint_url: str | None = None) -> SecretsManagerActionKeys:
    """The key source of one secret, made once per warm container (its cache lives with it)."""
    if (secret_id, endpoint_url) not in _sources:
        from reply_sla.adapters.aws import client

        _sources[(secret_id, endpoint_url)] = SecretsManagerActionKeys(
            client("secretsmanager", endpoint_url), secret_id
        )
    return _sources[(secret_id, endpoint_url)]
