"""Channel adapters: one `ChannelClient` per platform, built from an account entry."""

from __future__ import annotations

from collections.abc import Mapping

import requests

from reply_sla.adapters.channels.mastodon import MastodonClient
from reply_sla.config import AccountConfig
from reply_sla.errors import ConfigError
from reply_sla.ports import ChannelClient


def build_channel_client(
    account: AccountConfig,
    credentials: Mapping[str, str],
    *,
    session: requests.Session | None = None,
    timeout: float = 10.0,
) -> ChannelClient:
    """The client for the account's channel; a `ConfigError` for a channel not built yet."""
    if account.channel == "mastodon":
        return MastodonClient(account, credentials, session=session, timeout=timeout)
    raise ConfigError(f"account {account.id!r}: channel {account.channel!r} is not supported yet")


__all__ = ["MastodonClient", "build_channel_client"]
