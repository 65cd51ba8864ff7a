"""Government Public Relations Department (กรมประชาสัมพันธ์) page text.

Reference shape (``../shared/corpus/prd``)::

    ข่าวกรมประชาสัมพันธ์                         <- category
    <title, may span two lines or repeat>
    วันที่ 17 มิ.ย. 2563 (จำนวนคนอ่าน 0 คน)        <- date + read counter
    <issuing office line, optional>
    <headline restated, optional>
    -----------------------                    <- separator, optional
    <body paragraphs>
    ***********************                    <- separator, optional
    <office>  <phone>                          <- footer, optional
    ข่าว: NAME UNIT                            <- byline, optional
    จำนวนคนอ่าน 0 คน จำนวนคนโหวต 0 คน           <- counters, optional
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from ..thaitext import clean_lines, thai_digits_to_arabic
from .base import SEPARATOR, ParsedRelease, ParseProblem, Source, SourceContext, check_body, join_paragraphs, squash

AGENCY = "กรมประชาสัมพันธ์"

_NUMBER = r"([\d๐-๙][\d๐-๙,]*)"
DATE_LINE = re.compile(r"^วันที่\s*(?P<date>.+?)\s*(?:\(\s*จำนวนคนอ่าน\s*" + _NUMBER + r"\s*คน\s*\))?$")
COUNTERS = re.compile(r"^จำนวนคนอ่าน\s*" + _NUMBER + r"\s*คน(?:\s*จำนวนคนโหวต\s*" + _NUMBER + r"\s*คน)?$")
BYLINE = re.compile(r"^(?:ข่าว|ภาพ/ข่าว|ข่าว/ภาพ|เรียบเรียง)\s*:\s*(?P<text>.+)$")
PHONE_LINE = re.compile(r"^(?:โทร\.?|โทรศัพท์)?\s*[\d๐-๙][\d๐-๙\s-]{7,}(?:\s*(?:ต่อ|ext\.?)\s*[\d๐-๙]+)?[\s,]*$")
ORG_WORD = re.compile(r"(สำนัก|กอง|กรม|ศูนย์|กลุ่ม|สถานี|ส่วน|ฝ่าย|กระทรวง|สถาบัน)")


def looks_like(text: str, context: SourceContext | None = None) -> bool:
    """Is this PRD page text? (a "วันที่ … (จำนวนคนอ่าน" line near the top)"""
    head = text.lstrip("\ufeff").split("\n", 12)[:12]
    return any(DATE_LINE.match(line.strip()) and "จำนวนคนอ่าน" in line for line in head)


def _count(text: str | None) -> int | None:
    return int(thai_digits_to_arabic(text).replace(",", "")) if text else None


def _split_byline(text: str) -> tuple[str, str | None]:
    """'กุลปราณี ชาลีวงศ์ กลุ่มพัฒนาระบบบริหาร กรมประชาสัมพันธ์' -> name, unit."""
    words = text.split(" ")
    # Name = given name + family name, after an optional honorific word.
    honorific = words[0] in {"นาย", "นาง", "นางสาว", "น.ส.", "ดร."}
    take = 3 if honorific else 2
    name = " ".join(words[:take])
    unit = " ".join(words[take:]) or None
    return name, unit


def _similar(a: str, b: str) -> bool:
    a, b = squash(a), squash(b)
    if not a or not b:
        return False
    tail = b[-15:]
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.5 or (len(tail) >= 10 and tail in a)


def parse(text: str, context: SourceContext) -> ParsedRelease:
    lines = clean_lines(text)
    date_index = next((i for i, line in enumerate(lines) if DATE_LINE.match(line)), None)
    if date_index is None:
        raise ParseProblem(
            "missing-date",
            "no 'วันที่ …' date line was found in this PRD release; the page header is incomplete",
        )
    header = [line for line in lines[:date_index] if line]
    if not header:
        raise ParseProblem("missing-title", "the PRD release has no title above its date line")
    category = None
    if len(header) >= 2:
        category, header = header[0], header[1:]
    title_lines: list[str] = []
    for line in header:
        if not title_lines or squash(line) != squash(title_lines[-1]):
            title_lines.append(line)
    title = " ".join(title_lines)

    date_match = DATE_LINE.match(lines[date_index])
    assert date_match is not None
    read_count = _count(date_match.group(2))
    vote_count = None

    rest = lines[date_index + 1:]
    office_line = None
    if rest and rest[0] and len(rest[0]) <= 120 and ORG_WORD.search(rest[0]) and not SEPARATOR.match(rest[0]):
        office_line, rest = rest[0], rest[1:]

    byline = byline_unit = None
    kept: list[str] = []
    for line in rest:
        counters = COUNTERS.match(line)
        if counters:
            read_count = _count(counters.group(1))
            vote_count = _count(counters.group(2))
            continue
        byline_match = BYLINE.match(line)
        if byline_match:
            byline, byline_unit = _split_byline(byline_match["text"])
            continue
        kept.append(line)
    ends_properly = byline is not None or vote_count is not None or any(
        COUNTERS.match(line) for line in rest
    )

    # Footer: office and phone after the last separator, or as the last lines.
    footer_office = phone_text = None
    separators = [i for i, line in enumerate(kept) if SEPARATOR.match(line)]
    tail_start = separators[-1] + 1 if separators else max(0, len(kept) - 4)
    tail = [line for line in kept[tail_start:] if line]
    if tail and len(tail) <= 4 and any(PHONE_LINE.match(line) for line in tail):
        for line in tail:
            if PHONE_LINE.match(line):
                phone_text = phone_text or line
            elif len(line) <= 120 and ORG_WORD.search(line):
                footer_office = footer_office or line
        kept = kept[:tail_start] if separators else kept[: len(kept) - len(_tail_with_blanks(kept, tail))]
        ends_properly = True

    # Headline restated between the header and the first separator.
    separators = [i for i, line in enumerate(kept) if SEPARATOR.match(line)]
    subtitle = None
    block = _leading_block(kept)
    if separators and separators[0] <= 8:
        block = [line for line in kept[: separators[0]] if line]
        if block:
            subtitle = " ".join(block)
        kept = kept[separators[0] + 1:]
    elif block and block[0] < len(kept) and _similar(" ".join(block[1]), title):
        subtitle = " ".join(block[1])
        kept = kept[block[0]:]

    body = join_paragraphs(kept)
    check_body(body, title)
    if not ends_properly:
        raise ParseProblem(
            "truncated",
            "the PRD release ends without its footer (no counters line, byline or office/phone "
            "footer): the text was cut off; export the whole page",
        )

    office = footer_office or office_line
    agency = AGENCY
    if office and office.endswith(" " + AGENCY):
        office = office[: -len(AGENCY) - 1].strip()
    return ParsedRelease(
        title=title,
        date_text=date_match["date"],
        body=body,
        category=category,
        subtitle=subtitle,
        agency=agency,
        office=office,
        phone_text=phone_text,
        byline=byline,
        byline_unit=byline_unit,
        read_count=read_count,
        vote_count=vote_count,
    )


def _tail_with_blanks(kept: list[str], tail: list[str]) -> list[str]:
    """The suffix of ``kept`` holding the footer lines ``tail`` and the blanks between."""
    remaining = len(tail)
    for index in range(len(kept) - 1, -1, -1):
        if kept[index]:
            remaining -= 1
            if remaining == 0:
                return kept[index:]
    return kept


def _leading_block(lines: list[str]) -> tuple[int, list[str]] | None:
    """The first paragraph block: (index just after it, its lines)."""
    start = next((i for i, line in enumerate(lines) if line), None)
    if start is None:
        return None
    end = start
    while end < len(lines) and lines[end]:
        end += 1
    return end, lines[start:end]


SOURCE = Source(
    name="prd",
    title="กรมประชาสัมพันธ์ (Government Public Relations Department)",
    homepage="https://www.prd.go.th",
    kind="text",
    # After thaigov, whose first-line mark is the narrower test: a text with both
    # marks is thaigov's. Gaps of 10 leave room for sources to come in between.
    detect_order=20,
    detect=looks_like,
    parse=parse,
)
