"""Reading what a source lists: feeds (RSS, Atom), the WordPress REST API, sitemaps, listing pages.

Each reader takes the bytes of one document and returns :class:`Item` s (a
release URL with what the source says of it); nothing here fetches.
"""

from __future__ import annotations

import codecs
import json
import re
import xml.etree.ElementTree as ElementTree
from calendar import timegm
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from selectolax.lexbor import LexborHTMLParser

WP_API_REL = "https://api.w.org/"


@dataclass(frozen=True)
class Item:
    """A release URL and what its source says: when it changed (the re-fetch signal), when published, its title."""

    url: str
    modified: datetime | None = None
    published: datetime | None = None
    title: str | None = None


def _from_struct(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(timegm(value), tz=timezone.utc)


def parse_w3c_date(value: str | None) -> datetime | None:
    """A sitemap ``lastmod`` / WordPress ``*_gmt`` value as aware UTC (zone-less WordPress ``_gmt`` is UTC)."""
    if not value:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------- feeds

def parse_feed(data: bytes, url: str, content_type: str | None) -> tuple[list[Item], bool]:
    """The entries of an RSS or Atom feed (relative links resolved), and whether the feed was malformed.

    ``modified`` is only an explicit update time (Atom ``updated``): an RSS
    ``pubDate`` says when an item was published, not that it changed.
    """
    # The server's Content-Type only when it names a charset: a bare text/xml means US-ASCII to feedparser
    # (RFC 3023) and would flag every UTF-8 feed served so as malformed; application/xml defers to the prolog.
    headers = {"content-location": url, "content-type": content_type if content_type and "charset" in
               content_type.lower() else "application/xml"}
    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    items = []
    for entry in parsed.entries:
        link = (entry.get("link") or "").strip()
        if not link:
            continue
        link = urljoin(url, link)
        if urlsplit(link).scheme not in ("http", "https"):
            continue
        explicit_update = "updated_parsed" in entry and entry.get("updated") != entry.get("published")
        items.append(Item(link, _from_struct(entry.get("updated_parsed")) if explicit_update else None,
                          _from_struct(entry.get("published_parsed")), entry.get("title")))
    return items, bool(parsed.get("bozo"))


# ---------------------------------------------------------------------------------------------- WordPress

def wordpress_posts_url(root: str, page: int, per_page: int) -> str:
    """Posts newest-modified first, with only the fields the harvest needs."""
    base = root.rstrip("/")
    return (f"{base}/wp/v2/posts?per_page={per_page}&page={page}&orderby=modified&order=desc"
            "&_fields=id,link,date_gmt,modified_gmt,title")


def parse_wordpress_posts(data: bytes) -> list[Item]:
    """Items of one page of ``/wp/v2/posts``; raise ValueError when it is not that."""
    posts = json.loads(data)
    if not isinstance(posts, list):
        raise ValueError("not a list of posts")
    items = []
    for post in posts:
        if not isinstance(post, dict) or not isinstance(post.get("link"), str):
            continue
        title = post.get("title")
        items.append(Item(post["link"], parse_w3c_date(post.get("modified_gmt")), parse_w3c_date(post.get("date_gmt")),
                          title.get("rendered") if isinstance(title, dict) else None))
    return items


def wordpress_root(url: str, text: str, headers: list[tuple[str, str]]) -> str | None:
    """The REST API root a WordPress page announces (``Link: <…>; rel="https://api.w.org/"`` or ``<link rel>``)."""
    for name, value in headers:
        if name.lower() == "link":
            for part in value.split(","):
                found = re.match(r'\s*<([^>]+)>\s*;.*rel="?' + re.escape(WP_API_REL), part)
                if found:
                    return urljoin(url, found.group(1))
    tree = LexborHTMLParser(text)
    for node in tree.css("link[rel]"):
        if node.attributes.get("rel") == WP_API_REL and node.attributes.get("href"):
            return urljoin(url, node.attributes["href"])
    return None


# ---------------------------------------------------------------------------------------------- sitemaps

def parse_sitemap(data: bytes) -> tuple[str, list[Item]]:
    """("index", child sitemaps) or ("urlset", pages), each with its ``lastmod``; raise ValueError."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ValueError(f"not well-formed XML ({exc})") from None
    kind = root.tag.rsplit("}", 1)[-1]
    if kind not in ("sitemapindex", "urlset"):
        raise ValueError(f"root element <{kind}> is not a sitemap")
    items = []
    for entry in root:
        loc = lastmod = None
        for child in entry:
            name = child.tag.rsplit("}", 1)[-1]
            if name == "loc":
                loc = (child.text or "").strip()
            elif name == "lastmod":
                lastmod = parse_w3c_date(child.text)
        if loc:
            items.append(Item(loc, lastmod))
    return ("index" if kind == "sitemapindex" else "urlset"), items


# ---------------------------------------------------------------------------------------------- listings

def listing_links(text: str, base_url: str, *, link_pattern: str | None, selector: str | None) -> list[str]:
    """Absolute URLs of the release links of a listing page, in page order, without repeats."""
    tree = LexborHTMLParser(text)
    anchors = []
    if selector:
        for node in tree.css(selector):
            anchors.append(node if node.tag == "a" else node.css_first("a[href]"))
    else:
        anchors = tree.css("a[href]")
    seen: dict[str, None] = {}
    for anchor in anchors:
        if anchor is None or not anchor.attributes.get("href"):
            continue
        url = urljoin(base_url, anchor.attributes["href"].strip()).split("#", 1)[0]
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        if link_pattern and not re.search(link_pattern, url):
            continue
        seen.setdefault(url, None)
    return list(seen)


# ---------------------------------------------------------------------------------------------- kind and text

_ROOT = re.compile(rb"<(?:[A-Za-z0-9_]+:)?(rss|feed|RDF|sitemapindex|urlset)\b")


def detect(url: str, data: bytes, media_type: str, headers: list[tuple[str, str]]) -> tuple[str, str] | None:
    """What a document is: ("feed" | "sitemap" | "wordpress", the URL to harvest), or None.

    A feed or sitemap is recognised by its root element (even behind a broken
    prolog), the WordPress API root by its ``namespaces``, a WordPress page by
    the API link it announces, another page by its ``<link rel=alternate>`` feed.
    """
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if "json" in media_type or head[:1] in (b"{", b"["):
        try:
            document = json.loads(data)
        except ValueError:
            document = None
        if isinstance(document, dict) and "wp/v2" in (document.get("namespaces") or []):
            return "wordpress", url
    found = _ROOT.search(data[:4096])
    if found and not head.lower().startswith((b"<!doctype html", b"<html")):
        name = found.group(1).decode()
        return ("sitemap" if name in ("sitemapindex", "urlset") else "feed"), url
    text, _note = decode_text(data, media_type_charset(headers))
    root = wordpress_root(url, text, headers)
    if root:
        return "wordpress", root
    tree = LexborHTMLParser(text)
    for node in tree.css("link[rel=alternate]"):
        kind = (node.attributes.get("type") or "").lower()
        if kind in ("application/rss+xml", "application/atom+xml") and node.attributes.get("href"):
            return "feed", urljoin(url, node.attributes["href"])
    return None


def media_type_charset(headers: list[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name.lower() == "content-type":
            found = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", value)
            if found:
                return found.group(1)
    return None


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)|<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""",
                           re.IGNORECASE)


def decode_text(data: bytes, header_charset: str | None) -> tuple[str, dict[str, str] | None]:
    """Text of an HTML/XML document, and a note when its declared charset lies.

    Strict UTF-8 first (most Thai government pages are UTF-8 whatever they
    declare), then the declared charset, then CP874 (TIS-620's superset); a
    declared charset that fails where another decodes is reported.
    """
    declared = header_charset
    if declared is None:
        found = _META_CHARSET.search(data[:4096])
        if found:
            declared = (found.group(1) or found.group(2)).decode("ascii")
    declared_codec = None
    if declared:
        try:
            declared_codec = codecs.lookup(declared).name
        except LookupError:
            declared_codec = None
    attempts = ["utf-8", *([declared_codec] if declared_codec else []), "cp874"]
    for codec in attempts:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        note = None
        if declared and codec != declared_codec and (declared_codec is None or not _decodes(data, declared_codec)):
            note = {"declared": declared, "read_as": codec}
        return text, note
    return data.decode("utf-8", "replace"), ({"declared": declared, "read_as": "utf-8 (with replacements)"}
                                             if declared else None)


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True
