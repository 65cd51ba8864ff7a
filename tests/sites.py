"""A test web of agency sites on 127.0.0.1, built from real release texts and real feeds of ../shared/corpus.

Each site is its own HTTP server (its own host:port, so per-host politeness
and robots.txt apply as on the web) and every request is logged with its
arrival time, so tests count fetches and measure gaps at the server:

* ``prd``  — the new PRD CMS: listing ``/th/content/category/index/id/5``, the paged fragment
  ``POST /th/content/category/getarticles/id/5`` (``pageIndex=N`` → ``{"html": …}`` with ``div.inforow``
  rows), details ``/th/content/category/detail/id/5/iid/N``, RSS 2.0 ``/th/content/category/xml/id/5``
  (CDATA titles, HTML descriptions with ``&nbsp;``, RFC 822 dates +0700);
* ``ewt``  — the old EWT CMS: a real GISTDA feed of ``corpus/web/ewt-rss`` (its host rewritten to this
  site) whose items are real EWT pages declaring ``charset=tis-620`` on UTF-8 bytes (a lying charset);
* ``wp``   — WordPress: a home page announcing ``/wp-json/``, the REST API with ``X-WP-Total`` /
  ``X-WP-TotalPages``, permalinks ``/YYYY/MM/DD/slug/``, an Atom feed ``/feed/atom/``;
* ``maps`` — thaigov-style details under a sitemap index with ``lastmod``; robots.txt with a
  ``Crawl-delay`` and a ``Disallow`` the sitemap ignores;
* ``faults`` — an RSS feed whose items are each a fault: 404, 410, 500 then 200, 429 with
  ``Retry-After`` then 200, a response that hangs, a redirect loop, a robots.txt disallow, a 50 MB
  body, a PDF where a page belongs, a lying charset.

Every document answers conditional GETs (ETag and Last-Modified → 304).
``add_releases`` publishes more releases on a site, in all its indexes.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import html
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from conftest import SHARED, THAIGOV_CORPUS

CORPUS = SHARED / "corpus"
EWT_FEED = CORPUS / "web" / "ewt-rss" / "ewt_dip_intra_web_rss_group159.xml"
EWT_PAGES = sorted((CORPUS / "web" / "ewt-static-pages").glob("*.html"))
BANGKOK = timezone(timedelta(hours=7))


@dataclass(frozen=True)
class Release:
    """One real release text: title line, date line, body."""

    title: str
    date_line: str
    body: str
    published: datetime


def real_releases(count: int, offset: int = 0) -> list[Release]:
    """``count`` real thaigov items (deterministic), rendered later as pages of any site."""
    files = sorted(THAIGOV_CORPUS.rglob("*.txt"))
    good = [f for f in files if f.stat().st_size > 1500]
    picked = good[offset * 7::7][:count]
    releases = []
    for index, path in enumerate(picked):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        title = lines[0].removeprefix("รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-").strip()
        day = path.parent
        published = datetime(int(day.parent.parent.name), int(day.parent.name), int(day.name), 9, 0,
                             tzinfo=BANGKOK) + timedelta(minutes=offset + index)
        releases.append(Release(title, lines[1], "\n".join(lines[2:]), published))
    return releases


def release_html(release: Release, *, charset: str = "utf-8") -> bytes:
    paragraphs = "".join(f"<p>{html.escape(line)}</p>\n" for line in release.body.splitlines())
    return (f'<!DOCTYPE html><html lang="th"><head><meta charset="{charset}"><title>{html.escape(release.title)}'
            f'</title></head><body><div class="detail-title"><h1>{html.escape(release.title)} </h1></div>'
            f'<div class="image-date">{html.escape(release.date_line)}</div><div class="content">{paragraphs}</div>'
            "</body></html>").encode("utf-8")


@dataclass
class Logged:
    site: str
    method: str
    path: str
    at: float  # time.monotonic() at arrival
    headers: dict[str, str]
    status: int = 0


Handler = Callable[["Request"], "Answer"]


@dataclass
class Request:
    method: str
    path: str  # with the query
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True  # answer If-None-Match / If-Modified-Since with 304
    stream: Callable[[Callable[[bytes], None]], None] | None = None  # writes the body itself (no length)
    gzip: bool = False  # gzip the body when the request accepts it (Content-Encoding: gzip)


class Site:
    """One host: routes by path; a request log shared with the other sites."""

    def __init__(self, name: str, web: "TestWeb") -> None:
        self.name = name
        self.web = web
        self.routes: dict[str, Handler] = {}
        self.robots = "User-agent: *\nAllow: /\n"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.hits: dict[str, int] = {}
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def page(self, path: str, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.routes[path] = lambda _request: Answer(body=body, content_type=content_type)

    def answer(self, request: Request) -> Answer:
        path = urlsplit(request.path).path
        self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/robots.txt":
            return Answer(body=self.robots.encode(), content_type="text/plain")
        handler = self.routes.get(request.path) or self.routes.get(path)
        if handler is None:
            return Answer(404, b"<html><body>not found</body></html>", conditional=False)
        return handler(request)

    def url(self, path: str) -> str:
        return self.base + path


def _handler_for(site: Site) -> type[BaseHTTPRequestHandler]:
    class SiteHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: object) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            entry = Logged(site.name, self.command, self.path, time.monotonic(), dict(self.headers))
            with site.web.lock:
                site.web.log.append(entry)
            request = Request(self.command, self.path, parse_qs(urlsplit(self.path).query), dict(self.headers), body)
            try:
                answer = site.answer(request)
            except Exception as exc:  # noqa: BLE001 — a fixture bug must show as a 500, not hang the client
                answer = Answer(500, repr(exc).encode(), "text/plain", conditional=False)
            etag = '"' + hashlib.sha1(answer.body).hexdigest()[:16] + '"'
            status = answer.status
            if (answer.conditional and status == 200 and answer.stream is None
                    and self.headers.get("If-None-Match") == etag):
                status = 304
            entry.status = status
            try:
                self.send_response(status)
                self.send_header("Content-Type", answer.content_type)
                if answer.conditional and answer.stream is None:
                    self.send_header("ETag", etag)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if answer.stream is not None:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    answer.stream(self.wfile.write)
                    self.close_connection = True
                    return
                payload = b"" if status == 304 else answer.body
                if answer.gzip and "gzip" in (self.headers.get("Accept-Encoding") or "") and payload:
                    payload = gzip.compress(payload, mtime=0)
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Vary", "Accept-Encoding")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_HEAD = _serve

    return SiteHandler


class TestWeb:
    """Every test site, their shared request log, and ways to change them."""

    __test__ = False

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[Logged] = []
        self.sites: dict[str, Site] = {}
        self._pool = iter(real_releases(400))

    def site(self, name: str) -> Site:
        if name not in self.sites:
            self.sites[name] = Site(name, self)
        return self.sites[name]

    def take(self, count: int) -> list[Release]:
        return [next(self._pool) for _ in range(count)]

    def requests(self, site: str | None = None, prefix: str = "", method: str | None = None) -> list[Logged]:
        with self.lock:
            return [e for e in self.log if (site is None or e.site == site) and e.path.startswith(prefix)
                    and (method is None or e.method == method)]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    def close(self) -> None:
        for site in self.sites.values():
            site.server.shutdown()
            site.server.server_close()


# ------------------------------------------------------------------------------------------ the PRD CMS

class PrdSite:
    """New PRD CMS, category 5: listing page 1 (GET), further pages by POST getarticles, RSS, details."""

    PER_PAGE = 4

    def __init__(self, web: TestWeb, count: int) -> None:
        self.site = web.site("prd")
        self.web = web
        self.releases: list[Release] = []  # newest first
        self.add(count)
        site = self.site
        site.route("/th/content/category/index/id/5", lambda r: Answer(body=self._listing_page()))
        site.route("/th/content/category/getarticles/id/5", self._getarticles)
        site.route("/th/content/category/xml/id/5", lambda r: Answer(body=self._rss(), content_type="application/xml"))

    def detail_path(self, iid: int) -> str:
        return f"/th/content/category/detail/id/5/iid/{iid}"

    def add(self, count: int) -> list[str]:
        added = []
        for release in self.web.take(count):
            iid = 100000 + len(self.releases)
            self.releases.insert(0, release)
            body = release_html(release)
            self.site.page(self.detail_path(iid), body)
            added.append(self.detail_path(iid))
        self._iids = [100000 + i for i in range(len(self.releases))][::-1]
        return added

    def detail_paths(self) -> list[str]:
        return [self.detail_path(iid) for iid in self._iids]

    def _rows(self, page: int) -> str:
        start = (page - 1) * self.PER_PAGE
        rows = []
        for iid, release in list(zip(self._iids, self.releases))[start:start + self.PER_PAGE]:
            rows.append(f'<div class="inforow"><div class="detail-title"><a href="{self.detail_path(iid)}">'
                        f'{html.escape(release.title)} </a></div><div class="image-date">{html.escape(release.date_line)}'
                        f'</div><div class="detail-intro">{html.escape(release.body[:120])}</div></div>')
        return "\n".join(rows)

    def _listing_page(self) -> bytes:
        return (f'<html><head><meta charset="utf-8"><title>ข่าวประชาสัมพันธ์</title></head><body>'
                f'<a href="/th/home">หน้าแรก</a><div id="list">{self._rows(1)}</div>'
                '<button class="loadmore" data-url="/th/content/category/getarticles/id/5">เพิ่มเติม</button>'
                "</body></html>").encode()

    def _getarticles(self, request: Request) -> Answer:
        if request.method != "POST":
            return Answer(405, b"method not allowed", "text/plain", conditional=False)
        page = int(parse_qs(request.body.decode()).get("pageIndex", ["1"])[0])
        return Answer(body=json.dumps({"html": self._rows(page)}, ensure_ascii=False).encode(),
                      content_type="application/json; charset=utf-8", conditional=False)

    def _rss(self) -> bytes:
        items = []
        for iid, release in list(zip(self._iids, self.releases))[:10]:
            description = "&nbsp;".join(html.escape(line) for line in release.body.splitlines()[:2])
            items.append(f"<item><title><![CDATA[{release.title} ]]></title><link>{self.site.url(self.detail_path(iid))}"
                         f"</link><description><![CDATA[<p>{description}</p>]]></description><pubDate>"
                         f"{email.utils.format_datetime(release.published)}</pubDate></item>")
        return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>กรมประชาสัมพันธ์</title>'
                f"<link>{self.site.base}</link>" + "".join(items) + "</channel></rss>").encode()


# ------------------------------------------------------------------------------------------ EWT CMS

class EwtSite:
    """The real GISTDA feed of corpus/web/ewt-rss, its links pointed at this site's real EWT pages."""

    REAL_HOST = "http://203.150.224.57"

    def __init__(self, web: TestWeb) -> None:
        self.site = web.site("ewt")
        raw = EWT_FEED.read_bytes()
        self.feed_bytes = raw.replace(self.REAL_HOST.encode(), self.site.base.encode())
        self.site.page("/ewtadmin86_gistda/rss/group159.xml", self.feed_bytes, "text/xml")
        text = self.feed_bytes.decode("utf-8")
        import re

        self.detail_paths = []
        for index, link in enumerate(re.findall(r"<link>([^<]*news_view\.php[^<]*)</link>", text)):
            path = urlsplit(link).path + "?" + urlsplit(link).query
            page = EWT_PAGES[index % len(EWT_PAGES)].read_bytes()  # declares tis-620, holds UTF-8
            self.site.page(path, page, "text/html; charset=tis-620")
            self.detail_paths.append(path)

    @property
    def feed_url(self) -> str:
        return self.site.url("/ewtadmin86_gistda/rss/group159.xml")


