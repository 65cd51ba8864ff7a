"""Thai text handling: cleaning, digits, Buddhist-Era dates, phone numbers, words.

Everything here runs offline. PyThaiNLP is configured for that in
``pipeline/__init__.py`` (``PYTHAINLP_OFFLINE`` / ``PYTHAINLP_READ_ONLY``), so a
missing corpus fails loudly instead of silently returning nothing.

Never NFKC-normalise Thai: it decomposes SARA AM (U+0E33) and breaks words.
Only the characters listed below are replaced, explicitly.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from pythainlp import thai_above_vowels, thai_below_vowels, thai_follow_vowels, thai_lead_vowels, thai_tonemarks
from pythainlp.util import normalize as _pythainlp_normalize
from pythainlp.util.date import thai_abbr_months, thai_full_months

_THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
_DIGIT_TABLE = str.maketrans(_THAI_DIGITS, "0123456789")

# Characters that are invisible or break matching. PyThaiNLP's normalize()
# removes only U+200B and U+200C, so the rest is done here.
_INVISIBLE = {
    "\u200b": None,  # zero-width space
    "\u200c": None,  # zero-width non-joiner
    "\u200d": None,  # zero-width joiner
    "\u2060": None,  # word joiner
    "\ufeff": None,  # stray BOM / zero-width no-break space
    "\u00ad": None,  # soft hyphen
}
_SPACES = {
    "\u00a0": " ",  # no-break space
    "\u2007": " ",  # figure space
    "\u202f": " ",  # narrow no-break space
    "\u3000": " ",  # ideographic space
    "\t": " ",
    "\r": None,
    "\x0b": " ",
    "\x0c": " ",
}
_CLEAN_TABLE = str.maketrans({**_INVISIBLE, **_SPACES})
_MULTISPACE = re.compile(r" {2,}")
_NOT_ASCII_LETTER = bytes(b for b in range(256) if not (65 <= b <= 90 or 97 <= b <= 122))


def thai_digits_to_arabic(text: str) -> str:
    """Replace Thai digits (๐-๙) with Arabic digits (0-9)."""
    return text.translate(_DIGIT_TABLE)


# Everything PyThaiNLP's normalize() can change in a line, as one cheap test:
# normalize() runs ~30 regular expressions, and most lines need none of them.
_DANGLING = f"{thai_above_vowels}{thai_below_vowels}{thai_tonemarks}\u0e3a\u0e4c\u0e4d\u0e4e"
_NO_REPEAT = f"{thai_follow_vowels}{thai_lead_vowels}{thai_above_vowels}{thai_below_vowels}\u0e3a\u0e4c\u0e4d\u0e4e"
_MIGHT_NORMALIZE = re.compile(
    "|".join([
        "\u0e40\u0e40",  # Sara E + Sara E
        f"[{thai_tonemarks}\u0e4c][{thai_above_vowels}{thai_below_vowels}]",  # tone before vowel
        "\u0e4d",  # Nikhahit (+ Sara Aa)
        f"[{thai_follow_vowels}][{thai_tonemarks}]",  # follow vowel before tone mark
        "\u0e45",  # Lakkhangyao
        f"([{_NO_REPEAT}])[ ]*\\1",  # a repeated vowel or sign
        f"[{thai_tonemarks}]{{2}}",  # repeated tone marks
        f"(?:^| )[{_DANGLING}]",  # dangling mark at the start or after a space
    ])
)


# Over a whole text, the same test runs on arrays of code points (numpy): one regular
# expression over every character of every release cost a fifth of the transform.
# Each flag is a character class of _MIGHT_NORMALIZE; flags of code points above
# U+FFFF are all 0.
(_SARA_E, _TONE, _THANTHAKHAT, _ABOVE_BELOW, _ALWAYS, _FOLLOW, _NO_REPEAT_FLAG, _DANGLING_FLAG,
 _SPACE_OR_NEWLINE, _SPACE, _TO_REPLACE) = (1 << bit for bit in range(11))
_FLAGS = np.zeros(0x10000, dtype=np.uint16)
for _chars, _flag in (("\u0e40", _SARA_E), (thai_tonemarks, _TONE), ("\u0e4c", _THANTHAKHAT),
                      (thai_above_vowels + thai_below_vowels, _ABOVE_BELOW), ("\u0e4d\u0e45", _ALWAYS),
                      (thai_follow_vowels, _FOLLOW), (_NO_REPEAT, _NO_REPEAT_FLAG), (_DANGLING, _DANGLING_FLAG),
                      (" \n", _SPACE_OR_NEWLINE), (" ", _SPACE), ("".join({**_INVISIBLE, **_SPACES}), _TO_REPLACE)):
    for _char in _chars:
        _FLAGS[ord(_char)] |= _flag


def _code_points(text: str) -> Any:
    return np.minimum(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), 0xFFFF)


def _lines_to_normalize(points: Any, flags: Any) -> list[int]:
    """Indices of the lines (as ``text.split("\\n")`` cuts them) where :data:`_MIGHT_NORMALIZE` matches."""
    if not len(points):
        return []
    # Each hit is the position of the last character of a match: never a newline, so it
    # lies on the line of the whole match.
    hits = [np.flatnonzero(flags & _ALWAYS)]  # ํ or ๅ anywhere
    if flags[0] & _DANGLING_FLAG:  # a dangling mark at the very start
        hits.append(np.zeros(1, dtype=np.intp))
    first, then = flags[:-1], flags[1:]
    for before, after in ((_SARA_E, _SARA_E), (_TONE | _THANTHAKHAT, _ABOVE_BELOW), (_FOLLOW | _TONE, _TONE),
                          (_SPACE_OR_NEWLINE, _DANGLING_FLAG)):
        hits.append(np.flatnonzero(np.logical_and(first & before, then & after)) + 1)
    # The same vowel or sign twice, spaces between them or not.
    not_space = np.flatnonzero((flags & _SPACE) == 0)
    kept = points[not_space]
    repeated = np.logical_and(kept[:-1] == kept[1:], _FLAGS[kept[:-1]] & _NO_REPEAT_FLAG)
    hits.append(not_space[1:][repeated])
    positions = np.concatenate(hits)
    if not positions.size:
        return []
    newlines = np.flatnonzero(points == 0x0A)
    return np.unique(np.searchsorted(newlines, positions)).tolist()


def clean_line(line: str) -> str:
    """Clean one line: invisible characters out, odd spaces to one space, marks fixed.

    PyThaiNLP's ``normalize`` repairs doubled and misordered marks (เเ→แ,
    ่่→่, ํา→ำ); it is applied per line because it collapses newlines, and
    only to lines it would change (a test holds this against the corpus).
    """
    # Runs of spaces are collapsed first, as normalize() itself does first.
    line = _MULTISPACE.sub(" ", line.translate(_CLEAN_TABLE))
    if _MIGHT_NORMALIZE.search(line):
        line = _MULTISPACE.sub(" ", _pythainlp_normalize(line))
    return line.strip()


def clean_lines(text: str) -> list[str]:
    """Split text into cleaned lines (blank lines kept as empty strings).

    The same result as :func:`clean_line` on every line, with the cheap steps
    done once over the whole text.
    """
    points = _code_points(text)
    flags = _FLAGS[points]
    to_replace = flags & _TO_REPLACE
    if to_replace.any() or "  " in text:
        for point in np.unique(points[to_replace != 0]).tolist():
            text = text.replace(chr(point), _CLEAN_TABLE[point] or "")  # as clean_line's translate
        text = _MULTISPACE.sub(" ", text)
        points = _code_points(text)
        flags = _FLAGS[points]
    lines = text.split("\n")
    # Only the lines the test finds: searching every line of a long text with the
    # regular expression cost as much as normalize() itself.
    for index in _lines_to_normalize(points, flags):
        lines[index] = _MULTISPACE.sub(" ", _pythainlp_normalize(lines[index]))
    return [line.strip() for line in lines]


def detect_language(text: str) -> str:
    """Return ``th``, ``en`` or ``mixed`` from the share of Thai and Latin letters."""
    # Counted on the UTF-8 bytes, in C: every Thai character (U+0E00-U+0E7F) starts
    # with E0 B8 or E0 B9, and ASCII letters never occur inside a multibyte sequence.
    data = text.encode("utf-8")
    thai = data.count(b"\xe0\xb8") + data.count(b"\xe0\xb9")
    latin = len(data.translate(None, _NOT_ASCII_LETTER))
    total = thai + latin
    if total == 0:
        return "th"
    share = thai / total
    # Thai words are several code points each, English acronyms are common in
    # Thai news: a Thai item keeps well above 70 % Thai letters.
    if share >= 0.7:
        return "th"
    if share <= 0.1:
        return "en"
    return "mixed"


# --------------------------------------------------------------------------- dates
# parse_date is the reader of the prd and thaigov parsers: release ids and package bytes depend
# on its exact results, so it stays as it is. Every other date (any agency's pages, feeds, URLs,
# yearless datelines, times, ranges) is read by pipeline/thaidates.py, which re-exports these names.

_MONTHS: dict[str, int] = {}
for _number, (_full, _abbr) in enumerate(zip(thai_full_months, thai_abbr_months), start=1):
    _MONTHS[_full] = _number
    _MONTHS[_abbr.replace(".", "")] = _number  # "มิ.ย." -> "มิย"
# Common variants seen in releases.
_MONTHS.update({"มิถุนา": 6, "กรกฎา": 7, "ตุลา": 10, "พฤศจิกา": 11, "ธันวา": 12, "กันยา": 9})
_ENGLISH_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}

# Longest names first so "มีนาคม" wins over "มีค".
_MONTH_ALTERNATION = "|".join(
    sorted({re.escape(k) for k in _MONTHS} | {
        # abbreviations with their dots, dots optional and spaces tolerated
        r"\.?\s?".join(re.escape(ch) for ch in abbr.replace(".", "")) + r"\.?"
        for abbr in thai_abbr_months
    }, key=len, reverse=True)
)
_THAI_DATE = re.compile(
    r"(?P<day>\d{1,2})\s*(?P<month>" + _MONTH_ALTERNATION + r")\s*"
    r"(?:พ\.?\s?ศ\.?\s*)?(?P<year>\d{4}|\d{2})(?!\d)"
)
_NUMERIC_DATE = re.compile(r"(?<!\d)(?P<day>\d{1,2})[/.-](?P<month>\d{1,2})[/.-](?P<year>\d{4}|\d{2})(?!\d)")
_ISO_DATE = re.compile(r"(?<!\d)(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})(?!\d)")
_ENGLISH_DATE = re.compile(
    r"(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})"
    r"|(?P<day2>\d{1,2})\s+(?P<month2>[A-Za-z]{3,9})\.?,?\s+(?P<year2>\d{4})"
)


class DateError(ValueError):
    """A date text that cannot be read, or reads as an implausible date."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ParsedDate:
    value: dt.date
    era: str  # "BE" or "CE": which calendar the text was written in


