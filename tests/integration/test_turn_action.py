"""The e-mail action links end to end on moto: functions/turn_action/handler.py with HTTP API
events, the signing key in Secrets Manager, the turns in the table made from template.yaml."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from reply_sla.adapters.action_key import SecretsManagerActionKeys
from reply_sla.adapters.dynamodb_store import DynamoThreadStore
from reply_sla.config import AccountConfig
from reply_sla.domain.action_tokens import ActionKey, action_links, sign_action
from reply_sla.domain.models import EventType, TurnStatus
from reply_sla.domain.policy import FixedWindowPolicy, ReplyToEveryInbound
from reply_sla.errors import ConfigError
from reply_sla.local.demo import LambdaContextStub, _load_handler
from reply_sla.local.provision import provision_table
from reply_sla.services.polling import poll_account
from reply_sla.settings import Settings
from reply_sla.wiring import Container, use_container
from tests.conftest import TEMPLATE, local_session
from tests.factories import inbound, outbound
from tests.fakes import FakeChannel

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
BASE = "https://abc123.execute-api.us-east-1.amazonaws.com/act"
KEY = ActionKey("k1", b"0123456789abcdef0123456789abcdef-signing")
ACCOUNT = AccountConfig(
    id="acme-mastodon", brand="acme", channel="mastodon", credentials={"t": "x"}
)
HOSTILE_HANDLE = "<script>alert('handle')</script>"
HOSTILE_TEXT = '"><img src=x onerror=alert(1)> where is my refund?'


@dataclass
class Site:
    store: DynamoThreadStore
    links: dict[str, str]  # label -> url, for the `open` turn
    secrets: Any
    secret_arn: str

    def call(
        self, method: str, token: str | None = None, form: dict[str, str] | None = None, **kw: Any
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/act",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
            "requestContext": {"http": {"method": method, "path": "/act"}},
            "isBase64Encoded": False,
        }
        if token is not None:
            event["queryStringParameters"] = {"t": token}
        if form is not None:
            event["body"] = urlencode(form)
        event.update(kw)
        response: dict[str, Any] = _load_handler("turn_action")(
            event, LambdaContextStub("turn_action")
        )
        return response

    def token(self, label: str) -> str:
        return self.links[label].partition("?t=")[2]


@pytest.fixture
def site(moto_aws: None, tmp_path, monkeypatch) -> Iterator[Site]:
    session = local_session()
    table = f"actions-{uuid.uuid4().hex[:8]}"
    provision_table(session, None, TEMPLATE, table)
    secrets = session.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(
        Name=f"replysla/action-key-{uuid.uuid4().hex[:6]}",
        SecretString=json.dumps({"kid": KEY.kid, "key": KEY.secret.decode()}),
    )["ARN"]
    config = tmp_path / "replysla.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "brands": {"acme": {"name": "ACME", "timezone": "Europe/Madrid"}},
                "policies": [
                    {
                        "name": "default",
                        "first_response": "1h",
                        "next_response": "2h",
                        "clock": "calendar",
                        "max_snooze": "8h",
                    }
                ],
            }
        )
    )
    env = {
        "TABLE_NAME": table,
        "REPLYSLA_CONFIG_FILE": str(config),
        "ACTION_KEY_SECRET_ARN": arn,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store = DynamoThreadStore(session.client("dynamodb", region_name="us-east-1"), table)
    customer = {"author_handle": HOSTILE_HANDLE, "text": HOSTILE_TEXT}
    messages = [
        inbound(0, thread_id="open").model_copy(
            update={**customer, "created_at": NOW - timedelta(minutes=20)}
        ),
        inbound(0, thread_id="answered").model_copy(
            update={"created_at": NOW - timedelta(minutes=30)}
        ),
        outbound(0, thread_id="answered").model_copy(
            update={"created_at": NOW - timedelta(minutes=10)}
        ),
    ]
    poll_account(
        ACCOUNT, FakeChannel(messages), store, FixedWindowPolicy(), ReplyToEveryInbound(), NOW
    )
    use_container(Container(Settings.from_env(), clock=lambda: NOW))
    try:
        links = dict(action_links("acme-mastodon:open:1", BASE, KEY, NOW - timedelta(hours=1)))
        yield Site(store, links, secrets, arn)
    finally:
        use_container(None)


def events(site: Site) -> list[Any]:
    return site.store.thread_events("acme-mastodon", "open") + site.store.thread_events(
        "acme-mastodon", "answered"
    )


def test_opening_a_link_shows_a_confirmation_form_and_changes_nothing(site: Site):
    # When a mail scanner (or the manager) opens the "snooze 4 hours" link
    response = site.call("GET", site.token("Snooze 4 hours"))
    # Then a plain page asks to confirm, with a POST form carrying the token
    assert response["statusCode"] == 200
    page = response["body"]
    assert "Snooze for 4h?" in page and '<form method="post">' in page
    assert f'name="t" value="{site.token("Snooze 4 hours")}"' in page
    # And the customer's name and text are shown escaped, and the page has no script at all
    assert "&lt;script&gt;alert(&#x27;handle&#x27;)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page and "<img" not in page
    headers = response["headers"]
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    # And nothing happened: no snooze, no event, the link still unused
    turn, state = site.store.get_turn_pauses("acme-mastodon", "open", 1)
    assert state.snooze is None and turn.status is TurnStatus.OPEN
    assert sorted(e.type for e in events(site)) == sorted(
        [EventType.TURN_OPENED] * 2 + [EventType.REPLIED]
    )
    # And a HEAD gets the headers only
    head = site.call("HEAD", site.token("Snooze 4 hours"))
    assert head["statusCode"] == 200 and head["body"] == ""


def test_confirming_a_snooze_link_snoozes_the_turn_once(site: Site):
    token = site.token("Snooze 1 hour")
    # When the manager confirms (the form's POST), giving a name
    response = site.call("POST", form={"t": token, "by": "Ana", "note": ""})
    # Then the turn is snoozed for an hour, and the page says until when in the brand's zone
    assert response["statusCode"] == 200, response["body"]
    assert "Snoozed" in response["body"] and "Mon 16 Nov 2026 14:00 CET" in response["body"]
    _, state = site.store.get_turn_pauses("acme-mastodon", "open", 1)
    assert state.snooze is not None and state.snooze.until == NOW + timedelta(hours=1)
    assert state.snooze.by == "Ana (e-mail link)" and state.snooze.via == "e-mail link"
    [snoozed] = [e for e in events(site) if e.type is EventType.SNOOZED]
    assert snoozed.detail["reason"] == "snoozed from an e-mail link"
    # And the same link cannot be used again, by POST or GET
    again = site.call("POST", form={"t": token})
    assert again["statusCode"] == 409 and "each link works once" in again["body"]
    assert site.call("GET", token)["statusCode"] == 409
    assert len([e for e in events(site) if e.type is EventType.SNOOZED]) == 1


def test_a_snooze_longer_than_the_policy_allows_is_capped_and_the_page_says_so(site: Site):
    long_link = sign_action(KEY, "acme-mastodon:open:1", "snooze", 86400, NOW + timedelta(days=1))
    body = base64.b64encode(urlencode({"t": long_link}).encode()).decode()
    # When the form is posted base64-encoded (as API Gateway may pass it)
    response = site.call("POST", body=body, isBase64Encoded=True)
    assert response["statusCode"] == 200, response["body"]
    assert "capped at 8h, the max_snooze of policy &#x27;default&#x27;" in response["body"]
    _, state = site.store.get_turn_pauses("acme-mastodon", "open", 1)
    assert state.snooze is not None and state.snooze.until == NOW + timedelta(hours=8)


def test_mark_handled_closes_the_turn_with_the_note(site: Site):
    response = site.call("POST", form={"t": site.token("Mark handled"), "note": "called her back"})
    assert response["statusCode"] == 200 and "Marked as handled" in response["body"]
    turn = site.store.get_turn("acme-mastodon", "open", 1)
    assert turn.status is TurnStatus.DISMISSED
    [dismissed] = [e for e in events(site) if e.type is EventType.DISMISSED]
    assert dismissed.detail == {"reason": "handled: called her back", "by": "e-mail link"}
    assert site.store.open_turns("acme") == []


def _tampered(token: str) -> str:
    kid, payload, mac = token.split(".")
    return f"{kid}.{payload}.{('A' if mac[0] != 'A' else 'B') + mac[1:]}"


@pytest.mark.parametrize(
    ("make", "status", "title"),
    [
        (lambda site: _tampered(site.token("Snooze 1 hour")), 403, "This link is not valid"),
        (
            lambda site: sign_action(
                ActionKey("k9", b"z" * 32), "acme-mastodon:open:1", "handle", 0, NOW + timedelta(1)
            ),
            403,
            "This link is not valid",
        ),
        (
            lambda site: sign_action(KEY, "acme-mastodon:open:1", "handle", 0, NOW),
            410,
            "This link has expired",
        ),
        (lambda site: "", 400, "This link is not complete"),
        (lambda site: "k1.only-two", 400, "This link is not complete"),
    ],
)
def test_bad_links_get_a_4xx_page_and_change_nothing(site: Site, make, status, title):
    token = make(site)
    for method, kwargs in (("GET", {"token": token}), ("POST", {"form": {"t": token}})):
        response = site.call(method, **kwargs)
        assert response["statusCode"] == status
        assert title in response["body"] and "Traceback" not in response["body"]
    assert site.store.get_turn("acme-mastodon", "open", 1).status is TurnStatus.OPEN
    assert not [e for e in events(site) if e.type is EventType.SNOOZED]


def test_other_methods_are_not_allowed(site: Site):
    response = site.call("PUT", site.token("Snooze 1 hour"))
    assert response["statusCode"] == 405 and response["headers"]["Allow"] == "GET, HEAD, POST"


def test_a_link_for_an_answered_turn_has_nothing_to_do(site: Site):
    [(_, url), *_] = action_links("acme-mastodon:answered:1", BASE, KEY, NOW)
    response = site.call("POST", form={"t": url.partition("?t=")[2]})
    assert response["statusCode"] == 409
    assert "Nothing to do: this wait is over (the customer was answered)" in response["body"]


def test_a_failure_inside_answers_a_plain_500_page_without_details(site: Site, monkeypatch):
    # Given a function whose table does not exist
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    use_container(Container(Settings.from_env(), clock=lambda: NOW))
    response = site.call("POST", form={"t": site.token("Snooze 1 hour")})
    assert response["statusCode"] == 500
    body = response["body"]
    assert "Something went wrong" in body
    assert (
        "Traceback" not in body and "ResourceNotFound" not in body and "no-such-table" not in body
    )


def test_the_key_is_read_once_and_a_rotated_in_key_is_picked_up(site: Site):
    # Given the key source of a warm container, on a clock we move
    clock = [1000.0]
    keys = SecretsManagerActionKeys(site.secrets, site.secret_arn, clock=lambda: clock[0])
    assert keys.keyring().current.kid == "k1"
    # When the secret is rotated to k2, keeping k1 as previous
    new = "n" * 48
    site.secrets.put_secret_value(
        SecretId=site.secret_arn,
        SecretString=json.dumps({"kid": "k2", "key": new, "previous": {"k1": KEY.secret.decode()}}),
    )
    # Then the cached keyring is used for a while (a refresh is at most once a minute)
    clock[0] += 30
    assert keys.keyring(refresh=True).current.kid == "k1"
    clock[0] += 31
    ring = keys.keyring(refresh=True)
    assert ring.current.kid == "k2" and [k.kid for k in ring.previous] == ["k1"]
    # And without a refresh it is re-read after max_age anyway
    site.secrets.put_secret_value(
        SecretId=site.secret_arn, SecretString=json.dumps({"kid": "k3", "key": new})
    )
    clock[0] += 301
    assert keys.keyring().current.kid == "k3"


def test_key_secret_errors_name_the_secret_never_a_key(site: Site):
    site.secrets.put_secret_value(
        SecretId=site.secret_arn, SecretString=json.dumps({"kid": "k1", "key": "short-secret"})
    )
    with pytest.raises(ConfigError, match="at least 32") as caught:
        SecretsManagerActionKeys(site.secrets, site.secret_arn).keyring()
    assert "short-secret" not in str(caught.value) and site.secret_arn in str(caught.value)
    with pytest.raises(ConfigError, match="ResourceNotFoundException"):
        SecretsManagerActionKeys(site.secrets, "replysla/missing").keyring()


def test_requests_per_action_stay_few(site: Site):
    # Given the function's own DynamoDB client, counted by operation
    from collections import Counter

    from reply_sla.wiring import container

    calls: Counter[str] = Counter()
    client = container().store._client  # the client the handler uses
    client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.update([model.name])
    )
    # When a manager opens a link, then confirms it
    site.call("GET", site.token("Snooze 1 day"))
    opened = dict(calls)
    calls.clear()
    assert site.call("POST", form={"t": site.token("Snooze 1 day")})["statusCode"] == 200
    # Then opening reads two items (the turn, the link's use), and confirming a snooze reads three
    # and writes twice: the link's use, then one transaction (turn, snooze marker, event)
    assert opened == {"GetItem": 2}
    assert dict(calls) == {"GetItem": 3, "PutItem": 1, "TransactWriteItems": 1}
