"""What the feed and WordPress sources share: an entry's HTML as body text, its date as evidence, its link,
its item key, and the item that is only a link.

Helpers of :mod:`pipeline.sources.feed` and :mod:`pipeline.sources.wordpress` (this module defines no
``SOURCE``). An entry's text is a fragment of the release page (RSS ``description``/``content:encoded``,
Atom ``content``/``summary``, WordPress ``content.rendered``), not a whole page with menus: it is read
with selectolax as the html source reads a page's lines (:func:`pipeline.sources.htmltext.read_page`),
not with trafilatura, whose boilerplate model would drop a short release's only paragraphs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from ..thaidates import DateProblem, FoundDate, parse_one
from ..thaitext import clean_line, clean_lines
from .base import ParsedRelease, ParseProblem, check_body, join_paragraphs, squash
from .base import drop_chrome as drop_furniture
from .htmltext import DateEvidence, agency_for, drop_chrome, lead_date, read_page, url_date

#: The item key of a problem of the input as a whole, next to its items (a feed cut mid-tag).
WHOLE_INPUT_ITEM = "feed"

# WordPress feeds end every entry with "The post … appeared first on …": the site's signature, not text.
_WORDPRESS_SIGNATURE = re.compile(r"^(?:The post .+ appeared first on .+|บทความ .+ ปรากฏครั้งแรกบน .+)$", re.I)
# WordPress cuts an excerpt with "[…]" (also "[...]", "[&hellip;]" and a "Continue reading" link after it).
_EXCERPT_CUT = re.compile(r"\[\s*(?:…|\.\.\.)\s*\]\s*(?:continue reading.*|อ่านต่อ.*)?$", re.I)
_TAG = re.compile(r"<[a-zA-Z/!][^>]*>")
_SPACE = re.compile(r"\s")
_WORD = re.compile(r"[^\s\W_]")


def plain_text(value: str | None) -> str:
    """A title or name given as HTML (WordPress ``title.rendered``, an RSS title with entities) as one line."""
    if not value:
        return ""
    if "<" in value or "&" in value:
        return clean_line(" ".join(read_page(value).lines))
    return clean_line(value)


def body_lines(value: str | None, *, html: bool = True) -> list[str]:
    """The lines of an entry's text without chrome ("อ่านต่อ", share buttons, counters, a footer, a
    WordPress feed's signature): HTML read as the html source reads a page; plain text line by line."""
    if not value:
        return []
    if html and (_TAG.search(value) or "&" in value):
        lines = read_page(value).lines
    else:
        lines = [line for line in clean_lines(value) if line]
    lines = drop_furniture(drop_chrome(lines))
    while lines and _WORDPRESS_SIGNATURE.match(lines[-1]):
        lines.pop()
    return lines


def is_cut_excerpt(lines: list[str]) -> bool:
    """Whether the text is an excerpt WordPress cut short ("… [&hellip;]"): a teaser, not the release."""
    return bool(lines) and bool(_EXCERPT_CUT.search(lines[-1]))


def web_link(link: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) address for ``link`` (resolved against ``base``), spaces escaped; else None."""
    if not link or not link.strip():
        return None
    link = link.strip()
    if base and urlsplit(base).scheme in ("http", "https"):
        link = urljoin(base, link)
    if urlsplit(link).scheme not in ("http", "https") or not urlsplit(link).hostname:
        return None
    # White space inside an address is no URI character: escaped, the rest kept as written (Thai paths too).
    return _SPACE.sub(lambda space: quote(space.group()), link)


def structured_date(values: list[tuple[str, str | None]]) -> tuple[DateEvidence, str] | None:
    """The first of ``(field, value)`` that reads as a dated timestamp (RFC 822, ISO 8601, a Thai date), as
    metadata evidence, and the value as written. Zone-less times are Bangkok time (pipeline.thaidates);
    a two-digit year in a machine-written field is CE."""
    for name, value in values:
        if not value or not value.strip():
            continue
        try:
            found = parse_one(value.strip(), two_digit_era="CE")
        except DateProblem:
            continue
        if found.year is not None:
            return DateEvidence(found, "metadata", name), value.strip()
    return None


def unreadable_date(values: list[tuple[str, str | None]]) -> tuple[str, str] | None:
    """The first non-empty ``(field, value)``: what to name when no value read as a date."""
    return next(((name, value.strip()) for name, value in values if value and value.strip()), None)


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed entry or post as its source read it, before it is judged a release."""

    title: str
    lines: list[str]  # its text, chrome removed
    link: str | None
    dates: list[tuple[str, str | None]]  # (field, value as written), strongest first
    category: str | None = None
    byline: str | None = None
    what: str = "entry"  # how messages name it ("entry", "post")
    # The date as the site shows it, when the evidence read is another field of the same moment
    # (WordPress: the day comes from date_gmt, the date as written is its local ``date``).
    shown_date: str | None = None


