"""A build's version: compare its table with the previous version's, move the version, write the change log."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..package.layout import DESCRIPTOR_PATH, PARQUET_PATH, PARTS_DIR
from ..streaming import open_parquet
from .detect import ChangeSet, compare_tables
from .log import CHANGELOG_PATH, CHANGES_PATH, write_changelog, write_changes
from .version import SchemaChange, next_version, schema_change


@dataclass(frozen=True)
class PreviousVersion:
    """The package a build is compared with: the one in the output folder, or the published one."""

    folder: Path
    descriptor: dict[str, Any]

    @property
    def version(self) -> str | None:
        version = self.descriptor.get("version")
        return version if isinstance(version, str) else None

    @property
    def fields(self) -> list[dict[str, Any]]:
        resources = self.descriptor.get("resources", [])
        # A version published in parts may lack the whole Parquet file (over the portal's cap): a part has its schema.
        releases = next((r for r in resources if r.get("path") == PARQUET_PATH), None) \
            or next((r for r in resources if _part_parquet(r.get("path"))), {})
        return list((releases.get("schema") or {}).get("fields") or [])

    @property
    def changes_summary(self) -> dict[str, Any] | None:
        summary = self.descriptor.get("x_ogd", {}).get("changes")
        return summary if isinstance(summary, dict) else None


def previous_version(folder: Path) -> PreviousVersion | None:
    """The package in ``folder`` when it holds one (its descriptor and Parquet table), else None."""
    try:
        descriptor = json.loads((folder / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(descriptor, dict) or not (folder / PARQUET_PATH).is_file():
        return None
    return PreviousVersion(folder, descriptor)


def _part_parquet(path: object) -> bool:
    return isinstance(path, str) and path.startswith(f"{PARTS_DIR}/releases-") and path.endswith(".parquet") \
        and "/" not in path[len(PARTS_DIR) + 1:] and ".." not in path


def whole_table_from_parts(folder: Path) -> bool:
    """Write ``data/releases.parquet`` of a pulled copy published in parts without it (its whole Parquet file
    was over the portal's upload cap) from the parts' Parquet files, one row group at a time, so the version can
    be compared with it (rows are matched by release_id: their order does not matter). False: nothing to do."""
    target = folder / PARQUET_PATH
    if target.exists():
        return False
    try:
        descriptor = json.loads((folder / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
        # Resources only: a pull downloaded and verified each of them (their paths follow from ogd_key).
        paths = [r["path"] for r in descriptor["resources"] if isinstance(r, dict) and _part_parquet(r.get("path"))]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    parts = [folder / path for path in sorted(paths) if (folder / path).is_file() and not (folder / path).is_symlink()]
    if not parts:
        return False
    writer = None
    try:
        for path in parts:
            source = open_parquet(path)
            if writer is None:
                writer = pq.ParquetWriter(target, source.schema_arrow, compression="zstd")
            for group in range(source.metadata.num_row_groups):
                writer.write_table(source.read_row_group(group))
    finally:
        if writer is not None:
            writer.close()
    return True


def build_date() -> str:
    """Today in UTC, or the day of ``SOURCE_DATE_EPOCH`` (reproducible builds: the same inputs, the same bytes)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    moment = (dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch.isdigit()
              else dt.datetime.now(dt.timezone.utc))
    return moment.date().isoformat()


@dataclass(frozen=True)
class VersionResult:
    """What :func:`record_version` decided: ``summary`` is ``x_ogd.changes`` of the new descriptor."""

    version: str
    new_version: bool  # False: nothing changed, the previous version stands
    changes: ChangeSet
    schema: SchemaChange
    summary: dict[str, Any]


def record_version(staging: Path, previous: PreviousVersion | None, configured: str, *, where: str,
                   title: str, fields: list[dict[str, Any]]) -> VersionResult:
    """Compare the table just written in ``staging`` with ``previous``; write ``data/changes.csv`` and
    ``CHANGELOG.md`` there; return the version and the changes."""
    old_table = previous.folder / PARQUET_PATH if previous is not None else None
    changes = compare_tables(old_table, staging / PARQUET_PATH)
    schema = schema_change(previous.fields, fields) if previous is not None else None
    old_version = previous.version if previous is not None else None
    version = next_version(old_version, configured, schema=schema, where=where, **changes.counts())
    changes_path, changelog_path = staging / CHANGES_PATH, staging / CHANGELOG_PATH
    previous_log = previous.folder / CHANGES_PATH if previous is not None else None
    if previous is not None and version == old_version and previous_log is not None and previous_log.is_file():
        # Nothing changed: the previous version stands, its log and summary as they were (a rebuild is byte-identical).
        shutil.copyfile(previous_log, changes_path)
        if (previous.folder / CHANGELOG_PATH).is_file():
            shutil.copyfile(previous.folder / CHANGELOG_PATH, changelog_path)
        else:
            write_changelog(changelog_path, changes_path, title)
        summary = previous.changes_summary or {"version": version}
        return VersionResult(version, False, changes, schema, summary)
    date = build_date()
    write_changes(changes_path, previous_log, version, date, changes)
    write_changelog(changelog_path, changes_path, title)
    summary = {"version": version, "previous_version": old_version, "date": date, **changes.counts(),
               "schema": schema}
    return VersionResult(version, True, changes, schema, summary)