# ------------------------------------------------------------------------------------------ WordPress

class WordPressSite:
    def __init__(self, web: TestWeb, count: int) -> None:
        self.site = web.site("wp")
        self.web = web
        self.posts: list[dict[str, object]] = []  # newest first
        self.add(count)
        site = self.site
        site.page("/", b'<html><head><link rel="https://api.w.org/" href="' + site.url("/wp-json/").encode()
                  + b'"><title>WP</title></head><body>home</body></html>')
        site.route("/wp-json/", lambda r: Answer(body=json.dumps({"name": "WP", "namespaces": ["oembed/1.0", "wp/v2"]}).encode(),
                                                 content_type="application/json; charset=UTF-8"))
        site.route("/wp-json/wp/v2/posts", self._posts)
        site.route("/feed/atom/", lambda r: Answer(body=self._atom(), content_type="application/atom+xml; charset=UTF-8"))

    def add(self, count: int) -> list[str]:
        added = []
        for release in self.web.take(count):
            number = len(self.posts) + 1
            stamp = release.published.astimezone(timezone.utc)
            path = f"/{stamp:%Y/%m/%d}/post-{number}/"
            self.posts.insert(0, {"id": number, "link": self.site.url(path), "title": {"rendered": release.title},
                                  "date_gmt": stamp.strftime("%Y-%m-%dT%H:%M:%S"),
                                  "modified_gmt": stamp.strftime("%Y-%m-%dT%H:%M:%S"), "path": path})
            self.site.page(path, release_html(release))
            added.append(path)
        return added

    def touch(self, index: int, when: datetime) -> str:
        """Mark a post modified at ``when`` (the API's modified_gmt); returns its path."""
        post = self.posts[index]
        post["modified_gmt"] = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        path = str(post["path"])
        edited = self.site.routes[path](None).body.replace(b"</body>", "<p>(แก้ไขเพิ่มเติม)</p></body>".encode())  # type: ignore[arg-type]
        self.site.page(path, edited)
        return path

    def paths(self) -> list[str]:
        return [str(p["path"]) for p in self.posts]

    def _posts(self, request: Request) -> Answer:
        per_page = int(request.query.get("per_page", ["10"])[0])
        page = int(request.query.get("page", ["1"])[0])
        ordered = sorted(self.posts, key=lambda p: str(p["modified_gmt"]), reverse=True)
        total_pages = max(1, -(-len(ordered) // per_page))
        if page > total_pages:
            return Answer(400, json.dumps({"code": "rest_post_invalid_page_number"}).encode(),
                          "application/json; charset=UTF-8", conditional=False)
        chunk = [{k: v for k, v in p.items() if k != "path"} for p in ordered[(page - 1) * per_page:page * per_page]]
        return Answer(body=json.dumps(chunk, ensure_ascii=False).encode(), content_type="application/json; charset=UTF-8",
                      headers={"X-WP-Total": str(len(ordered)), "X-WP-TotalPages": str(total_pages),
                               "Link": f'<{self.site.url("/wp-json/")}>; rel="https://api.w.org/"'})

    def _atom(self) -> bytes:
        entries = "".join(
            f"<entry><title type=\"html\">{html.escape(str(p['title']['rendered']))}</title>"  # type: ignore[index]
            f"<link rel=\"alternate\" href=\"{p['link']}\"/><id>{p['link']}</id>"
            f"<updated>{p['modified_gmt']}Z</updated><published>{p['date_gmt']}Z</published></entry>"
            for p in self.posts)
        return ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>WP</title>'
                f"<id>{self.site.base}/</id><updated>2024-01-01T00:00:00Z</updated>{entries}</feed>").encode()


# ------------------------------------------------------------------------------------------ sitemaps

class SitemapSite:
    """thaigov-style details in two child sitemaps under an index with lastmod; robots.txt with Crawl-delay."""

    def __init__(self, web: TestWeb, count: int, crawl_delay: float | None = None) -> None:
        self.site = web.site("maps")
        self.web = web
        self.entries: list[tuple[str, datetime]] = []
        self.site.robots = "User-agent: *\nDisallow: /private/\n" + (f"Crawl-delay: {crawl_delay}\n" if crawl_delay else "")
        self.add(count)
        self.site.page("/private/secret-1", b"<html>secret</html>")
        self.site.route("/sitemap_index.xml", lambda r: Answer(body=self._index(), content_type="application/xml"))
        self.site.route("/sitemap-news-1.xml", lambda r: Answer(body=self._urlset(0), content_type="application/xml",
                                                                gzip=True))
        self.site.route("/sitemap-news-2.xml", lambda r: Answer(body=self._urlset(1), content_type="application/xml"))

    def add(self, count: int) -> list[str]:
        added = []
        for release in self.web.take(count):
            path = f"/news/contents/details/{70000 + len(self.entries)}"
            self.entries.append((path, release.published))
            self.site.page(path, release_html(release))
            added.append(path)
        return added

    def paths(self) -> list[str]:
        return [p for p, _ in self.entries]

    def _half(self, which: int) -> list[tuple[str, datetime]]:
        return self.entries[which::2]

    def _urlset(self, which: int) -> bytes:
        urls = "".join(f"<url><loc>{self.site.url(p)}</loc><lastmod>{d.isoformat()}</lastmod></url>"
                       for p, d in self._half(which))
        if which == 0:
            urls += f"<url><loc>{self.site.url('/private/secret-1')}</loc></url>"
        return ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + urls + "</urlset>").encode()

    def _index(self) -> bytes:
        parts = []
        for which in (0, 1):
            dates = [d for _, d in self._half(which)]
            lastmod = max(dates).isoformat() if dates else "2024-01-01T00:00:00+07:00"
            parts.append(f"<sitemap><loc>{self.site.url(f'/sitemap-news-{which + 1}.xml')}</loc>"
                         f"<lastmod>{lastmod}</lastmod></sitemap>")
        return ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(parts) + "</sitemapindex>").encode()


