"""Page text of any agency layout (the ``generic`` text source), one release per page or one per item
of a listing, or a reasoned ``not-a-release``.

Asked after every narrower source (thaigov, prd: their layouts keep their own readers) and after html:
it claims only plain text (never a document that starts as HTML, XML or JSON), and only text with a
date expression and some prose, or any page text given with the address it was fetched from
(``SourceContext.url``: a harvested page). Plain notes with neither stay ``unknown-format``.

How a page is read (line kinds, headline, evidence: :mod:`pipeline.sources.pagetext`):

1. Not a release: a listing (an item count "ข่าวประชาสัมพันธ์ (385)", page numbers 1 2 3), an about /
   structure / contact page (its headline says so: "ประวัติ…", "โครงสร้าง…", "About …"), a service page
   ("Documents required", "Office hours"), a press-clipping digest, a run of summaries of different
   stories with no headline or date of its own, a page with no body text: ``not-a-release``.
2. A listing whose items each have a headline, a date line and text (English news services) gives one
   record per item (items keyed by position from 1).
3. Otherwise one release: the headline (repeated headline, the text block above the date line or the
   lead; without a site name "| site" or "Skip to main content"). A page whose text holds no headline
   gets the headline written in its URL's Thai slug, else the lead's opening words (the record's title
   is then the lead's beginning; README: Inputs, generic).
4. The date by evidence (pagetext.date_evidence): metadata, date line, lead, URL; its ``date_source``
   says which. No date: ``missing-date``; a date with no year and nothing trustworthy to complete it:
   ``yearless-date``.
5. Agency and office from the URL's host (``htmltext.agency_for``, the table ``agencies.json``), else
   from an organisation's name printed above the headline.
"""

from __future__ import annotations

import re

from ..thaidates import find_dates
from .base import ParsedItem, ParsedRelease, ParseProblem, Source, SourceContext, drop_chrome, join_paragraphs
from .htmltext import agency_for, looks_like_html
from .pagetext import (
    BLANK,
    CHROME,
    DATE,
    FOOTER_START,
    TEXT,
    Headline,
    Line,
    as_date,
    body_lines,
    body_start,
    counter,
    date_evidence,
    find_headline,
    letters,
    read_lines,
    title_from_lead,
    url_slug_title,
    year_dates,
)

# Enough prose to be a page of text: word characters outside dates and digits.
MIN_PROSE_LETTERS = 80
# Fewer letters than this in the body is no release text (a stub, a template).
MIN_BODY_LETTERS = 60
# A listing: at least this many items, each a headline, a date line and a paragraph of this length.
LISTING_ITEMS, ITEM_TEXT = 2, 80
# A run of summaries: at least this many paragraphs, none longer than this.
SUMMARY_RUN, SUMMARY_MAX = 4, 450

_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+")
_YEAR_EXPRESSION = re.compile(r"(?:พ\.?\s?ศ\.?|ค\.?\s?ศ\.?)\s*[\d๐-๙]{4}|\b(?:19|20)\d\d\b|[๒2][๔5][\d๐-๙]{2}")
_ITEM_COUNT = re.compile(r"^\S.{1,60}\(\s*[\d,]{2,}\s*\)$")
# Headlines of pages about the agency, not news (history, structure, contact, manuals, vision).
_INFO_PAGE = re.compile(
    r"^(?:ประวัติ|โครงสร้าง|ติดต่อ|เกี่ยวกับ|วิสัยทัศน์|พันธกิจ|อำนาจหน้าที่|แผนผัง|คู่มือ|ทำเนียบ|ผังเว็บไซต์|แผนที่|"
    r"about\b|contact\b|history\b|organi[sz]ation(?:al)? (?:chart|structure)|structure\b|site ?map\b)", re.I)
# A press-clipping digest of newspapers (what the papers wrote, not the agency's release).
_DIGEST = re.compile(r"สรุปประเด็นข่าว|ข่าวเด่นประจำวัน|สรุปข่าวหนังสือพิมพ์|press clipping", re.I)
# Lines of a service page (visas, permits): what to bring, when the office is open.
_SERVICE_CUE = re.compile(r"^(?:documents? required|required documents?|office hours|application forms?|fees?\b|"
                          r"เอกสาร(?:ที่ต้องใช้|ประกอบ|หลักฐาน)|หลักฐานที่ต้องใช้|เวลาทำการ|ค่าธรรมเนียม)", re.I)
# A credit line at the end of a release: "ภาพ/ข่าว : กลุ่ม…", "ฉัตรแก้ว วิรบุตร์ ภาพ/ข่าว", "ภาพข่าวโดย …".
_CREDIT_BEFORE = re.compile(r"^(?:ภาพ/ข่าว|ข่าว/ภาพ|ภาพและข่าว|ภาพข่าวโดย|ข่าวโดย|รายงานโดย|เรียบเรียง)\s*:?\s*(?P<who>\S.{1,80})$")
_CREDIT_AFTER = re.compile(r"^(?P<who>\S.{1,80}?)\s+(?:ภาพ/ข่าว|ข่าว/ภาพ|รายงาน)$")
_ORG_HEADER = re.compile(r"^(?:กรม|กระทรวง|สำนักงาน|สำนัก|เทศบาล|องค์การบริหารส่วน|สถาบัน|ศาลากลางจังหวัด)\S*")


