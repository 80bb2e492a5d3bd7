"""Where the monitor's configuration and the channels' credentials come from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from reply_sla.config import MonitorConfig, parse_config
from reply_sla.errors import ConfigError

# A config change in SSM applies within this many seconds on warm containers.
CONFIG_MAX_AGE = 300


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc


class FileConfigSource:
    """The config from a local YAML or JSON file."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    def load(self) -> MonitorConfig:
        try:
            text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {self._path}: {exc.strerror}") from exc
        return parse_config(_parse_yaml(text, str(self._path)), str(self._path))


class SsmConfigSource:
    """The config from an SSM parameter, cached by Powertools for CONFIG_MAX_AGE seconds."""

    def __init__(self, parameter_name: str) -> None:
        self._name = parameter_name

    def load(self) -> MonitorConfig:
        from aws_lambda_powertools.utilities import parameters

        try:
            text = parameters.get_parameter(self._name, max_age=CONFIG_MAX_AGE)
        except parameters.exceptions.GetParameterError as exc:
            raise ConfigError(f"cannot read SSM parameter {self._name}: {exc}") from exc
        return parse_config(_parse_yaml(str(text), self._name), f"SSM {self._name}")


class SecretsManagerSource:
    """Channel credentials as a JSON object in Secrets Manager (cached like the config)."""

    def credentials(self, name: str) -> dict[str, str]:
        """`name` is a secret holding one account's credentials, or `name#key` for the `key`
        object of a secret shared by several accounts (one secret per brand costs less)."""
        from aws_lambda_powertools.utilities import parameters

        secret_id, _, key = name.partition("#")
        try:
            raw = parameters.get_secret(secret_id, max_age=CONFIG_MAX_AGE)
        except parameters.exceptions.GetParameterError as exc:
            raise ConfigError(f"cannot read secret {secret_id}: {type(exc).__name__}") from exc
        return credentials_from(str(raw), secret_id, key)


def credentials_from(text: str, secret_id: str, key: str = "") -> dict[str, str]:
    """One account's credentials from a secret's JSON: the whole object, or its `key` entry.
    Errors name the secret and the key, never a value."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"secret {secret_id} is not a JSON object") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret_id} is not a JSON object")
    if key:
        if key not in value:
            known = ", ".join(sorted(str(k) for k in value)) or "none"
            raise ConfigError(f"secret {secret_id} has no entry {key!r} (it has: {known})")
        value = value[key]
        if not isinstance(value, dict):
            raise ConfigError(f"secret {secret_id}: entry {key!r} is not a JSON object")
    return {str(k): str(v) for k, v in value.items()}
