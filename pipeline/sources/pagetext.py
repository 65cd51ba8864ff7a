"""Reading page text of any agency layout: which line is what, the headline, the date by evidence, the body.

Helpers of :mod:`pipeline.sources.generic` (this module defines no ``SOURCE``). The text is what a
browser or a stored copy gives for a page: the site's menus, breadcrumbs, share buttons, counters and
widgets are lines among the release's own (``../shared/corpus/pages``: 70 pages of many agencies).

Each cleaned line gets a kind (:func:`line_kind`): blank, chrome (site furniture: menus, nav words,
breadcrumbs, buttons, counters, image file names, lines of digits), metadata ("label : value",
"วันที่นำเข้าข้อมูล 12 ต.ค. 2565", a release number "443/2560"), a date line (a short line that is
mostly one dated expression: "8 พฤศจิกายน 2560 จำนวนคนเข้าชม 206") or text. Then:

- **Headline** (:func:`find_headline`): a text line the page prints again below it (whole, cut, or
  as the start of the lead: CMSs print the heading and the article's headline), else the nearest
  block of text lines above the date line or the lead (joined with one space: a headline broken over
  two lines), else a first line of headline length directly followed by the body.
- **Date** (:func:`date_evidence`), in :data:`pipeline.thaidates.EVIDENCE_ORDER`: labelled metadata,
  the date line of the header, the lead's opening date ("วันนี้ (19 มี.ค.64)", "เมื่อวันที่ …",
  "On December 6, 2022"; not a period "ตั้งแต่วันที่ …", "จนถึงวันที่ …", "As of …"), the URL.
  A yearless lead date is completed only from the URL's date (:func:`pipeline.thaidates.complete_year`).
- **Body**: the text lines after the header, without chrome, title repeats, date and metadata lines,
  and cut at a footer (visitor statistics, copyright).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..thaidates import DateProblem, FoundDate, complete_year, dates_in_url, find_dates, parse_one
from ..thaitext import clean_lines
from .base import SITE_CHROME_LINE, chrome_kind, squash

BLANK, CHROME, META, META_DATE, DATE, TEXT = "blank", "chrome", "meta", "meta-date", "date", "text"

_LETTER = re.compile(r"[^\W\d_]")
_BULLET = re.compile(r"^(?:[•·▪◦●■\-*]\s*)+(?=\S)")
# Navigation: a breadcrumb ("A >> B", "Menu / home / >>") or a line that starts at the home page.
_BREADCRUMB = re.compile(r"(?:^|\s)(?:>>|»|>)(?:\s|$)|^(?:หน้าหลัก|หน้าแรก|โฮมเพจ|home|menu)(?:\s|$)", re.I)
# An image's file name or an upload's id left by the page ("SAM_0988_resize", "14711337 67196…_o.jpg").
_FILE_NAME = re.compile(r"^(?=[^\u0e00-\u0e7f]*[\d_])[\w.-]+(?:\s[\w.-]+)?$|^\S+\.(?:png|jpe?g|gif|webp|pdf)$", re.I)
# An image's file name glued to the first word of a paragraph ("SAM_0988_resizeเมื่อวันพุธที่ …").
_GLUED_FILE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+(?=[\u0e00-\u0e7f])")
# Where the page's footer starts: everything below is site furniture.
FOOTER_START = re.compile(r"^(?:สถิติการเข้าใช้งาน|สถิติผู้เข้าชม|copyright|©|สงวนลิขสิทธิ์|all rights reserved)", re.I)
# Dated metadata: a CMS's label for the publication date (the MFA's import date); an ambiguous label
# ("วันที่", "เมื่อวันที่" also open leads) counts only with a colon ("เมื่อวันที่ : 26 มี.ค. 2563").
_LABELLED_DATE = re.compile(
    r"^(?:(?:วันที่นำเข้าข้อมูล|วันที่เผยแพร่|วันที่ประกาศ|เผยแพร่เมื่อ|เผยแพร่|โพสต์เมื่อ|ประกาศเมื่อ|ลงข่าวเมื่อ|"
    r"published(?:\s+on)?|posted(?:\s+on)?|date\s+published)\s*:?|(?:เมื่อวันที่|วันที่|ลงวันที่|date)\s*:)\s*(?P<date>\S.*)$",
    re.I,
)
# Undated metadata: other labels ("วันที่ปรับปรุงข้อมูล" is when the page was edited, not published).
_UPDATED = re.compile(r"^(?:วันที่ปรับปรุงข้อมูล|ปรับปรุงล่าสุด|แก้ไขล่าสุด|updated|last updated|modified)\b", re.I)
_LABEL_VALUE = re.compile(r"^[^:：]{2,25}\s*[:：]\s*\S.{0,60}$")
_RELEASE_NUMBER = re.compile(r"^\S+(?:\s\S+)?\s+[\d๐-๙]{1,5}/[\d๐-๙]{4}$")
_COUNTER = re.compile(r"(?:อ่าน|เข้าชม|จำนวนคนเข้าชม|คนอ่าน)\s*:?\s*(?P<n>[\d,]+)\s*(?:ครั้ง|คน)?|(?P<v>[\d,]+)\s*views?\b", re.I)
_HOME_WORDS = {"home", "menu", "หน้าหลัก", "หน้าแรก", ">>", "/", "|", "»"}

# "เมื่อวันที่" (11 letters) is the longest lead word before a lead's date.
LEAD_OPENING_LETTERS = 12
# A headline is one line of this many characters at most; a longer line is a paragraph.
HEADLINE_MAX = 350
# A line this long is body text (a paragraph), whatever it starts with.
PARAGRAPH = 150
# A date line: at most this long, its date starts within DATE_START characters, and little else is on it.
DATE_LINE_MAX, DATE_START, DATE_LINE_RESIDUE = 120, 20, 40
# The lead's date must stand in its first LEAD_REACH characters, preceded by a lead word or at the start.
LEAD_REACH = 300
# A lead word opens a clause (after a space or a bracket): "ครั้งแรกเมื่อวันที่ …" (the first time, on …) glued to
# the words before it is history told inside a sentence, not the day of the news.
_LEAD_WORD = re.compile(r"(?:^|(?<=[\s(,]))(?:วันนี้|เมื่อ(?:\s*วัน\S*)?|วันที่|ในวันที่|on)\s*(?:ที่)?\s*[(:]?\s*$", re.I)
# Words that make a date a period or a deadline, not the day of the news.
_NOT_LEAD_WORD = re.compile(r"(?:ตั้งแต่|จนถึง|ถึง|ระหว่าง|ภายใน|ก่อน|หลัง|นับแต่|as of|by|until|from|before|after|"
                            r"since|during|between)\s*(?:วันที่|วัน)?\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Line:
    index: int
    text: str
    kind: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """A publication date and what gave it (``source`` is one of thaidates.EVIDENCE_ORDER)."""

    found: FoundDate
    source: str
    text: str  # the written evidence (the date as written; the label's value for metadata)


@dataclass(frozen=True, slots=True)
class Headline:
    title: str
    first: int  # index of its first line
    last: int  # index of its last line
    rule: str  # which rule found it: "repeat" (printed again below), "block" (above the date line or lead), "first-line"


def letters(text: str) -> int:
    return len(_LETTER.findall(text))


def year_dates(text: str) -> list[FoundDate]:
    return [found for found in find_dates(text) if found.year is not None]


def is_date_line(text: str) -> bool:
    """A short line that is mostly one dated expression ("echo Out 22 มกราคม 2561 / 14:37:52")."""
    if len(text) > DATE_LINE_MAX:
        return False
    dates = year_dates(text)
    if not dates or dates[0].span[0] > DATE_START:
        return False
    first = dates[0]
    residue = text[:first.span[0]] + text[first.span[1]:]
    return letters(residue) <= DATE_LINE_RESIDUE or (first.span[0] <= 3 and len(text) <= 90)


def line_kind(text: str) -> str:
    if not text:
        return BLANK
    if FOOTER_START.match(text):
        return CHROME
    if chrome_kind(text) or SITE_CHROME_LINE.match(text) or letters(text) < 3 or _FILE_NAME.match(text):
        return CHROME
    words = text.split()
    if all(word.lower() in _HOME_WORDS for word in words) or _BREADCRUMB.search(text) and len(text) <= 120:
        return CHROME
    # One short word on a line is a menu entry or a section name ("เนื้อหา", "บริการ", "NSO").
    if len(words) == 1 and len(text) <= 25 and not year_dates(text):
        return CHROME
    labelled = _LABELLED_DATE.match(text)
    if labelled and year_dates(labelled["date"]):
        return META_DATE
    if _UPDATED.match(text) or _RELEASE_NUMBER.match(text) or (_LABEL_VALUE.match(text) and len(text) <= 80
                                                               and not is_date_line(text)):
        return META
    if is_date_line(text):
        return DATE
    return TEXT


def read_lines(text: str) -> list[Line]:
    """The page's cleaned lines with their kinds; bullets are taken off (they are list furniture)."""
    out: list[Line] = []
    for index, raw in enumerate(clean_lines(text)):
        line = _GLUED_FILE_NAME.sub("", _BULLET.sub("", raw)).strip() if raw else raw
        out.append(Line(index, line, line_kind(line)))
    return out


