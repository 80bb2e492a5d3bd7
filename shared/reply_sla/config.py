"""The monitor's configuration document (`replysla.yaml`): brands and the accounts to poll.

The keys follow the config contract (accounts: `id`, `brand`, `channel`, `api_base_url`,
`secret` or inline `credentials`, `own_ids`, `automated_ids`, `poll_every`). Policies, calendars
and triage join this document with the policy engine.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reply_sla.domain.business_time import CalendarConfig
from reply_sla.domain.durations import duration_seconds as parse_duration
from reply_sla.domain.policies import PolicyConfig
from reply_sla.domain.triage import TriageRule
from reply_sla.errors import ConfigError

CHANNELS = ("x", "facebook", "instagram", "discourse", "mastodon", "bluesky")


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


class QuietHoursConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    calendar: str


class NotificationsConfig(BaseModel):
    """Outside the quiet-hours calendar's hours, levels not in `bypass` wait for the opening."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quiet_hours: QuietHoursConfig | None = None
    bypass: list[str] = Field(default_factory=list)


class MonitorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    calendars: dict[str, CalendarConfig] = Field(default_factory=dict)
    brands: dict[str, BrandConfig] = Field(default_factory=dict)
    accounts: list[AccountConfig] = Field(default_factory=list)
    triage_defaults: bool = True
    triage: list[TriageRule] = Field(default_factory=list)
    policies: list[PolicyConfig] = Field(default_factory=list)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    # At most this many polls of a channel start together (the rest are spread over the minute).
    channel_limits: dict[str, int] = Field(default_factory=dict)

    @field_validator("channel_limits")
    @classmethod
    def _known_channels(cls, limits: dict[str, int]) -> dict[str, int]:
        for channel, limit in limits.items():
            if channel not in CHANNELS:
                raise ValueError(
                    f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}"
                )
            if limit < 1:
                raise ValueError(f"{channel}: expected at least 1 poll at a time, got {limit}")
        return limits

    @model_validator(mode="after")
    def _references_resolve(self) -> MonitorConfig:
        problems: list[str] = []
        calendars = set(self.calendars)
        for name, brand in self.brands.items():
            if brand.calendar is not None and brand.calendar not in calendars:
                problems.append(f"brands.{name}.calendar: unknown calendar {brand.calendar!r}")
        seen: set[str] = set()
        for index, account in enumerate(self.accounts):
            if account.brand not in self.brands:
                problems.append(f"accounts[{index}].brand: unknown brand {account.brand!r}")
            if account.id in seen:
                problems.append(f"accounts[{index}].id: duplicate account id {account.id!r}")
            seen.add(account.id)
        names: set[str] = set()
        for index, policy in enumerate(self.policies):
            where = f"policies[{index}]"
            if policy.name in names:
                problems.append(f"{where}.name: duplicate policy name {policy.name!r}")
            names.add(policy.name)
            if policy.calendar is not None and policy.calendar not in calendars:
                problems.append(f"{where}.calendar: unknown calendar {policy.calendar!r}")
            for brand_name in policy.match.brands:
                if brand_name not in self.brands:
                    problems.append(f"{where}.match.brands: unknown brand {brand_name!r}")
            if policy.clock == "business" and policy.calendar is None:
                covered = policy.match.brands or list(self.brands)
                missing = [
                    b for b in covered if b in self.brands and self.brands[b].calendar is None
                ]
                if missing:
                    problems.append(
                        f"{where}.calendar: a business-time policy needs a calendar; brand(s) "
                        f"{', '.join(missing)} have none (set `calendar:` here or on the brand, "
                        "or use `clock: calendar`)"
                    )
        quiet = self.notifications.quiet_hours
        if quiet is not None and quiet.calendar not in calendars:
            problems.append(
                f"notifications.quiet_hours.calendar: unknown calendar {quiet.calendar!r}"
            )
        if problems:
            raise ValueError("\n".join(problems))
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
        lines: list[str] = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            if err["loc"]:
                lines.append(f"{_error_path(err['loc'])}: {message}")
            else:  # cross-reference problems carry their own paths, one per line
                lines.extend(message.split("\n"))
        raise ConfigError(f"{source} is invalid:\n  " + "\n  ".join(lines)) from exc
