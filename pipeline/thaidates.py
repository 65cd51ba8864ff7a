"""Thai dates, everywhere: read one date expression, or find every date in a text or a URL.

None of the general tools reads Buddhist-Era (BE) dates (trafilatura/htmldate give nothing
or the BE year itself, dateparser reads "มี.ค." as January), so this module does it.

Three entry points, all offline, all cheap (precompiled regular expressions, no library
calls per date):

- :func:`parse_one` reads one date expression ("วันพฤหัสบดีที่ ๒๓ มีนาคม ๒๕๖๖",
  "(5มี.ค.64)", "Tue, 04 Jun 2024 09:30:00 +0700", "2024-06-04T09:30:00+07:00", a URL)
  and returns a :class:`FoundDate`, or raises :class:`DateProblem` (a
  :class:`~pipeline.thaitext.DateError`) with a stable code.
- :func:`find_dates` finds every date expression in a longer text (a page's lead:
  "วันนี้ (12 มกราคม 2568) เวลา 09.00 น."), with positions, so a caller can weigh the
  evidence; :func:`scan_dates` also returns what looked like a date but is not one.
- :func:`dates_in_url` reads dates written in a URL: ``/2021/08/05/``, ``…-25640315-…``
  (BE yyyymmdd), ``20210315`` (CE), PRD file names ``/th/file/get/file/YYYYMMDD…``.

A date written without a year ("๒๕ - ๒๖ สิงหาคม", a wire dateline "6 ส.ค.") is returned as
such (``year`` None) and is completed only by :func:`complete_year` from a trustworthy
reference date the caller gives (the page's publication date): never from today's date.

Order of evidence for callers (``EVIDENCE_ORDER``; the first level that gives a date wins,
and its name is the record's ``date_source``):

1. ``metadata``: structured dates of the source: a feed's ``pubDate``/``published``/
   ``updated`` (RFC 822, ISO 8601), WordPress ``date`` (local time) / ``date_gmt``,
   JSON feed ``date_published``, ``<meta property="article:published_time">``, a CMS's
   own date field (PRD ``div.image-date``, MFA "วันที่นำเข้าข้อมูล"). Read with
   :func:`parse_one`.
2. ``date-line``: the page's own date line near the headline (thaigov
   "วันพฤหัสบดีที่ 23 มีนาคม 2566", "8 พฤศจิกายน 2560 จำนวนคนเข้าชม 206"): the first
   :func:`find_dates` hit in the lines between the title and the body.
3. ``lead``: the body lead, "วันนี้ (12 มกราคม 2568)", "เมื่อวันที่ 5 มี.ค. 64 ...": the first
   :func:`find_dates` hit of the first paragraph. Often yearless ("13 มิ.ย. เวลา 08.00 น.");
   complete it with :func:`complete_year` and a reference from level 1, 2 or 4, else
   leave the date out.
4. ``url``: :func:`dates_in_url` (a WordPress permalink's ``/YYYY/MM/DD/``, a provincial
   hall's ``NNN-25640315-a1.html``, a PRD file name's upload date, which is CE and may be
   a few days after the event). The weakest evidence: an upload or import date.

Fields of :class:`FoundDate`:

- ``day``, ``month``: as written (Thai, Arabic or English month names and digits).
- ``year``: Gregorian (CE) year; ``None`` when the text gives no year (until
  :func:`complete_year` fills it; ``year_given`` then stays False).
- ``era``: the calendar the year was written in, ``"BE"`` (พ.ศ., year − 543) or ``"CE"``;
  ``None`` without a written year. A four-digit year 2443–2643 is BE, 1900–2100 is CE,
  anything else is refused (``implausible-year``); a marker (พ.ศ./ค.ศ./B.E./A.D.) must
  agree with the year. Two-digit years: Thai month names → BE 25yy, read only for
  yy = 40–99 (1997–2056; "63" = 2563 = 2020; a smaller number after a month is more often
  a count than a year, so it is left unread); ``dd/mm/yy`` → BE by default, CE when the
  caller passes ``two_digit_era="CE"`` (an English page): "14/02/21" is BE 2521 =
  1978-02-14 by default (which :func:`~pipeline.thaitext.check_plausible` then refuses)
  and 2021-02-14 with CE. English month names take four-digit years only.
  Numeric dates are day/month/year, as Thai sites write them ("07/11/2012" = 7 November).
- ``year_given``: whether the year was written in the text.
- ``time``: wall-clock time as written (naive ``datetime.time``), or ``None``; a time
  range "เวลา 09.00-12.00 น." keeps its start.
- ``tz``: the zone of ``time``: the written one (``+0700``, ``Z``, ``GMT``,
  ``Asia/Bangkok``), else :data:`BANGKOK` (UTC+7: zone-less times are Bangkok time);
  ``None`` when there is no time. ``tz_given`` says whether a zone was written.
- ``end_day``, ``end_month``, ``end_year``: the last day of a range ("8 – 9 มกราคม 2568",
  "30 ม.ค. - 2 ก.พ. 2568", "June 4-6, 2024"); ``None`` for a single day. The *first* day
  is the date (an event's start, which is what the release reports); the range is
  reported so a caller can keep it.
- ``weekday``: the weekday written before the date (0 = Monday … 6 = Sunday) or ``None``;
  ``weekday_matches`` compares it with the date (a mismatch suggests a wrong year).
- ``form``: which form was read: ``thai``, ``english``, ``numeric``, ``ymd``, ``iso``,
  ``url-path``, ``url-yyyymmdd``, ``url-iso``, ``prd-file``.
- ``span``, ``text``: the exact span matched in the text given (``text == given[start:end]``),
  from the weekday (if any) to the time or zone (if any); labels such as "วันที่" or
  "เมื่อวันที่" are not part of it. A time written after a closing parenthesis takes it in:
  "(11 สิงหาคม 2569) เวลา 09.00 น." spans "11 สิงหาคม 2569) เวลา 09.00 น.".
- Properties: ``date`` (``datetime.date`` or ``None`` without a year), ``range_end``,
  ``datetime`` (aware, or ``None`` without a time or year), ``bangkok_date`` (the calendar
  day in Bangkok: a feed's "Tue, 04 Jun 2024 20:00:00 +0000" is 5 June there).

Problem codes (``DateProblem.code``, stable): ``unparseable-date`` (no date expression),
``impossible-date`` (no such day: "31 กุมภาพันธ์ 2567", month 13), ``implausible-year``
(neither a plausible BE nor CE year, or a year that contradicts its พ.ศ./ค.ศ. marker),
``impossible-time`` ("เวลา 25.00 น."), ``backwards-range`` ("9 - 8 มกราคม 2568").

:func:`~pipeline.thaitext.parse_date` (re-exported here) is the older reader the prd and
thaigov parsers use; it is kept as it is, because release ids and package bytes depend on
its exact results. The two agree on every date line of the thaigov and PRD corpora
(``tests/sources/test_thaidates.py``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Literal

from .thaitext import EARLIEST_PLAUSIBLE, DateError, ParsedDate, check_plausible, parse_date

__all__ = [
    "BANGKOK", "EARLIEST_PLAUSIBLE", "EVIDENCE_ORDER", "DateError", "DateProblem", "DateScan", "FoundDate",
    "ParsedDate", "check_plausible", "complete_year", "dates_in_url", "find_dates", "parse_date", "parse_one",
    "scan_dates",
]

#: Thailand has kept UTC+7 without daylight saving since 1920: a fixed offset is exact.
BANGKOK = dt.timezone(dt.timedelta(hours=7), "Asia/Bangkok")

#: The levels of evidence, strongest first (see the module docstring); also the values of ``date_source``.
EVIDENCE_ORDER = ("metadata", "date-line", "lead", "url")

Era = Literal["BE", "CE"]

# Plausible years: a BE year is CE + 543. The two windows do not overlap, so a
# four-digit year says its own era.
CE_YEARS = range(1900, 2101)
BE_YEARS = range(1900 + 543, 2101 + 543)
BE_OFFSET = 543


class DateProblem(DateError):
    """A date expression that cannot be read; ``span`` is where it stands in the text given."""

    def __init__(self, code: str, message: str, span: tuple[int, int] | None = None) -> None:
        super().__init__(code, message)
        self.span = span


@dataclass(frozen=True, slots=True)
class FoundDate:
    """One date expression read from a text (see the module docstring for each field)."""

    day: int
    month: int
    year: int | None
    era: Era | None
    year_given: bool
    form: str
    span: tuple[int, int]
    text: str
    time: dt.time | None = None
    tz: dt.tzinfo | None = None
    tz_given: bool = False
    end_day: int | None = None
    end_month: int | None = None
    end_year: int | None = None
    weekday: int | None = None

    @property
    def date(self) -> dt.date | None:
        return dt.date(self.year, self.month, self.day) if self.year is not None else None

    @property
    def range_end(self) -> dt.date | None:
        if self.end_day is None or self.end_month is None or self.end_year is None:
            return None
        return dt.date(self.end_year, self.end_month, self.end_day)

    @property
    def datetime(self) -> dt.datetime | None:
        if self.year is None or self.time is None:
            return None
        return dt.datetime.combine(dt.date(self.year, self.month, self.day), self.time, tzinfo=self.tz or BANGKOK)

    @property
    def bangkok_date(self) -> dt.date | None:
        moment = self.datetime
        return moment.astimezone(BANGKOK).date() if moment is not None else self.date

    @property
    def weekday_matches(self) -> bool | None:
        if self.weekday is None or self.year is None:
            return None
        return dt.date(self.year, self.month, self.day).weekday() == self.weekday


@dataclass(frozen=True, slots=True)
class DateScan:
    """What :func:`scan_dates` saw: the dates read, and the expressions that looked like dates but are not."""

    found: list[FoundDate]
    problems: list[DateProblem]


# --------------------------------------------------------------------------- names

_THAI_FULL_MONTHS = ["มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
                     "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม"]
# Abbreviations as parts between the dots: "มี.ค." is ("มี", "ค").
_THAI_ABBR_MONTHS = [("ม", "ค"), ("ก", "พ"), ("มี", "ค"), ("เม", "ย"), ("พ", "ค"), ("มิ", "ย"),
                     ("ก", "ค"), ("ส", "ค"), ("ก", "ย"), ("ต", "ค"), ("พ", "ย"), ("ธ", "ค")]
# Spoken short forms and misspellings met in real releases ("เมษยายน" in corpus/pages/054,
# ฏ for ฎ in กรกฎาคม is the commonest typo of all).
_THAI_MONTH_VARIANTS = {
    "มกรา": 1, "กุมภา": 2, "กุมภาพันธ": 2, "มีนา": 3, "เมษา": 4, "เมษยายน": 4, "พฤษภา": 5, "มิถุนา": 6,
    "กรกฏาคม": 7, "กรกฎา": 7, "กรกฏา": 7, "สิงหา": 8, "กันยา": 9, "ตุลา": 10, "พฤศจิกา": 11, "ธันวา": 12,
}
_THAI_MONTH_NUMBER: dict[str, int] = {name: number for number, name in enumerate(_THAI_FULL_MONTHS, start=1)}
_THAI_MONTH_NUMBER.update(_THAI_MONTH_VARIANTS)
_THAI_MONTH_NUMBER.update({"".join(parts): number for number, parts in enumerate(_THAI_ABBR_MONTHS, start=1)})

_ENGLISH_MONTH_NUMBER = {
    name: number
    for number, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
         ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sept", "sep"),
         ("october", "oct"), ("november", "nov"), ("december", "dec")],
        start=1,
    )
    for name in names
}
_THAI_WEEKDAYS = {"จันทร์": 0, "อังคาร": 1, "พุธ": 2, "พฤหัสบดี": 3, "พฤหัสฯ": 3, "พฤหัส": 3,
                  "ศุกร์": 4, "เสาร์": 5, "อาทิตย์": 6}
_ENGLISH_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}

# A Thai letter or mark: a short or undotted month name followed by one is a word, not a month
# ("มีค่า" is "has value", "ตุลาการ" a judge).
_THAI_LETTER = "\u0e01-\u0e4e"


def _alternation(names: list[str]) -> str:
    # Longest first, so "มีนาคม" wins over "มีนา" and "September" over "Sep".
    return "|".join(sorted(names, key=len, reverse=True))


def _abbreviation_pattern(parts: tuple[str, str]) -> str:
    # "มี.ค.", "มี.ค", "มีค", "มี. ค.": the dots optional, a stray space tolerated.
    # Undotted at the end, the name must not run on into a Thai word.
    first, second = parts
    return f"{first} ?\\.? ?{second}(?:\\.|(?![{_THAI_LETTER}]))"


_THAI_MONTH = "|".join([
    _alternation(_THAI_FULL_MONTHS + ["เมษยายน", "กรกฏาคม"]),
    *(f"(?:{_abbreviation_pattern(parts)})" for parts in _THAI_ABBR_MONTHS),
    f"(?:{_alternation([v for v in _THAI_MONTH_VARIANTS if v not in ('เมษยายน', 'กรกฏาคม')])})(?![{_THAI_LETTER}])",
])
_ENGLISH_MONTH_NAMES = [name for name in _ENGLISH_MONTH_NUMBER]
# Title case and capitals only: a lower-case "may 5" is more often a verb than a date.
_ENGLISH_MONTH = (
    "(?:" + _alternation([n.capitalize() for n in _ENGLISH_MONTH_NAMES] + [n.upper() for n in _ENGLISH_MONTH_NAMES])
    + r")\.?(?![A-Za-z])"
)
_THAI_WEEKDAY = _alternation(list(_THAI_WEEKDAYS))
_ENGLISH_WEEKDAY = (
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|Mon|Tues|Tue|Wed|Thurs|Thur|Thu|Fri|Sat|Sun)"
    r"\.?(?![A-Za-z])"
)
_ERA = r"(?P<era>พ ?\.? ?ศ\.?|ค ?\.? ?ศ\.?|B\. ?E\.|A\. ?D\.|C\. ?E\.|BE|AD|CE)"
_DASH = r"(?:-|–|—|~|ถึง(?:วันที่)?)"
# 1-31 only: "ธ.ค. 67 - 31ม.ค.68" is a month-year, then a date, not a range from day 67.
# A slash may stand before it: "หน้า 1/26 กันยายน 2549" (a Royal Gazette page, then its date).
_DAY = r"(?<![\d.:])(?:0?[1-9]|[12]\d|3[01])(?!\d)"
# The same, written to start with a plain digit: re then skips quickly to the digits of a long
# text (three times faster than _DAY as the first token of a pattern).
_FIRST_DAY = r"\d(?<![\d.:]\d)(?:(?<=[12])\d|(?<=3)[01]|(?<=0)[1-9])?(?!\d)"

# --------------------------------------------------------------------------- patterns
# Matched on the text after _prepare(): Thai digits are Arabic, odd spaces are plain spaces.
# Patterns start with a plain digit and look at the character before it afterwards
# ("\d(?<![\d-]\d)" is "(?<![\d-])\d"): re then jumps from digit to digit on a long text.

# A weekday written before a date is looked for backwards from the day, once a date is found:
# as an optional first group it made every pattern slow on long texts.
_THAI_WEEKDAY_BEFORE = re.compile(rf"วัน(?P<weekday>{_THAI_WEEKDAY}) *,? *(?:ที่)? *$")
_ENGLISH_WEEKDAY_BEFORE = re.compile(rf"(?<![A-Za-z])(?P<weekday>{_ENGLISH_WEEKDAY}) *,? *$")
_WEEKDAY_REACH = 24  # "วันพฤหัสบดี ที่ " is 16 characters; spaces vary

_THAI_DATE = re.compile(
    rf"(?P<day>{_FIRST_DAY})(?: *{_DASH} *(?P<day2>{_DAY}))?"
    rf" *(?P<month>{_THAI_MONTH})"
    rf"(?: *{_DASH} *(?P<day3>{_DAY}) *(?P<month3>{_THAI_MONTH}))?"
    rf"(?: *,? *(?:{_ERA} *)?(?P<year>\d{{4}}(?!\d)|[4-9]\d(?!\d|[.:]\d)))?"
)
_ENGLISH_DAY_MONTH = re.compile(
    rf"(?P<day>{_FIRST_DAY})(?:st|nd|rd|th)?(?: *[-–] *(?P<day2>{_DAY})(?:st|nd|rd|th)?)?"
    rf" *(?:of +)?(?P<month>{_ENGLISH_MONTH})"
    rf"(?: *[-–] *(?P<day3>{_DAY}) *(?P<month3>{_ENGLISH_MONTH}))?"
    r"(?: *,? *(?P<year>\d{4})(?!\d))?"
    r"(?: *(?P<era>B\. ?E\.|A\. ?D\.|C\. ?E\.))?"
)
_ENGLISH_MONTH_DAY = re.compile(
    rf"(?P<month>{_ENGLISH_MONTH}) *(?P<day>{_DAY})(?:st|nd|rd|th)?"
    rf"(?: *[-–] *(?P<day2>{_DAY}))?"
    r"(?: *, *(?P<year>\d{4})(?!\d)| +(?P<year_b>\d{4})(?!\d))?"
)
_NUMERIC_DATE = re.compile(
    r"(?P<day>\d(?<![\d/.:-]\d)\d?)(?P<sep>[/.-])(?P<month>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})(?![\d/]|[.:-]\d)"
)
_YMD_DATE = re.compile(r"(?P<year>\d(?<![\d/]\d)\d{3})/(?P<month>\d{1,2})/(?P<day>\d{1,2})(?![\d])")
_ISO_DATE = re.compile(r"(?P<year>\d(?<![\d-]\d)\d{3})-(?P<month>\d{2})-(?P<day>\d{2})(?!\d)")

# A time after a date: "เวลา 14.00 น.", "(เวลา 13.00 น.)", "at 14.00 hrs.", "/ 14:37:52",
# "T09:30:00+07:00", "0930hrs", "09:30:00 +0700". A bare "14.30" is no time: it needs
# "เวลา", a unit or a colon.
_TIME_TAIL = re.compile(
    r"(?:"
    r" *(?:(?P<open>\()|[,)/])? *(?:ณ *)?เวลา *(?P<h1>\d{1,2})(?:[.:](?P<m1>\d{2}))?(?:[.:](?P<s1>\d{2}))?"
    r"| *[,/]? *(?:at +)?(?P<h2>\d{1,2})[.:](?P<m2>\d{2})(?=[ ]*(?:น\.|นาฬิกา|hrs?\b|hours\b))"
    r"| *[,/]? *(?:at +)?(?P<h3>\d{1,2}):(?P<m3>\d{2})(?::(?P<s3>\d{2})(?:\.\d+)?)?"
    r"|T(?P<h4>\d{2}):(?P<m4>\d{2})(?::(?P<s4>\d{2})(?:\.\d+)?)?"
    r"| *[,/]? *(?:at +)?(?P<h5>[01]\d|2[0-3])(?P<m5>[0-5]\d) *(?=hrs?\b)"
    r")"
    r"(?: *[-–] *\d{1,2}[.:]\d{2})?"
    rf"(?P<unit> *(?:น\.|นาฬิกา|น(?![{_THAI_LETTER}])|hrs?\.?(?![A-Za-z])|hours(?![A-Za-z])))?"
    r"(?(open)(?: *\))?)"  # "(เวลา 13.00 น.)": the closing parenthesis too
    r"(?: *(?P<zone>Z(?![A-Za-z])|[+-]\d{2}:?\d{2}(?!\d)|(?:GMT|UTC) *[+-] *\d{1,2}(?::?\d{2})?(?!\d)"
    r"|\((?:GMT|UTC) *[+-] *\d{1,2}(?::?\d{2})?\)|GMT(?![A-Za-z])|UTC(?![A-Za-z])|ICT(?![A-Za-z])|Asia/Bangkok))?"
)

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()]+")
_URL_PATH_DATE = re.compile(r"/(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})(?=/|$|[?#])")
_PRD_FILE_DATE = re.compile(r"/file/get/file/(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})")
_URL_YYYYMMDD = re.compile(r"(?P<year>\d(?<![0-9A-Za-z]\d)\d{3})(?P<month>\d{2})(?P<day>\d{2})(?!\d)")
_URL_ISO = re.compile(r"(?P<year>\d(?<!\d\d)\d{3})-(?P<month>\d{2})-(?P<day>\d{2})(?!\d)")
_LOOKS_LIKE_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.|/)\S*$", re.I)

_PREPARE = str.maketrans({
    **{thai: str(value) for value, thai in enumerate("๐๑๒๓๔๕๖๗๘๙")},
    "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u3000": " ", "\t": " ", "\r": " ", "\x0b": " ", "\x0c": " ",
    "\u2212": "-",
})
_TO_PREPARE = re.compile("[" + "".join(chr(point) for point in _PREPARE) + "]+")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")


def _prepared_char(match: re.Match[str]) -> str:
    return match[0].translate(_PREPARE)


def _prepare(text: str) -> tuple[str, list[int] | None]:
    """The text to match (same length, one character for one), and where each character came from.

    Thai digits become Arabic and odd spaces plain ones, one character for one; invisible
    characters are dropped, and only then is a position map needed (rare).
    """
    # translate() looks up every character; most texts have few to change.
    prepared = _TO_PREPARE.sub(_prepared_char, text) if _TO_PREPARE.search(text) else text
    if not _INVISIBLE.search(prepared):
        return prepared, None
    kept = [index for index, char in enumerate(prepared) if not _INVISIBLE.match(char)]
    return "".join(prepared[index] for index in kept), kept


def _original_span(span: tuple[int, int], positions: list[int] | None) -> tuple[int, int]:
    if positions is None:
        return span
    start, end = span
    return positions[start], positions[end - 1] + 1


# --------------------------------------------------------------------------- reading


def _year(digits: str, era_marker: str | None, *, two_digit_era: Era, where: str) -> tuple[int, Era]:
    """The Gregorian year and the era it was written in; :class:`DateProblem` when implausible."""
    year = int(digits)
    marker: Era | None = None
    if era_marker:
        marker = "BE" if era_marker.replace(".", "").replace(" ", "")[0] in "พB" else "CE"
    if len(digits) == 2:
        era = marker or two_digit_era
        return (2500 + year - BE_OFFSET, "BE") if era == "BE" else (2000 + year, "CE")
    if marker == "BE" or (marker is None and year in BE_YEARS):
        if year not in BE_YEARS:
            raise DateProblem(
                "implausible-year",
                f"{where!r}: {year} is marked as a Buddhist-Era year but reads as {year - BE_OFFSET} CE; "
                f"expected a BE year in {BE_YEARS.start}-{BE_YEARS.stop - 1}",
            )
        return year - BE_OFFSET, "BE"
    if year not in CE_YEARS:
        raise DateProblem(
            "implausible-year",
            f"{where!r}: {year} is neither a plausible Buddhist-Era year ({BE_YEARS.start}-{BE_YEARS.stop - 1}) "
            f"nor a plausible Gregorian one ({CE_YEARS.start}-{CE_YEARS.stop - 1})",
        )
    return year, "CE"


def _check_day(year: int | None, month: int, day: int, where: str) -> None:
    if not 1 <= month <= 12:
        raise DateProblem("impossible-date", f"{where!r}: there is no month {month}")
    try:
        dt.date(year if year is not None else 2000, month, day)  # 2000: a leap year, 29 February exists
    except ValueError:
        in_year = f" of {year}" if year is not None else ""
        raise DateProblem(
            "impossible-date", f"{where!r}: day {day} does not exist in month {month}{in_year}"
        ) from None


def _time(tail: re.Match[str], where: str) -> tuple[dt.time | None, dt.tzinfo | None, bool]:
    """The time and zone of a time tail; (None, None, False) when the tail is no time."""
    hour, minute, second = next(
        (tail[f"h{index}"], tail[f"m{index}"], tail[f"s{index}"] if index in "134" else None)
        for index in "12345" if tail[f"h{index}"] is not None
    )
    if minute is None and not tail["unit"]:
        return None, None, False  # "เวลา 14" with no unit is not clearly a time
    h, m, s = int(hour), int(minute or 0), int(second or 0)
    if h > 23 or m > 59 or s > 59:
        raise DateProblem("impossible-time", f"{where!r}: {tail[0].strip()!r} is not a time of day")
    zone_text = tail["zone"]
    if not zone_text:
        return dt.time(h, m, s), BANGKOK, False
    return dt.time(h, m, s), _zone(zone_text), True


_ZONE_OFFSET = re.compile(r"([+-]) *(\d{1,2}):?(\d{2})?")


def _zone(text: str) -> dt.tzinfo:
    if text in ("Z", "GMT", "UTC"):
        return dt.timezone.utc
    if text in ("ICT", "Asia/Bangkok"):
        return BANGKOK
    sign, hours, minutes = _ZONE_OFFSET.search(text).groups()  # type: ignore[union-attr]
    offset = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
    return dt.timezone(-offset if sign == "-" else offset)


def _month_number(name: str, thai: bool) -> int:
    if thai:
        return _THAI_MONTH_NUMBER[name.replace(".", "").replace(" ", "")]
    return _ENGLISH_MONTH_NUMBER[name.rstrip(".").lower()]


def _weekday(name: str | None, thai: bool) -> int | None:
    if name is None:
        return None
    return _THAI_WEEKDAYS[name] if thai else _ENGLISH_WEEKDAYS[name.rstrip(".").lower()[:3]]


def _build(
    match: re.Match[str], prepared: str, original: str, positions: list[int] | None, form: str, *,
    two_digit_era: Era, with_time: bool = True,
) -> tuple[FoundDate, int]:
    """A FoundDate from a pattern's match (any form), with the time that follows it; and its end in ``prepared``."""
    where = match[0]
    groups = match.groupdict()
    thai = form == "thai"
    month = _month_number(groups["month"], thai) if form in ("thai", "english") else int(groups["month"])
    day = int(groups["day"])
    year_digits = groups.get("year") or groups.get("year_b")
    year: int | None = None
    era: Era | None = None
    if year_digits is not None:
        # Two-digit years: BE after a Thai month name; as the caller says in dd/mm/yy.
        year, era = _year(year_digits, groups.get("era"), two_digit_era="BE" if thai else two_digit_era,
                          where=where)

    end_day = end_month = end_year = None
    if groups.get("day2"):
        end_day, end_month = int(groups["day2"]), month
    elif groups.get("day3"):
        end_day, end_month = int(groups["day3"]), _month_number(groups["month3"], thai)
    if end_day is not None and end_month is not None:
        if end_month == month and end_day <= day:
            raise DateProblem("backwards-range", f"{where!r}: the range ends on or before its first day")
        end_year = year
        if year is not None and end_month < month:
            # "30 ธ.ค. - 2 ม.ค. 2568": a range into the next year is written with the year of its end.
            year -= 1
        _check_day(end_year, end_month, end_day, where)
    _check_day(year, month, day, where)

    start, end = match.span()
    weekday = None
    if form in ("thai", "english"):
        before = (_THAI_WEEKDAY_BEFORE if thai else _ENGLISH_WEEKDAY_BEFORE).search(
            prepared, max(0, start - _WEEKDAY_REACH), start)
        if before is not None:
            start, weekday = before.start(), _weekday(before["weekday"], thai)
    time = tz = None
    tz_given = False
    if with_time:
        tail = _TIME_TAIL.match(prepared, end)
        if tail is not None:
            time, tz, tz_given = _time(tail, prepared[start:tail.end()])
            if time is not None:
                end = tail.end()
    span = _original_span((start, end), positions)
    found = FoundDate(
        day=day, month=month, year=year, era=era, year_given=year is not None, form=form, span=span,
        text=original[span[0]:span[1]], time=time, tz=tz, tz_given=tz_given,
        end_day=end_day, end_month=end_month, end_year=end_year,
        weekday=weekday,
    )
    return found, end