# ----------------------------------------------------------------------- headline

_SITE_SEPARATOR = re.compile(r"\s+\|\s+")
_SKIP_LINK_TAIL = re.compile(r"\s*(?:skip to (?:main )?content|ข้ามไปยังเนื้อหา(?:หลัก)?)\s*$", re.I)
_ORG_START = re.compile(r"^(?:กรม|กระทรวง|สำนักงาน|สำนัก|จังหวัด|เทศบาล|องค์การ|องค์กร|สถาบัน|ศาล|กอง|ศูนย์|"
                        r"ministry|department|office|royal thai|embassy)", re.I)


def strip_site_name(line: str) -> str:
    """A headline written as an HTML title ("headline | site name Skip to main content") without the site."""
    line = _SKIP_LINK_TAIL.sub("", line)
    parts = [part for part in _SITE_SEPARATOR.split(line) if part.strip()]
    if len(parts) > 1:
        kept = [part for part in parts if not _ORG_START.match(part)]
        line = kept[0] if kept else parts[0]
    return line.strip()


def _headline_shaped(text: str) -> bool:
    key = squash(text)
    return len(text) <= HEADLINE_MAX and len(key) >= 12 and (len(key) >= 25 or " " in text)


def _doubled(text: str) -> str | None:
    """The headline of a line that prints it twice ("A A"), else None."""
    key = squash(text)
    half = len(key) // 2
    if len(key) < 24 or len(key) % 2 or key[:half] != key[half:]:
        return None
    for end in range(len(text)):
        if squash(text[:end]) == key[:half]:
            return text[:end].strip()
    return None


