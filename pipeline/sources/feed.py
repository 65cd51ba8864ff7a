"""RSS 2.0, RSS 1.0 (RDF) and Atom feeds, read with feedparser: each entry with its own text is a release.

Asked before the html source (and after the plain-text ones, which never start with ``<``): it claims
only a document whose root element is ``<rss>``, an Atom ``<feed>`` or an RSS 1.0 ``<rdf:RDF>``, after
any prolog, processing instructions (the EWT template's broken ``<?phpxml …?>``), comments or doctype;
an HTML page never has such a root. How an entry is read (helpers in :mod:`pipeline.sources.feedtext`):

- title: the entry's title (entities and tags resolved); link: its ``link`` (relative links resolved
  against the channel's link), the record's ``source_url``; agency and office from the link's host
  (the host table, :func:`pipeline.sources.htmltext.agency_for`).
- text: ``content:encoded`` / Atom ``content`` when present, else ``description`` / ``summary``, as
  HTML cleaned to body text (chrome such as "อ่านต่อ" and share buttons dropped).
- date: ``pubDate`` / ``published``, then ``updated`` (``dc:date``): metadata evidence read by
  :func:`pipeline.thaidates.parse_one`, not feedparser's ``*_parsed`` (which takes EWT's zone-less
  ``2021-11-29 09:23:55`` as UTC, seven hours off): zone-less times are Bangkok time, and
  ``published_date`` is the day in Bangkok. Without one, the lead, then a date in the link.
- item key: the entry's guid, else its link, else its position from 1 (a guid or link that several
  entries share, as EWT's site-root guids, identifies none of them).

An entry with no text of its own (EWT feeds: every ``<description>`` empty) is ``link-only``; an empty
feed is ``not-a-release``. A feed that is not well-formed XML (cut mid-tag, an unescaped ``&``) is read
as far as feedparser's lenient parser gets, an entry cut off at the end is not taken, and one more
outcome (item ``feed``) reports the defect as ``malformed-feed``, with the line and column.
"""

from __future__ import annotations

import re
from typing import Any
from xml.parsers import expat

from .base import ParsedItem, ParsedRelease, ParseProblem, Source, SourceContext
from .feedtext import WHOLE_INPUT_ITEM, Entry, body_lines, item_keys, plain_text, release_of, web_link

# What may come before the root element: BOM, white space, an XML declaration or other processing
# instruction, comments, a doctype.
_PROLOG = re.compile(r"(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)*", re.S | re.I)
_ROOT = re.compile(r"<(?P<name>rss|feed|(?:[A-Za-z_][\w.-]*:)?RDF)(?=[\s>/])(?P<attributes>[^>]*)>", re.I)
_ATOM_NAMESPACES = ("http://www.w3.org/2005/atom", "http://purl.org/atom/ns#")
_RSS1_NAMESPACE = "http://purl.org/rss/1.0/"
_ENTRY_CLOSED = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.I)
_ROOT_CLOSED = re.compile(r"</(?:rss|feed|(?:[A-Za-z_][\w.-]*:)?RDF)\s*>\s*$", re.I)


def detect(text: str, context: SourceContext) -> bool:
    head = text[:8192].lstrip("\ufeff")
    prolog = _PROLOG.match(head)
    root = _ROOT.match(head, prolog.end() if prolog else 0)
    if root is None:
        return False
    name = root["name"].lower()
    if name == "rss":
        return True
    if name == "feed":
        return any(namespace in root["attributes"].lower() for namespace in _ATOM_NAMESPACES)
    return _RSS1_NAMESPACE in head  # rdf:RDF is an RSS 1.0 feed only with the RSS namespace


def _xml_defect(text: str) -> tuple[str, int | None, int | None]:
    """What makes the text not well-formed XML, with its line and column (1-based), as expat finds it.

    feedparser's own report counts lines of the text it rewrote (it adds an XML declaration when the
    feed has none), so the position is taken from expat over the text as given.
    """
    parser = expat.ParserCreate("utf-8")  # the text is decoded already: a declared encoding must not count
    try:
        parser.Parse(text.encode("utf-8"), True)
    except expat.ExpatError as error:
        return expat.ErrorString(error.code) or str(error), error.lineno, error.offset + 1
    return "", None, None


