"""Opening hours (the ``opening-hours`` and ``time-zone`` options): when agents are
meant to be there. Plain parsing and a clock passed in, no I/O, so that the
option's check (ha.options, hence the admin) and the server read one rule.

The format, one or more entries separated by ``;``::

    mon-fri 08:00-18:00; sat 09:00-13:00
    mon,wed,fri 08:00-12:00,13:00-17:00

Each entry is days (a day, ``day-day`` wrapping over the week end, or a comma
list of those) then one or more ``HH:MM-HH:MM`` ranges (comma-separated), in
the ``time-zone``'s local time. A range starts before it ends (``24:00`` ends a
day); a range over midnight is written as two. ``always`` (or an empty value)
is always open.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALWAYS = "always"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
MINUTES_A_DAY = 24 * 60


class HoursError(ValueError):
    """A value the format does not allow; the message says what is wrong."""


@dataclass(frozen=True)
class OpeningHours:
    """Open minutes of each weekday (0 = Monday): (start, end) in minutes from midnight."""

    week: tuple[tuple[tuple[int, int], ...], ...] | None  # None: always open

    @classmethod
    def parse(cls, text: str) -> OpeningHours:
        text = text.strip()
        if text in ("", ALWAYS):
            return cls(None)
        week: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        for entry in filter(None, (part.strip() for part in text.split(";"))):
            days, _, ranges = entry.partition(" ")
            if not ranges.strip():
                raise HoursError(f"{entry!r}: days then times, as in 'mon-fri 08:00-18:00'")
            spans = [_span(piece.strip()) for piece in ranges.split(",")]
            for day in _days(days.lower()):
                week[day].extend(spans)
        if not any(week):
            raise HoursError("no opening hours given; 'always' keeps the chat always open")
        return cls(tuple(tuple(sorted(spans)) for spans in week))

    def is_open(self, moment: datetime, zone: tzinfo) -> bool:
        """Whether ``moment`` (an aware datetime) falls in the hours, in ``zone``'s local time."""
        if self.week is None:
            return True
        local = moment.astimezone(zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])


def _days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if first not in DAYS or (dash and last not in DAYS):
            raise HoursError(f"{part!r} is not a day or a range of days ({', '.join(DAYS)})")
        start = DAYS.index(first)
        end = DAYS.index(last) if dash else start
        days += [(start + step) % 7 for step in range((end - start) % 7 + 1)]
    return days


def _span(text: str) -> tuple[int, int]:
    match = _RANGE.match(text)
    if match is None:
        raise HoursError(f"{text!r} is not a time range such as 08:00-18:00")
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > MINUTES_A_DAY or start >= end:
        raise HoursError(f"{text!r}: times from 00:00 to 24:00, the start before the end "
                         "(write a range over midnight as two)")
    return start, end


def zone(name: str) -> ZoneInfo:
    """The ``time-zone`` option's zone (an IANA name such as Europe/Paris)."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise HoursError(f"{name!r} is not a known time zone (an IANA name such as Europe/Paris)") from error

