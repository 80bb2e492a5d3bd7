"""Signed, expiring links that let a manager snooze or handle a turn from an escalation e-mail.

A token binds the turn, the action, the snooze length and the expiry, and is signed with
HMAC-SHA256 under a key named by a key id, so keys can rotate (old links keep working while
their key is kept as a previous key). Its form is `<kid>.<payload>.<mac>`, every part URL-safe
base64 without padding, so a link needs no escaping. The MAC is checked, in constant time,
before the payload is read; an expired token is refused after that check.

Pure: the caller passes the key and `now`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

ActionName = Literal["snooze", "handle"]
SNOOZE: Literal["snooze"] = "snooze"
HANDLE: Literal["handle"] = "handle"
ACTIONS = (SNOOZE, HANDLE)
# What each e-mail offers: (label, snooze seconds); 0 marks the turn handled.
LINK_CHOICES: tuple[tuple[str, int], ...] = (
    ("Snooze 1 hour", 3600),
    ("Snooze 4 hours", 4 * 3600),
    ("Snooze 1 day", 86400),
    ("Mark handled", 0),
)
LINK_LIFETIME = timedelta(days=7)
MIN_SNOOZE_SECONDS = 60
MAX_SNOOZE_SECONDS = 30 * 86400
MIN_KEY_BYTES = 32
# Anything longer is refused before it is parsed.
MAX_TOKEN_CHARS = 2048
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_B64 = re.compile(r"^[A-Za-z0-9_-]+$")
_CONTEXT = b"replysla-action-link-v1\n"


@dataclass(frozen=True)
class ActionKey:
    """One signing key and its id; the secret never appears in a repr."""

    kid: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KID.match(self.kid):
            raise ValueError(f"key id must be 1-32 of A-Z a-z 0-9 _ -, got {self.kid!r}")
        if len(self.secret) < MIN_KEY_BYTES:
            raise ValueError(
                f"key {self.kid!r} is {len(self.secret)} bytes; at least {MIN_KEY_BYTES} are needed"
            )


@dataclass(frozen=True)
class ActionKeyring:
    """The key links are signed with now, and earlier keys whose links still verify."""

    current: ActionKey
    previous: tuple[ActionKey, ...] = ()

    def find(self, kid: str) -> ActionKey | None:
        for key in (self.current, *self.previous):
            if hmac.compare_digest(key.kid, kid):
                return key
        return None


@dataclass(frozen=True)
class ActionClaim:
    """What a verified token asks for."""

    turn_key: str
    action: ActionName
    snooze_seconds: int
    expires_at: datetime
    kid: str
    # Stable for one link and unguessable without the key: a link is used once.
    token_id: str


class ActionTokenError(ValueError):
    """A token that must not be acted on; `kind` says why (for the page and the status)."""

    def __init__(self, kind: Literal["malformed", "forged", "expired"], message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64.match(text):
        raise ValueError("not URL-safe base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: ActionKey, signed: str) -> bytes:
    return hmac.new(key.secret, _CONTEXT + signed.encode("ascii"), hashlib.sha256).digest()


def sign_action(
    key: ActionKey,
    turn_key: str,
    action: ActionName,
    snooze_seconds: int,
    expires_at: datetime,
) -> str:
    """A token for one action on one turn, valid until `expires_at`."""
    _check_action(action, snooze_seconds)
    if not turn_key or len(turn_key) > 512:
        raise ValueError("turn key must be 1 to 512 characters")
    payload = json.dumps(
        {
            "v": 1,
            "t": turn_key,
            "a": action,
            "s": snooze_seconds,
            "e": int(expires_at.timestamp()),
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    signed = f"{key.kid}.{_b64(payload.encode('utf-8'))}"
    return f"{signed}.{_b64(_mac(key, signed))}"


def _check_action(action: str, snooze_seconds: int) -> None:
    if action == SNOOZE:
        if not MIN_SNOOZE_SECONDS <= snooze_seconds <= MAX_SNOOZE_SECONDS:
            raise ValueError(
                f"a snooze lasts {MIN_SNOOZE_SECONDS} s to {MAX_SNOOZE_SECONDS} s, "
                f"got {snooze_seconds}"
            )
    elif action == HANDLE:
        if snooze_seconds != 0:
            raise ValueError("a handle action has no snooze length")
    else:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")


def verify_action(token: str, keyring: ActionKeyring, now: datetime) -> ActionClaim:
    """The claim of a token signed by one of the keyring's keys and not yet expired.

    Raises ActionTokenError: `malformed` (not a token), `forged` (unknown key or a MAC that does
    not match: tampered, or signed with another key), `expired`.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise ActionTokenError("malformed", "the link's token is missing or too long")
    parts = token.split(".")
    if len(parts) != 3 or not _KID.match(parts[0]) or not all(_B64.match(p) for p in parts[1:]):
        raise ActionTokenError("malformed", "the link's token is not in the expected form")
    kid, payload_text, mac_text = parts
    key = keyring.find(kid)
    if key is None:
        raise ActionTokenError("forged", "the link was signed with a key this service lacks")
    try:
        mac = _unb64(mac_text)
    except (ValueError, binascii.Error) as exc:
        raise ActionTokenError("malformed", "the link's signature is not base64") from exc
    if not hmac.compare_digest(mac, _mac(key, f"{kid}.{payload_text}")):
        raise ActionTokenError("forged", "the link's signature does not match")
    try:
        payload = json.loads(_unb64(payload_text).decode("utf-8"))
        claim = _claim(payload, kid, mac)
    except (ValueError, binascii.Error, UnicodeDecodeError, TypeError, KeyError) as exc:
        raise ActionTokenError("malformed", "the link's content is not understood") from exc
    if now >= claim.expires_at:
        raise ActionTokenError("expired", "the link has expired")
    return claim


