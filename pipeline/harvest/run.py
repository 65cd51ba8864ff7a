"""One harvest: every source walked politely, only what is new or changed fetched, everything archived.

What is fetched again (README: "Harvesting"):

* feeds, sitemaps, WordPress API pages and listing pages: every run, by
  conditional GET (``If-None-Match`` / ``If-Modified-Since``): a 304 ends the
  walk of that document;
* a release page: once; again only when its source says it changed after our
  copy (sitemap ``lastmod``, WordPress ``modified_gmt``, Atom ``updated``
  later than what the source said when we archived it, or than our fetch
  time) or with ``refetch``;
* paginated listings and the WordPress API stop at the first page that brings
  nothing new (they are newest first), or at ``max_pages``.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

from .archive import Archive
from .discover import (Item, decode_text, detect, listing_links, media_type_charset, parse_feed, parse_sitemap,
                       parse_wordpress_posts, wordpress_posts_url)
from .fetch import Fetcher, FetchResult, host_of
from .outcomes import Outcome
from .robots import Robots
from .settings import Etiquette, HarvestSource

# Page states after which a page is not asked for again unless its source says it changed.
_SETTLED = {"archived", "gone", "unexpected-content-type", "too-large", "abandoned"}
# Failures after which asking again is pointless until the source says the page changed.
_SETTLING_FAILURES = {"too-large"}
Validators = list[tuple[str, str | None, str | None]]
_TEXT_TYPES = ("html", "xml", "rss", "atom")


@dataclass
class SourceReport:
    url: str
    kind: str
    ok: bool = True
    items: int = 0  # release links the source listed (after include/exclude and since)
    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    older_than_since: int = 0
    failure: str | None = None
    tls_unverified: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class HarvestResult:
    run_id: str
    archive: Path
    warc: Path
    sources: list[SourceReport]
    counts: Counter[str]
    outcomes: list[Outcome]
    repaired: list[dict[str, Any]]
    started: str
    finished: str = ""

    @property
    def errors_by_host(self) -> dict[str, dict[str, int]]:
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for outcome in self.outcomes:
            if outcome.error:
                table[outcome.host][outcome.code] += 1
        return {host: dict(codes) for host, codes in sorted(table.items())}

    @property
    def unreachable_sources(self) -> list[SourceReport]:
        return [s for s in self.sources if not s.ok]

    def failure_ratio(self) -> float:
        """Release pages that failed, as a share of those asked for."""
        asked = self.counts["pages_requested"]
        return self.counts["pages_failed"] / asked if asked else 0.0

    def summary(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "run": self.run_id, "archive": str(self.archive), "warc": str(self.warc),
            "started": self.started, "finished": self.finished,
            "requests": counts["requests"], "not_modified": counts["not_modified"],
            "new_releases": counts["new"], "changed_releases": counts["changed"],
            "unchanged_releases": counts["unchanged"], "bytes": counts["bytes"],
            "bytes_archived": counts["bytes_archived"], "pages_failed": counts["pages_failed"],
            "errors_by_host": self.errors_by_host,
            "notes": [o.as_dict() for o in self.outcomes if not o.error],
            "errors": [o.as_dict() for o in self.outcomes if o.error],
            "sources": [s.as_dict() for s in self.sources],
            "tls_unverified": [s.url for s in self.sources if s.tls_unverified],
            "repaired": self.repaired,
        }


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class Harvester:
    """Walks sources into one archive; one instance per run."""

    def __init__(self, archive: Archive, etiquette: Etiquette, *, refetch: bool = False,
                 log: Callable[[str], None] | None = None, progress: Callable[[int, int], None] | None = None) -> None:
        self.archive = archive
        # (release pages fetched, release pages to fetch so far): the total grows as each source is walked.
        self.progress = progress or (lambda _done, _total: None)
        self._pages_done = 0
        self._pages_total = 0
        self.etiquette = etiquette
        self.refetch = refetch
        self.log = log or (lambda _message: None)
        self.counts: Counter[str] = Counter()
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._claimed: set[str] = set()  # release URLs taken by this run (a feed and a sitemap may both list one)
        self.robots = Robots(self._store_plain, etiquette.delay)
        self.fetcher = Fetcher(etiquette, robots=self.robots)
        self.robots.fetcher = self.fetcher

    # ------------------------------------------------------------------ bookkeeping

    def _report(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _account(self, result: FetchResult) -> None:
        with self._lock:
            self.counts["requests"] += result.requests
            self.counts["bytes"] += result.bytes
            if result.not_modified:
                self.counts["not_modified"] += 1

    def _store_plain(self, result: FetchResult, kind: str) -> None:
        self._account(result)
        written = self.archive.store(result, kind)
        with self._lock:
            self.counts["bytes_archived"] += written

    def _fetch(self, url: str, kind: str, source: HarvestSource, *, conditional: bool = True, method: str = "GET",
               body: bytes = b"", page: bool = False, signal: str | None = None,
               deferred: Validators | None = None) -> FetchResult:
        """Fetch and archive; a listing document's validators go to ``deferred`` (kept by ``register``)."""
        # --refetch forces: no conditional GET anywhere, or a 304 of the feed would hide what it lists.
        headers = self.archive.validators(url) if conditional and not self.refetch else {}
        result = self.fetcher.fetch(url, kind=kind, delay=source.delay, method=method, body=body, headers=headers,
                                    verify_tls=source.verify_tls)
        self._account(result)
        written = self.archive.store(result, kind, source=source.url, signal=signal, page=page,
                                     remember_validators=deferred is None)
        final = result.response
        if deferred is not None and final is not None and 200 <= final.status < 300:
            for url_seen in {result.url, final.url}:
                deferred.append((url_seen, final.header("ETag"), final.header("Last-Modified")))
        with self._lock:
            self.counts["bytes_archived"] += written
        if result.outcome is not None:
            self._report(result.outcome)
        response = result.response
        if (response is not None and 200 <= response.status < 300
                and any(t in response.media_type for t in _TEXT_TYPES)):
            try:
                _text, note = decode_text(response.content(self.etiquette.max_bytes),
                                          media_type_charset(response.headers))
            except ValueError:
                note = None
            if note:
                self._report(Outcome("charset-mislabelled", response.url, host_of(response.url), note))
        return result

    # ------------------------------------------------------------------ a run

    def run(self, sources: list[HarvestSource]) -> list[SourceReport]:
        workers = max(1, min(len(sources), 4))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            reports = list(pool.map(self._source, sources))
        self.fetcher.close()
        return reports

    def _source(self, source: HarvestSource) -> SourceReport:
        report = SourceReport(source.url, source.kind, tls_unverified=not source.verify_tls)
        if not source.verify_tls:
            self._report(Outcome("tls-unverified", source.url, host_of(source.url)))
        deferred: Validators = []
        try:
            items = self._walk(source, report, deferred)
        except _SourceFailed as failure:
            report.ok = False
            report.failure = failure.code
            self._report(Outcome("source-unreachable", source.url, host_of(source.url), {"cause": failure.code}))
            self.log(f"{source.url}: nothing harvested ({failure.code})")
            return report
        self._fetch_pages(source, items, report, deferred)
        self.log(f"{source.url} ({report.kind}): {report.items} listed, {report.new} new, {report.changed} changed, "
                 f"{report.unchanged} unchanged")
        return report

    def _first(self, url: str, kind: str, source: HarvestSource, **options: Any) -> FetchResult:
        """The source's first document: when it fails, the source fails."""
        result = self._fetch(url, kind, source, **options)
        if not result.ok:
            raise _SourceFailed(result.outcome.code if result.outcome else "no-answer")
        return result

    def _walk(self, source: HarvestSource, report: SourceReport, deferred: Validators) -> list[Item]:
        kind, url = source.kind, source.url
        first: FetchResult | None = None
        if kind == "auto":
            known = self.archive.detected(url)
            if known is not None:
                kind, url = known  # recognised by an earlier run: walk it directly (conditional GETs, 304s)
            else:
                first = self._first(url, "discover", source, conditional=False, deferred=deferred)
                response = first.response
                assert response is not None
                found = detect(response.url, response.content(self.etiquette.max_bytes), response.media_type,
                               response.headers)
                if found is None:
                    self._report(Outcome("kind-unknown", url, host_of(url)))
                    raise _SourceFailed("kind-unknown")
                kind, url = found
                self.archive.remember_kind(source.url, kind, url)
                if url != source.url or kind == "wordpress":
                    first = None  # the document to walk is elsewhere (a feed link, the API root)
        report.kind = kind
        source = replace(source, url=url)
        if kind == "feed":
            return self._feed(source, first, deferred)
        if kind == "sitemap":
            return self._sitemap(source, first, deferred)
        if kind == "wordpress":
            return self._wordpress(source, deferred)
        return self._listing(source, deferred)

    def _document(self, url: str, kind: str, source: HarvestSource, first: FetchResult | None,
                  deferred: Validators) -> FetchResult:
        return first if first is not None else self._first(url, kind, source, deferred=deferred)

    def _feed(self, source: HarvestSource, first: FetchResult | None, deferred: Validators) -> list[Item]:
        result = self._document(source.url, "feed", source, first, deferred)
        if result.not_modified:
            return []
        response = result.response
        assert response is not None
        items, malformed = parse_feed(response.content(self.etiquette.max_bytes), response.url,
                                      response.header("Content-Type"))
        if malformed:
            self._report(Outcome("feed-malformed" if items else "unreadable-document", response.url,
                                 host_of(response.url)))
            if not items:
                raise _SourceFailed("unreadable-document")
        return items

    def _sitemap(self, source: HarvestSource, first: FetchResult | None, deferred: Validators,
                 depth: int = 0) -> list[Item]:
        result = self._document(source.url, "sitemap", source, first, deferred)
        if result.not_modified:
            return []
        response = result.response
        assert response is not None
        try:
            shape, entries = parse_sitemap(response.content(self.etiquette.max_bytes))
        except ValueError as exc:
            self._report(Outcome("unreadable-document", response.url, host_of(response.url), {"error": str(exc)}))
            raise _SourceFailed("unreadable-document") from None
        if shape == "urlset":
            return entries
        items: list[Item] = []
        for child in entries:
            if source.since and child.modified and child.modified < source.since:
                continue
            if depth >= 2:
                continue  # an index of indexes of indexes is not a sitemap any more
            child_result = self._fetch(child.url, "sitemap", source, deferred=deferred)
            if not child_result.ok or child_result.not_modified:
                continue
            try:
                items.extend(self._sitemap(replace(source, url=child.url), child_result, deferred, depth + 1))
            except _SourceFailed:
                continue  # reported; the other child sitemaps still count
        return items

    def _wordpress(self, source: HarvestSource, deferred: Validators) -> list[Item]:
        items: list[Item] = []
        page = 1
        total_pages = None
        while total_pages is None or page <= total_pages:
            if source.max_pages and page > source.max_pages:
                break
            url = wordpress_posts_url(source.url, page, source.per_page)
            fetch = self._first if page == 1 else self._fetch
            result = fetch(url, "api", source, deferred=deferred)
            if not result.ok or result.not_modified:
                break
            response = result.response
            assert response is not None
            try:
                found = parse_wordpress_posts(response.content(self.etiquette.max_bytes))
            except ValueError as exc:
                self._report(Outcome("unreadable-document", response.url, host_of(response.url), {"error": str(exc)}))
                if page == 1:
                    raise _SourceFailed("unreadable-document") from None
                break
            pages_header = response.header("X-WP-TotalPages")
            total_pages = int(pages_header) if pages_header and pages_header.isdigit() else page
            items.extend(found)
            if not found or (not self.refetch and not any(self._wanted(source, item) for item in found)):
                break  # newest-modified first: a page with nothing new means the rest is old too
            page += 1
        return items

    def _listing(self, source: HarvestSource, deferred: Validators) -> list[Item]:
        items: list[Item] = []
        seen: set[str] = set()
        page = source.page_start
        count = 0
        while True:
            count += 1
            if source.max_pages and count > source.max_pages:
                break
            url, body = _listing_request(source, page)
            first_page = count == 1
            fetch = self._first if first_page else self._fetch
            result = fetch(url, "listing", source, method=source.method, body=body,
                           conditional=source.method == "GET", deferred=deferred)
            if not result.ok or result.not_modified:
                break
            response = result.response
            assert response is not None
            data = response.content(self.etiquette.max_bytes)
            text, _note = decode_text(data, media_type_charset(response.headers))
            if source.json_html_key:
                try:
                    import json

                    text = json.loads(text)[source.json_html_key]
                except (ValueError, KeyError, TypeError):
                    self._report(Outcome("unreadable-document", response.url, host_of(response.url),
                                         {"expected": f'JSON with "{source.json_html_key}"'}))
                    if first_page:
                        raise _SourceFailed("unreadable-document") from None
                    break
            links = [u for u in listing_links(str(text), response.url, link_pattern=source.link_pattern,
                                              selector=source.selector) if u not in seen]
            seen.update(links)
            found = [Item(link) for link in links]
            items.extend(found)
            if not source.paginated or not found:
                break
            if not self.refetch and not any(self._wanted(source, item) for item in found):
                break  # newest first: a page of releases we have means the older pages hold nothing new
            page += 1
        return items

    # ------------------------------------------------------------------ release pages

    def _wanted(self, source: HarvestSource, item: Item) -> bool:
        """Whether a listed release should be fetched now (new, changed, or --refetch)."""
        if not source.wants(item.url):
            return False
        when = item.published or item.modified
        if source.since and when and when < source.since:
            return False
        if self.refetch:
            return True
        known = self.archive.page(item.url)
        if known is None or known[2] not in _SETTLED:
            return True
        fetched_at, signal, _state = known
        if item.modified is None:
            return False
        baseline = signal or fetched_at
        return item.modified.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") > baseline

    def _fetch_pages(self, source: HarvestSource, items: list[Item], report: SourceReport,
                     deferred: Validators) -> None:
        listed = {item.url for item in items}
        # Pages an earlier run listed but did not archive (killed, or a failure worth retrying): a feed that
        # now answers 304 will not list them again.
        items = items + [Item(url) for url in self.archive.pending(source.url) if url not in listed]
        todo: list[tuple[Item, bool]] = []
        for item in items:
            if not source.wants(item.url):
                continue
            when = item.published or item.modified
            if source.since and when and when < source.since:
                report.older_than_since += 1
                continue
            report.items += 1
            with self._lock:
                if item.url in self._claimed:
                    continue
                self._claimed.add(item.url)
            if self._wanted(source, item):
                known = self.archive.page(item.url)
                todo.append((item, known is not None and known[2] in _SETTLED))
            else:
                report.unchanged += 1
                with self._lock:
                    self.counts["unchanged"] += 1
        self.archive.register(source.url, [item.url for item, _known in todo], deferred)
        with self._lock:
            self._pages_total += len(todo)
            self.progress(self._pages_done, self._pages_total)

        def fetch_one(entry: tuple[Item, bool]) -> None:
            item, known = entry
            signal = item.modified.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if item.modified else None
            result = self._fetch(item.url, "page", source, conditional=known, page=True, signal=signal)
            with self._lock:
                self.counts["pages_requested"] += 1
                report.fetched += 1
                if result.ok and not result.not_modified:
                    key = "changed" if known else "new"
                    self.counts[key] += 1
                    setattr(report, key, getattr(report, key) + 1)
                elif result.not_modified:
                    report.unchanged += 1
                    self.counts["unchanged"] += 1
                else:
                    self.counts["pages_failed"] += 1
                self._pages_done += 1
                self.progress(self._pages_done, self._pages_total)
            if (result.outcome is not None and result.outcome.error
                    and result.outcome.code not in ("gone", "unexpected-content-type")):
                self.archive.mark_failed(item.url, result.outcome.code, source.url,
                                         settle=result.outcome.code in _SETTLING_FAILURES)

        with ThreadPoolExecutor(max_workers=self.etiquette.connections_per_host) as pool:
            list(pool.map(fetch_one, todo))