def detect(text: str, context: SourceContext) -> bool:
    """Plain page text with a date expression and prose, or any page text that came with its URL."""
    head = text[:20000].lstrip("\ufeff\u200b \t\r\n")
    if not head or head[0] in "<{[" or looks_like_html(head):
        return False
    if context.url:
        return letters(head) > 0
    if letters(re.sub(r"[\d๐-๙]", "", head)) < MIN_PROSE_LETTERS:
        return False
    return bool(find_dates(head[:8000]) or _YEAR_EXPRESSION.search(head[:8000]))


def _not_a_release(why: str, **details: object) -> ParseProblem:
    return ParseProblem(
        "not-a-release",
        f"the page is no release ({why}); nothing to publish (if it is one, give the page with its "
        "headline, date and text)",
        **details,
    )


def _page_url(text: str, context: SourceContext) -> str | None:
    if context.url:
        return context.url
    match = _URL_IN_TEXT.search(text)
    return match.group(0).rstrip(".,)") if match else None


def _paragraphs(lines: list[Line]) -> list[str]:
    return [line.text for line in lines if line.kind == TEXT]


def _listing_marks(lines: list[Line]) -> str | None:
    """Why the page is a listing's page (an item count, page numbers), or None."""
    for line in lines[:30]:
        if line.kind in (TEXT, CHROME) and _ITEM_COUNT.match(line.text) and not find_dates(line.text):
            return f"a listing: item count {line.text!r}"
    numbers = [line.text for line in lines[:60] if line.kind != BLANK]
    for start in range(len(numbers) - 2):
        if numbers[start:start + 3] == ["1", "2", "3"]:
            return "a listing: page numbers 1 2 3"
    return None


def _items(lines: list[Line]) -> list[tuple[Line, Line, list[Line]]]:
    """A listing's items: (headline, date line, text lines), when every date line has both around it."""
    dates = [i for i, line in enumerate(lines) if line.kind == DATE]
    items: list[tuple[Line, Line, list[Line]]] = []
    for position, at in enumerate(dates):
        above = next((line for line in reversed(lines[:at]) if line.kind != BLANK), None)
        end = dates[position + 1] if position + 1 < len(dates) else len(lines)
        texts = [line for line in lines[at + 1:end] if line.kind == TEXT]
        if position + 1 < len(dates) and texts and texts[-1] is above_of(lines, dates[position + 1]):
            texts = texts[:-1]  # the next item's headline
        if above is None or above.kind != TEXT or len(above.text) > 300:
            return []
        if sum(len(t.text) for t in texts) < ITEM_TEXT:
            return []
        items.append((above, lines[at], texts))
    return items if len(items) >= LISTING_ITEMS else []


def above_of(lines: list[Line], at: int) -> Line | None:
    return next((line for line in reversed(lines[:at]) if line.kind != BLANK), None)


def _info_heading(lines: list[Line], headline: Headline | None) -> str | None:
    """The heading that says the page is about the agency or a digest (the headline, the page's first text
    line, or a line printed twice in a row), or None."""
    candidates = [headline.title] if headline else []
    shown = [line.text for line in lines[:30] if line.kind != BLANK]
    candidates += [line.text for line in lines[:30] if line.kind == TEXT][:1] + shown[:1]
    candidates += [a for a, b in zip(shown, shown[1:]) if a == b and len(a) <= 80]
    return next((c for c in candidates if _INFO_PAGE.match(c) or _DIGEST.search(c)), None)


def _summary_run(body: list[str], headline: Headline | None) -> bool:
    """A run of one-sentence summaries of different stories (a related-news block): no headline of its own
    (none, or only its first summary), several short paragraphs, nearly all ending a sentence."""
    if headline is not None and headline.rule != "first-line":
        return False
    paragraphs = body if headline is None else [headline.title, *body]
    if len(paragraphs) < SUMMARY_RUN or max(map(len, paragraphs)) > SUMMARY_MAX:
        return False
    return sum(1 for p in paragraphs if p.rstrip().endswith((".", "!", "?"))) >= 0.8 * len(paragraphs)


def _before_footer(lines: list[Line]) -> list[Line]:
    end = next((i for i, line in enumerate(lines) if line.kind == CHROME and FOOTER_START.match(line.text)), len(lines))
    return lines[:end]


