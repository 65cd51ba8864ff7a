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
import os
import re
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import ckanapi

from ..package.layout import PARQUET_PATH
from ..problems import PortalUnavailable, UsageError
from ..streaming import open_parquet, release_memory
from .client import PortalClient
from .package import LocalPackage
from .search import SEARCH_FIELD, SEARCH_INFO, SEARCH_VERSION, search_words
from .xloader import xloader_fields

UPSERT_CHUNK = 500  # rows; with 2 requests in flight, measured on the local portal (make bench)
REQUESTS_VARIABLE = "OGD_DATASTORE_REQUESTS"
DEFAULT_REQUESTS = 2
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


def loader_fields(table_schema: dict[str, Any], loader: str) -> list[dict[str, Any]]:
    """The table's fields as ``loader`` makes them: "api" with the search column; "xloader" the file's columns
    only, each type kept in the data dictionary (:mod:`pipeline.ckan.xloader`)."""
    fields = datastore_fields(table_schema)
    return fields if loader == "api" else fields[:-1]


def column_types(fields: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(column, DataStore type) in order: a table whose list differs must be re-created (types cannot be altered)."""
    return [(str(f["id"]), str(f["type"])) for f in fields if f["id"] != "_id"]


def table_mark(csv_hash: str, table_schema: dict[str, Any], loader: str = "api") -> str:
    """What the CSV resource's ``ogd_datastore_hash`` records once its rows are complete: the file's hash and a
    digest of the column types, so a package whose Table Schema changed a type (the CSV bytes may not change)
    has its table checked, and re-created, by the next publish; and which loader made the table."""
    types = json.dumps(column_types(loader_fields(table_schema, loader)), separators=(",", ":"))
    digest = hashlib.sha256(types.encode()).hexdigest()[:16]
    if loader != "api":
        return f"{csv_hash};types={digest};loader={loader}"
    # The search column's words are not in the rows' content hashes: its version is in the mark, so changed words
    # re-load the table. (A mark without the version, from an older publish, differs too.)
    return f"{csv_hash};types={digest};search={SEARCH_VERSION}"


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
    parquet = open_parquet(package.folder / PARQUET_PATH)
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


def portal_table(client: PortalClient, resource_id: str, table_schema: dict[str, Any],
                 loader: str) -> tuple[list[dict[str, Any]] | None, dict[str, str] | None]:
    """The table as the portal holds it: its fields (None: no table) and, when its columns are those ``loader``
    makes, its row hashes (None: not read, the table is re-created anyway)."""
    fields = portal_fields(client, resource_id)
    if fields is None or column_types(fields) != column_types(loader_fields(table_schema, loader)):
        return fields, None
    return fields, portal_row_hashes(client, resource_id)


def xloader_table_fields(table_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields of a table xloader is to fill (:func:`pipeline.ckan.xloader.xloader_fields` of its columns)."""
    return xloader_fields(loader_fields(table_schema, "xloader"))


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


def create_xloader_table(client: PortalClient, resource_id: str, table_schema: dict[str, Any], *,
                         replace: bool) -> None:
    """The empty table xloader is to fill: the file's columns with their types kept (``type_override``); no
    primary key (xloader re-creates the indexes it knows; rows are never upserted into it)."""
    if replace:
        client.call_action("datastore_delete", {"resource_id": resource_id, "force": True})
    client.call_action("datastore_create", {
        "resource_id": resource_id, "force": True,
        "fields": xloader_table_fields(table_schema),
    })


def requests_in_flight() -> int:
    """How many DataStore chunks are sent at once (``OGD_DATASTORE_REQUESTS``, default 2)."""
    raw = os.environ.get(REQUESTS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_REQUESTS
    if not raw.isdigit() or not 1 <= int(raw) <= 16:
        raise UsageError(f"{REQUESTS_VARIABLE}={raw!r} is not a whole number from 1 to 16",
                         f"unset it (default {DEFAULT_REQUESTS}) or give how many DataStore requests to send at once; "
                         "1 sends one at a time")
    return int(raw)


def send_rows(client: PortalClient, package: LocalPackage, resource_id: str, upsert_ids: set[str],
              delete_ids: tuple[str, ...], *, after_chunk: Callable[[int, int], None],
              insert_ids: frozenset[str] = frozenset(), in_flight: int | None = None) -> tuple[int, int]:
    """Upsert the rows named, then delete the ones named, in chunks; return (rows upserted, rows deleted).

    Rows of ``insert_ids`` (not in the table: a new table, or ids the portal's row hashes lack) go by the
    faster "insert"; ``after_chunk(rows upserted so far, rows deleted so far)`` is called after each chunk
    (progress, lock renewal). ``in_flight`` chunks (default :func:`requests_in_flight`) are sent at once, each
    from its own thread and HTTP session, while the next is prepared: the portal's database inserts one
    chunk's rows (and computes their full-text index) while it parses the next. Chunks hold distinct rows, so
    concurrent requests never write the same row; memory holds ``in_flight + 1`` chunks.
    """
    in_flight = in_flight or requests_in_flight()
    upserted = deleted = 0
    batches: dict[str, list[dict[str, Any]]] = {"insert": [], "upsert": []}
    sizes = {"insert": 0, "upsert": 0}
    sender = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="datastore-upsert")
    pending: deque[tuple[Future[None], int]] = deque()
    companions: list[PortalClient] = []
    local = threading.local()

    def send_in_thread(batch: list[dict[str, Any]], method: str) -> None:
        if not hasattr(local, "client"):
            local.client = client.companion()
            companions.append(local.client)
        upsert(local.client, resource_id, batch, method)

    def settle(keep: int) -> None:
        # Progress and the lock's renewal run here, in the caller's thread, after each chunk in order.
        nonlocal upserted
        while len(pending) > keep:
            future, rows = pending.popleft()
            future.result()  # the chunk's error, if any, stops the publish here
            upserted += rows
            release_memory()  # the chunk's records and JSON are gone: memory stays that of the chunks in flight
            after_chunk(upserted, deleted)

    def send(batch: list[dict[str, Any]], method: str) -> None:
        settle(in_flight - 1)
        pending.append((sender.submit(send_in_thread, batch, method), len(batch)))

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
        settle(0)
    finally:
        sender.shutdown(wait=True)
        for companion in companions:
            client.absorb(companion)
    for start in range(0, len(delete_ids), UPSERT_CHUNK):
        chunk = list(delete_ids[start:start + UPSERT_CHUNK])
        # datastore_delete with filters removes rows, not the table (works on CKAN 2.9+).
        client.call_action("datastore_delete", {"resource_id": resource_id, "force": True,
                                                "filters": {"release_id": chunk}})
        deleted += len(chunk)
        after_chunk(upserted, deleted)
    return upserted, deleted
