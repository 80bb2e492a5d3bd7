"""The public response promise of a brand, derived from the policies replysla monitors.

What a company tells its customers ("we answer within 4 business hours, Monday to Friday ...")
and what the monitor measures come from the same configuration, so they cannot drift apart.

How the sentences are chosen: every combination of the brand's accounts (channel and account),
private or public, and priority is a "cell"; the first policy whose `match` covers a cell owns it
(first match wins, as in `PolicyBook`). A policy that owns no cell can never apply and is left
out; a policy that shares cells with an earlier one speaks of "other" messages; cells no policy
covers get the built-in fixed window (1 hour, 2 hours, calendar time), as the engine does.
A brand without accounts yet is read as if it had one account on every channel.
"""

from __future__ import annotations

import html
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import product
from typing import ClassVar

import holidays as holidays_pkg
from holidays.registry import COUNTRIES

from reply_sla.config import CHANNELS, MonitorConfig
from reply_sla.domain.business_time import WEEKDAYS, CalendarConfig, parse_interval
from reply_sla.domain.models import Priority
from reply_sla.domain.policies import PolicyConfig, PolicyMatch
from reply_sla.errors import ConfigError

LANGUAGES = ("en", "es")
FORMATS = ("md", "html")

# The engine's fallback when no policy covers a turn (`FixedWindowPolicy`'s defaults).
FALLBACK_FIRST_SECONDS = 3600
FALLBACK_NEXT_SECONDS = 7200

_HOUR = 3600
_DAY = 86400
_FULL_DAY = (0, 24 * 60)
_PRIORITIES = (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)
_NO_ACCOUNT = ""  # an account not configured yet, on any channel
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


# What the promise is made of ------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    channel: str
    account: str
    private: bool
    priority: Priority


@dataclass(frozen=True)
class Promise:
    """One sentence: which messages (`match` None = all), targets, clock, calendar and cap."""

    match: PolicyMatch | None
    other: bool
    first_seconds: int
    next_seconds: int
    calendar: CalendarConfig | None  # None: calendar time, around the clock
    max_wait: int | None


def _covers(match: PolicyMatch, cell: _Cell) -> bool:
    return (
        (not match.channels or cell.channel in match.channels)
        and (not match.accounts or cell.account in match.accounts)
        and (match.private is None or match.private == cell.private)
        and (not match.priorities or cell.priority in match.priorities)
    )


def _cells(config: MonitorConfig, brand: str) -> list[_Cell]:
    accounts = [(a.channel, a.id) for a in config.accounts if a.brand == brand]
    if not accounts:
        accounts = [(channel, _NO_ACCOUNT) for channel in CHANNELS]
    return [
        _Cell(channel, account, private, priority)
        for (channel, account), private, priority in product(accounts, (True, False), _PRIORITIES)
    ]


def _promise(config: MonitorConfig, brand: str, policy: PolicyConfig, other: bool) -> Promise:
    calendar_name = policy.calendar or config.brands[brand].calendar
    calendar = config.calendars.get(calendar_name) if calendar_name else None
    if policy.clock == "business" and calendar is not None:
        return Promise(
            policy.match,
            other,
            policy.first_response,
            policy.next_response,
            calendar,
            policy.max_wait,
        )
    # Calendar time (or a business policy without a calendar, which the engine also measures
    # 24/7): a cap shorter than a target simply is the target.
    cap = policy.max_wait
    return Promise(
        policy.match,
        other,
        min(policy.first_response, cap) if cap else policy.first_response,
        min(policy.next_response, cap) if cap else policy.next_response,
        None,
        None,
    )


def promises(config: MonitorConfig, brand: str) -> list[Promise]:
    """The promises that can apply to a brand's messages, in policy order."""
    cells = _cells(config, brand)
    taken: set[_Cell] = set()
    result: list[Promise] = []
    for policy in config.policies:
        if policy.match.brands and brand not in policy.match.brands:
            continue
        covered = {cell for cell in cells if _covers(policy.match, cell)}
        if not covered - taken:
            continue  # every message it would take, an earlier policy takes first
        result.append(_promise(config, brand, policy, other=bool(covered & taken)))
        taken |= covered
    if len(taken) < len(cells):
        result.append(
            Promise(None, bool(taken), FALLBACK_FIRST_SECONDS, FALLBACK_NEXT_SECONDS, None, None)
        )
    return result


