"""The change log as data (``data/changes.csv``) and for people (``CHANGELOG.md``).

``data/changes.csv`` keeps every version's changes, oldest first: a build that
makes a new version copies the previous log byte for byte and appends its own
rows, so the log of a version never changes afterwards and a consumer who has
it can read only what follows. ``CHANGELOG.md`` is made from it, newest first,
in Thai and English; it lists the corrected and withdrawn releases of each
version and the first of the added ones (all are in the CSV).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..package.layout import CHANGELOG_PATH, CHANGES_PATH
from .detect import ChangeSet

__all__ = ["CHANGELOG_PATH", "CHANGES_PATH", "read_versions", "write_changelog", "write_changes"]
CHANGES_HEADER = ("version", "date", "release_id", "change", "changed_fields")
# In CHANGELOG.md, per version and kind of change, at most this many release ids (the CSV has them all).
LISTED_PER_KIND = 50

_KINDS = {"added": "เพิ่ม / Added", "changed": "แก้ไข / Changed", "removed": "ถอนออก / Removed"}


def _csv_text(rows: list[tuple[str, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # the dialect of data/releases.csv
    writer.writerows(rows)
    return buffer.getvalue()


def write_changes(path: Path, previous: Path | None, version: str, date: str, changes: ChangeSet) -> None:
    """``data/changes.csv``: the previous log (copied as it is) plus this version's rows."""
    if previous is not None and previous.is_file():
        shutil.copyfile(previous, path)
    else:
        path.write_text(_csv_text([CHANGES_HEADER]), encoding="utf-8", newline="")
    with open(path, "a", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        for release_id, change, fields in changes.rows():
            writer.writerow((version, date, release_id, change, fields))


@dataclass
class VersionEntry:
    """One version as CHANGELOG.md shows it: its date, counts per change, and the first ids of each."""

    version: str
    date: str
    counts: dict[str, int] = field(default_factory=lambda: {kind: 0 for kind in _KINDS})
    listed: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in _KINDS})


def read_versions(path: Path) -> Iterator[VersionEntry]:
    """The versions of a change log, oldest first, read as a stream (a version's rows are consecutive)."""
    entry: VersionEntry | None = None
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)  # header
        for version, date, release_id, change, fields in reader:
            if entry is None or entry.version != version:
                if entry is not None:
                    yield entry
                entry = VersionEntry(version, date)
            entry.counts[change] += 1
            if len(entry.listed[change]) < LISTED_PER_KIND:
                entry.listed[change].append(f"{release_id} ({fields})" if fields else release_id)
    if entry is not None:
        yield entry


def write_changelog(path: Path, changes_csv: Path, title: str) -> None:
    """``CHANGELOG.md`` from the change log, newest version first."""
    versions = list(read_versions(changes_csv))  # one small entry per version
    lines = [f"# {title}: บันทึกการเปลี่ยนแปลง / Change log", "",
             "ทุกการเปลี่ยนแปลงอยู่ใน data/changes.csv / Every change is in data/changes.csv "
             "(version, date, release_id, change, changed_fields).", ""]
    for entry in reversed(versions):
        lines += [f"## {entry.version} ({entry.date})", ""]
        summary = ", ".join(f"{_KINDS[kind]} {count}" for kind, count in entry.counts.items() if count)
        lines += [f"{summary or 'ไม่มีการเปลี่ยนแปลงของข้อมูล / No change of rows'}", ""]
        for kind, ids in entry.listed.items():
            if not ids:
                continue
            lines.append(f"### {_KINDS[kind]}")
            lines += [f"- {release}" for release in ids]
            more = entry.counts[kind] - len(ids)
            if more:
                lines.append(f"- … และอีก {more:,} รายการ / and {more:,} more (data/changes.csv)")
            lines.append("")
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
