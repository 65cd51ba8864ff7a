"""HTML pages of any agency site, one page = one release (or a reasoned not-a-release).

Asked after every plain-text source (thaigov, prd): it claims only inputs that
start as HTML (``<!doctype html``, ``<html``, or a run of tags), so page text
is never taken from them. How a page is read (helpers in
:mod:`pipeline.sources.htmltext`):

1. Damage first: a page whose visible text was garbled before it reached us
   (``garbled-text``), one cut off before ``</body>``/``</html>``
   (``truncated-html``), one with no visible text but scripts (``script-only``: a
   JavaScript application shell). A page over the build's size cap never gets
   here (``too-large``).
2. Title: a heading (h1, then h2) that og:title/``<title>`` contains, else
   og:title, h1 or ``<title>`` without the site's name.
3. Body: trafilatura's main content, then the site chrome removed (skip links,
   share/print buttons, counters, "อ่านต่อ", footers), the headline and the date
   line dropped from its top.
4. Date, by evidence in ``htmltext.EVIDENCE_ORDER``: metadata (meta tags,
   JSON-LD, a CMS date field, a labelled "วันที่นำเข้าข้อมูล" line), the date line
   near the headline, the body lead (a yearless lead is completed only from the
   URL's date), the URL (canonical/og:url, then PRD file names).
5. Agency and office from the host table ``agencies.json``.
6. A page with no date anywhere, or no body, or only a listing of dated items,
   is ``not-a-release`` (an index, a template, a contact or about page).
"""

from __future__ import annotations

import re


from ..thaidates import find_dates
from ..thaitext import clean_lines
from .base import ParsedRelease, ParseProblem, Source, SourceContext, join_paragraphs, squash
from .htmltext import (
    agency_for,
    choose_title,
    date_line,
    drop_chrome,
    garbled,
    lead_date,
    looks_like_html,
    metadata_date,
    read_page,
    table_cells,
    url_date,
)

_CLOSED = re.compile(r"</(?:body|html)\s*>", re.I)
_WORD = re.compile(r"[^\s\W_]")
# Fewer word characters than this in the main content is no release text (a template, a menu).
MIN_BODY_CHARS = 60
# A page with at least this many dated lines and no paragraph of a release's length is a listing.
LISTING_DATES = 5
RELEASE_PARAGRAPH = 200


def detect(text: str, context: SourceContext) -> bool:
    return looks_like_html(text)


def _not_a_release(why: str, **details: object) -> ParseProblem:
    return ParseProblem(
        "not-a-release",
        f"the page is no release ({why}): an index, listing, template, contact or about page; "
        "nothing to publish (if it is a release, give it with its date, or add a site profile)",
        **details,
    )


def parse(text: str, context: SourceContext) -> ParsedRelease:
    page = read_page(text)
    visible = "\n".join(page.lines)
    damage = garbled(visible)
    if damage:
        raise ParseProblem("garbled-text", f"the page's text was garbled before it was saved: {damage}; "
                           "fetch the page again and keep its bytes as served", sample=visible[:80])
    if not _CLOSED.search(text[-65536:] if len(text) > 65536 else text):
        raise ParseProblem("truncated-html", "the HTML ends before its </body> or </html>: the page was cut "
                           "off while it was saved or fetched; fetch it again", chars=len(text))
    if not _WORD.search(visible) and not page.title_tag:
        if page.scripts:
            raise ParseProblem("script-only", "the page holds only scripts, no text: a JavaScript application "
                               "that builds its content in the browser; read the site's feed or API instead",
                               scripts=page.scripts)
        raise _not_a_release("no visible text")

    title, _ = choose_title(page)
    source_url = page.canonical or page.meta.get("og:url") or context.url
    lines = drop_chrome(page.lines)

    import trafilatura  # here, not at the top: it costs every command ~0.1 s to import, and only HTML needs it

    extracted = trafilatura.extract(text, include_comments=False, include_tables=False, favor_recall=True,
                                    deduplicate=False, with_metadata=False)
    body_lines = drop_chrome(table_cells([line for line in clean_lines(extracted or "") if line]))
    title_key = squash(title)
    # What trafilatura keeps above the headline is page header (breadcrumbs, menus): cut there.
    headline = next((i for i, line in enumerate(body_lines[:12]) if title_key and squash(line) == title_key), None)
    if headline is not None:
        body_lines = body_lines[headline + 1:]
    # Then the date and metadata lines between the headline and the body.
    while body_lines and (squash(body_lines[0]) == title_key or (len(body_lines[0]) < 80 and (
            date_line([title, body_lines[0]], title) is not None or squash(body_lines[0]) in title_key))):
        body_lines = body_lines[1:]
    body = join_paragraphs(body_lines)

    urls = [u for u in (source_url, context.url) if u]
    url_evidence = url_date(urls + page.file_urls)
    evidence = (metadata_date(page) or date_line(lines, title)
                or lead_date(body, url_evidence.found.date if url_evidence else None) or url_evidence)
    body_chars = len(_WORD.findall(body))
    dated_lines = sum(1 for line in lines if len(line) < 300 and any(d.year for d in find_dates(line)))
    longest = max((len(p) for p in body_lines), default=0)
    if dated_lines >= LISTING_DATES and longest < RELEASE_PARAGRAPH:
        raise _not_a_release("a listing: many dated items, no release text", dated_lines=dated_lines)
    if evidence is None:
        raise _not_a_release("no date anywhere: not in its metadata, near its headline, in its lead or URL",
                             body_chars=body_chars)
    if body_chars < MIN_BODY_CHARS:
        raise _not_a_release("no body text", body_chars=body_chars)
    if not title:
        raise ParseProblem("missing-title", "the page has no og:title, heading or <title>")

    agency, office = agency_for(source_url)
    return ParsedRelease(
        title=title,
        # As written (a completed yearless lead keeps its words; the day is the completed one, in Bangkok).
        date_text=evidence.found.text,
        published=evidence.found.bangkok_date,
        date_source=evidence.source,
        body=body,
        source_url=source_url if source_url and source_url.startswith(("http://", "https://")) else None,
        agency=agency,
        office=office,
    )


SOURCE = Source(
    name="html",
    title="HTML pages of Thai government agencies (any site; agency from the host table)",
    homepage="https://www.go.th",
    kind="html",
    detect_order=90,
    detect=detect,
    parse=parse,
)
