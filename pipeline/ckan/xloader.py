"""Publishing to a portal that runs ckanext-xloader (data.go.th and most agency catalogs do).

Such a portal loads every CSV file uploaded into the DataStore itself: a job
downloads the file and PostgreSQL-``COPY``s it into the resource's table
(dropping a table loaded through the API, columns and all), then writes the
file's MD5 into the resource's ``hash``. Fighting it would be lost (a table
loaded through the API is replaced a moment later), so where the portal runs
xloader, the table of the whole CSV is xloader's to load, and the publish:

1. gives the table its columns first, with the Table Schema's type of each in
   the data dictionary's ``type_override`` (xloader keeps those; without them
   every column would be text) and ``strip_extra_white`` off (xloader would
   otherwise trim every cell: the rows must stay the package's);
2. uploads the file (xloader's job starts), or, when the file is already
   there but its rows are not, asks xloader to load it again;
3. waits for the job, then checks what it loaded: the status, the file's MD5,
   the number of rows and each column's type.

Loading with ``COPY`` is several times faster than ``datastore_upsert``
(``make bench``); the table has no search column (:mod:`pipeline.ckan.search`:
xloader loads the file's columns only), so the DataStore's full-text search
finds Thai words as the segmented ``body_words`` holds them. A table that is
only in the DataStore (an archive's whole CSV over the upload cap) is loaded
through the API as on any portal: xloader leaves those alone.

xloader cannot read a cell longer than :data:`CELL_LIMIT` characters. A table
with one is loaded through the API; its file is still uploaded, so xloader's
job for it runs (and fails, perhaps after emptying the table): the publish
waits for that job to end (:func:`wait_for_end`), then reads the table again
and loads what it lacks.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any, Callable

import ckanapi

from ..problems import PortalRejected, PortalUnavailable, UsageError
from .client import PortalClient

PLUGIN = "xloader"
TIMEOUT_VARIABLE = "OGD_XLOADER_TIMEOUT"
DEFAULT_TIMEOUT = 3600.0  # seconds: xloader's own job timeout is an hour
IDLE_RESUBMIT = 5.0  # seconds a finished job may stand before this file's load is asked for again
# xloader reads a CSV with Python's csv module, whose default limit is 131,072 characters a cell (it does not raise
# it): a file with a longer cell fails to load ("field larger than field limit"), after the job may have emptied or
# dropped the resource's table. Long releases (a speech, a budget) pass it: such a table is loaded through the API.
CELL_LIMIT = 131_072
# A job's states while it runs (xloader's status values; "running_but_viewable": the rows are in, the indexes and
# the file's hash not yet).
RUNNING = ("submitting", "pending", "running", "running_but_viewable")


def runs_xloader(plugins: list[str] | None) -> bool:
    return bool(plugins) and PLUGIN in (plugins or [])


def xloader_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DataStore fields (without the search column) as xloader keeps them: each type in ``type_override``."""
    return [{**field, "info": {**field.get("info", {}), "type_override": field["type"]}, "strip_extra_white": False}
            for field in fields]


def file_md5(path: Path, chunk: int = 1 << 20) -> str:
    """The MD5 xloader records in ``hash`` once it has loaded the file (read in chunks: files may be large)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def timeout_seconds() -> float:
    raw = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise UsageError(f"{TIMEOUT_VARIABLE}={raw!r} is not a number of seconds above 0",
                         f"unset {TIMEOUT_VARIABLE} (default {DEFAULT_TIMEOUT:g} s) or give e.g. 1800")
    return value


def submit(client: PortalClient, resource_id: str) -> None:
    """Ask xloader to load the resource's file again (its rows are not the file's: an interrupted load)."""
    client.call_action("xloader_submit", {"resource_id": resource_id, "ignore_hash": True})


def loaded_this_file(client: PortalClient, resource_id: str, md5: str) -> bool:
    """Whether xloader's last job for the resource completed a load of this very file (its MD5 in ``hash``)."""
    return (_status(client, resource_id).get("status") == "complete"
            and (client.call_action("resource_show", {"id": resource_id}) or {}).get("hash") == md5)


