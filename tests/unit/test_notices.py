"""Escalation notices: customer text is data (neutralized, capped, quoted); subjects stay short."""

from __future__ import annotations

import pytest

from reply_sla.domain.models import Priority
from reply_sla.domain.notices import (
    QUOTED_TEXT_CHARS,
    escalation_body,
    escalation_subject,
    human_duration,
    neutralize,
    quote,
)
from tests.unit.builders import HOUR, MADRID, turn, utc

OPENED = utc(16, 9)  # Monday 10:00 in Madrid
WAITED = 3 * HOUR + 12 * 60


def _turn(**fields: object):
    return turn(OPENED, priority=Priority.HIGH, **fields)


def _body(**fields: object) -> str:
    return escalation_body(
        _turn(**fields),
        "manager",
        WAITED,
        utc(16, 12, 12),
        brand_name="Acme",
        timezone=MADRID,
        next_level=("director", utc(17, 12)),
    )


# neutralize ----------------------------------------------------------------------------------


def test_neutralize_removes_control_characters():
    # Given text with NUL, BEL and an ANSI escape sequence
    text = "a\x00b\x07c\x1b[31md"
    # When it is neutralized
    # Then the control characters are gone and the printable text stays
    assert neutralize(text) == "abc[31md"


@pytest.mark.parametrize(
    "mark", ["\u202e", "\u202a", "\u202d", "\u2066", "\u2069", "\u200f", "\u061c"]
)
def test_neutralize_removes_bidi_controls(mark):
    # Given a spoofed file name ("invoice<RLO>gpj.exe" displays as "invoiceexe.jpg")
    text = f"invoice{mark}gpj.exe"
    # When it is neutralized
    # Then the control is removed, so the text reads as it really is
    assert neutralize(text) == "invoicegpj.exe"


def test_neutralize_keeps_newlines_and_tabs_and_normalizes_crlf():
    # Given text with LF, CRLF, CR and a tab
    # When it is neutralized
    # Then line breaks survive as LF and the tab stays
    assert neutralize("one\ntwo\r\nthree\rfour\tfive") == "one\ntwo\nthree\nfour\tfive"


def test_neutralize_caps_long_text_with_an_ellipsis():
    # Given 600 characters of text
    # When it is neutralized with the default limit
    capped = neutralize("x" * 600)
    # Then it is exactly the limit long and ends with an ellipsis
    assert len(capped) == QUOTED_TEXT_CHARS
    assert capped.endswith("…")


def test_neutralize_leaves_text_at_the_limit_alone():
    # Given text exactly as long as the limit, When neutralized, Then nothing is cut
    assert neutralize("abcde", limit=5) == "abcde"
    assert neutralize("abcdef", limit=5) == "abcd…"


# quote ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hi\nSubject: x",
        "Hi\nFrom: boss\nTo: everyone",
        "Hi\r\nFrom: boss",
        "Hi\rFrom: boss",
        "Hi\n\nFrom: boss\n",
    ],
)
def test_quote_prefixes_every_line_so_no_customer_line_starts_a_body_line(text):
    # Given customer text that tries to pass a line for a header or an instruction from us
    # When it is quoted
    lines = quote(text).split("\n")
    # Then every line of the result is a quoted line
    assert all(line.startswith("  >") for line in lines)
    assert "  > From: boss" in lines or "  > Subject: x" in lines


def test_quote_treats_unicode_line_separators_as_line_breaks():
    # Given customer text split by LINE SEPARATOR and PARAGRAPH SEPARATOR (U+2028, U+2029):
    # mail readers break lines there (Unicode line-break class BK), as does str.splitlines
    text = "Hi\u2028From: boss\u2029Subject: urgent"
    # When it is quoted
    lines = quote(text).splitlines()
    # Then no customer line starts a line of the body
    assert all(line.startswith("  >") for line in lines), lines


def test_quote_marks_empty_lines_too():
    # Given text with a blank line, When quoted, Then the blank line is a bare quote mark
    assert quote("a\n\nb") == "  > a\n  >\n  > b"