def _claim(payload: object, kid: str, mac: bytes) -> ActionClaim:
    if not isinstance(payload, dict) or set(payload) != {"v", "t", "a", "s", "e"}:
        raise ValueError("unexpected fields")
    version, turn_key, action, seconds, expires = (payload[k] for k in ("v", "t", "a", "s", "e"))
    if version != 1 or not isinstance(turn_key, str) or not turn_key:
        raise ValueError("unexpected version or turn")
    if not isinstance(seconds, int) or not isinstance(expires, int) or isinstance(seconds, bool):
        raise ValueError("unexpected numbers")
    if action not in ACTIONS:
        raise ValueError("unexpected action")
    _check_action(action, seconds)
    return ActionClaim(
        turn_key=turn_key,
        action=SNOOZE if action == SNOOZE else HANDLE,
        snooze_seconds=seconds,
        expires_at=datetime.fromtimestamp(expires, UTC),
        kid=kid,
        token_id=hashlib.sha256(mac).hexdigest()[:32],
    )


def _check_base_url(base_url: str) -> None:
    parts = urlsplit(base_url)
    local = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ValueError(f"action links need an https:// address, got {base_url!r}")
    if not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"action base URL must be a plain address without query, got {base_url!r}")


def action_link(base_url: str, token: str) -> str:
    return f"{base_url}?t={token}"


def action_links(
    turn_key: str,
    base_url: str,
    key: ActionKey,
    now: datetime,
    *,
    lifetime: timedelta = LINK_LIFETIME,
    choices: Sequence[tuple[str, int]] = LINK_CHOICES,
) -> list[tuple[str, str]]:
    """(label, url) for each choice: snoozes of the given seconds, and 0 for "mark handled".

    `base_url` is the action endpoint (https, e.g. https://abc.execute-api.../act); each link
    opens a confirmation page and acts only when the manager confirms.
    """
    _check_base_url(base_url)
    expires = now + lifetime
    links = []
    for label, seconds in choices:
        action: ActionName = SNOOZE if seconds else HANDLE
        token = sign_action(key, turn_key, action, seconds, expires)
        links.append((label, action_link(base_url, token)))
    return links


def parse_keyring(document: object, source: str = "the signing key secret") -> ActionKeyring:
    """The keyring from the secret's JSON: {"kid": "k2", "key": "...", "previous": {"k1": "..."}}.

    Keys are text of at least 32 characters (a generated password is fine). Errors name the
    field, never a key.
    """
    if not isinstance(document, dict):
        raise ValueError(f"{source}: expected a JSON object with `kid` and `key`")
    kid, secret = document.get("kid"), document.get("key")
    if not isinstance(kid, str) or not isinstance(secret, str):
        raise ValueError(f"{source}: `kid` and `key` must both be text")
    previous = document.get("previous", {})
    if not isinstance(previous, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in previous.items()
    ):
        raise ValueError(f"{source}: `previous` must map key ids to keys")
    try:
        current = ActionKey(kid, secret.encode("utf-8"))
        older = tuple(
            ActionKey(k, v.encode("utf-8")) for k, v in previous.items() if k != current.kid
        )
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    return ActionKeyring(current=current, previous=older)
