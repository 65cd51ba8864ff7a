"""Royal Thai Government website (thaigov.go.th) news text.

Shape (``../shared/corpus/thaigov``, see its README)::

    รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-<title>
    <blank lines>
    วันพฤหัสบดีที่ 23 มีนาคม 2566       <- date as displayed
    23/03/2566                         <- dd/mm/yyyy (BE), optional: the release date
    พิมพ์                               <- "print" link, optional
    <title again>                      <- the page's heading: the whole headline when the title line was cut
    <body>
    -----------------------------------
    ที่มา : https://www.thaigov.go.th/news/contents/details/66499

The file name is ``<news section>_<n>_<uuid>.txt`` (older files: ``<news section>_<n>.txt``);
the section is the category.

Page furniture is dropped from bodies (``base.CHROME_LINES``: player notices of radio
programme pages, "." spacer lines of social-media posts, box-drawing frames, drawn rules).
A body's first line that restates the headline is not body text: the whole headline goes to
``subtitle`` when the title line holds only its beginning (the site cuts long titles), and a
plain repeat of the title is dropped. A weekday date line at the start of a body (a radio
programme's broadcast date, "วันจันทร์ที่ 25 สิงหาคม 2563") stays body text: README, Inputs.
"""

from __future__ import annotations

import re

from ..thaitext import clean_line, clean_lines
from .base import (
    SEPARATOR,
    ParsedRelease,
    ParseProblem,
    Source,
    SourceContext,
    check_body,
    chrome_kind,
    drop_chrome,
    join_paragraphs,
    squash,
)

AGENCY = "สำนักเลขาธิการนายกรัฐมนตรี"
PREFIX = "รัฐบาลไทย-"
SECTION_PREFIX = "รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-"

DISPLAY_DATE = re.compile(r"^วัน\S*ที่\s*[\d๐-๙]{1,2}\s*\S+\s*[\d๐-๙]{2,4}$")
NUMERIC_DATE = re.compile(r"^[\d๐-๙]{1,2}/[\d๐-๙]{1,2}/[\d๐-๙]{4}$")
SOURCE_LINE = re.compile(r"^ที่มา\s*:?\s*(?P<url>https?://\S+)")
NEWS_ID = re.compile(r"/details/(?P<id>\d+)")
# <section>_<n>_<uuid>.txt (2022 on) and <section>_<n>.txt (older files of the same archive).
FILE_NAME = re.compile(r"^(?P<section>.*?)_\d+(?:_[0-9a-fA-F-]{36})?\.txt$", re.DOTALL)
#: The heading line that restates a cut title is a headline, not a paragraph: longer ones are text.
HEADLINE_MAX_CHARS = 500
NEW_SENTENCE = re.compile(r"^\s*[.!?:]\s+[A-Z]")


def looks_like(text: str, context: SourceContext | None = None) -> bool:
    return text.lstrip("\ufeff\u200b \n").startswith(PREFIX)


def category_from_filename(name: str) -> str | None:
    match = FILE_NAME.match(name)
    if not match:
        return None
    section = clean_line(match["section"].replace("_", " "))
    return section or None