def _malformed(text: str, feedparser_error: object, entries_read: int, cut_titles: list[str]) -> ParseProblem:
    error, line, column = _xml_defect(text)
    error = error or str(feedparser_error)
    cut_off = not _ROOT_CLOSED.search(text.rstrip()[-200:])
    where = f" at line {line}, column {column}" if line is not None else ""
    what = ("the feed ends before its closing tag (cut off while it was saved or fetched)" if cut_off
            else "the feed is not well-formed XML")
    details: dict[str, object] = {"error": error, "line": line, "column": column, "entries_read": entries_read,
                                  "cut_off": cut_off}
    message = f"{what}: {error}{where}; {entries_read} entries were read despite it"
    if cut_titles:
        details["entries_not_read"] = len(cut_titles)
        cut = f"the entry cut off at the end ({cut_titles[0]!r})" if len(cut_titles) == 1 else \
            f"the {len(cut_titles)} entries cut off at the end"
        message += f"; {cut} was not read"
    return ParseProblem(
        "malformed-feed",
        message + "; fetch the feed again (if it stays broken, tell the site)",
        **details,
    )


def _text_of(entry: Any) -> tuple[str | None, bool]:
    """The entry's fullest text (content:encoded / Atom content over description / summary) and whether it
    is HTML."""
    candidates = [(c.get("value"), c.get("type")) for c in entry.get("content") or []]
    if entry.get("summary"):
        candidates.append((entry.get("summary"), (entry.get("summary_detail") or {}).get("type")))
    for value, kind in candidates:
        if value and value.strip():
            return value, kind != "text/plain"
    return None, True


def _entry(entry: Any, base: str | None) -> Entry:
    text, is_html = _text_of(entry)
    tags = [plain_text(tag.get("term")) for tag in entry.get("tags") or [] if tag.get("term")]
    return Entry(
        title=plain_text(entry.get("title")),
        lines=body_lines(text, html=is_html),
        link=web_link(entry.get("link"), base),
        # dict.get: feedparser's own get() answers "updated" with "published" when there is none (deprecated).
        dates=[(name, dict.get(entry, name)) for name in ("published", "updated", "created")],
        category=tags[0] if tags else None,
        byline=plain_text(entry.get("author")) or None,
    )


def items(text: str, context: SourceContext) -> list[ParsedItem]:
    import feedparser  # here, not at the top: only feeds need it (every command would pay its import)

    # The text is decoded already: feedparser gets UTF-8 and is told so, whatever the prolog declares.
    parsed = feedparser.parse(text.encode("utf-8"), response_headers={"content-type": "application/xml; charset=utf-8"},
                              sanitize_html=False, resolve_relative_uris=False)
    entries = list(parsed.entries)
    if not parsed.get("version") and not entries:
        raise ParseProblem("unknown-format", "the text is no RSS or Atom feed (feedparser finds no channel and "
                           "no entries); choose its format with --source", error=str(parsed.get("bozo_exception")))
    cut: list[Any] = []
    if parsed.get("bozo"):
        # The lenient parser returns the entry the text was cut in as if it were whole: only entries whose
        # closing tag is in the text are releases.
        closed = len(_ENTRY_CLOSED.findall(text))
        if closed < len(entries):
            entries, cut = entries[:closed], entries[closed:]
    channel_link = web_link((parsed.get("feed") or {}).get("link"))
    # A guid or link that is the channel's own address (EWT: the site root) names no entry.
    keys = item_keys([tuple(candidate if candidate != channel_link else None
                            for candidate in ((entry.get("id") or "").strip() or None,
                                              web_link(entry.get("link"), channel_link)))
                      for entry in entries])
    read: list[ParsedItem] = []
    for key, entry in zip(keys, entries):
        try:
            release: ParsedRelease = release_of(_entry(entry, channel_link))
        except ParseProblem as problem:
            read.append(ParsedItem(key, problem=problem))
        else:
            read.append(ParsedItem(key, release=release))
    if parsed.get("bozo"):
        problem = _malformed(text, parsed.get("bozo_exception"), len(entries),
                             [plain_text(entry.get("title")) for entry in cut])
        read.append(ParsedItem(WHOLE_INPUT_ITEM, problem=problem))
    return read


SOURCE = Source(
    name="feed",
    title="RSS 2.0 / Atom feeds of Thai government sites (one release per entry with text)",
    homepage="https://www.rssboard.org/rss-specification",
    kind="feed",
    detect_order=30,
    detect=detect,
    items=items,
)
