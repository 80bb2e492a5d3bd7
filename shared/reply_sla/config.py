"""The monitor's configuration document (`replysla.yaml`): brands and the accounts to poll.

The keys follow the config contract (accounts: `id`, `brand`, `channel`, `api_base_url`,
`secret` or inline `credentials`, `own_ids`, `automated_ids`, `poll_every`). Policies, calendars
and triage join this document with the policy engine.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reply_sla.errors import ConfigError

CHANNELS = ("x", "facebook", "instagram", "discourse", "mastodon", "bluesky")
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> int:
    """'90s', '5m', '2h', '1d' (or a whole number of seconds) to seconds; at least 1."""
    expected = f"expected a duration like 30s, 5m, 2h or 1d, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(expected)
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.match(value.strip())):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(expected)
    if seconds < 1:
        raise ValueError(f"a duration must be at least 1s, got {value!r}")
    return seconds


class BrandConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    timezone: str = "UTC"
    calendar: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value


class AccountConfig(BaseModel):
    """One monitored identity of a brand on a channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    brand: str
    channel: str
    api_base_url: str | None = None
    secret: str | None = None
    credentials: dict[str, str] | None = Field(default=None, repr=False)
    own_ids: list[str] = Field(default_factory=list)
    automated_ids: list[str] = Field(default_factory=list)
    poll_every: int = 60
    staff_usernames: list[str] = Field(default_factory=list)
    staff_groups: list[str] = Field(default_factory=list)

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str) -> str:
        if value not in CHANNELS:
            raise ValueError(f"unknown channel {value!r}; expected one of {', '.join(CHANNELS)}")
        return value

    @field_validator("poll_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return parse_duration(value)

    @model_validator(mode="after")
    def _has_credentials(self) -> AccountConfig:
        if not self.secret and not self.credentials:
            raise ValueError("needs `secret` (a Secrets Manager name) or inline `credentials`")
        return self


class MonitorConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    brands: dict[str, BrandConfig] = Field(default_factory=dict)
    accounts: list[AccountConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _accounts_name_brands(self) -> MonitorConfig:
        seen: set[str] = set()
        for index, account in enumerate(self.accounts):
            if account.brand not in self.brands:
                raise ValueError(f"accounts[{index}].brand: unknown brand {account.brand!r}")
            if account.id in seen:
                raise ValueError(f"accounts[{index}].id: duplicate account id {account.id!r}")
            seen.add(account.id)
        return self

    def account(self, account_id: str) -> AccountConfig:
        for account in self.accounts:
            if account.id == account_id:
                return account
        raise ConfigError(f"no account {account_id!r} in the configuration")


def _error_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_config(document: Any, source: str = "config") -> MonitorConfig:
    """Validate a loaded YAML/JSON document; every error names its path in the file."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return MonitorConfig.model_validate(document)
    except ValidationError as exc:
        lines = [
            f"{_error_path(err['loc']) or '(top)'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        ]
        raise ConfigError(f"{source} is invalid:\n  " + "\n  ".join(lines)) from exc