# Text forms, in the order they are preferred when two start at the same place (then the longer wins).
_TEXT_FORMS = (
    ("thai", _THAI_DATE), ("english", _ENGLISH_DAY_MONTH), ("english", _ENGLISH_MONTH_DAY),
    ("iso", _ISO_DATE), ("ymd", _YMD_DATE), ("numeric", _NUMERIC_DATE),
)
_URL_FORMS = (("prd-file", _PRD_FILE_DATE), ("url-path", _URL_PATH_DATE), ("url-iso", _URL_ISO),
              ("url-yyyymmdd", _URL_YYYYMMDD))


def _candidates(
    prepared: str, forms: tuple[tuple[str, re.Pattern[str]], ...], start: int = 0, stop: int | None = None
) -> list[tuple[int, int, int, str, re.Match[str]]]:
    stop = len(prepared) if stop is None else stop
    found = []
    for rank, (form, pattern) in enumerate(forms):
        for match in pattern.finditer(prepared, start, stop):
            found.append((match.start(), -match.end(), rank, form, match))
    return found


def _read_url_match(
    match: re.Match[str], prepared: str, original: str, positions: list[int] | None, form: str
) -> tuple[FoundDate, int] | None:
    # In a URL, digits that make no plausible date are an id, not a problem.
    try:
        return _build(match, prepared, original, positions, form, two_digit_era="BE", with_time=False)
    except DateProblem:
        return None