# Words ----------------------------------------------------------------------------------------


def _clock_time(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def _runs(days: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive weekdays (0 = Monday) as (first, last) runs."""
    runs: list[tuple[int, int]] = []
    for day in sorted(days):
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _zone_city(zone: str) -> str | None:
    """'Europe/Madrid' -> 'Madrid', 'America/New_York' -> 'New York'; None for 'UTC'."""
    if "/" not in zone or zone.startswith("Etc/"):
        return None
    return zone.rsplit("/", 1)[1].replace("_", " ")


def _country_key(code: str) -> str | None:
    for key, names in COUNTRIES.items():
        if code in names[1:3]:
            return key
    return None


def _subdivision_name(country: str, subdivision: str) -> str:
    try:
        aliases = holidays_pkg.country_holidays(country).subdivisions_aliases
    except (NotImplementedError, AttributeError):
        return subdivision
    for name, code in aliases.items():
        if code == subdivision:
            return name
    return subdivision


def _intervals(texts: Sequence[str]) -> tuple[tuple[int, int], ...]:
    return tuple((interval.start, interval.end) for interval in (parse_interval(t) for t in texts))


class _Language(ABC):
    """One language of the promise; subclasses hold the words and the word order."""

    code: str
    weekdays: tuple[str, ...]

    @abstractmethod
    def heading(self, brand: str) -> str: ...

    @abstractmethod
    def join(self, items: Sequence[str]) -> str: ...

    @abstractmethod
    def day_run(self, first: int, last: int) -> str: ...

    @abstractmethod
    def intervals(self, spans: Sequence[tuple[int, int]]) -> str: ...

    @abstractmethod
    def day_date(self, day: date) -> str: ...

    @abstractmethod
    def date_item(self, day: date) -> str:
        """A date as one item of a list ("24 Dec 2026", "el 24 de diciembre de 2026")."""

    def dates(self, days: Sequence[date]) -> str:
        return self.join([self.date_item(day) for day in days])

    @abstractmethod
    def duration(self, seconds: int, business: bool) -> str: ...

    @abstractmethod
    def scope(self, match: PolicyMatch | None, other: bool, config: MonitorConfig) -> str: ...

    @abstractmethod
    def sentence(self, scope: str, first: str, follow: str, schedule: str, cap: str) -> str: ...

    @abstractmethod
    def around_the_clock(self) -> str: ...

    @abstractmethod
    def zone(self, zone: str) -> str: ...

    @abstractmethod
    def country(self, code: str) -> str: ...

    @abstractmethod
    def schedule(
        self, hours: str, zone: str, closed: Sequence[str], reopened: str, special: str
    ) -> str: ...

    @abstractmethod
    def public_holidays(self, place: str) -> str: ...

    @abstractmethod
    def special(self, days: str, spans: str) -> str: ...

    @abstractmethod
    def only(self, special: str) -> str: ...

    @abstractmethod
    def cap(self, duration: str) -> str: ...

    @abstractmethod
    def follow(self, first: str, follow: str) -> str: ...

    # Shared assembly --------------------------------------------------------------------------

    def channel(self, channel: str) -> str:
        return {
            "x": "X",
            "facebook": "Facebook",
            "instagram": "Instagram",
            "discourse": self.forum,
            "mastodon": "Mastodon",
            "bluesky": "Bluesky",
            "youtube": "YouTube",
            "google_reviews": "Google",
        }.get(channel, channel)

    forum = "our forum"

    def days(self, days: Sequence[int]) -> str:
        runs = _runs(days)
        items: list[str] = []
        for first, last in runs:
            if last == first + 1:  # two days read better as "Saturday and Sunday"
                items.extend([self.weekdays[first], self.weekdays[last]])
            else:
                items.append(self.day_run(first, last))
        return self.join(items)

    def weekly_hours(self, calendar: CalendarConfig) -> tuple[str, bool]:
        """The opening hours grouped by identical days, and whether it is open 24/7."""
        groups: dict[tuple[tuple[int, int], ...], list[int]] = {}
        for index, day in enumerate(WEEKDAYS):
            spans = _intervals(calendar.hours.get(day, []))
            if spans:
                groups.setdefault(spans, []).append(index)
        if list(groups) == [(_FULL_DAY,)] and len(groups[(_FULL_DAY,)]) == 7:
            return self.around_the_clock(), True
        parts = [f"{self.days(days)} {self.intervals(spans)}" for spans, days in groups.items()]
        return "; ".join(parts), False

    def calendar_schedule(self, calendar: CalendarConfig) -> str:
        hours, always = self.weekly_hours(calendar)
        rules = calendar.holidays
        closed_days = set(rules.dates) if rules else set()
        special_groups: dict[tuple[tuple[int, int], ...], list[date]] = {}
        for day, texts in sorted(calendar.special_hours.items()):
            spans = _intervals(texts)
            if spans:
                special_groups.setdefault(spans, []).append(day)
                closed_days.discard(day)  # special hours come before closed dates
            else:
                closed_days.add(day)
        closed: list[str] = []
        reopened: list[date] = []
        if rules is not None and rules.country:
            place = self.country(rules.country)
            if rules.subdivision:
                place += f" ({_subdivision_name(rules.country, rules.subdivision)})"
            closed.append(self.public_holidays(place))
            public = holidays_pkg.country_holidays(rules.country, subdiv=rules.subdivision)
            reopened = [
                day
                for day in sorted(rules.working_dates)
                if day in public and day not in calendar.special_hours
            ]
        if closed_days:
            closed.extend(self.date_item(day) for day in sorted(closed_days))
        special = "; ".join(
            self.special(self.dates(days), self.intervals(spans))
            for spans, days in special_groups.items()
        )
        if always and not closed and not special:
            return hours
        if not hours:  # open only on the dates of special_hours
            hours, special = self.only(special), ""
        return self.schedule(
            hours,
            self.zone(calendar.timezone),
            closed,
            self.dates(reopened) if reopened else "",
            special,
        )

    def promise(self, promise: Promise, config: MonitorConfig) -> str:
        business = promise.calendar is not None
        first = self.duration(promise.first_seconds, business)
        follow = self.follow(first, self.duration(promise.next_seconds, business))
        schedule = (
            self.calendar_schedule(promise.calendar)
            if promise.calendar is not None
            else self.around_the_clock()
        )
        cap = self.cap(self.duration(promise.max_wait, False)) if promise.max_wait else ""
        return self.sentence(
            self.scope(promise.match, promise.other, config), first, follow, schedule, cap
        )

    def account_channels(self, ids: Sequence[str], config: MonitorConfig) -> list[str | None]:
        known = {a.id: a.channel for a in config.accounts}
        return [self.channel(known[i]) if i in known else None for i in ids]


class _English(_Language):
    code = "en"
    weekdays = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    # Country names that read with "the" ("public holidays in the United States").
    with_article = frozenset(
        {
            "united_states",
            "united_kingdom",
            "netherlands",
            "philippines",
            "dominican_republic",
            "united_arab_emirates",
            "bahamas",
            "czech_republic",
            "marshall_islands",
            "maldives",
            "central_african_republic",
        }
    )
    minor_words = frozenset({"and", "of", "the", "da", "de", "del"})

    def heading(self, brand: str) -> str:
        return f"{brand}: our response times"

    def join(self, items: Sequence[str]) -> str:
        if len(items) <= 1:
            return "".join(items)
        return ", ".join(items[:-1]) + " and " + items[-1]

    def day_run(self, first: int, last: int) -> str:
        if first == 0 and last == 6:
            return "every day"
        if first == last:
            return self.weekdays[first]
        return f"{self.weekdays[first]} to {self.weekdays[last]}"

    def intervals(self, spans: Sequence[tuple[int, int]]) -> str:
        if tuple(spans) == (_FULL_DAY,):
            return "all day"
        return self.join([f"{_clock_time(s)}-{_clock_time(e % 1440 or e)}" for s, e in spans])

    def day_date(self, day: date) -> str:
        return f"{day.day} {self.months[day.month - 1]} {day.year}"

    def date_item(self, day: date) -> str:
        return self.day_date(day)

    def duration(self, seconds: int, business: bool) -> str:
        units: tuple[tuple[str, int], ...] = (("hour", _HOUR), ("minute", 60), ("second", 1))
        if not business and seconds % _DAY == 0 and seconds > 3 * _DAY:
            units = (("day", _DAY),)
        parts: list[tuple[int, str]] = []
        rest = seconds
        for name, size in units:
            count, rest = divmod(rest, size)
            if count:
                parts.append((count, name))
        if business and len(parts) == 1:
            count, name = parts[0]
            return f"{count} business {name}{'s' if count != 1 else ''}"
        text = self.join([f"{count} {name}{'s' if count != 1 else ''}" for count, name in parts])
        return f"{text} of business time" if business else text

    def scope(self, match: PolicyMatch | None, other: bool, config: MonitorConfig) -> str:
        restricted = match is not None and (
            match.channels or match.accounts or match.private is not None or match.priorities
        )
        if match is None or not restricted:
            return "all other messages" if other else "all messages"
        words: list[str] = ["other"] if other else []
        priorities = [p for p in _PRIORITIES if p in match.priorities]
        if priorities and len(priorities) < len(_PRIORITIES):
            words.append(
                self.join(
                    [
                        "urgent" if p is Priority.URGENT else f"{p.value}-priority"
                        for p in priorities
                    ]
                )
            )
        words.append(
            {True: "private messages", False: "public mentions and comments", None: "messages"}[
                match.private
            ]
        )
        if match.channels:
            words.append("on " + self.join([self.channel(c) for c in match.channels]))
        if match.accounts:
            channels = self.account_channels(match.accounts, config)
            if len(match.accounts) == 1:
                kind = f"{channels[0]} account" if channels[0] else "account"
                words.append(f"to our {kind} {match.accounts[0]}")
            else:
                named = [
                    f"{i} ({c})" if c else i for i, c in zip(match.accounts, channels, strict=True)
                ]
                words.append("to our accounts " + self.join(named))
        return " ".join(words)

    def follow(self, first: str, follow: str) -> str:
        return " (follow-ups too)" if follow == first else f" (follow-ups within {follow})"

    def sentence(self, scope: str, first: str, follow: str, schedule: str, cap: str) -> str:
        return f"We answer {scope} within {first}{follow}, {schedule}{cap}."

    def around_the_clock(self) -> str:
        return "around the clock"

    def zone(self, zone: str) -> str:
        city = _zone_city(zone)
        if city == "Canary":
            city = "Canary Islands"
        return f"{city} time" if city else zone

    def country(self, code: str) -> str:
        key = _country_key(code)
        if key is None:
            return code
        words = [w if w in self.minor_words else w.capitalize() for w in key.split("_")]
        name = " ".join(words)
        return f"the {name}" if key in self.with_article else name

    def schedule(
        self, hours: str, zone: str, closed: Sequence[str], reopened: str, special: str
    ) -> str:
        text = f"{hours}, {zone}"
        if closed:
            text += ", except " + self.join(closed)
        if reopened:
            text += f", but open as usual on {reopened}"
        if special:
            text += f"; {special}"
        return text

    def public_holidays(self, place: str) -> str:
        return f"public holidays in {place}"

    def special(self, days: str, spans: str) -> str:
        return f"on {days} {spans}"

    def only(self, special: str) -> str:
        return f"only {special}"

    def cap(self, duration: str) -> str:
        return f"; never later than {duration}"


class _Spanish(_Language):
    code = "es"
    weekdays = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
    months = (
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    )
    forum = "nuestro foro"
    countries: ClassVar[dict[str, str]] = {
        "AD": "Andorra",
        "AR": "Argentina",
        "AT": "Austria",
        "AU": "Australia",
        "BE": "Bélgica",
        "BO": "Bolivia",
        "BR": "Brasil",
        "CA": "Canadá",
        "CH": "Suiza",
        "CL": "Chile",
        "CN": "China",
        "CO": "Colombia",
        "CR": "Costa Rica",
        "CU": "Cuba",
        "CZ": "Chequia",
        "DE": "Alemania",
        "DK": "Dinamarca",
        "DO": "República Dominicana",
        "EC": "Ecuador",
        "ES": "España",
        "FI": "Finlandia",
        "FR": "Francia",
        "GB": "Reino Unido",
        "GR": "Grecia",
        "GT": "Guatemala",
        "HN": "Honduras",
        "IE": "Irlanda",
        "IN": "India",
        "IT": "Italia",
        "JP": "Japón",
        "MA": "Marruecos",
        "MX": "México",
        "NI": "Nicaragua",
        "NL": "Países Bajos",
        "NO": "Noruega",
        "NZ": "Nueva Zelanda",
        "PA": "Panamá",
        "PE": "Perú",
        "PL": "Polonia",
        "PR": "Puerto Rico",
        "PT": "Portugal",
        "PY": "Paraguay",
        "SE": "Suecia",
        "SV": "El Salvador",
        "UK": "Reino Unido",
        "US": "Estados Unidos",
        "UY": "Uruguay",
        "VE": "Venezuela",
        "ZA": "Sudáfrica",
    }
    cities: ClassVar[dict[str, str]] = {
        "Amsterdam": "Ámsterdam",
        "Asuncion": "Asunción",
        "Athens": "Atenas",
        "Berlin": "Berlín",
        "Bogota": "Bogotá",
        "Brussels": "Bruselas",
        "Canary": "Canarias",
        "Copenhagen": "Copenhague",
        "Dublin": "Dublín",
        "Havana": "La Habana",
        "Lisbon": "Lisboa",
        "London": "Londres",
        "Mexico City": "Ciudad de México",
        "Moscow": "Moscú",
        "New York": "Nueva York",
        "Panama": "Panamá",
        "Paris": "París",
        "Prague": "Praga",
        "Rome": "Roma",
        "Sao Paulo": "São Paulo",
        "Singapore": "Singapur",
        "Stockholm": "Estocolmo",
        "Tokyo": "Tokio",
        "Vienna": "Viena",
        "Warsaw": "Varsovia",
        "Zurich": "Zúrich",
    }

    def heading(self, brand: str) -> str:
        return f"{brand}: nuestros tiempos de respuesta"

    def join(self, items: Sequence[str]) -> str:
        if len(items) <= 1:
            return "".join(items)
        last = items[-1]
        # "y" becomes "e" before an /i/ sound: "Facebook e Instagram".
        word = last.lower()
        i_sound = word[:1] in ("i", "í", "ï") or (word[:2] == "hi" and word[2:3] not in "aeo")
        conjunction = "e" if i_sound else "y"
        return ", ".join(items[:-1]) + f" {conjunction} " + last

    def day_run(self, first: int, last: int) -> str:
        if first == 0 and last == 6:
            return "todos los días"
        if first == last:
            return self.weekdays[first]
        return f"de {self.weekdays[first]} a {self.weekdays[last]}"

    def intervals(self, spans: Sequence[tuple[int, int]]) -> str:
        if tuple(spans) == (_FULL_DAY,):
            return "todo el día"
        return self.join([f"de {_clock_time(s)} a {_clock_time(e % 1440 or e)}" for s, e in spans])

    def day_date(self, day: date) -> str:
        return f"{day.day} de {self.months[day.month - 1]} de {day.year}"

    def date_item(self, day: date) -> str:
        return f"el {self.day_date(day)}"

    def duration(self, seconds: int, business: bool) -> str:
        units: tuple[tuple[str, str, int], ...] = (
            ("hora", "horas", _HOUR),
            ("minuto", "minutos", 60),
            ("segundo", "segundos", 1),
        )
        if not business and seconds % _DAY == 0 and seconds > 3 * _DAY:
            units = (("día", "días", _DAY),)
        parts: list[str] = []
        rest = seconds
        plural = False
        for one, many, size in units:
            count, rest = divmod(rest, size)
            if count:
                parts.append(f"{count} {one if count == 1 else many}")
                plural = plural or count != 1 or bool(parts[:-1])
        text = self.join(parts)
        if business:
            text += " laborables" if plural else " laborable"
        return text

    def scope(self, match: PolicyMatch | None, other: bool, config: MonitorConfig) -> str:
        restricted = match is not None and (
            match.channels or match.accounts or match.private is not None or match.priorities
        )
        if match is None or not restricted:
            return "todos los demás mensajes" if other else "todos los mensajes"
        if match.private is False:
            words = ["las demás" if other else "las", "menciones y comentarios públicos"]
        else:
            words = [
                "los demás" if other else "los",
                "mensajes privados" if match.private else "mensajes",
            ]
        priorities = [p for p in _PRIORITIES if p in match.priorities]
        if priorities and len(priorities) < len(_PRIORITIES):
            names = {
                Priority.URGENT: "urgentes",
                Priority.HIGH: "de prioridad alta",
                Priority.NORMAL: "de prioridad normal",
                Priority.LOW: "de prioridad baja",
            }
            words.append(self.join([names[p] for p in priorities]))
        if match.channels:
            words.append("en " + self.join([self.channel(c) for c in match.channels]))
        if match.accounts:
            channels = self.account_channels(match.accounts, config)
            if len(match.accounts) == 1:
                where = f" de {channels[0]}" if channels[0] else ""
                words.append(f"dirigidos a nuestra cuenta {match.accounts[0]}{where}")
            else:
                named = [
                    f"{i} ({c})" if c else i for i, c in zip(match.accounts, channels, strict=True)
                ]
                words.append("dirigidos a nuestras cuentas " + self.join(named))
        return " ".join(words)

    def follow(self, first: str, follow: str) -> str:
        if follow == first:
            return " (también a los mensajes posteriores)"
        return f" (y a los mensajes posteriores, en {follow})"

    def sentence(self, scope: str, first: str, follow: str, schedule: str, cap: str) -> str:
        return f"Respondemos a {scope} en un plazo de {first}{follow}, {schedule}{cap}."

    def around_the_clock(self) -> str:
        return "las 24 horas, todos los días"

    def zone(self, zone: str) -> str:
        city = _zone_city(zone)
        return f"hora de {self.cities.get(city, city)}" if city else f"hora {zone}"

    def country(self, code: str) -> str:
        key = _country_key(code)
        alpha2 = COUNTRIES[key][1] if key else code  # ESP reads as ES
        if alpha2 in self.countries:
            return self.countries[alpha2]
        return _English().country(code).removeprefix("the ")

    def schedule(
        self, hours: str, zone: str, closed: Sequence[str], reopened: str, special: str
    ) -> str:
        text = f"{hours}, {zone}"
        if closed:
            text += ", excepto " + self.join(closed)
        if reopened:
            text += f", aunque {reopened} abrimos con el horario habitual"
        if special:
            text += f"; {special}"
        return text

    def public_holidays(self, place: str) -> str:
        return f"los festivos en {place}"

    def special(self, days: str, spans: str) -> str:
        return f"{days}, {spans}"

    def only(self, special: str) -> str:
        return f"solo {special}"

    def cap(self, duration: str) -> str:
        return f"; en ningún caso más de {duration}"


_LANGUAGES: dict[str, _Language] = {"en": _English(), "es": _Spanish()}


# Rendering ------------------------------------------------------------------------------------


def _markdown_text(text: str) -> str:
    """One line, with Markdown's and HTML's special characters escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _html_text(text: str) -> str:
    return html.escape(" ".join(text.split()))


def commitments(config: MonitorConfig, brand: str, lang: str = "en", fmt: str = "md") -> str:
    """The brand's public response promise, one sentence per policy that can apply to it."""
    if brand not in config.brands:
        known = ", ".join(config.brands) or "none configured"
        raise ConfigError(f"unknown brand {brand!r}; expected one of: {known}")
    if lang not in LANGUAGES:
        raise ConfigError(f"unknown language {lang!r}; expected one of: {', '.join(LANGUAGES)}")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    language = _LANGUAGES[lang]
    heading = language.heading(config.brands[brand].name)
    sentences = [language.promise(p, config) for p in promises(config, brand)]
    if fmt == "md":
        lines = [f"# {_markdown_text(heading)}", ""]
        lines.extend(f"- {_markdown_text(sentence)}" for sentence in sentences)
        return "\n".join(lines) + "\n"
    lines = [
        f'<section class="replysla-commitments" lang="{language.code}">',
        f"  <h2>{_html_text(heading)}</h2>",
        "  <ul>",
        *(f"    <li>{_html_text(sentence)}</li>" for sentence in sentences),
        "  </ul>",
        "</section>",
    ]
    return "\n".join(lines) + "\n"
