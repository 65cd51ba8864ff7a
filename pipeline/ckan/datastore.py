"""The DataStore table of the CSV resource: its fields, row hashes on both sides, and loading rows.

The table has the Table Schema's columns, each with a Thai and English data
dictionary entry, and one more: the search column of :mod:`pipeline.ckan.search`.

Rows are compared by ``content_sha256`` per ``release_id`` (the primary key):
only new or changed rows are upserted and vanished rows deleted. The count a
dry run shows and the rows a publish sends come from the same function,
:func:`row_changes`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import ckanapi
import pyarrow.parquet as pq

from ..package.layout import PARQUET_PATH
from ..problems import PortalUnavailable
from .client import PortalClient
from .package import LocalPackage
from .search import SEARCH_FIELD, SEARCH_INFO, SEARCH_VERSION, search_words

UPSERT_CHUNK = 1000
UPSERT_CHUNK_CHARS = 4_000_000  # about 12 MB of Thai text in UTF-8 per datastore_upsert
SEARCH_PAGE = 10000
DATASTORE_TYPES = {"string": "text", "integer": "int8", "number": "numeric", "boolean": "bool",
                   "date": "date", "datetime": "timestamp", "time": "time", "year": "int4"}
PRIMARY_KEY = ["release_id"]
INDEXES = ["published_date", "source", "category"]


_PLACEHOLDER = re.compile(r"<[^<>\n]+>")


def markdown_safe(text: str) -> str:
    """Placeholders such as ``<source>`` as inline code: CKAN renders a description as Markdown and strips anything
    that looks like an HTML tag, which turned '<source>-<id>' into '-'."""
    return _PLACEHOLDER.sub(lambda match: f"`{match.group()}`", text)


def field_info(field: dict[str, Any]) -> dict[str, str]:
    """The data dictionary entry of one Table Schema field: Thai and English label and description."""
    english_label, english = str(field.get("title") or field["name"]), markdown_safe(str(field.get("description") or ""))
    # The Thai dictionary is the Table Schema's own (title_th, description_th): one source, in datapackage.json too.
    thai_label, thai = field.get("title_th"), field.get("description_th")
    if not thai_label:
        return {"label": english_label, "notes": english}
    return {"label": f"{thai_label} ({english_label})", "notes": f"{markdown_safe(str(thai or ''))}\n\n{english}".strip()}


def datastore_fields(table_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """DataStore fields with types and the bilingual data dictionary (label, description) from the Table Schema,
    and the search column (:mod:`pipeline.ckan.search`) last."""
    return [
        *({"id": f["name"], "type": DATASTORE_TYPES.get(f["type"], "text"), "info": field_info(f)}
          for f in table_schema["fields"]),
        {"id": SEARCH_FIELD, "type": "text", "info": dict(SEARCH_INFO)},
    ]


def column_types(fields: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(column, DataStore type) in order: a table whose list differs must be re-created (types cannot be altered)."""
    return [(str(f["id"]), str(f["type"])) for f in fields if f["id"] != "_id"]


def table_mark(csv_hash: str, table_schema: dict[str, Any]) -> str:
    """What the CSV resource's ``ogd_datastore_hash`` records once its rows are complete: the file's hash and a
    digest of the column types, so a package whose Table Schema changed a type (the CSV bytes may not change)
    has its table checked, and re-created, by the next publish."""
    types = json.dumps(column_types(datastore_fields(table_schema)), separators=(",", ":"))
    # The search column's words are not in the rows' content hashes: its version is in the mark, so changed words
    # re-load the table. (A mark without the version, from an older publish, differs too.)
    return f"{csv_hash};types={hashlib.sha256(types.encode()).hexdigest()[:16]};search={SEARCH_VERSION}"


@dataclass(frozen=True)
class RowChanges:
    upsert: tuple[str, ...]  # release ids new or changed, sorted
    delete: tuple[str, ...]  # release ids the portal has and the package no longer does, sorted
    added: int  # of upsert: not on the portal yet
    updated: int  # of upsert: on the portal with other content
    new: tuple[str, ...] = ()  # of upsert: the ids not on the portal (sent with method "insert")


def row_changes(local: dict[str, str], remote: dict[str, str]) -> RowChanges:
    """What to send so the portal's rows equal the package's: release ids to upsert and to delete."""
    upsert = sorted(k for k, v in local.items() if remote.get(k) != v)
    new = tuple(k for k in upsert if k not in remote)
    return RowChanges(tuple(upsert), tuple(sorted(k for k in remote if k not in local)), len(new),
                      len(upsert) - len(new), new)


