"""Signed, expiring action-link tokens: what verifies, what is refused, and why."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from reply_sla.domain import action_tokens
from reply_sla.domain.action_pages import http_response, read_request
from reply_sla.domain.action_tokens import (
    LINK_LIFETIME,
    ActionKey,
    ActionKeyring,
    ActionTokenError,
    action_links,
    parse_keyring,
    sign_action,
    verify_action,
)
from reply_sla.services.actions import parse_turn_key

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
KEY = ActionKey("k1", b"k" * 32)
OTHER = ActionKey("k1", b"o" * 32)
NEW = ActionKey("k2", b"n" * 40)
TURN = "acme-bsky:at://did:plc:abc/app.bsky.feed.post/3kx:1"
URL_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


def token(
    key: ActionKey = KEY, seconds: int = 3600, expires: datetime = NOW + timedelta(days=1)
) -> str:
    return sign_action(key, TURN, "snooze", seconds, expires)


def refused(text: str, keyring: ActionKeyring, now: datetime = NOW) -> str:
    with pytest.raises(ActionTokenError) as caught:
        verify_action(text, keyring, now)
    return caught.value.kind


def test_a_signed_token_verifies_to_what_was_signed():
    claim = verify_action(token(), ActionKeyring(KEY), NOW)
    assert (claim.turn_key, claim.action, claim.snooze_seconds, claim.kid) == (
        TURN,
        "snooze",
        3600,
        "k1",
    )
    assert claim.expires_at == NOW + timedelta(days=1)
    # The token id is stable for one link and differs between links
    assert verify_action(token(), ActionKeyring(KEY), NOW).token_id == claim.token_id
    assert verify_action(token(seconds=7200), ActionKeyring(KEY), NOW).token_id != claim.token_id


def test_tokens_are_url_safe_whatever_the_turn_key_holds():
    text = sign_action(KEY, "acme-x:thread/ü?&#=:2", "handle", 0, NOW + timedelta(hours=1))
    assert URL_SAFE.match(text)
    assert verify_action(text, ActionKeyring(KEY), NOW).turn_key == "acme-x:thread/ü?&#=:2"


def test_a_changed_payload_is_refused_as_forged():
    kid, payload, mac = token().split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["s"] = 30 * 86400  # a longer snooze than the link offered
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    assert refused(f"{kid}.{forged}.{mac}", ActionKeyring(KEY)) == "forged"


def test_a_changed_signature_or_another_key_is_refused_as_forged():
    kid, payload, mac = token().split(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    assert refused(f"{kid}.{payload}.{flipped}", ActionKeyring(KEY)) == "forged"
    # Same key id, different secret
    assert refused(token(OTHER), ActionKeyring(KEY)) == "forged"
    # A key id this service does not have
    assert refused(token(NEW), ActionKeyring(KEY)) == "forged"


def test_the_mac_is_compared_in_constant_time(monkeypatch):
    calls = []
    real = action_tokens.hmac.compare_digest

    def spy(a, b):
        calls.append((type(a), type(b)))
        return real(a, b)

    monkeypatch.setattr(action_tokens.hmac, "compare_digest", spy)
    verify_action(token(), ActionKeyring(KEY), NOW)
    assert (bytes, bytes) in calls


def test_a_token_expires_at_its_expiry():
    text = token(expires=NOW + timedelta(hours=1))
    assert verify_action(text, ActionKeyring(KEY), NOW + timedelta(minutes=59)).action == "snooze"
    assert refused(text, ActionKeyring(KEY), NOW + timedelta(hours=1)) == "expired"


def test_an_expired_token_that_was_tampered_with_is_forged_not_expired():
    kid, payload, mac = token(expires=NOW - timedelta(days=1)).split(".")
    assert refused(f"{kid}.{payload}.{mac[::-1]}", ActionKeyring(KEY)) == "forged"


@pytest.mark.parametrize(
    "text",
    ["", "abc", "k1.abc", "k1.a.b.c", "k1.a b.c", "bad kid!.abc.def", "k1." + "a" * 3000 + ".b"],
)
def test_what_is_not_a_token_is_malformed(text):
    assert refused(text, ActionKeyring(KEY)) == "malformed"


def test_a_well_signed_but_unexpected_payload_is_malformed():
    payload = base64.urlsafe_b64encode(b'{"v":1,"t":"x:y:1","a":"delete","s":0,"e":9999999999}')
    signed = f"k1.{payload.rstrip(b'=').decode()}"
    mac = action_tokens._b64(action_tokens._mac(KEY, signed))
    assert refused(f"{signed}.{mac}", ActionKeyring(KEY)) == "malformed"


def test_links_signed_with_a_rotated_out_key_verify_while_it_is_kept_as_previous():
    old_link = token(KEY)
    rotated = ActionKeyring(current=NEW, previous=(KEY,))
    assert verify_action(old_link, rotated, NOW).kid == "k1"
    assert verify_action(token(NEW), rotated, NOW).kid == "k2"
    # Once the old key is dropped, its links stop working
    assert refused(old_link, ActionKeyring(NEW)) == "forged"


def test_action_links_offer_three_snoozes_and_handled_each_verifying_to_its_action():
    links = action_links(TURN, "https://abc.execute-api.eu-west-1.amazonaws.com/act", KEY, NOW)
    assert [label for label, _ in links] == [
        "Snooze 1 hour",
        "Snooze 4 hours",
        "Snooze 1 day",
        "Mark handled",
    ]
    claims = []
    for _, url in links:
        base, _, text = url.partition("?t=")
        assert base == "https://abc.execute-api.eu-west-1.amazonaws.com/act"
        assert URL_SAFE.match(text)
        claims.append(verify_action(text, ActionKeyring(KEY), NOW))
    assert [(c.action, c.snooze_seconds) for c in claims] == [
        ("snooze", 3600),
        ("snooze", 14400),
        ("snooze", 86400),
        ("handle", 0),
    ]
    assert {c.expires_at for c in claims} == {NOW + LINK_LIFETIME}
    assert len({c.token_id for c in claims}) == 4


@pytest.mark.parametrize(
    "base",
    ["http://actions.example/act", "ftp://x/act", "https:///act", "https://a.example/act?x=1"],
)
def test_action_links_need_a_plain_https_address(base):
    with pytest.raises(ValueError, match=r"https|plain address"):
        action_links(TURN, base, KEY, NOW)


def test_action_links_may_use_plain_http_on_this_machine():
    [(_, url), *_] = action_links(TURN, "http://127.0.0.1:3000/act", KEY, NOW)
    assert url.startswith("http://127.0.0.1:3000/act?t=")


def test_signing_refuses_what_a_link_must_not_offer():
    with pytest.raises(ValueError, match="a snooze lasts"):
        sign_action(KEY, TURN, "snooze", 10, NOW)
    with pytest.raises(ValueError, match="no snooze length"):
        sign_action(KEY, TURN, "handle", 60, NOW)


def test_keys_are_long_enough_and_never_shown():
    with pytest.raises(ValueError, match="at least 32"):
        ActionKey("k1", b"short")
    with pytest.raises(ValueError, match="key id"):
        ActionKey("k 1", b"k" * 32)
    assert "kkkk" not in repr(KEY) and "kkkk" not in repr(ActionKeyring(KEY))


def test_the_keyring_secret_is_read_with_errors_that_never_show_a_key():
    ring = parse_keyring({"kid": "k2", "key": "n" * 40, "previous": {"k1": "k" * 32}})
    assert ring.current.kid == "k2" and [k.kid for k in ring.previous] == ["k1"]
    with pytest.raises(ValueError, match="`kid` and `key`") as caught:
        parse_keyring({"kid": "k2"})
    with pytest.raises(ValueError, match="at least 32") as caught:
        parse_keyring({"kid": "k2", "key": "tooshortsecret"})
    assert "tooshortsecret" not in str(caught.value)
    with pytest.raises(ValueError, match="`previous` must map"):
        parse_keyring({"kid": "k2", "key": "n" * 40, "previous": ["k1"]})


def test_turn_keys_keep_colons_inside_the_thread_id():
    ref = parse_turn_key(TURN)
    assert (ref.account_id, ref.thread_id, ref.seq) == (
        "acme-bsky",
        "at://did:plc:abc/app.bsky.feed.post/3kx",
        1,
    )
    assert ref.key == TURN


def test_requests_read_the_token_from_the_query_or_the_posted_form():
    get = read_request(
        {"requestContext": {"http": {"method": "GET"}}, "queryStringParameters": {"t": "a.b.c"}}
    )
    assert (get.method, get.token, get.form) == ("GET", "a.b.c", {})
    body = base64.b64encode(b"t=x.y.z&by=Ana&note=called+her&evil=1").decode()
    post = read_request(
        {"requestContext": {"http": {"method": "POST"}}, "body": body, "isBase64Encoded": True}
    )
    assert post.token == "x.y.z" and post.form == {"t": "x.y.z", "by": "Ana", "note": "called her"}
    # Too many fields, or a broken body, read as an empty form (the page then says what is wrong)
    crowded = "&".join(f"f{i}=1" for i in range(50))
    assert (
        read_request({"requestContext": {"http": {"method": "POST"}}, "body": crowded}).form == {}
    )
    assert read_request({"body": "%%%"}).method == ""


def test_pages_are_sent_with_headers_that_keep_the_token_private():
    response = http_response(200, "<p>x</p>")
    headers = response["headers"]
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    assert "script-src" not in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert http_response(405, "x")["headers"]["Allow"] == "GET, HEAD, POST"
    assert http_response(200, "<p>x</p>", head=True)["body"] == ""