def _byline(body: list[str]) -> tuple[str | None, list[str]]:
    """A credit line among the body's last two lines, and the body without it."""
    for offset in (1, 2):
        if len(body) > offset:
            line = body[-offset]
            match = _CREDIT_BEFORE.match(line) or _CREDIT_AFTER.match(line)
            if match and len(line) <= 100:
                return match["who"].strip(), body[:-offset] + body[len(body) - offset + 1:]
    return None, body


def _agency(url: str | None, lines: list[Line], headline: Headline | None) -> tuple[str | None, str | None]:
    agency, office = agency_for(url)
    if agency:
        return agency, office
    above = lines[:headline.first] if headline else lines[:5]
    for line in above:
        match = _ORG_HEADER.match(line.text)
        if match and len(line.text) <= 60:
            return line.text.split()[0], None
    return None, None


def _release(lines: list[Line], text: str, context: SourceContext) -> ParsedRelease:
    url = _page_url(text, context)
    headline = find_headline(lines)
    start = body_start(lines, headline)
    body = drop_chrome(body_lines(lines, start))
    byline, body = _byline(body)
    if byline is None:  # a credit written as "ภาพ/ข่าว : …" reads as a label: the body never had it
        tail = [line.text for line in _before_footer(lines[start:]) if line.kind != BLANK][-2:]
        byline = next((m["who"].strip() for m in map(_CREDIT_BEFORE.match, tail) if m), None)
    title = headline.title if headline else None

    heading = _info_heading(lines, headline)
    if heading:
        what = "a press-clipping digest" if _DIGEST.search(heading) else "a page about the agency"
        raise _not_a_release(f"{what}: its heading is {heading!r}")
    if sum(1 for line in lines if line.kind != BLANK and _SERVICE_CUE.match(line.text)) >= 2:
        raise _not_a_release("a service page: what to bring and when the office is open")
    body_letters = letters(" ".join(body))
    if body_letters < MIN_BODY_LETTERS:
        if headline is not None:
            raise ParseProblem("empty-body", f"the page has a headline ({headline.title[:60]!r}) but no body text: "
                               "the text was cut off after it; give the whole page", body_letters=body_letters)
        raise _not_a_release("no body text", body_letters=body_letters)

    evidence, yearless = date_evidence(lines, headline, start, url)
    if evidence is None and _summary_run(body, headline):
        raise _not_a_release("a run of summaries of different stories, with no headline or date of its own",
                             paragraphs=len(body))
    if evidence is None and yearless is not None:
        raise ParseProblem("yearless-date", f"the release's only date, {yearless.text!r}, has no year, and "
                           "nothing on the page or in its address gives one; give the page with its address "
                           "or a dated line", date_text=yearless.text)
    if evidence is None:
        raise ParseProblem("missing-date", "the release states no date: no dated metadata, date line, dated "
                           "lead ('วันนี้ (…)', 'เมื่อวันที่ …') or date in its address; give it with its date")
    if title is None:
        title = url_slug_title(url) or title_from_lead(body[0])
    if not title:
        raise ParseProblem("missing-title", "the page has no headline and no lead to name it by")
    agency, office = _agency(url, lines, headline)
    return ParsedRelease(
        title=title,
        date_text=evidence.text,
        published=as_date(evidence.found),
        date_source=evidence.source,
        body=join_paragraphs(body),
        source_url=url if url and url.startswith(("http://", "https://")) else None,
        agency=agency,
        office=office,
        byline=byline,
        read_count=counter(lines),
    )


def read(text: str, context: SourceContext) -> list[ParsedItem] | ParsedRelease:
    """The page's one release, or a listing's items (one ParsedItem per item, keyed by position from 1).

    A page of one release gives a :class:`ParsedRelease` (its record's ``item`` is empty, as for every
    single-release input); only a listing gives items.
    """
    lines = read_lines(text)
    marks = _listing_marks(lines)
    items = _items(lines)
    if items:
        return [_item(position, item, text, context) for position, item in enumerate(items, 1)]
    if marks:
        raise _not_a_release(marks)
    return _release(lines, text, context)


def _item(position: int, item: tuple[Line, Line, list[Line]], text: str, context: SourceContext) -> ParsedItem:
    headline, date_line, texts = item
    found = year_dates(date_line.text)[0]
    url = _page_url(text, context)
    agency, office = agency_for(url)
    body = drop_chrome([line.text for line in texts])
    return ParsedItem(str(position), ParsedRelease(
        title=headline.text, date_text=found.text, published=as_date(found), date_source="date-line",
        body=join_paragraphs(body), source_url=url if url and url.startswith(("http://", "https://")) else None,
        agency=agency, office=office))


SOURCE = Source(
    name="generic",
    title="Page text of any Thai agency site (headline, date by evidence, agency from the host table)",
    homepage="https://www.go.th",
    kind="text",
    # The most general source: asked after every other one, it never takes HTML, XML or JSON.
    detect_order=100,
    detect=detect,
    items=read,  # type: ignore[arg-type]  # a page of one release gives its ParsedRelease (Source.read)
)