def scan_dates(text: str, *, two_digit_era: Era = "BE") -> DateScan:
    """Every date expression of ``text`` (in text order), and what looked like a date but is not one.

    Dates inside URLs of the text are read as URL dates (forms ``url-…``, ``prd-file``), not as
    text. Where matches overlap, the one that starts first wins, then the longer one.
    """
    prepared, positions = _prepare(text)
    candidates: list[tuple[int, int, int, str, re.Match[str]]] = []
    previous = 0
    if "/" in prepared or "www." in prepared:
        for url in _URL.finditer(prepared):
            candidates += _candidates(prepared, _TEXT_FORMS, previous, url.start())
            candidates += _candidates(prepared, _URL_FORMS, url.start(), url.end())
            previous = url.end()
    candidates += _candidates(prepared, _TEXT_FORMS, previous)
    candidates.sort(key=lambda item: item[:3])

    found: list[FoundDate] = []
    problems: list[DateProblem] = []
    taken_until = 0
    for start, _, _, form, match in candidates:
        if start < taken_until:
            continue
        if form.startswith(("url", "prd")):
            read = _read_url_match(match, prepared, text, positions, form)
        else:
            try:
                read = _build(match, prepared, text, positions, form, two_digit_era=two_digit_era)
            except DateProblem as problem:
                problem.span = _original_span(match.span(), positions)
                problems.append(problem)
                taken_until = match.end()
                continue
        if read is not None:
            found.append(read[0])
            taken_until = read[1]
    return DateScan(found, problems)


