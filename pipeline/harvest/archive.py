"""The web archive: WARC files (one per run, append-only, gzip per record) and an SQLite index with the crawl state.

Layout of an archive folder::

    warc/ogd-<run>.warc.gz   every response with its request, never rewritten
    index.sqlite3            records (URL -> file, offset, length, sha256, fetch time, status, kind),
                             validators (ETag / Last-Modified per URL), pages (what the source said
                             when a release page was archived), runs
    .lock                    held by the run writing the archive

Crash safety (SIGKILL at any point): the records of one fetch are written with
one append and flushed, and only then indexed in one SQLite transaction
(WAL), so the index never names bytes that are not there. A run that was
killed leaves a WARC file whose tail may hold a record cut short or not
indexed; the next run cuts that file back to the end of its last indexed
record (bytes nothing refers to) before it starts a file of its own. So every
WARC file reads to its end, no URL is archived twice, and what was not
indexed is fetched again.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import sqlite3
import threading
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from .. import __version__
from ..problems import Busy, OutputError
from .fetch import Exchange, FetchResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (run TEXT PRIMARY KEY, warc TEXT NOT NULL, started TEXT NOT NULL,
                                 finished TEXT, status TEXT NOT NULL, summary TEXT);
CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, url TEXT NOT NULL, warc TEXT NOT NULL,
    offset INTEGER NOT NULL, length INTEGER NOT NULL, end INTEGER NOT NULL, record_type TEXT NOT NULL,
    record_id TEXT NOT NULL, status INTEGER NOT NULL, kind TEXT NOT NULL, content_type TEXT, sha256 TEXT NOT NULL,
    fetched_at TEXT NOT NULL, run TEXT NOT NULL, source TEXT);
CREATE INDEX IF NOT EXISTS records_url ON records (url);
CREATE TABLE IF NOT EXISTS validators (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT);
CREATE TABLE IF NOT EXISTS detected (url TEXT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pages (url TEXT PRIMARY KEY, fetched_at TEXT NOT NULL, signal TEXT, record INTEGER,
                                  state TEXT NOT NULL, source TEXT, attempts INTEGER NOT NULL DEFAULT 0);
"""


# A release page that failed this many runs in a row is given up ("abandoned") until its source says it changed.
MAX_PAGE_ATTEMPTS = 5


@dataclass(frozen=True)
class IndexedRecord:
    url: str
    warc: str
    offset: int
    length: int
    status: int
    kind: str
    record_type: str
    sha256: str
    fetched_at: str
    content_type: str = ""
    id: int = 0  # the index's row id: the order records were written in


