"""`replysla commitments`: the public response promise derived from the policies and calendars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reply_sla.cli.main import main
from reply_sla.config import MonitorConfig, parse_config
from reply_sla.domain.commitments import commitments
from reply_sla.errors import ConfigError

SPLIT_DAY = ["09:00-14:00", "15:00-18:00"]
MADRID_OFFICE = {
    "timezone": "Europe/Madrid",
    "hours": {
        "mon": SPLIT_DAY,
        "tue": SPLIT_DAY,
        "wed": SPLIT_DAY,
        "thu": SPLIT_DAY,
        "fri": ["09:00-15:00"],
    },
    "holidays": {"country": "ES", "subdivision": "MD", "dates": ["2026-12-24"]},
    "special_hours": {"2026-12-31": ["09:00-13:00"]},
}


def account(account_id: str, brand: str, channel: str) -> dict[str, Any]:
    return {
        "id": account_id,
        "brand": brand,
        "channel": channel,
        "secret": f"replysla/{account_id}",
    }


MADRID: dict[str, Any] = {
    "calendars": {"madrid-office": MADRID_OFFICE},
    "brands": {"acme": {"name": "ACME", "timezone": "Europe/Madrid", "calendar": "madrid-office"}},
    "accounts": [account("acme-x", "acme", "x"), account("acme-mastodon", "acme", "mastodon")],
    "policies": [
        {
            "name": "x-mentions",
            "match": {"channels": ["x"], "private": False},
            "first_response": "4h",
            "next_response": "4h",
            "max_wait": "24h",
        },
        {"name": "default", "first_response": "8h", "next_response": "16h", "max_wait": "48h"},
    ],
}
MADRID_HOURS_EN = (
    "Monday to Thursday 9:00-14:00 and 15:00-18:00; Friday 9:00-15:00, Madrid time, "
    "except public holidays in Spain (Madrid) and 24 Dec 2026; on 31 Dec 2026 9:00-13:00"
)
MADRID_HOURS_ES = (
    "de lunes a jueves de 9:00 a 14:00 y de 15:00 a 18:00; viernes de 9:00 a 15:00, "
    "hora de Madrid, excepto los festivos en España (Madrid) y el 24 de diciembre de 2026; "
    "el 31 de diciembre de 2026, de 9:00 a 13:00"
)


def config(document: dict[str, Any]) -> MonitorConfig:
    return parse_config(document)


def write(tmp_path: Path, document: dict[str, Any]) -> str:
    path = tmp_path / "replysla.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return str(path)


def test_madrid_team_in_english():
    # Given the Madrid team: split days, a short Friday, Madrid holidays, Christmas Eve closed
    # and a short New Year's Eve; X mentions within 4 business hours, the rest within 8
    # When the promise is written in English as Markdown
    text = commitments(config(MADRID), "acme")
    # Then a heading names the brand and each policy is one bullet, in policy order
    assert text == (
        "# ACME: our response times\n"
        "\n"
        "- We answer public mentions and comments on X within 4 business hours (follow-ups too), "
        f"{MADRID_HOURS_EN}; never later than 24 hours.\n"
        "- We answer all other messages within 8 business hours (follow-ups within 16 business "
        f"hours), {MADRID_HOURS_EN}; never later than 48 hours.\n"
    )


def test_madrid_team_in_spanish():
    # Given the same Madrid team, When the promise is written in Spanish
    text = commitments(config(MADRID), "acme", lang="es")
    # Then it is a translation, not English words in Spanish order
    assert text == (
        "# ACME: nuestros tiempos de respuesta\n"
        "\n"
        "- Respondemos a las menciones y comentarios públicos en X en un plazo de 4 horas "
        f"laborables (también a los mensajes posteriores), {MADRID_HOURS_ES}; en ningún caso "
        "más de 24 horas.\n"
        "- Respondemos a todos los demás mensajes en un plazo de 8 horas laborables (y a los "
        f"mensajes posteriores, en 16 horas laborables), {MADRID_HOURS_ES}; en ningún caso más "
        "de 48 horas.\n"
    )


def test_urgent_private_messages_name_priorities_and_channels_in_plain_words():
    # Given a policy for urgent and high-priority private messages on Facebook and Instagram
    document = {
        **MADRID,
        "accounts": [
            account("acme-fb", "acme", "facebook"),
            account("acme-ig", "acme", "instagram"),
        ],
        "policies": [
            {
                "name": "urgent-private",
                "match": {
                    "channels": ["facebook", "instagram"],
                    "private": True,
                    "priorities": ["high", "urgent"],
                },
                "first_response": "30m",
                "next_response": "1h",
            },
            {"name": "default", "first_response": "4h", "next_response": "8h"},
        ],
    }
    # When the promise is written in both languages
    english = commitments(config(document), "acme")
    spanish = commitments(config(document), "acme", lang="es")
    # Then the scope reads as people speak, most urgent first ("e Instagram" in Spanish)
    assert (
        "We answer urgent and high-priority private messages on Facebook and Instagram "
        "within 30 business minutes (follow-ups within 1 business hour)" in english
    )
    assert (
        "Respondemos a los mensajes privados urgentes y de prioridad alta en Facebook e "
        "Instagram en un plazo de 30 minutos laborables (y a los mensajes posteriores, en 1 "
        "hora laborable)" in spanish
    )
    assert "We answer all other messages within 4 business hours" in english


def test_a_24_7_team_answers_around_the_clock():
    # Given a team on calendar time: urgent messages in 15 minutes, the rest in 1 hour
    document = {
        "brands": {"owl": {"name": "Night Owl", "timezone": "Europe/London"}},
        "accounts": [account("owl-mastodon", "owl", "mastodon")],
        "policies": [
            {
                "name": "urgent",
                "match": {"priorities": ["urgent"]},
                "first_response": "15m",
                "next_response": "30m",
                "clock": "calendar",
            },
            {
                "name": "rest",
                "first_response": "1h",
                "next_response": "2h",
                "clock": "calendar",
            },
        ],
    }
    # When the promise is written
    english = commitments(config(document), "owl")
    spanish = commitments(config(document), "owl", lang="es")
    # Then there are no opening hours, only "around the clock"
    assert english.splitlines()[2:] == [
        "- We answer urgent messages within 15 minutes (follow-ups within 30 minutes), "
        "around the clock.",
        "- We answer all other messages within 1 hour (follow-ups within 2 hours), "
        "around the clock.",
    ]
    assert spanish.splitlines()[2] == (
        "- Respondemos a los mensajes urgentes en un plazo de 15 minutos (y a los mensajes "
        "posteriores, en 30 minutos), las 24 horas, todos los días."
    )


def test_a_business_calendar_open_all_week_all_day_is_around_the_clock():
    # Given a business-time policy whose calendar is open 00:00-24:00 every day, no holidays
    always = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    document = {
        "calendars": {"always": {"timezone": "UTC", "hours": always}},
        "brands": {"b": {"name": "B", "calendar": "always"}},
        "policies": [{"name": "p", "first_response": "2h", "next_response": "2h"}],
    }
    # When the promise is written, Then it says so without listing seven days
    assert commitments(config(document), "b").splitlines()[2] == (
        "- We answer all messages within 2 business hours (follow-ups too), around the clock."
    )


FOLLOW_THE_SUN: dict[str, Any] = {
    "calendars": {
        "madrid": {
            "timezone": "Europe/Madrid",
            "hours": {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": {"country": "ES", "subdivision": "MD"},
        },
        "new-york": {
            "timezone": "America/New_York",
            "hours": {
                **{d: ["08:00-20:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                "sat": ["10:00-16:00"],
            },
            "holidays": {"country": "US", "subdivision": "NY", "working_dates": ["2026-11-03"]},
            "special_hours": {"2026-11-27": ["08:00-12:00"], "2026-12-24": []},
        },
    },
    "brands": {"globex": {"name": "Globex", "timezone": "Europe/Madrid"}},
    "accounts": [
        account("globex-eu", "globex", "mastodon"),
        account("globex-us", "globex", "mastodon"),
    ],
    "policies": [
        {
            "name": "europe",
            "match": {"accounts": ["globex-eu"]},
            "first_response": "2h",
            "next_response": "4h",
            "calendar": "madrid",
            "max_wait": "24h",
        },
        {
            "name": "americas",
            "match": {"accounts": ["globex-us"]},
            "first_response": "2h",
            "next_response": "4h",
            "calendar": "new-york",
            "max_wait": "24h",
        },
    ],
}


def test_follow_the_sun_gives_each_team_its_own_hours():
    # Given two policies, each with its own team's calendar (Madrid, New York)
    # When the promise is written
    lines = commitments(config(FOLLOW_THE_SUN), "globex").splitlines()[2:]
    # Then each sentence names its account and its calendar's hours, zone and holidays; every
    # account is covered, so there is no fallback sentence
    assert lines == [
        "- We answer messages to our Mastodon account globex-eu within 2 business hours "
        "(follow-ups within 4 business hours), Monday to Friday 9:00-18:00, Madrid time, except "
        "public holidays in Spain (Madrid); never later than 24 hours.",
        "- We answer messages to our Mastodon account globex-us within 2 business hours "
        "(follow-ups within 4 business hours), Monday to Friday 8:00-20:00; Saturday "
        "10:00-16:00, New York time, except public holidays in the United States (New York) "
        "and 24 Dec 2026, but open as usual on 3 Nov 2026; on 27 Nov 2026 8:00-12:00; never "
        "later than 24 hours.",
    ]


def test_follow_the_sun_in_spanish():
    # Given the follow-the-sun pair, When the promise is written in Spanish
    lines = commitments(config(FOLLOW_THE_SUN), "globex", lang="es").splitlines()
    # Then the city, the country and the working date are in Spanish too
    assert lines[3] == (
        "- Respondemos a los mensajes dirigidos a nuestra cuenta globex-us de Mastodon en un "
        "plazo de 2 horas laborables (y a los mensajes posteriores, en 4 horas laborables), de "
        "lunes a viernes de 8:00 a 20:00; sábado de 10:00 a 16:00, hora de Nueva York, excepto "
        "los festivos en Estados Unidos (New York) y el 24 de diciembre de 2026, aunque el 3 de "
        "noviembre de 2026 abrimos con el horario habitual; el 27 de noviembre de 2026, de 8:00 "
        "a 12:00; en ningún caso más de 24 horas."
    )


def test_without_policies_the_promise_is_the_built_in_fixed_window():
    # Given a config with a brand and no policies
    document = {"brands": {"acme": {"name": "ACME"}}}
    # When the promise is written, Then it is the engine's fallback: 1 h, 2 h, calendar time
    assert commitments(config(document), "acme") == (
        "# ACME: our response times\n"
        "\n"
        "- We answer all messages within 1 hour (follow-ups within 2 hours), around the clock.\n"
    )
    assert "en un plazo de 1 hora (y a los mensajes posteriores, en 2 horas), las 24 horas" in (
        commitments(config(document), "acme", lang="es")
    )


def test_messages_no_policy_covers_get_the_fixed_window_and_shadowed_policies_are_left_out():
    # Given a policy for private messages only, then one that a previous policy fully covers
    document = {
        "brands": {"acme": {"name": "ACME"}},
        "policies": [
            {
                "name": "private",
                "match": {"private": True},
                "first_response": "30m",
                "next_response": "30m",
                "clock": "calendar",
            },
            {
                "name": "private-on-x",
                "match": {"private": True, "channels": ["x"]},
                "first_response": "8h",
                "next_response": "8h",
                "clock": "calendar",
            },
        ],
    }
    # When the promise is written
    lines = commitments(config(document), "acme").splitlines()[2:]
    # Then the shadowed policy never applies, and public messages get the built-in window
    assert lines == [
        "- We answer private messages within 30 minutes (follow-ups too), around the clock.",
        "- We answer all other messages within 1 hour (follow-ups within 2 hours), "
        "around the clock.",
    ]


def test_policies_of_other_brands_are_left_out():
    # Given a policy restricted to another brand before a catch-all
    document = {
        **MADRID,
        "brands": {**MADRID["brands"], "other": {"name": "Other", "calendar": "madrid-office"}},
        "policies": [
            {
                "name": "other-only",
                "match": {"brands": ["other"]},
                "first_response": "10m",
                "next_response": "10m",
            },
            MADRID["policies"][1],
        ],
    }
    # When ACME's promise is written, Then only the catch-all speaks, as "all messages"
    lines = commitments(config(document), "acme").splitlines()[2:]
    assert len(lines) == 1
    assert lines[0].startswith("- We answer all messages within 8 business hours")


def test_a_calendar_clock_cap_below_a_target_is_the_target():
    # Given calendar time with a next response of 2 days but never later than 12 hours
    document = {
        "brands": {"acme": {"name": "ACME"}},
        "policies": [
            {
                "name": "p",
                "first_response": "90m",
                "next_response": "2d",
                "clock": "calendar",
                "max_wait": "12h",
            }
        ],
    }
    # Then the promise is what the monitor measures: the earlier of the two
    assert commitments(config(document), "acme").splitlines()[2] == (
        "- We answer all messages within 1 hour and 30 minutes (follow-ups within 12 hours), "
        "around the clock."
    )


def test_html_escapes_a_hostile_brand_name():
    # Given a brand whose display name is markup
    document = {"brands": {"evil": {"name": '<script>alert("x")</script> & Co'}}}
    # When the promise is written as HTML
    page = commitments(config(document), "evil", fmt="html")
    # Then the name is text, not markup, and the fragment has no script at all
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in page
    assert page.startswith('<section class="replysla-commitments" lang="en">\n  <h2>')
    assert page.rstrip().endswith("</ul>\n</section>")
    assert page.count("<li>") == 1


def test_markdown_escapes_a_hostile_brand_name():
    # Given a brand name with markup and a line break that would start a new heading
    document = {"brands": {"evil": {"name": "<b>Evil</b>\n# Pwned"}}}
    # When the promise is written as Markdown, Then it stays on the heading line, escaped
    heading = commitments(config(document), "evil").splitlines()[0]
    assert heading == r"# \<b\>Evil\</b\> \# Pwned: our response times"


@pytest.mark.parametrize(
    ("brand", "lang", "fmt", "message"),
    [
        ("nope", "en", "md", "unknown brand 'nope'; expected one of: acme"),
        ("acme", "fr", "md", "unknown language 'fr'; expected one of: en, es"),
        ("acme", "en", "pdf", "unknown format 'pdf'; expected one of: md, html"),
    ],
)
def test_unknown_brand_language_or_format_is_a_config_error(brand, lang, fmt, message):
    # Given the Madrid config, When asked for something it does not have, Then it says what is
    with pytest.raises(ConfigError, match=message):
        commitments(config(MADRID), brand, lang, fmt)


def test_cli_unknown_brand_exits_2_with_the_message_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    # Given a config file, When the command is run for a brand it does not have
    code = main(["commitments", "--config", write(tmp_path, MADRID), "--brand", "nope"])
    # Then it exits 2, prints nothing on stdout and names the valid brands on stderr
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "replysla: unknown brand 'nope'; expected one of: acme" in captured.err


def test_cli_unknown_format_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = write(tmp_path, MADRID)
    assert main(["commitments", "--config", path, "--brand", "acme", "--format", "pdf"]) == 2
    assert "expected one of: md, html" in capsys.readouterr().err


def test_cli_writes_the_promise_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Given a config file, When the command is run in Spanish as HTML
    path = write(tmp_path, MADRID)
    code = main(
        ["commitments", "--config", path, "--brand", "acme", "--lang", "es", "--format", "html"]
    )
    # Then stdout holds exactly what the renderer writes
    assert code == 0
    assert capsys.readouterr().out == commitments(config(MADRID), "acme", "es", "html")


@pytest.mark.parametrize(
    ("example", "brand"),
    [("madrid-team", "acme"), ("always-on", "nightowl"), ("follow-the-sun", "globex")],
)
def test_the_documented_examples_render(example: str, brand: str):
    # Given the example configurations of docs/configuration.md
    path = Path(__file__).resolve().parents[2] / "infra" / "examples" / f"{example}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    # When their promise is written in both languages, Then each has at least one sentence
    for lang in ("en", "es"):
        assert "\n- " in commitments(config(document), brand, lang)


def test_closed_dates_overnight_shifts_and_closing_special_hours_read_as_one_list():
    # Given a night desk (22:00-06:00 Monday to Friday, all day Saturday) closed on two listed
    # dates and on a date whose special hours are empty
    document = {
        "calendars": {
            "nights": {
                "timezone": "Europe/Lisbon",
                "hours": {
                    **{d: ["22:00-06:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                    "sat": ["00:00-24:00"],
                },
                "holidays": {"dates": ["2026-12-24", "2026-12-31"]},
                "special_hours": {"2026-12-25": []},
            }
        },
        "brands": {"b": {"name": "B", "calendar": "nights"}},
        "policies": [{"name": "p", "first_response": "1h", "next_response": "1h"}],
    }
    # When the promise is written in both languages
    english = commitments(config(document), "b").splitlines()[2]
    spanish = commitments(config(document), "b", lang="es").splitlines()[2]
    # Then the overnight shift keeps its hours, and the closed dates read as one list
    assert english == (
        "- We answer all messages within 1 business hour (follow-ups too), Monday to Friday "
        "22:00-6:00; Saturday all day, Lisbon time, except 24 Dec 2026, 25 Dec 2026 and "
        "31 Dec 2026."
    )
    assert spanish.endswith(
        "de lunes a viernes de 22:00 a 6:00; sábado todo el día, hora de Lisboa, excepto el 24 "
        "de diciembre de 2026, el 25 de diciembre de 2026 y el 31 de diciembre de 2026."
    )


def test_a_calendar_open_only_on_special_dates_says_only_those():
    # Given a pop-up desk with no weekly hours, open on two dates
    document = {
        "calendars": {
            "popup": {
                "timezone": "Europe/Madrid",
                "special_hours": {"2026-11-27": ["10:00-20:00"], "2026-11-30": ["10:00-20:00"]},
            }
        },
        "brands": {"b": {"name": "B", "calendar": "popup"}},
        "policies": [{"name": "p", "first_response": "2h", "next_response": "2h"}],
    }
    # Then the promise names those dates and nothing else
    assert commitments(config(document), "b").splitlines()[2] == (
        "- We answer all messages within 2 business hours (follow-ups too), only on "
        "27 Nov 2026 and 30 Nov 2026 10:00-20:00, Madrid time."
    )
