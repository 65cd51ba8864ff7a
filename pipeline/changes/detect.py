"""What changed between two versions of a releases table: rows added, changed (which fields) and removed.

Rows are matched by ``release_id``. A row is *changed* when a field a consumer
reads differs; the fields that only say where a release was read from
(:data:`PROVENANCE_FIELDS`: the input's path, item, bytes, encoding, the
parser's version) are not content: a file moved or re-saved, or a new parser
that reads the same values, changes nothing for a consumer.

Both tables are read as streams, one row group at a time: a first pass keeps a
16-byte fingerprint per release (memory grows by ~100 bytes per release, never
with the texts), a second pass reads the full values of the changed releases
only, to name their changed fields. Only fields both tables have are compared
(a field the schema added is not a change of every row).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..streaming import open_parquet

PROVENANCE_FIELDS = frozenset({"source_file", "item", "source_sha256", "source_encoding", "parser_version"})
# Derived from fields compared anyway (content_sha256 = title + date + body; body_words and word_count from the
# body): compared through those, so the first pass never reads the long texts.
_DERIVED = frozenset({"content_sha256", "body_words", "word_count"})
_LONG = frozenset({"title", "body", "published_date"})


@dataclass
class ChangeSet:
    """The releases added, changed and removed from one version to the next, each list sorted by release id."""

    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # release_id -> changed fields, in field order
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "changed": len(self.changed), "removed": len(self.removed)}

    def rows(self) -> Iterator[tuple[str, str, str]]:
        """(release_id, change, changed fields) in the change log's order: added, changed, removed."""
        for release_id in self.added:
            yield release_id, "added", ""
        for release_id, fields in self.changed.items():
            yield release_id, "changed", " ".join(fields)
        for release_id in self.removed:
            yield release_id, "removed", ""


def compared_fields(old: pq.ParquetFile, new: pq.ParquetFile) -> list[str]:
    """The fields a consumer reads that both tables have, in the new table's order."""
    old_names = set(old.schema_arrow.names)
    return [name for name in new.schema_arrow.names
            if name in old_names and name not in PROVENANCE_FIELDS and name != "release_id"]


def _fingerprints(parquet: pq.ParquetFile, fields: list[str]) -> dict[str, bytes]:
    """release_id -> a digest of the row's compared values (the long texts through content_sha256)."""
    short = [name for name in fields if name not in _LONG and name not in _DERIVED]
    columns = ["release_id", "content_sha256", *short] if "content_sha256" in parquet.schema_arrow.names \
        else ["release_id", *[name for name in fields if name not in _DERIVED]]
    prints: dict[str, bytes] = {}
    for group in range(parquet.metadata.num_row_groups):
        table = parquet.read_row_group(group, columns=columns)
        values = [table.column(name).to_pylist() for name in columns]
        for row in zip(*values):
            prints[row[0]] = hashlib.blake2b(repr(row[1:]).encode("utf-8"), digest_size=16).digest()
    return prints


def _rows_of(parquet: pq.ParquetFile, ids: set[str], fields: list[str]) -> dict[str, dict[str, Any]]:
    """The compared values of the releases ``ids``, read one row group at a time."""
    wanted = pa.array(sorted(ids), pa.string())
    found: dict[str, dict[str, Any]] = {}
    for group in range(parquet.metadata.num_row_groups):
        table = parquet.read_row_group(group, columns=["release_id", *fields])
        table = table.filter(pc.is_in(table.column("release_id"), value_set=wanted))
        for row in table.to_pylist():
            found[row["release_id"]] = row
    return found


def compare_tables(old_path: Path | None, new_path: Path) -> ChangeSet:
    """The changes from the table at ``old_path`` (None: no previous version, every row is added) to ``new_path``."""
    new = open_parquet(new_path)
    if old_path is None:
        ids = new.read(columns=["release_id"]).column("release_id").to_pylist()
        return ChangeSet(added=sorted(ids))
    old = open_parquet(old_path)
    fields = compared_fields(old, new)
    old_prints = _fingerprints(old, fields)
    new_prints = _fingerprints(new, fields)
    changes = ChangeSet(added=sorted(set(new_prints) - set(old_prints)),
                        removed=sorted(set(old_prints) - set(new_prints)))
    differing = {release_id for release_id, digest in new_prints.items()
                 if release_id in old_prints and old_prints[release_id] != digest}
    if differing:
        before, after = _rows_of(old, differing, fields), _rows_of(new, differing, fields)
        for release_id in sorted(differing):
            names = [name for name in fields if before[release_id][name] != after[release_id][name]]
            # A changed body also changes its words, word count and content hash: name what was edited.
            edited = [name for name in names if name not in _DERIVED] or names
            if edited:  # a digest of equal values cannot differ; kept as a guard
                changes.changed[release_id] = edited
    return changes