def _repeats(key: str, other: str) -> bool:
    """Whether a line (squashed ``other``) prints the headline (squashed ``key``) again: whole, as the start
    of a longer lead, or cut (a heading cut short, the first of two lines it was broken into)."""
    return bool(other) and (other == key or other.startswith(key)
                            or (key.startswith(other) and len(other) >= max(12, len(key) // 2)))


def starts_with_date(text: str) -> bool:
    """Whether ``text`` opens with a date, after at most a lead word ("วันนี้ (", "เมื่อวันที่", "On")."""
    dates = find_dates(text[:120])
    return bool(dates) and letters(text[:dates[0].span[0]]) <= LEAD_OPENING_LETTERS


def is_lead(line: Line) -> bool:
    """The body's first paragraph: a paragraph, or a line of some length that opens with a date
    ("วันที่ 18 ม.ค.66 ที่ …")."""
    return line.kind == TEXT and (len(line.text) >= PARAGRAPH or (len(line.text) >= 60 and starts_with_date(line.text)))


def _block_above(lines: list[Line], start: int) -> tuple[int, int] | None:
    """The nearest block of text lines above ``start`` (skipping blanks, chrome, metadata, date lines)."""
    index = start - 1
    while index >= 0 and lines[index].kind != TEXT:
        index -= 1
    if index < 0:
        return None
    last = index
    while index - 1 >= 0 and lines[index - 1].kind == TEXT:
        index -= 1
    return index, last


def find_headline(lines: list[Line], top: int = 40) -> Headline | None:
    texts = [line for line in lines[:top] if line.kind == TEXT]
    # 1. A line the page prints again below it (heading + article headline), or twice on one line.
    for position, line in enumerate(texts[:25]):
        if len(line.text) >= PARAGRAPH and starts_with_date(line.text):
            break  # the lead: the body has begun
        doubled = _doubled(line.text)
        if doubled:
            return Headline(doubled, line.index, line.index, "repeat")
        candidate = strip_site_name(line.text)
        if not _headline_shaped(candidate):
            continue
        key = squash(candidate)
        if any(_repeats(key, squash(other.text)) for other in texts[position + 1:position + 20]):
            return Headline(candidate, line.index, line.index, "repeat")
    # 2. The nearest text block above the header's date line (with text above it), or above the lead.
    lead = next((line for line in texts if is_lead(line)), None)
    date_line = next((line for line in lines[:top] if line.kind in (DATE, META_DATE)
                      and (lead is None or line.index < lead.index)), None)
    anchors = [a.index for a in (date_line, lead) if a is not None]
    for anchor in anchors:
        block = _block_above(lines, anchor)
        if block is None:
            continue
        first, last = block
        title = " ".join(strip_site_name(line.text) for line in lines[first:last + 1])
        if len(title) <= HEADLINE_MAX and not starts_with_date(lines[first].text):
            return Headline(title, first, last, "block")
    # 3. A first line of headline length that is no lead, directly followed by the body.
    if lead is not None and not starts_with_date(lead.text) and len(lead.text) <= HEADLINE_MAX:
        following = next((line for line in lines[lead.index + 1:] if line.kind != BLANK), None)
        if following is not None and following.kind == TEXT and len(following.text) > len(lead.text) // 2:
            return Headline(strip_site_name(lead.text), lead.index, lead.index, "first-line")
    return None


# ----------------------------------------------------------------------- body

def body_start(lines: list[Line], headline: Headline | None) -> int:
    """Index of the body's first line: after the headline, its repeats, the date and metadata lines."""
    key = squash(headline.title) if headline else ""
    index = headline.last + 1 if headline else 0
    while index < len(lines):
        line = lines[index]
        if line.kind == TEXT and not (key and (squash(line.text) == key or key.startswith(squash(line.text)))):
            if headline is None or not _before_date_line(lines, index):
                return index
        index += 1
    return index


def _before_date_line(lines: list[Line], index: int) -> bool:
    """A short text line right above a header date line belongs to the header (a category, a second
    headline line); the body starts below the date line. Only in the page's first lines."""
    if index > 20 or len(lines[index].text) >= PARAGRAPH:
        return False
    following = next((line for line in lines[index + 1:] if line.kind != BLANK), None)
    return following is not None and following.kind in (DATE, META_DATE)


def body_lines(lines: list[Line], start: int) -> list[str]:
    kept: list[str] = []
    for line in lines[start:]:
        if line.kind == CHROME and FOOTER_START.match(line.text):
            break
        if line.kind in (TEXT, DATE):
            kept.append(line.text)
    return kept


# ----------------------------------------------------------------------- date

def _read(text: str) -> FoundDate | None:
    try:
        found = parse_one(text)
    except DateProblem:
        return None
    return found if found.year is not None else None


def url_evidence(url: str | None) -> Evidence | None:
    if not url:
        return None
    dates = [found for found in dates_in_url(url) if found.year is not None]
    return Evidence(dates[0], "url", dates[0].text) if dates else None


def after_headline(lead: str, headline: str | None) -> str:
    """The lead without the headline it restates at its start (a date in the headline is the headline's)."""
    key = squash(headline or "")
    if not key or not squash(lead).startswith(key):
        return lead
    for end in range(len(lead) + 1):
        if len(squash(lead[:end])) >= len(key):
            return lead[end:]
    return ""


def lead_date(lead: str) -> FoundDate | None:
    """The lead's own date: its first date expression, when it opens the lead or follows a lead word
    ("วันนี้ (", "เมื่อวันที่", "on"), not a period's bound ("ตั้งแต่วันที่", "จนถึงวันที่", "As of")."""
    dates = find_dates(lead[:LEAD_REACH + 60])
    if not dates or dates[0].span[0] > LEAD_REACH:
        return None
    first = dates[0]
    before = lead[:first.span[0]]
    if _NOT_LEAD_WORD.search(before):
        return None
    if first.span[0] <= 30 or _LEAD_WORD.search(before):
        return first
    return None


def date_evidence(lines: list[Line], headline: Headline | None, start: int, url: str | None) -> tuple[
        Evidence | None, FoundDate | None]:
    """The publication date by evidence, strongest first, and a yearless lead date left unread (or None)."""
    header = lines[:start] if start < len(lines) else lines[:40]
    for line in header:
        if line.kind == META_DATE:
            match = _LABELLED_DATE.match(line.text)
            found = _read(match["date"]) if match else None
            if found:
                return Evidence(found, "metadata", found.text), None
    near = lines[:start]
    if headline is not None:
        near = lines[:max(start, min(len(lines), headline.last + 4))]
    for line in near:
        if line.kind == DATE:
            found = year_dates(line.text)[0]
            return Evidence(found, "date-line", found.text), None
    from_url = url_evidence(url)
    lead = next((line.text for line in lines[start:] if line.kind == TEXT), "")
    found = lead_date(after_headline(lead, headline.title if headline else None)) if lead else None
    if found is not None and found.year is None:
        if from_url is None:
            return None, found
        try:
            found = complete_year(found, from_url.found.date)  # type: ignore[arg-type]
        except DateProblem:
            return from_url, None
    if found is not None:
        return Evidence(found, "lead", found.text), None
    return from_url, None


def counter(lines: list[Line]) -> int | None:
    """The page's read counter ("อ่าน 473 ครั้ง", "| 10,757 view", "จำนวนคนเข้าชม 206"), first found."""
    for line in lines[:30]:
        if line.kind in (CHROME, META, DATE, META_DATE):
            match = _COUNTER.search(line.text)
            if match:
                return int((match["n"] or match["v"]).replace(",", ""))
    return None


def url_slug_title(url: str | None) -> str | None:
    """A headline written in the URL's last path segment in Thai (a WordPress slug), words joined by '-'."""
    if not url:
        return None
    path = urlsplit(url).path.rstrip("/")
    segment = unquote(path.rsplit("/", 1)[-1]) if path else ""
    if letters(re.sub(r"[^\u0e00-\u0e7f]", "", segment)) < 12:
        return None
    return re.sub(r"\s+", " ", segment.replace("-", " ")).strip() or None


_LEAD_OPENING = re.compile(r"^(?:วันนี้|เมื่อ(?:\s*วัน\S*)?|วันที่|ในวันที่|on)?\s*(?:ที่)?\s*\(?\s*$", re.I)
TITLE_FROM_LEAD = 120


def title_from_lead(lead: str) -> str:
    """A title for a page whose text holds no headline: the lead's opening words without its date
    (to its first sentence's end, or about TITLE_FROM_LEAD characters at a word boundary)."""
    dates = find_dates(lead[:200])
    if dates and _LEAD_OPENING.match(lead[:dates[0].span[0]]):
        lead = lead[dates[0].span[1]:]
    lead = re.sub(r"^[\s),.:–-]+", "", lead)
    lead = re.sub(r"^(?:\(?เวลา\s*[\d.:]+\s*น\.?\)?|at\s+[\d.:]+\s*(?:hrs?\.?|hours))[\s,]*", "", lead, flags=re.I)
    if lead[:1].isascii() and lead[:1].islower():
        lead = lead[0].upper() + lead[1:]
    sentence = re.match(r"^(.{60,}?[.!?])(?:\s|$)", lead)
    if sentence and len(sentence[1]) <= TITLE_FROM_LEAD + 40:
        return sentence[1].strip()
    if len(lead) <= TITLE_FROM_LEAD:
        return lead.strip()
    cut = lead.rfind(" ", 0, TITLE_FROM_LEAD)
    return lead[:cut if cut > 40 else TITLE_FROM_LEAD].strip()


def as_date(found: FoundDate) -> dt.date:
    day = found.bangkok_date or found.date
    assert day is not None
    return day
