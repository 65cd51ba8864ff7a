"""HTML pages of any agency site: one page = one release (or a reasoned not-a-release), a listing = its items.

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
6. A page with no date anywhere, or no body, or only a listing of dated headlines,
   is ``not-a-release`` (an index, a template, a contact or about page).

A site profile (:mod:`pipeline.sources.profiles`: ``[[profiles]]`` of datasets.toml, then the
bundled ``profiles.json``) whose hosts hold the page's address (canonical link, og:url, else
the address it was fetched from) changes this reading: its ``drop`` selectors remove parts of
the page before anything is read, its ``title``, ``date``, ``body`` and ``byline`` selectors
are asked before the generic reading (which still answers what a selector finds nothing
for), ``drop_lines`` leave the body, ``agency``/``office`` replace the host table's.

Listings: a page whose items each carry their own date and text (English news services,
``items`` of a profile) gives one release per item (``ParsedItem``; key: the item's link,
else its position from 1). Without a profile, item blocks are found as repeated siblings
(``article`` elements, or elements of one tag and class under one parent) that each hold a
heading, a date with a year and a paragraph that is not a teaser, and that together hold
most of the page's text; a page of headlines or teasers stays ``not-a-release``. A single
page gives one ``ParsedRelease`` (its outcome's item is None), as before.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..thaidates import DateProblem, find_dates, parse_one
from ..thaitext import clean_lines
from .base import ParsedItem, ParsedRelease, ParseProblem, Source, SourceContext, join_paragraphs, squash
from .htmltext import (
    DateEvidence,
    Page,
    agency_for,
    choose_title,
    date_line,
    drop_chrome,
    garbled,
    lead_date,
    looks_like_html,
    metadata_date,
    node_text,
    page_url,
    read_page,
    table_cells,
    url_date,
    visible_lines,
)
from .profiles import SiteProfile, default_profiles

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


def _damage(text: str, page: Page) -> None:
    """Refuse a page damaged before it reached us, and one with nothing but scripts."""
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


def read(text: str, context: SourceContext) -> ParsedRelease | list[ParsedItem]:
    """The page's one release, or one item per release of a listing page (see the module docstring)."""
    tree = LexborHTMLParser(text)
    own_url = page_url(tree)
    profile = (context.profiles or default_profiles()).for_url(own_url or context.url)
    if profile is not None:
        for selector in profile.drop:
            for node in tree.css(selector):
                node.decompose()
    page = read_page(tree)
    _damage(text, page)
    source_url = own_url or context.url
    if profile is not None and profile.items:
        items = _listing(tree.css(profile.items), profile, source_url)
        if items:
            return items
    elif profile is None or not (profile.title or profile.body):
        blocks = _item_blocks(tree, page)
        if blocks:
            return _listing(blocks, None, source_url)
    return _single(text if profile is None or not profile.drop else tree.html or "", tree, page, profile,
                   source_url, context)


def _single(text: str, tree: LexborHTMLParser, page: Page, profile: SiteProfile | None, source_url: str | None,
            context: SourceContext) -> ParsedRelease:
    feed_title, feed_day = context.feed_entry or (None, None)
    # A feed entry that links this page is evidence after the page's own: its title when the page has none.
    title = _selected_text(tree.body, profile.title if profile else None) or choose_title(page)[0] or (feed_title or "")
    lines = drop_chrome(page.lines)
    body_node = tree.css_first(profile.body) if profile is not None and profile.body else None
    if body_node is not None:
        # The profile says where the body is: its visible lines, no main-content guess.
        body_lines = drop_chrome(visible_lines(body_node))
    else:
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
    byline = _selected_text(tree.body, profile.byline if profile else None)
    body_lines = _without_profile_lines(body_lines, profile, byline)
    body = join_paragraphs(body_lines)

    urls = [u for u in (source_url, context.url) if u]
    url_evidence = url_date(urls + page.file_urls)
    # The feed's date is structured metadata of the release, after the page's own metadata.
    evidence = (_profile_date(tree.body, profile) or metadata_date(page) or _feed_date(feed_day)
                or date_line(lines, title)
                or lead_date(body, url_evidence.found.date if url_evidence else None) or url_evidence)
    body_chars = len(_WORD.findall(body))
    dated_lines = sum(1 for line in lines if len(line) < 300 and any(d.year for d in find_dates(line)))
    longest = max((len(p) for p in body_lines), default=0)
    if body_node is None and dated_lines >= LISTING_DATES and longest < RELEASE_PARAGRAPH:
        raise _not_a_release("a listing: many dated items, no release text", dated_lines=dated_lines)
    if evidence is None:
        raise _not_a_release("no date anywhere: not in its metadata, near its headline, in its lead or URL",
                             body_chars=body_chars)
    if body_chars < MIN_BODY_CHARS:
        raise _not_a_release("no body text", body_chars=body_chars)
    if not title:
        raise ParseProblem("missing-title", "the page has no og:title, heading or <title>")
    agency, office = _agency(profile, source_url)
    return ParsedRelease(
        title=title,
        # As written (a completed yearless lead keeps its words; the day is the completed one, in Bangkok).
        date_text=evidence.found.text,
        published=evidence.found.bangkok_date,
        date_source=evidence.source,
        body=body,
        source_url=_web_address(source_url),
        agency=agency,
        office=office,
        byline=byline,
    )