def find_dates(text: str, *, two_digit_era: Era = "BE") -> list[FoundDate]:
    """Every date expression of ``text``, in text order, with its span (see :func:`scan_dates`)."""
    return scan_dates(text, two_digit_era=two_digit_era).found


def dates_in_url(url: str) -> list[FoundDate]:
    """Dates written in a URL, in URL order: ``/YYYY/MM/DD/``, ISO, ``YYYYMMDD`` (BE or CE), PRD file names.

    Digits that make no plausible date are ids and are skipped silently.
    """
    prepared, positions = _prepare(url)
    candidates = _candidates(prepared, _URL_FORMS)
    candidates.sort(key=lambda item: item[:3])
    found: list[FoundDate] = []
    taken_until = 0
    for start, _, _, form, match in candidates:
        if start < taken_until:
            continue
        read = _read_url_match(match, prepared, url, positions, form)
        if read is not None:
            found.append(read[0])
            taken_until = read[1]
    return found


def parse_one(text: str, *, two_digit_era: Era = "BE") -> FoundDate:
    """Read the date expression of ``text``: the first date in it, if labels or more dates surround it.

    A text that is a URL (no spaces, a scheme or a leading "/") is read with
    :func:`dates_in_url`. When no date can be read, raises :class:`DateProblem` with the
    code of the first expression that looked like a date ("31 กุมภาพันธ์ 2567" is
    ``impossible-date``), else ``unparseable-date``.
    """
    stripped = text.strip()
    if _LOOKS_LIKE_URL.match(stripped):
        dates = dates_in_url(text)
        if dates:
            return dates[0]
        raise DateProblem("unparseable-date", f"no date could be read in the URL {text!r}")
    scan = scan_dates(text, two_digit_era=two_digit_era)
    if scan.found:
        return scan.found[0]
    if scan.problems:
        raise scan.problems[0]
    raise DateProblem("unparseable-date", f"no date could be read in {text!r}")


