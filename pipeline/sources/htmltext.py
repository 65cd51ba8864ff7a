"""Reading one agency HTML page: what is HTML, the page's parts, its chrome, its dates, its agency.

Helpers of :mod:`pipeline.sources.html` (this module defines no ``SOURCE``).
The text handed in is already decoded (:func:`pipeline.extract.decode.decode`:
strict UTF-8 first, then TIS-620/CP874), so a page whose ``<meta charset>``
lies is read right: no parser here ever sees bytes or a declared charset.

Two libraries, chosen by measurement (``bench/pages.py``, README: Inputs, html):
selectolax (Lexbor) for the page's structure (metadata, title candidates,
visible lines: fast, decodes nothing itself), trafilatura for the main content
(keeps Thai paragraphs; jusText alone drops them all, see
``../shared/docs/agency-sites.md``). trafilatura's own title and date are not
used: it keeps the site name and returns no date on Buddhist-Era pages.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..thaidates import DateProblem, FoundDate, complete_year, dates_in_url, find_dates, parse_one
from ..thaitext import clean_line, clean_lines
from .base import SITE_CHROME_LINE, squash

_HTML_START = re.compile(r"^(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S)
_HTML_TAGS = re.compile(r"<(?:html|head|body|div|p|meta|title)[\s>/]", re.I)


def looks_like_html(text: str) -> bool:
    """A document that starts as HTML (doctype or ``<html>``), or a fragment that opens with tags.

    Plain page text (thaigov, PRD, any text) and JSON never start with ``<``: they are
    never claimed, whatever tags their bodies quote.
    """
    head = text[:4096].lstrip("\ufeff\u200b \t\r\n")
    if not head.startswith("<"):
        return False
    return bool(_HTML_START.match(head)) or len(_HTML_TAGS.findall(head)) >= 3


# ----------------------------------------------------------------------- damaged text

# TIS-620 bytes read as Latin-1/CP1252 become runs of accented Latin letters ("¢èÒÇ").
_LATIN1_RUN = re.compile(r"[\u00a1-\u00ff]{4,}")
# UTF-8 Thai read as CP874 becomes "เธ" / "เน" before every letter ("เธเนเธฒเธง").
_UTF8_AS_CP874 = re.compile(r"เ[ธน]")
_THAI_CHAR = re.compile(r"[\u0e01-\u0e5b]")


def garbled(text: str) -> str | None:
    """How the visible text was garbled before it reached us, or None when it reads as text."""
    latin_runs = sum(len(run) for run in _LATIN1_RUN.findall(text))
    thai = len(_THAI_CHAR.findall(text))
    if latin_runs >= 30 and latin_runs > thai:
        return "Thai text read as Latin-1 (TIS-620 bytes shown as accented Latin letters)"
    pairs = len(_UTF8_AS_CP874.findall(text))
    if pairs >= 20 and pairs * 5 >= thai:
        return "UTF-8 Thai read as TIS-620/CP874 ('เธ', 'เน' before every letter)"
    return None


# ----------------------------------------------------------------------- the page

_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
               "header", "footer", "table", "ul", "ol", "dd", "dt", "blockquote", "nav", "aside", "form",
               "td", "th", "main", "figure", "figcaption", "pre", "hr", "address", "title"}
_INVISIBLE = "script, style, noscript, template, svg, iframe, object, head"


@dataclass(slots=True)
class Page:
    """What the parsed page offers before the release is decided."""

    meta: dict[str, str]  # lower-cased name/property/itemprop -> first content
    title_tag: str
    headings: list[str]  # h1 texts, then h2 texts
    lines: list[str]  # visible text, one block per line, chrome not yet removed
    json_ld: list[dict[str, object]]
    canonical: str | None
    file_urls: list[str] = field(default_factory=list)  # PRD CMS file links (upload dates)
    scripts: int = 0
    cms_dates: list[str] = field(default_factory=list)  # a CMS's own date field (PRD div.image-date)


def node_text(node: LexborNode) -> str:
    """A node's text on one line (a title, a date field, a byline)."""
    return clean_line(node.text(deep=True, separator=" ", strip=True))