def link_only(entry: Entry, evidence: DateEvidence | None) -> ParseProblem:
    details: dict[str, object] = {"title": entry.title, "link": entry.link}
    if evidence is not None:
        details["date_text"] = evidence.found.text
        details["published"] = evidence.found.bangkok_date.isoformat() if evidence.found.bangkok_date else None
    return ParseProblem(
        "link-only",
        f"the {entry.what} is only a title and a link, with no text of its own: the release is on the linked "
        "page; nothing to publish from it (harvest the linked page to read the release)",
        **details,
    )


def release_of(entry: Entry) -> ParsedRelease:
    """The release an entry holds; raise :class:`ParseProblem` (``link-only``, ``truncated``,
    ``missing-title``, ``missing-date``) when it holds none."""
    dated = structured_date(entry.dates)
    evidence = dated[0] if dated else None
    body = join_paragraphs(entry.lines)
    if body and squash(entry.lines[0]) == squash(entry.title) and len(entry.lines) > 1:
        body = join_paragraphs(entry.lines[1:])  # the headline printed again above the text
    if not _WORD.search(body):
        raise link_only(entry, evidence)
    if is_cut_excerpt(entry.lines):
        raise ParseProblem("truncated", f"the {entry.what} holds only an excerpt the site cut short ('[…]'); "
                           "harvest the linked page for the full release", link=entry.link)
    try:
        check_body(body, entry.title)
    except ParseProblem as problem:
        if problem.reason == "empty-body":  # only the title again: no text of its own
            raise link_only(entry, evidence) from None
        raise ParseProblem("truncated", f"the {entry.what}'s text is cut off (it is short and ends in an "
                           "ellipsis: a teaser); harvest the linked page for the full release",
                           link=entry.link, body_chars=len(body)) from None
    if not entry.title:
        raise ParseProblem("missing-title", f"the {entry.what} has text but no title", link=entry.link)
    date_text: str
    if evidence is not None:
        date_text = entry.shown_date or (dated[1] if dated else evidence.found.text)
    else:
        # No structured date: the lead, then the link, as the html source weighs a page's evidence.
        url_evidence = url_date([entry.link] if entry.link else [])
        evidence = lead_date(body, url_evidence.found.date if url_evidence else None) or url_evidence
        if evidence is None:
            written = unreadable_date(entry.dates)
            if written is not None:
                raise ParseProblem("unparseable-date", f"the {entry.what}'s {written[0]} {written[1]!r} reads as "
                                   "no calendar date, and neither its text nor its link holds one",
                                   date_text=written[1])
            raise ParseProblem("missing-date", f"the {entry.what} has no date (no {'/'.join(n for n, _ in entry.dates)})"
                               " and neither its text nor its link holds one", link=entry.link)
        date_text = evidence.found.text
    found: FoundDate = evidence.found
    agency, office = agency_for(entry.link)
    return ParsedRelease(
        title=entry.title,
        date_text=date_text,
        published=found.bangkok_date,
        date_source=evidence.source,
        body=body,
        category=entry.category or None,
        source_url=entry.link,
        agency=agency,
        office=office,
        byline=entry.byline or None,
    )


def item_keys(candidates: list[tuple[str | None, ...]]) -> list[str]:
    """One key per entry, unique within the input: its first candidate (guid, link / post id) that no
    other entry shares, else its position from 1. EWT feeds give the site root as every entry's guid: a
    shared guid identifies nothing."""
    counts: dict[str, int] = {}
    for options in candidates:
        for option in {o for o in options if o}:
            counts[option] = counts.get(option, 0) + 1
    keys: list[str] = []
    taken: set[str] = set()
    for position, options in enumerate(candidates, start=1):
        key = next((o for o in options if o and counts[o] == 1 and o not in taken), None) or str(position)
        if key in taken:  # a guid that happens to read "3" beside the third entry's position
            key = f"#{position}"
        taken.add(key)
        keys.append(key)
    return keys
