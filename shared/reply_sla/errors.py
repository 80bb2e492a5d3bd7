"""The project's own exceptions; adapters translate provider errors into these."""

from __future__ import annotations


class ReplySlaError(Exception):
    """Base of every error the product raises on purpose."""


class ConfigError(ReplySlaError):
    """The monitor's configuration is missing or invalid; the message says where."""


class ChannelError(ReplySlaError):
    """A channel API call failed in a way that is not the caller's fault."""

    def __init__(self, channel: str, message: str) -> None:
        super().__init__(f"{channel}: {message}")
        self.channel = channel


class ChannelRateLimited(ChannelError):
    """The channel asked us to slow down; `retry_at` says when to come back, if it said."""

    def __init__(self, channel: str, message: str, retry_after_seconds: float | None) -> None:
        super().__init__(channel, message)
        self.retry_after_seconds = retry_after_seconds


class ChannelAuthError(ChannelError):
    """The credentials were refused; a person must renew them."""


class ChannelDataError(ChannelError):
    """The channel answered with something that is not what its API documents."""


class StoreConflict(ReplySlaError):
    """A conditional write lost a race; the caller re-reads and decides again."""


class StoreUnavailable(ReplySlaError):
    """The table throttled or failed after retries; nothing was half-written."""