def visible_lines(root: LexborNode | None) -> list[str]:
    """Visible text, one line per block element (Lexbor's text() would glue blocks together)."""
    if root is None:
        return []
    parts: list[str] = []
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        tag = node.tag
        if closing:
            if tag in _BLOCK_TAGS:
                parts.append("\n")
            continue
        if tag == "-text":
            parts.append(node.text_content or "")
            continue
        if tag in {"script", "style", "noscript", "template", "svg", "iframe", "object", "head", "-comment"}:
            continue
        if tag in _BLOCK_TAGS:
            parts.append("\n")
        stack.append((node, True))
        children = []
        child = node.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend((c, False) for c in reversed(children))
    return [line for line in clean_lines("".join(parts)) if line]


def page_url(tree: LexborHTMLParser) -> str | None:
    """The page's own address: its canonical link, else og:url (None when it gives neither)."""
    canonical = tree.css_first('link[rel="canonical"]')
    if canonical is not None and canonical.attributes.get("href"):
        return canonical.attributes["href"]
    og_url = tree.css_first('meta[property="og:url"]')
    return (og_url.attributes.get("content") if og_url is not None else None) or None


def read_page(html: str | LexborHTMLParser) -> Page:
    """The page's metadata, title candidates and visible lines (``html`` as text, or a tree already parsed
    and trimmed by a site profile's ``drop``)."""
    tree = LexborHTMLParser(html) if isinstance(html, str) else html
    meta: dict[str, str] = {}
    for node in tree.css("meta"):
        key = node.attributes.get("property") or node.attributes.get("name") or node.attributes.get("itemprop")
        content = node.attributes.get("content")
        if key and content and key.lower() not in meta:
            meta[key.lower()] = clean_line(content)
    json_ld: list[dict[str, object]] = []
    for node in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(node.text() or "")
        except ValueError:
            continue
        items = data.get("@graph", [data]) if isinstance(data, dict) else data
        json_ld.extend(item for item in items if isinstance(item, dict))
    title_node = tree.css_first("title")
    canonical_node = tree.css_first('link[rel="canonical"]')
    headings = [t for t in (node_text(n) for n in tree.css("h1")) if t] + [t for t in (node_text(n) for n in tree.css("h2")) if t]
    file_urls = [src for src in (n.attributes.get("src") or n.attributes.get("href") or "" for n in tree.css("img, a"))
                 if "/file/get/file/" in src]
    cms_dates = [t for t in (node_text(n) for n in tree.css("div.image-date, .detail-date, .news-date, .date-display-single"))
                 if t]
    return Page(
        meta=meta,
        title_tag=node_text(title_node) if title_node else "",
        headings=headings,
        lines=visible_lines(tree.body),
        json_ld=json_ld,
        canonical=(canonical_node.attributes.get("href") if canonical_node else None) or None,
        file_urls=file_urls,
        scripts=len(tree.css("script")),
        cms_dates=cms_dates,
    )


# ----------------------------------------------------------------------- title

_SITE_SEPARATOR = re.compile(r"\s+[|–—:»]\s+|\s+-\s+|\s*::\s*|\s*\|\s*")


def _strip_site_name(title: str, site_name: str | None) -> str:
    """The headline of a ``<title>``/og:title without the site's name around it."""
    parts = [part.strip() for part in _SITE_SEPARATOR.split(title) if part.strip()]
    if len(parts) <= 1:
        return title.strip()
    if site_name:
        key = squash(site_name)
        kept = [part for part in parts if squash(part) != key and squash(part) not in key]
        if kept and len(kept) < len(parts):
            parts = kept
            if len(parts) == 1:
                return parts[0]
    # The headline is the longest part; site names are short.
    return max(parts, key=len)


def choose_title(page: Page) -> tuple[str, str]:
    """The headline and where it came from: an h1/h2 the metadata title contains, og:title, h1, <title>."""
    site_name = page.meta.get("og:site_name")
    declared = page.meta.get("og:title") or page.meta.get("twitter:title") or page.title_tag
    declared_key = squash(declared)
    # A heading that the declared title holds is the headline without any site name.
    for heading in page.headings:
        key = squash(heading)
        if len(key) >= 8 and key in declared_key and (not site_name or key != squash(site_name)):
            return heading, "heading"
    if page.meta.get("og:title"):
        return _strip_site_name(page.meta["og:title"], site_name), "og:title"
    if page.headings and len(squash(page.headings[0])) >= 8:
        return page.headings[0], "heading"
    if page.title_tag:
        return _strip_site_name(page.title_tag, site_name), "title"
    return "", ""


