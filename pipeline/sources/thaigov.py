"""Royal Thai Government website (thaigov.go.th) news text.

Shape (``../shared/corpus/thaigov``, see its README)::

    รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-<title>
    <blank lines>
    วันพฤหัสบดีที่ 23 มีนาคม 2566       <- date as displayed
    23/03/2566                         <- dd/mm/yyyy (BE), optional: the release date
    พิมพ์                               <- "print" link, optional
    <title again>
    <body>
    -----------------------------------
    ที่มา : https://www.thaigov.go.th/news/contents/details/66499

The file name is ``<news section>_<n>_<uuid>.txt``; the section is the category.
"""

from __future__ import annotations

import re

from ..thaitext import clean_line, clean_lines
from .base import SEPARATOR, ParsedRelease, ParseProblem, Source, SourceContext, check_body, join_paragraphs, squash

AGENCY = "สำนักเลขาธิการนายกรัฐมนตรี"
PREFIX = "รัฐบาลไทย-"
SECTION_PREFIX = "รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-"

DISPLAY_DATE = re.compile(r"^วัน\S*ที่\s*[\d๐-๙]{1,2}\s*\S+\s*[\d๐-๙]{2,4}$")
NUMERIC_DATE = re.compile(r"^[\d๐-๙]{1,2}/[\d๐-๙]{1,2}/[\d๐-๙]{4}$")
SOURCE_LINE = re.compile(r"^ที่มา\s*:?\s*(?P<url>https?://\S+)")
NEWS_ID = re.compile(r"/details/(?P<id>\d+)")
FILE_NAME = re.compile(r"^(?P<section>.*)_\d+_[0-9a-fA-F-]{36}\.txt$")


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
    # The title is repeated above the body (sometimes twice); drop the repeats.
    if not title:
        title = next((line for line in body_lines if line), "")
    title_key = squash(title)
    while body_lines and (not body_lines[0] or (len(body_lines[0]) <= 2 * len(title) + 20
                                                and squash(body_lines[0]) == title_key)):
        body_lines = body_lines[1:]
    while body_lines and (not body_lines[-1] or SEPARATOR.match(body_lines[-1])):
        body_lines = body_lines[:-1]
    body = join_paragraphs(body_lines)

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
        source_url=source_url,
        source_id=id_match["id"] if id_match else None,
        agency=AGENCY,
    )


SOURCE = Source(
    name="thaigov",
    title="รัฐบาลไทย (Royal Thai Government), thaigov.go.th",
    homepage="https://www.thaigov.go.th",
    kind="text",
    detect_order=10,
    detect=looks_like,
    parse=parse,
)