class _SourceFailed(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _listing_request(source: HarvestSource, page: int) -> tuple[str, bytes]:
    """The URL and form body of listing page ``page``."""
    url = source.url.replace("{page}", str(page))
    if source.page_param and source.method == "GET":
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != source.page_param]
        query.append((source.page_param, str(page)))
        url = urlunsplit(parts._replace(query=urlencode(query)))
    body = b""
    if source.method == "POST":
        form = {k: v.replace("{page}", str(page)) for k, v in source.form.items()}
        if source.page_param:
            form[source.page_param] = str(page)
        body = urlencode(form).encode()
    return url, body


def harvest(sources: list[HarvestSource], archive_dir: Path, etiquette: Etiquette, *, refetch: bool = False,
            log: Callable[[str], None] | None = None,
            progress: Callable[[int, int], None] | None = None) -> HarvestResult:
    """Harvest ``sources`` into the archive folder; the run's WARC file is ``warc/ogd-<run>.warc.gz``.

    ``progress(done, total)``: release pages fetched, of those to fetch so far (called under a lock).
    """
    run_id = new_run_id()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    archive = Archive(archive_dir, run_id)
    status = "interrupted"
    reports: list[SourceReport] = []
    harvester = Harvester(archive, etiquette, refetch=refetch, log=log, progress=progress)
    try:
        reports = harvester.run(sources)
        status = "finished"
    finally:
        result = HarvestResult(run_id, archive_dir, archive.path, reports,
                               harvester.counts, harvester.outcomes, archive.repaired, started,
                               datetime.now(timezone.utc).isoformat(timespec="seconds"))
        archive.finish(result.summary(), status)
    return result