def wait_for_load(client: PortalClient, resource_id: str, *, md5: str, rows: int, columns: list[tuple[str, str]],
                  label: str, after_poll: Callable[[], None] = lambda: None, poll: float = 1.0) -> None:
    """Wait until xloader has loaded the file of ``resource_id`` and check what it loaded.

    Done when its status is ``complete``, the resource's ``hash`` is the
    file's MD5 (xloader writes it at the end of a load of this very file) and
    the table holds ``rows`` rows with ``columns`` (name, type). A job in
    ``error`` is :class:`PortalRejected` (exit 6) with xloader's message; no
    end within ``OGD_XLOADER_TIMEOUT`` (or the command's deadline) is
    :class:`PortalUnavailable` (exit 5). ``after_poll`` runs between polls
    (the publish lock's renewal).
    """
    idle_since: float | None = None

    def loaded() -> str | None:
        nonlocal idle_since
        status = _status(client, resource_id)
        state = status.get("status")
        if state == "error":
            raise PortalRejected(
                f"the portal's xloader could not load {label} into the DataStore: {_message(status)}",
                hint="the resource's DataStore tab on the portal shows xloader's log; fix what it names (or ask the "
                     "portal's admins), then publish again: it is safe to re-run")
        if state != "complete":
            idle_since = None
            return None
        if (client.call_action("resource_show", {"id": resource_id}) or {}).get("hash") == md5:
            return state
        # A finished job that did not load this file: one that started before the upload (xloader then skips the
        # upload's job as a duplicate of it). Asked again once the portal has been idle a moment.
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since >= IDLE_RESUBMIT:
            submit(client, resource_id)
            idle_since = None
        return None

    _poll(client, loaded, after_poll, poll, lambda limit: PortalUnavailable(
        f"the portal's xloader has not loaded {label} within {limit:g} s; its jobs worker may not be running",
        f"ask the portal's admins whether `ckan jobs worker` runs; raise {TIMEOUT_VARIABLE} for a very large file; "
        "publishing is safe to re-run (the dataset's rows are checked again)"))
    table = client.call_action("datastore_search", {"resource_id": resource_id, "limit": 0})
    have = [(str(f["id"]), str(f["type"])) for f in table.get("fields", []) if f["id"] != "_id"]
    if have != columns or table.get("total") != rows:
        differ = sorted({f"{c}: {t}" for c, t in have} ^ {f"{c}: {t}" for c, t in columns})
        raise PortalRejected(
            f"the portal's xloader loaded {label} with {table.get('total')} rows (the package has {rows})"
            + (f" and other columns than the Table Schema's ({'; '.join(differ[:6])})" if differ else ""),
            hint="xloader fell back to guessing types, or its settings change cells; see the resource's DataStore tab "
                 "on the portal (publishing again re-creates a table whose column types differ and asks xloader to "
                 "load the file again)")


def wait_for_end(client: PortalClient, resource_id: str, *, label: str,
                 after_poll: Callable[[], None] = lambda: None, poll: float = 1.0) -> str:
    """Wait until xloader's job for the resource has ended, whatever its outcome; return its status (the job the
    upload started, for a file it cannot load: the table is loaded through the API once it has ended)."""
    def ended() -> str | None:
        state = str(_status(client, resource_id).get("status") or "")
        return None if state in RUNNING else state

    return _poll(client, ended, after_poll, poll, lambda limit: PortalUnavailable(
        f"the portal's xloader job for {label} has not ended within {limit:g} s; its jobs worker may not be running, "
        "and the table is loaded once the job has ended",
        f"ask the portal's admins whether `ckan jobs worker` runs; raise {TIMEOUT_VARIABLE}; publishing is safe to "
        "re-run"))


def _poll(client: PortalClient, done: Callable[[], str | None], after_poll: Callable[[], None], poll: float,
          timed_out: Callable[[float], PortalUnavailable]) -> str:
    """Ask ``done`` until it answers (a status), waiting longer each time (up to 10 s; never longer than ``poll``
    when that is under a second: the benchmark's timing), for at most ``OGD_XLOADER_TIMEOUT`` seconds or what is
    left of the command's deadline."""
    limit = min(timeout_seconds(), max(client.remaining(), 0.0))
    started = time.monotonic()
    wait, ceiling = poll, (poll if poll < 1 else 10.0)
    while (answer := done()) is None:
        if time.monotonic() - started + wait > limit:
            raise timed_out(limit)
        after_poll()
        time.sleep(wait)
        wait = min(wait * 1.5, ceiling)
    return answer


def _status(client: PortalClient, resource_id: str) -> dict[str, Any]:
    try:
        return dict(client.call_action("xloader_status", {"resource_id": resource_id}) or {})
    except ckanapi.NotFound:
        return {}  # no job yet: the upload's job is being queued


def _message(status: dict[str, Any]) -> str:
    error = (status.get("task_info") or {}).get("error") or status.get("error") or {}
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500] or "no message"
    return str(error)[:500] or "no message"
