"""Pure parsing of the Mastodon adapter: Link headers, ids, status HTML and Status-to-Message."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from reply_sla.adapters.channels.http import ChannelHttp, parse_link_header
from reply_sla.adapters.channels.mastodon import (
    MastodonClient,
    html_to_text,
    id_key,
    rate_limit_reset,
    status_to_message,
)
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction
from reply_sla.errors import ChannelDataError, ConfigError

BRAND_ID = "109000000000000001"
BOT_ID = "109000000000000002"
ACCOUNT = AccountConfig(
    id="acme-mastodon",
    brand="acme",
    channel="mastodon",
    api_base_url="https://social.example",
    credentials={"access_token": "t"},
    automated_ids=[BOT_ID],
)


def status(**overrides: Any) -> dict[str, Any]:
    """A Status entity as Mastodon sends it, trimmed to what the adapter reads."""
    base: dict[str, Any] = {
        "id": "110000000000000100",
        "created_at": "2026-11-16T09:00:00.000Z",
        "in_reply_to_id": None,
        "visibility": "public",
        "uri": "https://social.example/users/carol/statuses/110000000000000100",
        "url": "https://social.example/@carol/110000000000000100",
        "content": "<p>Where is my order?</p>",
        "account": {"id": "200", "username": "carol", "acct": "carol", "display_name": "Carol"},
    }
    return {**base, **overrides}


def test_link_header_as_mastodon_sends_it():
    # Given Mastodon's Link header with a next (older) and a prev (newer) page
    header = (
        '<https://social.example/api/v1/notifications?max_id=34975535>; rel="next", '
        '<https://social.example/api/v1/notifications?min_id=34975861>; rel="prev"'
    )
    # When it is parsed
    links = parse_link_header(header)
    # Then each rel maps to its URL
    assert links == {
        "next": "https://social.example/api/v1/notifications?max_id=34975535",
        "prev": "https://social.example/api/v1/notifications?min_id=34975861",
    }


def test_link_header_with_commas_in_urls_and_bare_rels():
    # Given URLs with commas and an unquoted, multi-valued rel
    header = (
        '<https://a.example/x?ids=1,2>; rel=next, <https://a.example/y>; title="a, b"; '
        'rel="prev first"'
    )
    # When it is parsed
    links = parse_link_header(header)
    # Then the commas inside <...> and quotes do not split links
    assert links == {
        "next": "https://a.example/x?ids=1,2",
        "prev": "https://a.example/y",
        "first": "https://a.example/y",
    }


def test_missing_link_header_has_no_links():
    # Given an empty page's missing Link header, When parsed, Then there is nowhere to go
    assert parse_link_header("") == {}


def test_links_are_followed_only_within_the_servers_origin():
    # Given a client of https://social.example (the token goes with every request)
    http = ChannelHttp("mastodon", "https://social.example")
    # When a Link points to the same origin, Then it is followed as given
    same = "https://social.example/api/v1/notifications?max_id=5"
    assert http.url(same) == same
    # When it points to another host or scheme, Then it is refused as bad data
    for other in ("https://evil.example/api/v1/x", "http://social.example/api/v1/x"):
        with pytest.raises(ChannelDataError, match="another origin"):
            http.url(other)


def test_missing_access_token_is_a_config_error_naming_the_account():
    # Given credentials without an access token, When a client is built, Then ConfigError
    with pytest.raises(ConfigError, match=r"'acme-mastodon'.*access_token"):
        MastodonClient(ACCOUNT, {"token": "x"})


def test_ids_compare_as_numbers_not_as_text():
    # Given ids of different lengths where text order is wrong ("9" > "10" as text)
    ids = ["10", "9", "110000000000000100", "99999999999999999"]
    # When sorted by id_key
    ordered = sorted(ids, key=id_key)
    # Then they are in numeric order
    assert ordered == ["9", "10", "99999999999999999", "110000000000000100"]
    assert id_key("109") < id_key("110")


def test_paragraphs_and_line_breaks_become_newlines():
    # Given Mastodon HTML with two paragraphs and a <br />
    html = "<p>Hello<br />there</p><p>Second paragraph</p>"
    # When converted, Then each <br> and paragraph end is one newline
    assert html_to_text(html) == "Hello\nthere\nSecond paragraph"


def test_mentions_and_shortened_links_keep_their_full_text():
    # Given a mention h-card and a link Mastodon shortens with invisible spans
    html = (
        '<p><span class="h-card" translate="no"><a href="https://social.example/@acme" '
        'class="u-url mention">@<span>acme</span></a></span> see <a href="https://example.com/a/b">'
        '<span class="invisible">https://</span><span class="ellipsis">example.com/a</span>'
        '<span class="invisible">/b</span></a></p>'
    )
    # When converted, Then the text reads as posted
    assert html_to_text(html) == "@acme see https://example.com/a/b"


def test_escaped_markup_and_entities_stay_inert_text():
    # Given a customer who typed a script tag and entities (Mastodon escapes them in content)
    html = "<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; caf&#233; &#x1F600;</p>"
    # When converted
    text = html_to_text(html)
    # Then the text is exactly what they typed, as data
    assert text == '<script>alert("x")</script> & café 😀'


def test_real_script_elements_are_dropped():
    # Given HTML with an actual script element (never sent by Mastodon, but possible elsewhere)
    html = "<p>Hi<script>document.write('x')</script> there</p><style>p{}</style>"
    # When converted, Then only visible text remains
    assert html_to_text(html) == "Hi there"


def test_customer_root_status_is_an_inbound_thread_root():
    # Given a customer's public status that replies to nothing
    # When normalized
    message = status_to_message(status(), account=ACCOUNT, own_ids=frozenset({BRAND_ID}))
    # Then it is inbound and roots its own thread
    assert message.direction is Direction.INBOUND
    assert message.thread_id == message.message_id == "110000000000000100"
    assert message.parent_id is None
    assert (message.brand, message.account_id, message.channel) == (
        "acme",
        "acme-mastodon",
        "mastodon",
    )
    assert (message.author_id, message.author_handle, message.author_name) == (
        "200",
        "@carol",
        "Carol",
    )
    assert message.created_at == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    assert message.text == "Where is my order?"
    assert message.url == "https://social.example/@carol/110000000000000100"
    assert not message.private


def test_brand_reply_is_outbound_with_thread_left_to_the_poll_service():
    # Given the brand's reply to a customer
    reply = status(
        id="110000000000000200",
        in_reply_to_id="110000000000000100",
        account={"id": BRAND_ID, "username": "acme", "acct": "acme", "display_name": "Acme"},
    )
    # When normalized
    message = status_to_message(reply, account=ACCOUNT, own_ids=frozenset({BRAND_ID}))
    # Then it is outbound, names its parent, and has no thread id yet
    assert message.direction is Direction.OUTBOUND
    assert message.parent_id == "110000000000000100"
    assert message.thread_id is None


def test_automated_ids_win_over_own_ids():
    # Given an auto-responder that is also listed among the brand's own ids
    bot = status(
        account={"id": BOT_ID, "username": "acmebot", "acct": "acmebot", "display_name": ""}
    )
    # When normalized
    message = status_to_message(bot, account=ACCOUNT, own_ids=frozenset({BRAND_ID, BOT_ID}))
    # Then it is automated (not a human reply), and the name falls back to the username
    assert message.direction is Direction.AUTOMATED
    assert message.author_name == "acmebot"


def test_direct_message_is_private_and_remote_handle_keeps_its_domain():
    # Given a direct-visibility status from a remote account, without a web url
    dm = status(
        visibility="direct",
        url=None,
        account={
            "id": "300",
            "username": "dan",
            "acct": "dan@other.example",
            "display_name": "Dan",
        },
    )
    # When normalized
    message = status_to_message(dm, account=ACCOUNT, own_ids=frozenset({BRAND_ID}))
    # Then it is private, the handle is the full acct, and the url is the status uri
    assert message.private
    assert message.author_handle == "@dan@other.example"
    assert message.url == "https://social.example/users/carol/statuses/110000000000000100"


def test_created_at_with_an_offset_becomes_utc():
    # Given a timestamp with a +02:00 offset, When normalized, Then it is the same instant in UTC
    message = status_to_message(
        status(created_at="2026-11-16T11:00:00+02:00"), account=ACCOUNT, own_ids=frozenset()
    )
    assert message.created_at == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    assert message.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ({"account": None}, "missing account"),
        ({"id": 12345}, "id is not a string"),
        ({"created_at": "yesterday"}, "bad created_at"),
        ({"account": {"id": "200"}}, "missing acct"),
    ],
)
def test_undocumented_status_shapes_are_data_errors(broken, problem):
    # Given a status that is not what the API documents
    # When normalized, Then a ChannelDataError says where and what
    with pytest.raises(ChannelDataError, match=problem) as caught:
        status_to_message(status(**broken), account=ACCOUNT, own_ids=frozenset(), where="GET /x")
    assert "GET /x" in str(caught.value)


def test_rate_limit_reset_counts_from_the_servers_date():
    # Given a 429 whose X-RateLimit-Reset is two minutes after the server's Date header
    response = SimpleNamespace(
        headers={
            "Date": "Mon, 16 Nov 2026 09:00:00 GMT",
            "X-RateLimit-Reset": "2026-11-16T09:02:00.000000Z",
        }
    )
    # When the wait is computed, Then it is 120 s whatever our own clock says
    assert rate_limit_reset(response) == 120.0  # type: ignore[arg-type]


def test_rate_limit_without_reset_falls_back_to_retry_after():
    # Given no X-RateLimit-Reset but a Retry-After of 30 s, When computed, Then 30 s
    response = SimpleNamespace(headers={"Retry-After": "30"})
    assert rate_limit_reset(response) == 30.0  # type: ignore[arg-type]