def _feed_date(day: str | None) -> DateEvidence | None:
    """The publication day a feed entry gives for the page it links (ISO, already the day in Bangkok)."""
    if not day:
        return None
    try:
        return DateEvidence(parse_one(day), "metadata", "the feed entry that links the page")
    except DateProblem:
        return None


def _web_address(url: str | None) -> str | None:
    return url if url and url.startswith(("http://", "https://")) else None


def _agency(profile: SiteProfile | None, url: str | None) -> tuple[str | None, str | None]:
    if profile is not None and profile.agency:
        return profile.agency, profile.office
    return agency_for(url)


def _selected_text(root: LexborNode | None, selector: str | None) -> str | None:
    """The text of the first node ``selector`` finds under ``root`` that has any (None: nothing found)."""
    if root is None or not selector:
        return None
    return next((text for text in (node_text(node) for node in root.css(selector)) if text), None)


def _profile_date(root: LexborNode | None, profile: SiteProfile | None) -> DateEvidence | None:
    """The date the profile's ``date`` selector points at: the site's own date field, so metadata."""
    text = _selected_text(root, profile.date if profile else None)
    if not text:
        return None
    found = next((d for d in find_dates(text) if d.year is not None), None)
    return DateEvidence(found, "metadata", "site profile date") if found else None


def _without_profile_lines(lines: list[str], profile: SiteProfile | None, byline: str | None) -> list[str]:
    dropped = profile.dropped_line if profile is not None else None
    byline_key = squash(byline or "")
    return [line for line in lines
            if not (dropped is not None and dropped.search(line)) and not (byline_key and squash(line) == byline_key)]


# ----------------------------------------------------------------------- listings

_ITEM_TITLE = "h1, h2, h3, h4, h5, [class*=title], [class*=headline]"
_ITEM_DATE = "time, [class*=date]"
_TEASER_END = ("...", "…", "อ่านต่อ", "read more")
# An item's text: at least one paragraph of this many characters that is not a teaser (cut with "…").
ITEM_PARAGRAPH = 100
# Items hold at least this share of the page's visible text (a release's sidebar of news never does).
ITEMS_SHARE = 0.5


def _item_blocks(tree: LexborHTMLParser, page: Page) -> list[LexborNode]:
    """Repeated sibling blocks that each read as a release of its own (see the module docstring), or []."""
    groups: dict[tuple[int, str, str], list[LexborNode]] = {}
    for node in tree.css("article, li[class], div[class], section[class]"):
        parent = node.parent
        key = (parent.mem_id if parent is not None else 0, node.tag or "", node.attributes.get("class") or "")
        groups.setdefault(key, []).append(node)
    page_chars = len(_WORD.findall("\n".join(page.lines)))
    best: list[LexborNode] = []
    for nodes in groups.values():
        if len(nodes) < 2 or len(nodes) <= len(best):
            continue
        readable = [node for node in nodes if _item_has_text(node)]
        if len(readable) >= 2 and len(readable) * 2 >= len(nodes):
            chars = sum(len(_WORD.findall(" ".join(visible_lines(node)))) for node in readable)
            if chars >= ITEMS_SHARE * page_chars:
                best = nodes  # the whole group: its teasers are accounted for too
    return best


def _item_has_text(node: LexborNode) -> bool:
    if node.css_first(_ITEM_TITLE) is None:
        return False
    lines = visible_lines(node)
    if not any(len(line) < 160 and any(d.year for d in find_dates(line)) for line in lines) and not _time_attribute(node):
        return False
    return any(len(line) >= ITEM_PARAGRAPH and not line.rstrip().lower().endswith(_TEASER_END) for line in lines)