# ----------------------------------------------------------------------- chrome

_FOOTER_START = re.compile(r"^(?:copyright|©|สงวนลิขสิทธิ์|ลิขสิทธิ์|all rights reserved|ติดต่อเรา|contact us)", re.I)
_TRAILING_CHROME = re.compile(r"\s*(?:\|\s*)?(?:[\d,]+\s*views?|อ่านต่อ\s*[.…]*|read more\s*[.…]*)\s*$", re.I)


# Words of buttons and menus: a line made only of them is chrome ("พิมพ์ ส่งต่อ", "TH EN").
_CHROME_WORDS = {"พิมพ์", "ส่งต่อ", "แชร์", "share", "print", "th", "en", "facebook", "twitter", "line", "email",
                 "tweet", "หน้าแรก", "หน้าหลัก", "home", "กลับ", "ย้อนกลับ", "|", "/", ">", ">>", "»", "-", "·"}
_BULLET = re.compile(r"^(?:[-*•·]\s+)+")
_TABLE_ROW = re.compile(r"^\|\s*(?P<cells>.*?)\s*\|$")
_CELL_SEPARATOR = re.compile(r"\s+(?<!\\)\|\s+")


def table_cells(lines: list[str]) -> list[str]:
    """trafilatura writes table rows as "| cell | cell |": old CMSs lay whole pages out in tables,
    so each cell is a line of its own (an escaped "\\|" is a literal bar)."""
    out: list[str] = []
    for line in lines:
        match = _TABLE_ROW.match(line)
        cells = _CELL_SEPARATOR.split(match["cells"]) if match else [line]
        out.extend(cell.replace("\\|", "|").strip() for cell in cells if cell.strip())
    return out


def drop_chrome(lines: list[str]) -> list[str]:
    """Lines without the site's buttons, counters, skip links and footer."""
    kept: list[str] = []
    for line in lines:
        line = _BULLET.sub("", line)
        if _FOOTER_START.match(line):
            break
        if SITE_CHROME_LINE.match(line) or all(word.lower() in _CHROME_WORDS for word in line.split()):
            continue
        line = _TRAILING_CHROME.sub("", line)
        if line:
            kept.append(line)
    return kept


# ----------------------------------------------------------------------- dates

#: The order of evidence (pipeline.thaidates' docstring); the first that gives a date wins.
EVIDENCE_ORDER = ("metadata", "date-line", "lead", "url")
_META_DATE_KEYS = ("article:published_time", "datepublished", "og:published_time", "publishdate", "pubdate",
                   "date", "dc.date.issued", "dc.date", "dcterms.issued", "dcterms.created", "sailthru.date",
                   "article:modified_time")
# A CMS's own label for the publication date in the visible text (MFA: the import date).
_LABELLED_DATE = re.compile(r"^(?:วันที่นำเข้าข้อมูล|วันที่เผยแพร่|เผยแพร่(?:เมื่อ)?|โพสต์เมื่อ|ประกาศเมื่อ|"
                            r"published(?: on)?|posted(?: on)?|date)\s*:?\s*(?P<date>.+)$", re.I)


@dataclass(frozen=True, slots=True)
class DateEvidence:
    found: FoundDate
    source: str  # one of EVIDENCE_ORDER
    where: str  # what gave it (a meta key, "line 3", the URL)


def _read(text: str, *, two_digit_era: str = "BE") -> FoundDate | None:
    try:
        found = parse_one(text, two_digit_era=two_digit_era)  # type: ignore[arg-type]
    except DateProblem:
        return None
    return found


def _with_year(found: FoundDate | None) -> FoundDate | None:
    return found if found is not None and found.year is not None else None


