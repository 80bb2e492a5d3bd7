"""Channel adapters: one `ChannelClient` per platform, built from an account entry."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import requests

from reply_sla.config import AccountConfig
from reply_sla.errors import ConfigError
from reply_sla.ports import ChannelClient

# channel -> "module:Class"; every class takes (account, credentials, *, session, timeout).
# Imported lazily, so a function's cold start loads only the channels it polls.
ADAPTERS = {
    "mastodon": "reply_sla.adapters.channels.mastodon:MastodonClient",
    "x": "reply_sla.adapters.channels.x:XClient",
    "facebook": "reply_sla.adapters.channels.meta:FacebookClient",
    "instagram": "reply_sla.adapters.channels.meta:InstagramClient",
    "discourse": "reply_sla.adapters.channels.discourse:DiscourseClient",
    "bluesky": "reply_sla.adapters.channels.bluesky:BlueskyClient",
}


def build_channel_client(
    account: AccountConfig,
    credentials: Mapping[str, str],
    *,
    session: requests.Session | None = None,
    timeout: float = 10.0,
) -> ChannelClient:
    """The client for the account's channel; a `ConfigError` for a channel not built yet."""
    target = ADAPTERS.get(account.channel)
    module_name, _, class_name = (target or "").partition(":")
    try:
        module = importlib.import_module(module_name) if target else None
    except ModuleNotFoundError:
        module = None
    if module is None:
        raise ConfigError(
            f"account {account.id!r}: channel {account.channel!r} is not supported yet"
        )
    client: ChannelClient = getattr(module, class_name)(
        account, credentials, session=session, timeout=timeout
    )
    return client


__all__ = ["ADAPTERS", "build_channel_client"]