def _month_number(name: str) -> int | None:
    key = re.sub(r"[\s.]", "", name)
    return _MONTHS.get(key) or _MONTHS.get(name)


def _year_to_ce(year_text: str, *, thai_context: bool) -> tuple[int, str]:
    """Interpret a written year. Two-digit years in Thai releases are BE (63 = 2563)."""
    year = int(year_text)
    if len(year_text) == 2:
        return (2500 + year - 543, "BE") if thai_context else (2000 + year, "CE")
    if year >= 2400:  # no Gregorian year in our range is this large; BE ones are
        return year - 543, "BE"
    return year, "CE"


def _build(year: int, month: int, day: int, text: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise DateError("unparseable-date", f"{text!r} is not a calendar date ({exc})") from exc


def parse_date(text: str) -> ParsedDate:
    """Read a date as written in a Thai release and return it in the Gregorian calendar.

    Accepts Thai month names (full or abbreviated, dots optional), Thai or
    Arabic digits, BE or CE years (two-digit years are BE), ``dd/mm/yyyy``
    and ISO. Raises :class:`DateError` with code ``unparseable-date`` when no
    date can be read.
    """
    normalized = clean_line(thai_digits_to_arabic(text))
    match = _THAI_DATE.search(normalized)
    if match:
        month = _month_number(match["month"])
        if month is not None:
            year, era = _year_to_ce(match["year"], thai_context=True)
            return ParsedDate(_build(year, month, int(match["day"]), text), era)
    match = _ISO_DATE.search(normalized)
    if match:
        year, era = _year_to_ce(match["year"], thai_context=False)
        return ParsedDate(_build(year, int(match["month"]), int(match["day"]), text), era)
    match = _NUMERIC_DATE.search(normalized)
    if match:
        year, era = _year_to_ce(match["year"], thai_context=True)
        return ParsedDate(_build(year, int(match["month"]), int(match["day"]), text), era)
    match = _ENGLISH_DATE.search(normalized)
    if match:
        month_name = (match["month"] or match["month2"]).lower()
        day = match["day"] or match["day2"]
        year_text = match["year"] or match["year2"]
        month = _ENGLISH_MONTHS.get(month_name)
        if month is not None:
            year, era = _year_to_ce(year_text, thai_context=False)
            return ParsedDate(_build(year, month, int(day), text), era)
    raise DateError("unparseable-date", f"no date could be read in {text!r}")


#: Releases before this are placeholders or mis-typed years, not real news.
EARLIEST_PLAUSIBLE = dt.date(1990, 1, 1)


def check_plausible(value: dt.date, text: str, *, today: dt.date | None = None) -> None:
    """Raise ``DateError('implausible-date')`` for placeholders and future dates.

    A "1 มกราคม 2513" (1970-01-01) on an empty record is a placeholder, and a
    date after today is a typo in the year; neither is a value to publish.
    """
    today = today or dt.date.today()
    if value < EARLIEST_PLAUSIBLE:
        raise DateError(
            "implausible-date",
            f"date {text!r} reads as {value.isoformat()}, before {EARLIEST_PLAUSIBLE.isoformat()}: "
            "a placeholder (1970-01-01 is the usual one), not a publication date",
        )
    if value > today + dt.timedelta(days=1):
        raise DateError(
            "implausible-date",
            f"date {text!r} reads as {value.isoformat()}, which is in the future; check the year",
        )


# --------------------------------------------------------------------------- phones

_PHONE = re.compile(
    r"(?<![\d])(?P<number>0[\s-]?\d(?:[\s-]?\d){7,8})"
    r"(?:\s*(?:ต่อ|ext\.?|Ext\.?|EXT\.?|x)\s*(?P<ext>\d{1,6}))?"
)


def normalize_phone(text: str) -> str | None:
    """Normalise the first Thai phone number in ``text`` to international form.

    ``"0 2618 2323 ต่อ 1504"`` becomes ``"+66 2 618 2323 ext. 1504"``; a mobile
    ``"081-234-5678"`` becomes ``"+66 81 234 5678"``. Returns ``None`` when the
    text holds no Thai number.
    """
    match = _PHONE.search(thai_digits_to_arabic(text))
    if not match:
        return None
    digits = re.sub(r"\D", "", match["number"])[1:]  # drop the trunk 0
    if len(digits) == 8 and digits[0] == "2":  # Bangkok landline: 2 XXX XXXX
        formatted = f"+66 2 {digits[1:4]} {digits[4:]}"
    elif len(digits) == 8:  # provincial landline: XX XXX XXX
        formatted = f"+66 {digits[:2]} {digits[2:5]} {digits[5:]}"
    elif len(digits) == 9:  # mobile: XX XXX XXXX
        formatted = f"+66 {digits[:2]} {digits[2:5]} {digits[5:]}"
    else:
        return None
    if match["ext"]:
        formatted += f" ext. {match['ext']}"
    return formatted


# --------------------------------------------------------------------------- words


def load_segmenter() -> None:
    """Load the nlpo3 dictionary now, so a missing dictionary fails at start-up."""
    from pythainlp.tokenize import nlpo3 as _nlpo3

    _nlpo3._ensure_default_dict_loaded()


def segment_words(text: str) -> list[str]:
    """Segment one document into word tokens with nlpo3; white space is dropped.

    One call per document: nlpo3 is linear in the text (unlike newmm, which
    must never see one huge string). Punctuation tokens are kept so the joined
    text still reads naturally.
    """
    from pythainlp.tokenize.nlpo3 import segment

    # Joining on spaces and splitting on white space drops the space and newline tokens in C.
    return " ".join(segment(text)).split()


# A token with no letter or digit (punctuation, symbols), after a separating space or first.
# Matching from a literal space lets re jump from space to space; the lookbehind form
# "(?<!\S)..." was tried at every character and cost four times as much.
_NOT_A_WORD_AFTER_SPACE = re.compile(r" [^\w\s\u0e00-\u0e7f]+(?![^ ])")
_NOT_A_WORD_FIRST = re.compile(r"[^\w\s\u0e00-\u0e7f]+(?![^ ])")


def count_words(words: str | list[str]) -> int:
    """Count the tokens that hold a letter or digit.

    ``words`` is a list of tokens, or their text joined by single spaces (as
    ``" ".join(segment_words(text))``); tokens hold no white space.
    """
    text = words if isinstance(words, str) else " ".join(words)
    if not text:
        return 0
    not_words = len(_NOT_A_WORD_AFTER_SPACE.findall(text)) + (_NOT_A_WORD_FIRST.match(text) is not None)
    return text.count(" ") + 1 - not_words