def metadata_date(page: Page) -> DateEvidence | None:
    for key in _META_DATE_KEYS:
        if key in page.meta:
            found = _with_year(_read(page.meta[key], two_digit_era="CE"))
            if found:
                return DateEvidence(found, "metadata", f"meta {key}")
    for item in page.json_ld:
        value = item.get("datePublished") or item.get("dateCreated")
        if isinstance(value, str):
            found = _with_year(_read(value, two_digit_era="CE"))
            if found:
                return DateEvidence(found, "metadata", "JSON-LD datePublished")
    for text in page.cms_dates:
        found = _with_year(_read(text))
        if found:
            return DateEvidence(found, "metadata", "CMS date field")
    for line in page.lines:
        match = _LABELLED_DATE.match(line)
        if match:
            found = _with_year(_read(match["date"]))
            if found:
                return DateEvidence(found, "metadata", "labelled date")
    return None


def date_line(lines: list[str], title: str) -> DateEvidence | None:
    """A short line near the headline that holds a dated expression (three lines above, six below)."""
    key = squash(title)
    at = next((i for i, line in enumerate(lines) if key and squash(line) == key), None)
    if at is None:
        return None
    for index in [*range(at + 1, min(len(lines), at + 7)), *range(at - 1, max(-1, at - 4), -1)]:
        line = lines[index]
        if len(line) > 120:
            continue
        dates = [d for d in find_dates(line) if d.year is not None]
        if dates:
            return DateEvidence(dates[0], "date-line", f"line {index + 1}")
    return None


_LEAD_MARK = re.compile(r"(?:วันนี้|เมื่อวันที่|เมื่อวัน|วันที่|ในวันที่|on)\s*\(?", re.I)


def lead_date(body: str, reference: dt.date | None) -> DateEvidence | None:
    """The first date of the body's first paragraph ("วันนี้ (12 มกราคม 2568)", "เมื่อวันที่ …")."""
    first = body.split("\n", 1)[0][:400]
    for found in find_dates(first):
        if found.year is None:
            if reference is None:
                continue
            try:
                found = complete_year(found, reference)
            except DateProblem:
                continue
        return DateEvidence(found, "lead", "first paragraph")
    return None


def url_date(urls: list[str]) -> DateEvidence | None:
    for url in urls:
        dates = [d for d in dates_in_url(url) if d.year is not None]
        if dates:
            return DateEvidence(dates[0], "url", url)
    return None


# ----------------------------------------------------------------------- agencies

@dataclass(frozen=True, slots=True)
class AgencyRule:
    host: str
    agency: str
    office: str | None


@cache
def agency_table() -> tuple[tuple[AgencyRule, ...], dict[str, str]]:
    """The host table of ``agencies.json`` (package data): rules in order, provinces by romanised name."""
    data = json.loads(resources.files(__package__).joinpath("agencies.json").read_text(encoding="utf-8"))
    rules = tuple(AgencyRule(r["host"], r["agency"], r.get("office")) for r in data["rules"])
    return rules, dict(data["provinces"])


def agency_for(url: str | None) -> tuple[str | None, str | None]:
    """(agency, office) of the host of ``url`` by the host table, or (None, None)."""
    if not url:
        return None, None
    host = (urlsplit(url if "//" in url else "//" + url).hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    rules, provinces = agency_table()
    for rule in rules:
        sub: str | None = None
        if rule.host.startswith("{province}."):
            domain = rule.host[len("{province}."):]
            labels = host.split(".")
            if host.endswith("." + domain) and len(labels) >= len(domain.split(".")) + 1:
                sub = labels[-len(domain.split(".")) - 1]
                if sub not in provinces:
                    continue
            else:
                continue
        elif rule.host.startswith("*."):
            domain = rule.host[2:]
            if not host.endswith("." + domain):
                continue
            sub = host[: -len(domain) - 1].split(".")[-1]
        elif host != rule.host:
            continue
        province = provinces.get(sub or "")
        if "{province}" in rule.agency and province is None:
            continue
        agency = rule.agency.replace("{province}", province or "")
        office = None
        if rule.office and ("{province}" not in rule.office or province):
            office = rule.office.replace("{province}", province or "")
        return agency, office
    return None, None