def complete_year(partial: FoundDate, reference_date: dt.date) -> FoundDate:
    """Give a yearless date the year that puts it nearest ``reference_date``.

    ``reference_date`` must be trustworthy context for this text (the page's publication
    date from metadata or its date line, or its URL date), never today's date. Of the
    reference's year, the one before and the one after, the nearest valid date wins (the
    earlier on a tie): "28 ธ.ค." with a reference of 3 January 2568 is 28 December 2567.
    A date that has a year is returned unchanged; ``year_given`` stays False on a completed one.
    """
    if partial.year is not None:
        return partial
    if isinstance(reference_date, dt.datetime):
        reference_date = reference_date.date()
    best: tuple[int, int] | None = None
    for year in (reference_date.year - 1, reference_date.year, reference_date.year + 1):
        try:
            distance = abs((dt.date(year, partial.month, partial.day) - reference_date).days)
        except ValueError:  # 29 February in a common year
            continue
        if best is None or distance < best[0]:
            best = (distance, year)
    if best is None:
        raise DateProblem(
            "impossible-date",
            f"{partial.text!r}: day {partial.day} of month {partial.month} exists in no year near "
            f"{reference_date.isoformat()}",
            partial.span,
        )
    year = best[1]
    end_year = None
    if partial.end_month is not None:
        end_year = year + 1 if partial.end_month < partial.month else year
    return replace(partial, year=year, end_year=end_year)