def parse(text: str, context: SourceContext) -> ParsedRelease:
    lines = clean_lines(text)
    first = next((i for i, line in enumerate(lines) if line), None)
    if first is None or not lines[first].startswith(PREFIX):
        raise ParseProblem(
            "unknown-format",
            f"a thaigov.go.th release starts with {PREFIX!r}; this one does not",
        )
    header = lines[first]
    title = header[len(SECTION_PREFIX):] if header.startswith(SECTION_PREFIX) else header[len(PREFIX):]
    title = title.strip(" -")

    source_url = None
    end = len(lines)
    for index in range(len(lines) - 1, first, -1):
        match = SOURCE_LINE.match(lines[index])
        if match:
            source_url, end = match["url"], index
            break

    index = first + 1
    display_date = numeric_date = None
    while index < end:
        line = lines[index]
        if not line:
            index += 1
            continue
        if display_date is None and numeric_date is None and DISPLAY_DATE.match(line):
            display_date = line
        elif numeric_date is None and NUMERIC_DATE.match(line):
            numeric_date = line
        elif line == "พิมพ์":
            pass
        else:
            break
        index += 1

    body_lines = lines[index:end]
    if not title:
        title = next((line for line in body_lines if line), "")
    subtitle, body_lines = _headline_repeats(title, body_lines)
    while body_lines and (not body_lines[-1] or SEPARATOR.match(body_lines[-1])):
        body_lines = body_lines[:-1]
    body = join_paragraphs(drop_chrome(body_lines))

    if not title and not body:
        raise ParseProblem(
            "empty-release",
            "the page is an empty placeholder: no title and no body (the site shows such pages "
            "with a 1 มกราคม 2513 date); nothing to publish",
            date_text=display_date or numeric_date,
        )
    if not title:
        raise ParseProblem("missing-title", "the release has no title line")
    if display_date is None and numeric_date is None:
        raise ParseProblem(
            "missing-date",
            "no date line ('วัน…ที่ D เดือน ปปปป' or dd/mm/yyyy) was found below the title",
        )
    check_body(body, title)
    if source_url is None:
        raise ParseProblem(
            "truncated",
            "the release ends without its 'ที่มา : https://www.thaigov.go.th/…' source line: "
            "the text was cut off; export the whole page",
            body_chars=len(body),
        )
    id_match = NEWS_ID.search(source_url)
    return ParsedRelease(
        title=title,
        # The dd/mm/yyyy line is the release's own date; the display line can
        # be the day the page was shown (they differ on some items).
        date_text=numeric_date or display_date or "",
        body=body,
        category=category_from_filename(context.file_name),
        subtitle=subtitle,
        source_url=source_url,
        source_id=id_match["id"] if id_match else None,
        agency=AGENCY,
    )


def _headline_repeats(title: str, body_lines: list[str]) -> tuple[str | None, list[str]]:
    """The whole headline (or None) and the body's lines without the headline's repeats above it.

    Above the body the page prints its heading (the title again) and the article its headline:
    the title again, or the whole headline when the title line holds only its beginning (the site
    cuts long titles); a social-media post restates it after a spacer. A line that goes on after
    the title's end with a new sentence is the lead, not a headline ("The cabinet met on January
    10, 2023. Some of the resolutions are as follows:").
    """
    title_key = squash(title)
    subtitle: str | None = None
    index = 0
    while index < len(body_lines):
        line = body_lines[index]
        if not line or SEPARATOR.match(line) or chrome_kind(line):
            index += 1
            continue
        key = squash(line)
        if key and len(line) <= 2 * len(title) + 20 and key == title_key:
            pass  # the title again
        elif subtitle is not None and key.startswith(title_key) and _same_headline(key, squash(subtitle)):
            # The whole headline again (restated headlines are sometimes cut shorter, or run longer).
            subtitle = line if len(key) > len(squash(subtitle)) and len(line) <= HEADLINE_MAX_CHARS else subtitle
        elif subtitle is None and _whole_headline(title, title_key, line, key) and _text_follows(body_lines, index):
            subtitle = line
        else:
            break
        index += 1
    return subtitle, body_lines[index:]


def _text_follows(lines: list[str], index: int) -> bool:
    """Whether a line of text (not a rule or page furniture) follows ``lines[index]``: a headline
    never is the whole body."""
    return any(line and not SEPARATOR.match(line) and not chrome_kind(line) for line in lines[index + 1:])


def _same_headline(key: str, headline_key: str) -> bool:
    """Whether a line (its squashed ``key``) repeats the headline, whole or cut at either end's length."""
    return key.startswith(headline_key) or headline_key.startswith(key)


def _whole_headline(title: str, title_key: str, line: str, key: str) -> bool:
    """Whether ``line`` is the headline whose beginning the title line holds."""
    if not title_key or not key.startswith(title_key) or len(line) > HEADLINE_MAX_CHARS:
        return False
    stem = title.rstrip(" .")
    # After the title's words, a new English sentence (". Some of...") is the lead; Thai headlines go on
    # after abbreviations' dots ("ตลาด อ.ต.ก. ช่วยเพิ่มยอดขาย...").
    return not (line.startswith(stem) and NEW_SENTENCE.match(line[len(stem):]))


SOURCE = Source(
    name="thaigov",
    title="รัฐบาลไทย (Royal Thai Government), thaigov.go.th",
    homepage="https://www.thaigov.go.th",
    kind="text",
    detect_order=10,
    detect=looks_like,
    parse=parse,
)
