"""Inputs read straight from a harvest archive (``ogd harvest``'s WARC files and index), and the account of
every other record.

An input path that is an archive folder (``index.sqlite3`` beside ``warc/``)
is not walked as files: each indexed response that holds a release becomes an
input read from its WARC record (:class:`~pipeline.extract.discover.ArchivedRecord`:
the file, the record's offset, its content key), and every other record is
counted by kind (report.json ``archive``), never silently dropped:

* a release page (a 2xx HTML answer the crawler fetched as a page) is an
  input; only its latest copy is read, earlier copies are ``page-superseded``;
* a feed's entries are releases only where the crawler did not archive the
  entry's link as a page: the page's full text is the record, the feed entry
  is counted in ``feed_items_covered_by_pages``. An entry not archived as a
  page is read from the newest copy of a feed that lists it, when a feed
  source can read it (``read_feeds``); a feed copy left with no entry to
  read is ``feed-expanded`` (every entry archived as a page) or
  ``feed-superseded`` (a newer copy gives the rest);
* robots.txt, listing and API pages, sitemaps, the document ``--kind auto``
  recognised, redirects, 304s (revisit records), retried and failed answers
  and the warcinfo record are counted under their kind.

The index is the account: ``records`` = ``inputs`` + every count of
``not_inputs`` (request records are not indexed: each belongs to the response
it asked for).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..harvest.archive import IndexedRecord, is_archive, read_crawl_state, read_index, read_payload
from ..harvest.discover import Item, parse_feed
from ..thaidates import BANGKOK
from .discover import ArchivedRecord, Discovery, InputFile, discover_inputs

_PAGE_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
# Kinds of documents the crawler walks to find release links (harvest.fetch.ACCEPT), as report.json names them.
_LISTING_KINDS = {"listing": "listing", "api": "wordpress-api", "sitemap": "sitemap", "robots": "robots",
                  "discover": "discover", "warcinfo": "warcinfo", "redirect": "redirect", "error": "retried-or-failed"}
# A feed copy is parsed only to learn its entry links; a feed larger than this is not a feed.
_MAX_FEED_BYTES = 20 * 1024 * 1024


def discover_with_archives(paths: list[str | Path], *, read_feeds: bool = False) -> Discovery:
    """:func:`~pipeline.extract.discover.discover_inputs`, with archive folders read as their records.

    ``read_feeds``: a source that reads feeds will read the inputs (the
    build's ``--source`` is auto or a feed source); else feed entries not
    archived as pages are counted, not read.
    """
    resolved = []
    for given in paths:
        try:
            resolved.append(Path(given).resolve(strict=True))
        except (OSError, RuntimeError):
            resolved.append(Path(given))  # discover_inputs says why it cannot be used
    archives = [path for path in resolved if path.is_dir() and is_archive(path)]
    # An archive kept inside a folder of inputs (releases/ beside releases/archive/) is read as an archive too,
    # never walked as files (its WARC files and index would be quarantined as binary inputs).
    nested = [folder for path in resolved if path.is_dir() and path not in archives for folder in _archives_under(path)]
    if not archives and not nested:
        return discover_inputs(paths)
    others = [given for given, path in zip(paths, resolved) if path not in archives]
    root = Path(os.path.commonpath([str(p if p.is_dir() else p.parent) for p in resolved]))
    found = discover_inputs(others) if others else Discovery(root, [])
    if found.root != root:
        _rebase(found, found.root.relative_to(root).as_posix() + "/")
        found.root = root
    if nested:
        inside = tuple(folder.relative_to(root).as_posix() + "/" for folder in nested)
        found.files = [item for item in found.files if not item.relative.startswith(inside)]
        found.refused = [problem for problem in found.refused if not problem.path.startswith(inside)]
        found.skipped = [entry for entry in found.skipped if not entry.path.startswith(inside)]
        found.copyable = {path: target for path, target in found.copyable.items() if not path.startswith(inside)}
        archives += nested
    account = empty_account()
    not_inputs: Counter[str] = Counter()
    for archive in archives:
        prefix = archive.relative_to(root).as_posix() + "/" if archive != root else ""
        files = archive_record_inputs(archive, prefix, read_feeds, account, not_inputs)
        found.files.extend(files)
        account["archives"].append(str(archive))
    found.files.sort(key=lambda item: item.relative)
    account["not_inputs"] = dict(sorted(not_inputs.items()))
    found.archive = account
    return found


def empty_account() -> dict[str, Any]:
    """``report.json``'s ``archive`` section before any archive is read."""
    return {"archives": [], "records": 0, "inputs": {"pages": 0, "feeds": 0}, "not_inputs": {},
            "feed_items_covered_by_pages": 0, "feed_items_not_read": 0}


def _archives_under(folder: Path) -> list[Path]:
    """Harvest archives inside ``folder`` (not entered further: an archive holds no inputs of its own)."""
    found = []
    for parent, folders, _files in os.walk(folder):  # links are not followed; unreadable folders are passed
        here = Path(parent)
        try:
            archive = here != folder and is_archive(here)
        except OSError:  # a path the system refuses (too long...): discovery reports it as an input's problem
            archive = False
        if archive:
            found.append(here)
            folders.clear()
            continue
        folders[:] = sorted(name for name in folders if not name.startswith("."))
    return found


def _rebase(found: Discovery, prefix: str) -> None:
    """Paths of a discovery relative to a parent of its root (inputs given beside an archive folder)."""
    found.files = [replace(item, relative=prefix + item.relative) for item in found.files]
    found.refused = [replace(problem, path=prefix + problem.path) for problem in found.refused]
    found.skipped = [replace(entry, path=prefix + entry.path) for entry in found.skipped]
    found.copyable = {prefix + path: target for path, target in found.copyable.items()}


def archive_record_inputs(archive: Path, prefix: str, read_feeds: bool, account: dict[str, Any],
                    not_inputs: Counter[str], warc_base: str | None = None) -> list[InputFile]:
    """The inputs of one archive: ``archive`` holds its index (a local copy of a remote archive's); the WARC
    files are read from ``warc_base`` (default ``archive/warc``; a URL for an archive on object storage)."""
    warcs = warc_base if warc_base is not None else str(archive / "warc")
    state = read_crawl_state(archive)
    records = list(read_index(archive))
    account["records"] += len(records)
    pages: dict[str, IndexedRecord] = {}  # URL -> its latest 2xx HTML copy
    feeds: list[IndexedRecord] = []
    for record in records:
        label = _label(record, state.detected)
        if label == "page":
            earlier = pages.get(record.url)
            if earlier is not None:
                not_inputs["page-superseded"] += 1
            pages[record.url] = record
        elif label == "feed":
            feeds.append(record)
        else:
            not_inputs[label] += 1

    def input_of(record: IndexedRecord, sha256: str, links: tuple[str, ...] | None = None,
                 entry: tuple[str | None, str | None] | None = None) -> InputFile:
        return InputFile(f"{warcs}/{record.warc}", f"{prefix}warc/{record.warc}#{record.offset}", record.url,
                         ArchivedRecord(record.offset, sha256, links, entry))

    files: list[InputFile] = []
    archived = state.archived_pages | set(pages)
    entries: dict[str, tuple[str | None, str | None]] = {}  # page URL -> what the newest feed copy says of it
    covered: set[str] = set()
    not_read: set[str] = set()
    owned: set[str] = set()  # entry links a newer feed copy already gives
    for record in sorted(feeds, key=lambda r: r.id, reverse=True):  # newest copy first: it owns its entries
        items = _feed_items(f"{warcs}/{record.warc}", record)
        if items is None:
            not_inputs["feed-unreadable"] += 1
            continue
        links = [item.url for item in items]
        covered.update(link for link in links if link in archived)
        for item in items:
            if item.url in pages and item.url not in entries:
                day = item.published.astimezone(BANGKOK).date().isoformat() if item.published else None
                entries[item.url] = (item.title, day)
        left = [link for link in dict.fromkeys(links) if link not in archived]
        mine = tuple(sorted(link for link in left if link not in owned))
        owned.update(mine)
        if not left:
            not_inputs["feed-expanded"] += 1
        elif not mine:
            not_inputs["feed-superseded"] += 1
        elif not read_feeds:
            not_inputs["feed-not-read"] += 1
            not_read.update(mine)
        else:
            key = hashlib.sha256((record.sha256 + "\n" + "\n".join(mine)).encode()).hexdigest()
            files.append(input_of(record, key, mine))
            account["inputs"]["feeds"] += 1
    account["feed_items_covered_by_pages"] += len(covered)
    account["feed_items_not_read"] += len(not_read)
    for record in pages.values():
        # A release reached by a feed entry and as its own page is the page's record, with the entry's title and
        # date as evidence: in its cache key too (a feed that gives the date later makes the page read again).
        entry = entries.get(record.url)
        key = (hashlib.sha256(f"{record.sha256}\nfeed entry\n{entry[0] or ''}\n{entry[1] or ''}".encode()).hexdigest()
               if entry else record.sha256)
        files.append(input_of(record, key, None, entry))
    account["inputs"]["pages"] += len(pages)
    return sorted(files, key=lambda item: item.relative)


def _label(record: IndexedRecord, detected: dict[str, tuple[str, str]]) -> str:
    """What one indexed record is: "page" or "feed" (inputs), or the kind it is counted under."""
    if record.record_type == "revisit":
        return "not-modified"
    kind = record.kind
    if kind == "discover":
        found = detected.get(record.url)
        if found is not None and found[0] == "feed" and found[1] == record.url:
            kind = "feed"  # the feed itself, first fetched to recognise it
    if kind in ("page", "feed") and not 200 <= record.status < 300:
        return f"{kind}-failed"  # 404, 410, 5xx after retries...: the harvest's --json said why
    if kind == "page":
        media = record.content_type.split(";")[0].strip().lower()
        return "page" if media in _PAGE_TYPES else "page-not-html"
    if kind == "feed":
        return "feed"
    return _LISTING_KINDS.get(kind, kind)


def _feed_items(warc: str, record: IndexedRecord) -> list[Item] | None:
    """The entries of an archived feed (link, title, publication time), in its order; None when it cannot be read."""
    try:
        data = read_payload(warc, record.offset, _MAX_FEED_BYTES)
    except OSError:
        return None
    items, _malformed = parse_feed(data, record.url, record.content_type or None)
    return items