def _time_attribute(node: LexborNode) -> DateEvidence | None:
    for time_node in node.css("time[datetime]"):
        found = next((d for d in find_dates(time_node.attributes.get("datetime") or "", two_digit_era="CE")
                      if d.year is not None), None)
        if found is not None:
            return DateEvidence(found, "metadata", "time datetime")
    return None


def _listing(nodes: list[LexborNode], profile: SiteProfile | None, page_address: str | None) -> list[ParsedItem]:
    """One ParsedItem per item node; [] when no item has text of its own (a listing of headlines or teasers,
    which the single-page reading then calls not-a-release). Among items with text, a headline or teaser
    is accounted for as not-a-release: its release is a page of its own."""
    entries = [_listing_item(node, profile, page_address) for node in nodes]
    if all(entry[1] is None and entry[2] is None for entry in entries):
        return []
    items: list[ParsedItem] = []
    keys: set[str] = set()
    for position, (key, release, problem) in enumerate(entries, start=1):
        key = key if key and key not in keys else str(position)
        keys.add(key)
        if release is None and problem is None:
            problem = ParseProblem("not-a-release", "the listing's item is a headline or a teaser only: its "
                                   "release is a page of its own (harvest that page)")
        items.append(ParsedItem(key, release=release, problem=problem))
    return items


def _listing_item(node: LexborNode, profile: SiteProfile | None, page_address: str | None
                  ) -> tuple[str | None, ParsedRelease | None, ParseProblem | None]:
    """(the item's link, its release or its problem); neither for a headline or teaser without text."""
    title_selector = profile.title if profile is not None and profile.title else _ITEM_TITLE
    title_node = node.css_first(title_selector)
    title = node_text(title_node) if title_node is not None else ""
    link_node = title_node if title_node is not None and title_node.tag == "a" else None
    if link_node is None and title_node is not None:
        link_node = title_node.css_first("a[href]")
    if link_node is None:
        link_node = node.css_first("a[href]")
    href = (link_node.attributes.get("href") or "").strip() if link_node is not None else ""
    address = urljoin(page_address or "", href) if href and not href.startswith(("#", "javascript:")) else None
    body_node = node.css_first(profile.body) if profile is not None and profile.body else None
    lines = drop_chrome(visible_lines(body_node if body_node is not None else node))
    title_key = squash(title)
    evidence = _profile_date(node, profile) or _time_attribute(node)
    date_node = node.css_first(profile.date) if profile is not None and profile.date else node.css_first(_ITEM_DATE)
    date_key = squash(node_text(date_node)) if date_node is not None else ""
    body_lines: list[str] = []
    for line in lines:
        key = squash(line)
        if key == title_key or (date_key and key == date_key):
            continue
        if evidence is None and len(line) < 160:
            found = next((d for d in find_dates(line) if d.year is not None), None)
            if found is not None:
                evidence = DateEvidence(found, "date-line", "the item's date line")
                if len(line) < 80:
                    continue
        body_lines.append(line)
    byline = _selected_text(node, profile.byline if profile else None)
    body_lines = _without_profile_lines(body_lines, profile, byline)
    if not any(len(line) >= ITEM_PARAGRAPH and not line.rstrip().lower().endswith(_TEASER_END) for line in body_lines):
        return address, None, None  # a headline or a teaser: the item's text is elsewhere
    if not title:
        return address, None, ParseProblem("missing-title", "the listing's item has no headline")
    if evidence is None:
        evidence = lead_date(join_paragraphs(body_lines), None)
    if evidence is None:
        return address, None, ParseProblem("missing-date", "the listing's item states no date with a year "
                                           "(not in a date field nor in its lines)", title=title[:80])
    agency, office = _agency(profile, address or page_address)
    return address, ParsedRelease(
        title=title,
        date_text=evidence.found.text,
        published=evidence.found.bangkok_date,
        date_source=evidence.source,
        body=join_paragraphs(body_lines),
        source_url=_web_address(address) or _web_address(page_address),
        agency=agency,
        office=office,
        byline=byline,
    ), None


SOURCE = Source(
    name="html",
    title="HTML pages of Thai government agencies (any site; agency from the host table)",
    homepage="https://www.go.th",
    kind="html",
    detect_order=90,
    detect=detect,
    items=read,
)