def local_rows(package: LocalPackage) -> Iterator[dict[str, Any]]:
    """Rows of the package, typed as the DataStore wants them (dates as ISO text)."""
    parquet = pq.ParquetFile(package.folder / PARQUET_PATH)
    for batch in parquet.iter_batches(batch_size=UPSERT_CHUNK):
        for row in batch.to_pylist():
            yield {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


# ------------------------------------------------------------------ portal reads


def portal_row_hashes(client: PortalClient, resource_id: str) -> dict[str, str]:
    hashes: dict[str, str] = {}
    offset = 0
    while True:
        page = client.call_action("datastore_search", {
            "resource_id": resource_id, "fields": ["release_id", "content_sha256"], "limit": SEARCH_PAGE,
            "offset": offset, "sort": "release_id", "include_total": False,
        })
        for record in page["records"]:
            hashes[record["release_id"]] = record["content_sha256"]
        if len(page["records"]) < SEARCH_PAGE:
            return hashes
        offset += SEARCH_PAGE


def portal_fields(client: PortalClient, resource_id: str) -> list[dict[str, Any]] | None:
    """The table's fields (without ``_id``), or None when the resource has no DataStore table."""
    try:
        result = client.call_action("datastore_search", {"resource_id": resource_id, "limit": 0})
    except ckanapi.NotFound:
        return None
    return [f for f in result["fields"] if f["id"] != "_id"]


# ------------------------------------------------------------------ writes


def transient_conflict(error: ckanapi.ValidationError) -> bool:
    """A uniqueness conflict between concurrent writers of the same rows (e.g. a killed run's upsert still running
    on the portal): the same upsert succeeds once the other finishes, so it is retried, not a metadata error."""
    text = str(error.error_dict or error)
    return "duplicate key value" in text or "uniqueness constraint" in text or "23505" in text


def upsert(client: PortalClient, resource_id: str, records: list[dict[str, Any]], method: str = "upsert") -> None:
    """datastore_upsert, retried after a transient uniqueness conflict. ``method`` "insert" for rows the table
    does not hold (one batched INSERT; CKAN's "upsert" looks each row up first)."""
    attempt = 0
    while True:
        attempt += 1
        try:
            client.call_action("datastore_upsert", {"resource_id": resource_id, "force": True,
                                                    "method": method, "records": records})
            return
        except ckanapi.ValidationError as error:
            if not transient_conflict(error):
                raise
            if method == "insert":
                # Some of these rows are in the table after all (a re-sent request whose first answer was lost, or
                # a killed run's insert that finished): sent again at once as an upsert, which a held key cannot fail.
                method = "upsert"
                continue
            wait = client.next_wait(attempt, error)
            if wait is None:
                raise PortalUnavailable(
                    f"the portal at {client.url} kept refusing the DataStore rows of {resource_id} with a uniqueness "
                    f"conflict after {attempt} attempt(s): another writer is changing the same rows",
                    "run again once the other publish has finished (publishing is safe to re-run)") from None
            time.sleep(wait)


def create_table(client: PortalClient, resource_id: str, table_schema: dict[str, Any], *, replace: bool) -> None:
    """Create the table (``replace``: drop the existing one first, as a column type cannot be changed in place)."""
    if replace:
        client.call_action("datastore_delete", {"resource_id": resource_id, "force": True})
    client.call_action("datastore_create", {
        "resource_id": resource_id, "force": True, "fields": datastore_fields(table_schema),
        "primary_key": PRIMARY_KEY, "indexes": INDEXES,
    })


def send_rows(client: PortalClient, package: LocalPackage, resource_id: str, upsert_ids: set[str],
              delete_ids: tuple[str, ...], *, after_chunk: Callable[[int, int], None],
              insert_ids: frozenset[str] = frozenset()) -> tuple[int, int]:
    """Upsert the rows named, then delete the ones named, in chunks; return (rows upserted, rows deleted).

    Rows of ``insert_ids`` (not in the table: a new table, or ids the portal's row hashes lack) go by the
    faster "insert"; ``after_chunk(rows upserted so far, rows deleted so far)`` is called after each chunk
    (progress, lock renewal).
    """
    upserted = deleted = 0
    batches: dict[str, list[dict[str, Any]]] = {"insert": [], "upsert": []}
    sizes = {"insert": 0, "upsert": 0}
    # One chunk is sent while the next is prepared (its search words are the client's CPU; the portal's insert
    # is the server's): at most one request in flight, and the client called from one thread at a time (the
    # previous chunk is awaited before progress and the lock's renewal run here).
    sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="datastore-upsert")
    pending: tuple[Future[None], int] | None = None

    def send(batch: list[dict[str, Any]], method: str) -> None:
        nonlocal pending, upserted
        finish()
        pending = (sender.submit(upsert, client, resource_id, batch, method), len(batch))

    def finish() -> None:
        nonlocal pending, upserted
        if pending is not None:
            future, rows = pending
            pending = None
            future.result()  # the chunk's error, if any, stops the publish here
            upserted += rows
            after_chunk(upserted, deleted)

    try:
        for row in local_rows(package):
            if row["release_id"] in upsert_ids:
                record = {**row, SEARCH_FIELD: search_words(row)}  # only rows sent pay for their search words
                method = "insert" if row["release_id"] in insert_ids else "upsert"
                batches[method].append(record)
                sizes[method] += sum(len(value) for value in record.values() if isinstance(value, str))
                # A chunk is bounded in rows and in text: long releases must not make one request (and its JSON in
                # memory) hundreds of MB.
                if len(batches[method]) >= UPSERT_CHUNK or sizes[method] >= UPSERT_CHUNK_CHARS:
                    send(batches[method], method)
                    batches[method], sizes[method] = [], 0
        for method, batch in batches.items():
            if batch:
                send(batch, method)
        finish()
    finally:
        sender.shutdown(wait=True)
    for start in range(0, len(delete_ids), UPSERT_CHUNK):
        chunk = list(delete_ids[start:start + UPSERT_CHUNK])
        # datastore_delete with filters removes rows, not the table (works on CKAN 2.9+).
        client.call_action("datastore_delete", {"resource_id": resource_id, "force": True,
                                                "filters": {"release_id": chunk}})
        deleted += len(chunk)
        after_chunk(upserted, deleted)
    return upserted, deleted