_RECORD_COLUMNS = "url, warc, offset, length, status, kind, record_type, sha256, fetched_at, COALESCE(content_type, ''), id"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Archive:
    """An archive folder opened for one run (see the module docstring). Thread-safe."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.root = root
        self.run_id = run_id
        self.warc_name = f"ogd-{run_id}.warc.gz"
        try:
            (root / "warc").mkdir(parents=True, exist_ok=True)
            self._lock_handle = open(root / ".lock", "a+")
        except OSError as exc:
            raise OutputError(f"the archive folder {root} cannot be written ({exc.strerror})",
                              "choose another --out, or fix its permissions") from None
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_handle.close()
            raise Busy(f"another harvest is writing the archive {root}",
                       "wait for it to finish; nothing was changed") from None
        self._db = sqlite3.connect(root / "index.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.repaired = self._repair_interrupted_runs()
        with self._transaction():
            self._db.execute("INSERT INTO runs (run, warc, started, status) VALUES (?, ?, ?, 'running')",
                             (run_id, self.warc_name, _iso(datetime.now(timezone.utc))))
        self.path = root / "warc" / self.warc_name
        self._file = open(self.path, "ab")
        self._writer_buffer = io.BytesIO()
        self._writer = WARCWriter(self._writer_buffer, gzip=True)
        self._warcinfo()

    # ------------------------------------------------------------------ lifecycle

    def _transaction(self) -> "sqlite3.Connection":
        return _Transaction(self._db)  # type: ignore[return-value]

    def _repair_interrupted_runs(self) -> list[dict[str, Any]]:
        """Cut each killed run's WARC back to its last indexed record; return what was done."""
        repaired = []
        for run, warc in self._db.execute("SELECT run, warc FROM runs WHERE status = 'running'").fetchall():
            path = self.root / "warc" / warc
            (end,) = self._db.execute("SELECT COALESCE(MAX(end), 0) FROM records WHERE warc = ?", (warc,)).fetchone()
            size = path.stat().st_size if path.exists() else 0
            if path.exists() and size > end:
                with open(path, "r+b") as handle:
                    handle.truncate(end)
                    os.fsync(handle.fileno())
            if path.exists() and end == 0:
                path.unlink()
            repaired.append({"run": run, "warc": warc, "cut_bytes": max(size - end, 0)})
            with self._transaction():
                self._db.execute("UPDATE runs SET status = 'interrupted' WHERE run = ?", (run,))
        return repaired

    def _warcinfo(self) -> None:
        info = {"software": f"ogd-pipeline/{__version__} (warcio)", "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "isPartOf": f"ogd harvest run {self.run_id}"}
        record = self._writer.create_warcinfo_record(self.warc_name, info)
        self._append([(record, "warcinfo", 0, "warcinfo", "", b"", _iso(datetime.now(timezone.utc)))], None, None)

    def finish(self, summary: dict[str, Any], status: str = "finished") -> None:
        self._file.close()
        with self._transaction():
            self._db.execute("UPDATE runs SET finished = ?, status = ?, summary = ? WHERE run = ?",
                             (_iso(datetime.now(timezone.utc)), status, json.dumps(summary, ensure_ascii=False),
                              self.run_id))
        self._db.close()
        fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
        self._lock_handle.close()

    # ------------------------------------------------------------------ state the crawler asks for

    def validators(self, url: str) -> dict[str, str]:
        """Conditional-GET headers for ``url`` from its last archived 200 answer."""
        with self._lock:
            row = self._db.execute("SELECT etag, last_modified FROM validators WHERE url = ?", (url,)).fetchone()
        headers: dict[str, str] = {}
        if row and row[0]:
            headers["If-None-Match"] = row[0]
        if row and row[1]:
            headers["If-Modified-Since"] = row[1]
        return headers

    def page(self, url: str) -> tuple[str, str | None, str] | None:
        """(fetched_at, the source's change signal then, state) of an archived release page, or None."""
        with self._lock:
            return self._db.execute("SELECT fetched_at, signal, state FROM pages WHERE url = ?", (url,)).fetchone()

    def detected(self, url: str) -> tuple[str, str] | None:
        """(kind, URL to walk) that --kind auto recognised at ``url`` in an earlier run."""
        with self._lock:
            return self._db.execute("SELECT kind, target FROM detected WHERE url = ?", (url,)).fetchone()

    def remember_kind(self, url: str, kind: str, target: str) -> None:
        with self._lock, self._transaction():
            self._db.execute("INSERT OR REPLACE INTO detected (url, kind, target) VALUES (?,?,?)", (url, kind, target))

    def register(self, source: str, urls: list[str], validators: list[tuple[str, str | None, str | None]]) -> None:
        """Record release URLs as pending, then the validators of the documents that listed them: one transaction.

        Validators (which turn the next fetch of a feed into a 304) are only
        kept once what the feed listed is remembered, so a run killed before
        fetching those pages leaves them pending, never forgotten.
        """
        with self._lock, self._transaction():
            self._db.executemany("INSERT OR IGNORE INTO pages (url, fetched_at, state, source) VALUES (?, '', 'pending', ?)",
                                 [(url, source) for url in urls])
            self._db.executemany("INSERT OR REPLACE INTO validators (url, etag, last_modified) VALUES (?,?,?)",
                                 validators)

    def pending(self, source: str) -> list[str]:
        """Release URLs of ``source`` listed earlier but not archived yet (pending, or failed and retryable)."""
        with self._lock:
            return [row[0] for row in self._db.execute(
                "SELECT url FROM pages WHERE source = ? AND state NOT IN ('archived', 'gone', 'unexpected-content-type', "
                "'too-large', 'abandoned') ORDER BY rowid", (source,))]

    def mark_failed(self, url: str, code: str, source: str, *, settle: bool = False) -> None:
        """A release page that could not be archived: retried by later runs, up to MAX_PAGE_ATTEMPTS, unless settled."""
        with self._lock, self._transaction():
            self._db.execute("INSERT OR IGNORE INTO pages (url, fetched_at, state, source) VALUES (?, '', 'pending', ?)",
                             (url, source))
            self._db.execute("UPDATE pages SET attempts = attempts + 1, fetched_at = ?, state = CASE WHEN ? THEN ? "
                             "WHEN attempts + 1 >= ? THEN 'abandoned' ELSE ? END WHERE url = ?",
                             (_iso(datetime.now(timezone.utc)), settle, code, MAX_PAGE_ATTEMPTS, code, url))

    # ------------------------------------------------------------------ writing

    def store(self, result: FetchResult, kind: str, *, source: str | None = None, signal: str | None = None,
              page: bool = False, remember_validators: bool = True) -> int:
        """Archive every response of ``result``; the final one as ``kind``, earlier ones as redirect/error.

        ``page``: the final response is a release page; when it is a 2xx of the
        expected type it becomes the page's archived copy (with ``signal``, what
        the source said of its modification), a 410 marks it gone. Returns the
        number of bytes appended.
        """
        if not result.exchanges:
            return 0
        final = result.exchanges[-1]
        with self._lock:
            entries = []
            for exchange in result.exchanges:
                role = kind if exchange is final else ("redirect" if 300 <= exchange.status < 400 else "error")
                entries.extend(self._records(exchange, role))
            page_state = None
            if page and final.status == 410:
                page_state = "gone"
            elif page and result.ok and not result.not_modified:
                page_state = "archived"
            elif page and result.not_modified:
                page_state = "unchanged"  # our copy is current: remember what the source said, keep the record
            elif page and result.outcome is not None and result.outcome.code == "unexpected-content-type":
                page_state = "unexpected-content-type"
            return self._append(entries, (result, page_state, signal, final.url, remember_validators), source)

    def _records(self, exchange: Exchange, role: str) -> list[tuple[Any, str, int, str, str, bytes, str]]:
        """The (response or revisit, request) records of one exchange, not yet written."""
        fetched = _iso(exchange.fetched_at)
        http = StatusAndHeaders(f"{exchange.status} {exchange.reason}".strip(), exchange.headers,
                                protocol=exchange.http_version)
        warc_headers = {"WARC-Date": fetched}
        if exchange.status == 304:
            earlier = self._db.execute(
                "SELECT record_id, fetched_at FROM records WHERE url = ? AND status = 200 AND record_type = 'response' "
                "ORDER BY id DESC LIMIT 1", (exchange.url,)).fetchone()
            if earlier:
                warc_headers["WARC-Refers-To"] = earlier[0]
                warc_headers["WARC-Refers-To-Date"] = earlier[1].split(".")[0] + "Z"
            warc_headers["WARC-Profile"] = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
            warc_headers["WARC-Refers-To-Target-URI"] = exchange.url
            response = self._writer.create_warc_record(exchange.url, "revisit", payload=io.BytesIO(b""),
                                                       length=0, http_headers=http,
                                                       warc_headers_dict=warc_headers)
            record_type = "revisit"
        else:
            response = self._writer.create_warc_record(exchange.url, "response", payload=io.BytesIO(exchange.body),
                                                       length=len(exchange.body), http_headers=http,
                                                       warc_headers_dict=warc_headers)
            record_type = "response"
        target = exchange.url.split("://", 1)[-1]
        path = "/" + target.split("/", 1)[1] if "/" in target else "/"
        request_http = StatusAndHeaders(f"{exchange.method} {path} HTTP/1.1", exchange.request_headers,
                                        is_http_request=True)
        request = self._writer.create_warc_record(
            exchange.url, "request", payload=io.BytesIO(exchange.request_body), length=len(exchange.request_body),
            http_headers=request_http,
            warc_headers_dict={"WARC-Date": fetched,
                               "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID")})
        content_type = exchange.header("Content-Type") or ""
        return [(response, role, exchange.status, record_type, content_type, exchange.body, fetched),
                (request, "", 0, "request", "", b"", fetched)]

    def _append(self, entries: list[tuple[Any, str, int, str, str, bytes, str]],
                page: tuple[FetchResult, str | None, str | None, str, bool] | None, source: str | None) -> int:
        """Write the records in one append, flush, then index them in one transaction."""
        buffer = self._writer_buffer
        buffer.seek(0)
        buffer.truncate()
        spans = []
        for record, *_rest in entries:
            start = buffer.tell()
            self._writer.write_record(record)
            spans.append((start, buffer.tell()))
        base = self._file.tell()
        try:
            self._file.write(buffer.getvalue())
            self._file.flush()
        except OSError as exc:
            raise OutputError(f"the archive {self.path} could not be written ({exc.strerror})",
                              "free space or fix permissions, then run again: the harvest resumes") from None
        end = base + buffer.tell()
        with self._transaction():
            response_id = None
            for (record, role, status, record_type, content_type, body, fetched), (start, stop) in zip(entries, spans):
                if record_type == "request":
                    continue
                url = (record.rec_headers.get_header("WARC-Target-URI")
                       or f"warcinfo:{record.rec_headers.get_header('WARC-Filename')}")
                cursor = self._db.execute(
                    "INSERT INTO records (url, warc, offset, length, end, record_type, record_id, status, kind, "
                    "content_type, sha256, fetched_at, run, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (url, self.warc_name, base + start, stop - start, end, record_type,
                     record.rec_headers.get_header("WARC-Record-ID"), status, role, content_type,
                     hashlib.sha256(body).hexdigest(), fetched, self.run_id, source))
                response_id = cursor.lastrowid
            if page is not None:
                result, page_state, signal, final_url, remember_validators = page
                final = result.exchanges[-1]
                if 200 <= final.status < 300 and remember_validators:
                    etag, modified = final.header("ETag"), final.header("Last-Modified")
                    for url in {result.url, final_url}:
                        self._db.execute("INSERT OR REPLACE INTO validators (url, etag, last_modified) VALUES (?,?,?)",
                                         (url, etag, modified))
                if page_state == "unchanged":
                    self._db.execute("UPDATE pages SET signal = ?, fetched_at = ? WHERE url = ?",
                                     (signal, _iso(final.fetched_at), result.url))
                elif page_state:
                    self._db.execute("INSERT OR REPLACE INTO pages (url, fetched_at, signal, record, state, source) "
                                     "VALUES (?,?,?,?,?,?)", (result.url, _iso(final.fetched_at), signal, response_id,
                                                              page_state, source))
        return end - base

    # ------------------------------------------------------------------ reading

    def records(self, *, url: str | None = None) -> list[IndexedRecord]:
        with self._lock:
            query = (f"SELECT {_RECORD_COLUMNS} FROM records" + (" WHERE url = ?" if url else "") + " ORDER BY id")
            return [IndexedRecord(*row) for row in self._db.execute(query, (url,) if url else ())]


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def read_index(root: Path) -> Iterator[IndexedRecord]:
    """Every indexed record of an archive folder, in the order written (for builds and tests)."""
    db = _read_only(root)
    try:
        yield from (IndexedRecord(*row) for row in db.execute(f"SELECT {_RECORD_COLUMNS} FROM records ORDER BY id"))
    finally:
        db.close()