# ------------------------------------------------------------------------------------------ faults

FAULTS = ("404", "410", "flaky-500", "retry-after", "hang", "loop", "robots", "big", "pdf", "charset", "fine")


class FaultSite:
    """An RSS feed whose items each hit one fault; ``fine`` is a normal page, to show the others complete."""

    def __init__(self, web: TestWeb, *, retry_after: int = 1, big_bytes: int = 50 * 1024 * 1024,
                 hang_seconds: float = 3.0) -> None:
        self.site = site = web.site("faults")
        self.retry_after = retry_after
        release, charset_release = web.take(2)
        page = release_html(release)
        self.calls: dict[str, int] = {}
        site.robots = "User-agent: *\nDisallow: /f/robots\n"
        site.route("/f/404", lambda r: Answer(404, b"<html>no</html>", conditional=False))
        site.route("/f/410", lambda r: Answer(410, b"<html>gone</html>", conditional=False))
        site.route("/f/flaky-500", self._once_then(500, page))
        site.route("/f/retry-after", self._once_then(429, page, {"Retry-After": str(retry_after)}))
        site.route("/f/hang", lambda r: Answer(stream=lambda write: (write(b"<html>"), time.sleep(hang_seconds)) and None))
        site.route("/f/loop", lambda r: Answer(302, b"", headers={"Location": "/f/loop-b"}, conditional=False))
        site.route("/f/loop-b", lambda r: Answer(301, b"", headers={"Location": site.url("/f/loop")}, conditional=False))
        site.page("/f/robots", page)
        site.route("/f/big", lambda r: Answer(stream=lambda write: self._big(write, big_bytes)))
        site.page("/f/pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "application/pdf")
        # Declares TIS-620 in the header and the page: the bytes are UTF-8 (as EWT pages are).
        site.page("/f/charset", release_html(charset_release, charset="tis-620"), "text/html; charset=tis-620")
        site.page("/f/fine", page)
        items = "".join(f"<item><title>{name}</title><link>{site.url('/f/' + name)}</link>"
                        f"<pubDate>Mon, 0{1 + i % 9} Jan 2024 09:00:00 +0700</pubDate></item>"
                        for i, name in enumerate(FAULTS))
        site.page("/rss.xml", ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>faults</title>'
                               + items + "</channel></rss>").encode(), "application/rss+xml")

    def _once_then(self, status: int, page: bytes, headers: dict[str, str] | None = None) -> Handler:
        def handler(request: Request) -> Answer:
            key = urlsplit(request.path).path
            self.calls[key] = self.calls.get(key, 0) + 1
            if self.calls[key] == 1:
                return Answer(status, b"<html>busy</html>", headers=headers or {}, conditional=False)
            return Answer(body=page)
        return handler

    @staticmethod
    def _big(write: Callable[[bytes], None], size: int) -> None:
        block = b"<p>" + b"x" * 65530 + b"</p>"
        sent = 0
        while sent < size:
            write(block)
            sent += len(block)


def build_web(*, prd: int = 10, wp: int = 7, maps: int = 8, crawl_delay: float | None = None) -> dict[str, object]:
    web = TestWeb()
    return {"web": web, "prd": PrdSite(web, prd), "ewt": EwtSite(web), "wp": WordPressSite(web, wp),
            "maps": SitemapSite(web, maps, crawl_delay)}