# human_duration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (30, "30s"),
        (59.9, "59s"),
        (60, "1m"),
        (45 * 60, "45m"),
        (HOUR, "1h"),
        (3 * HOUR + 12 * 60, "3h 12m"),
        (86400, "1d"),
        (2 * 86400 + 4 * HOUR, "2d 4h"),
        (86400 + 30 * 60, "1d"),
        (-5, "0s"),
    ],
)
def test_human_duration(seconds, text):
    # Given a number of seconds, When shown to a person, Then it reads in the two largest units
    assert human_duration(seconds) == text


# escalation_subject --------------------------------------------------------------------------


def test_subject_stays_under_100_characters_for_a_300_character_handle():
    # Given a customer whose handle is 300 characters long
    long_turn = _turn(author_handle="@" + "x" * 299)
    # When the subject is written
    subject = escalation_subject(long_turn, WAITED, "Acme")
    # Then it is shorter than 100 characters
    assert len(subject) < 100


def test_subject_says_who_how_long_where_and_which_brand():
    # Given a turn on Mastodon that has waited 3h 12m
    # When the subject is written
    subject = escalation_subject(_turn(), WAITED, "Acme")
    # Then it names the customer, the wait, the channel and the brand
    assert "@ana@social.example" in subject
    assert "3h 12m" in subject
    assert "Mastodon" in subject
    assert "Acme" in subject


def test_subject_keeps_the_brand_when_the_handle_is_very_long():
    # Given a 300-character handle and an ordinary brand name
    long_turn = _turn(author_handle="@" + "x" * 299)
    # When the subject is written
    subject = escalation_subject(long_turn, WAITED, "Acme Outdoor Equipment")
    # Then the capped handle leaves room for how long, the channel and the whole brand name
    assert "3h 12m" in subject
    assert "Mastodon" in subject
    assert "(Acme Outdoor Equipment)" in subject, subject


def test_subject_folds_a_handle_with_line_breaks_onto_one_line():
    # Given a display name carrying a line break and a fake header
    # When the subject is written
    subject = escalation_subject(_turn(author_handle="", author_name="Ana\nBcc: x"), WAITED, "Acme")
    # Then the subject is one line
    assert "\n" not in subject and "\r" not in subject
    assert "Ana Bcc: x" in subject


# escalation_body -----------------------------------------------------------------------------


def test_body_names_the_customer_and_their_handle():
    # Given a turn by Ana García (@ana@social.example), When the body is written
    # Then both the name and the handle are there
    assert "Customer:   Ana García (@ana@social.example)" in _body()


def test_body_links_to_the_conversation():
    # Given a turn with a link, When the body is written, Then the link is given
    assert "Open the conversation: https://social.example/@ana/" in _body()


def test_body_gives_the_wait_and_the_target_and_the_policy():
    # Given a turn that has waited 3h 12m against a 1 h target of policy "standard"
    body = _body()
    # When the body is written, Then it gives all three
    assert "Waiting:    3h 12m since Mon 16 Nov 2026 10:00 CET" in body
    assert "(target 1h)" in body
    assert 'Target:     first response within 1h (policy "standard")' in body


def test_body_gives_the_level_and_the_next_level():
    # Given the manager level fires with the director level still to come
    body = _body()
    # When the body is written, Then it says which level this is and when the next one falls
    assert "Level:      manager" in body
    assert "Next level: director at Tue 17 Nov 2026 13:00 CET" in body


def test_body_says_when_there_is_no_next_level():
    # Given the last level of the ladder fires
    body = escalation_body(
        _turn(), "director", WAITED, utc(17, 12), brand_name="Acme", timezone=MADRID
    )
    # When the body is written, Then it says no further alert follows
    assert "Next level: none" in body


def test_body_caps_the_quoted_text_at_500_characters():
    # Given a customer who wrote 2000 characters
    body = _body(text="y" * 2000)
    # When the body is written
    quoted = [line.removeprefix("  > ") for line in body.split("\n") if line.startswith("  >")]
    # Then at most 500 characters of it are quoted, ending with an ellipsis
    assert len("".join(quoted)) <= 500
    assert quoted[-1].endswith("…")


def test_body_keeps_a_fake_header_in_customer_text_quoted():
    # Given customer text that tries to start its own lines
    body = _body(text="Please refund\nFrom: boss\nSubject: approved")
    # When the body is written
    lines = body.split("\n")
    # Then those lines appear only quoted
    assert "  > From: boss" in lines
    assert not any(line.startswith(("From:", "Subject:")) for line in lines)