@dataclass(frozen=True)
class CrawlState:
    """What a build needs of the crawl state besides the records (see :func:`read_crawl_state`)."""

    # Release URLs as listed (before redirects) whose archived copy is a 2xx answer: a feed item with such a
    # link was archived as its own page.
    archived_pages: frozenset[str]
    # URL given to --kind auto -> (kind recognised, URL walked): its first fetch is archived as "discover".
    detected: dict[str, tuple[str, str]]


def read_crawl_state(root: Path) -> CrawlState:
    db = _read_only(root)
    try:
        pages = frozenset(row[0] for row in db.execute(
            "SELECT p.url FROM pages p JOIN records r ON r.id = p.record "
            "WHERE p.state = 'archived' AND r.status BETWEEN 200 AND 299"))
        detected = {url: (kind, target) for url, kind, target in db.execute("SELECT url, kind, target FROM detected")}
    finally:
        db.close()
    return CrawlState(pages, detected)


def is_archive(path: Path) -> bool:
    """Whether ``path`` is an archive folder ``ogd harvest`` wrote (its index and its WARC folder)."""
    return (path / "index.sqlite3").is_file() and (path / "warc").is_dir()


def _read_only(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{root / 'index.sqlite3'}?mode=ro", uri=True)


def read_payload(warc: str | Path, offset: int, max_bytes: int | None = None) -> bytes:
    """The HTTP payload of the record at ``offset`` of a WARC file, its transfer and content encodings undone
    (warcio), never more than ``max_bytes`` + 1 bytes read (the caller tells "too large" from that).

    Only that record is read: the index gives its offset, the file is never extracted. Raises OSError
    when the file or the record cannot be read (a record cut short, a file that is no WARC).
    """
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    if "://" in str(warc):  # a WARC file on object storage (s3://...): read from the offset on, in ranges
        import fsspec

        try:
            opened = fsspec.open(str(warc), "rb").open()
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 — a store's client errors are no OSError: the record is unreadable
            raise OSError(errno.EIO, f"{type(exc).__name__}: {exc}") from None
    else:
        opened = open(warc, "rb")
    with opened as handle:
        handle.seek(offset)
        try:
            record = next(iter(ArchiveIterator(handle)), None)
            if record is None:
                raise OSError(errno.EIO, f"no WARC record at offset {offset}")
            stream = record.content_stream()
            return stream.read() if max_bytes is None else stream.read(max_bytes + 1)
        except (ArchiveLoadFailed, EOFError, zlib.error, ValueError) as exc:
            raise OSError(errno.EIO, f"the WARC record at offset {offset} cannot be read ({exc})") from None
