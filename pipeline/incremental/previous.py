"""Incremental builds: the previous package is the cache.

Every record carries ``source_file``, ``source_sha256`` and
``parser_version``, and every quarantine entry its ``path``, ``sha256`` and
``parser_version``. An input whose bytes, path and parser version are those
of the previous build gets the previous outcome without being transformed
again; anything else (a new or changed file, a new parser version, another
``--source``) is transformed. Records are stored in input order, so the
previous Parquet file is read as a stream, one row group at a time, alongside
the inputs: memory does not grow with the archive. Leading row groups that
come out the same are not even read: the writer copies their bytes
(:class:`pipeline.incremental.reuse.ReusableFiles`).

Beside the package, a hidden ``.NAME.inputs.json`` keeps what is not part of
the package itself: size, modification time and hash of every input (so that
unchanged files are not read again) and where each batch ends in the CSV.
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .. import PARSER_VERSION
from ..package.descriptor import descriptor_table_schema
from ..package.layout import CSV_PATH, DESCRIPTOR_PATH, PARQUET_PATH, QUARANTINE_PATH
from ..package.quarantine import KeptCopy
from ..problems import Problem
from ..record import RELEASE_FIELDS
from ..streaming import open_parquet
from ..transform import Outcome, ReusedRow
from .reuse import ReusableFiles

CACHE_FORMAT = 2
# A duplicate depends on other files, and too-large on the limit of this build; the reasons of
# discovery are not outcomes of a file's bytes, and an escaped path (undecodable-name) may equal
# another input's real path: all are decided again every time.
_DECIDED_EACH_TIME = frozenset({"duplicate", "too-large", "undecodable-name", "symlink-outside-root",
                                "path-too-long", "unreadable-folder"})
_TAKE_COLUMNS = ("source_file", "release_id", "content_sha256", "source", "published_date", "item")


def _unique_fields(schema: dict[str, Any]) -> tuple[str, ...]:
    """The schema's unique fields (and primary key) other than release_id: a reused row's duplicates are
    decided on them too, as a new row's (pipeline.validate.records.RecordValidator)."""
    key = schema.get("primaryKey", [])
    key = [key] if isinstance(key, str) else list(key)
    names = [f["name"] for f in schema["fields"] if f.get("constraints", {}).get("unique")] + key
    return tuple(dict.fromkeys(name for name in names if name not in _TAKE_COLUMNS))


def inputs_cache_path(package: Path) -> Path:
    """Beside the package, hidden: not part of it (packages stay byte-identical across machines)."""
    return package.with_name(f".{package.name}.inputs.json")


def save_inputs_cache(package: Path, entries: dict[str, list[Any]], layout: dict[str, Any] | None) -> None:
    """Keep [size, mtime_ns, sha256] of every input and the CSV's batch layout beside the package."""
    path = inputs_cache_path(package)
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(json.dumps({"format": CACHE_FORMAT, "layout": layout, "inputs": entries}), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        # The package is already in place; without its cache the next build only reads every
        # input again. A stale cache would be wrong: remove both (a full disk has room for that).
        for stale in (temporary, path):
            stale.unlink(missing_ok=True)


def _load_inputs_cache(package: Path) -> dict[str, Any]:
    try:
        cache = json.loads(inputs_cache_path(package).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    # Another format (an older version's) is only a cache miss: inputs are hashed again.
    return cache if isinstance(cache, dict) and cache.get("format") == CACHE_FORMAT else {}


class PreviousPackage:
    """Earlier outcomes by (relative path, content hash).

    :meth:`reusable` answers from a small index (three short columns);
    :meth:`take` then walks the previous rows' keys one row group at a time,
    and :meth:`rows` reads the rows themselves when the writer needs them.
    Call :meth:`take` in input order.
    """

    def __init__(self, folder: Path | None, source: str, *, profiles_digest: str | None = None) -> None:
        self.hits = 0
        self.files: ReusableFiles | None = None
        self.copy_refused: str | None = "no previous package"
        self._stats: dict[str, list[Any]] = {}
        self._index: dict[str, str] = {}
        self._problems: dict[str, list[dict[str, Any]]] = {}  # by input path: its entries, in order
        self._decided_each_time: set[str] = set()  # input paths with an entry decided again every build
        self._parquet: pq.ParquetFile | None = None
        self._group_starts: list[int] = []
        self._keys: dict[str, list[Any]] = {}
        self._unique = _unique_fields(descriptor_table_schema())
        self._keys_group = -1
        self._position = 0  # the next previous row :meth:`take` looks at
        self._rows_group = -1
        self._rows_table: pa.Table | None = None
        self._folder = folder
        self._quality: tuple[str, dict[str, Any]] | None = None  # (sha256 of its Parquet file, its quality profile)
        if folder is None:
            self.copy_refused = "a full build (--full)"
            return
        if not (folder / PARQUET_PATH).is_file() or not (folder / DESCRIPTOR_PATH).is_file():
            return
        descriptor = json.loads((folder / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
        parquet_resource = next((r for r in descriptor.get("resources", []) if r.get("path") == PARQUET_PATH), {})
        previous_quality = descriptor.get("x_ogd", {}).get("quality")
        if isinstance(previous_quality, dict) and parquet_resource.get("x_hash"):
            self._quality = (str(parquet_resource["x_hash"]).removeprefix("sha256:"), previous_quality)
        if descriptor.get("x_ogd", {}).get("source_option") != source:
            self.copy_refused = "the previous package was built with another --source"
            return  # outcomes may differ
        if profiles_digest is not None and descriptor.get("x_ogd", {}).get("profiles_sha256") != profiles_digest:
            # A site profile changes how pages read, as a new parser does: nothing made with the others is reused.
            self.copy_refused = "the site profiles ([[profiles]] or the bundled ones) changed since the previous build"
            return
        if any(resource.get("schema") is not None and resource["schema"].get("fields") != descriptor_table_schema()["fields"]
               for resource in descriptor.get("resources", []) if resource.get("path") in (CSV_PATH, PARQUET_PATH)):
            # Its rows were typed and checked by other rules: they are made and checked again.
            self.copy_refused = "the Table Schema changed since the previous build"
            return
        parquet = open_parquet(folder / PARQUET_PATH)
        if tuple(parquet.schema_arrow.names) != RELEASE_FIELDS:
            self.copy_refused = "the previous package has other columns"
            return  # written by another schema version: nothing to reuse
        keys = parquet.read(columns=["source_file", "source_sha256", "parser_version"])
        for path, sha256, version in zip(*(keys.column(i).to_pylist() for i in range(3))):
            if version == PARSER_VERSION:
                self._index[path] = sha256
        self._parquet = parquet
        metadata = parquet.metadata
        self._group_starts = [0]
        for group in range(metadata.num_row_groups):
            self._group_starts.append(self._group_starts[-1] + metadata.row_group(group).num_rows)
        cache = _load_inputs_cache(folder)
        self._stats = cache.get("inputs") or {}
        self.files, self.copy_refused = ReusableFiles.open(folder, descriptor, cache.get("layout"))
        quarantine = folder / QUARANTINE_PATH
        if quarantine.is_file():
            with open(quarantine, encoding="utf-8") as handle:
                for line in handle:
                    entry = json.loads(line)
                    if entry.get("reason") in _DECIDED_EACH_TIME:
                        # A multi-item input with an item decided again each build (a duplicate of another
                        # input's release) is transformed again whole: reusing its other outcomes would lose
                        # that item. (An input of one release with such an entry has nothing to reuse; and an
                        # escaped path may be another input's real one: only entries of items count.)
                        if entry.get("item") is not None:
                            self._decided_each_time.add(entry["path"])
                    elif entry.get("parser_version") == PARSER_VERSION:
                        self._problems.setdefault(entry["path"], []).append(entry)


    def quality_of(self, parquet_sha256: str) -> dict[str, Any] | None:
        """The previous build's quality profile when its Parquet file is byte for byte the one just written:
        the same rows give the same profile, so a build that changed nothing need not read them all again."""
        if self._quality is not None and self._quality[0] == parquet_sha256:
            return self._quality[1]
        return None

    def known_hash(self, relative: str, stat: tuple[int, int] | None) -> str | None:
        """The content hash seen last time, when the file's size and mtime are unchanged."""
        entry = self._stats.get(relative)
        if stat is None or entry is None or tuple(entry[:2]) != stat:
            return None
        return entry[2]

    def _kept_copy(self, entry: dict[str, Any]) -> KeptCopy | None:
        """The previous package's copy of a quarantined input :meth:`reusable` accepted (same bytes: reuse is keyed by their hash)."""
        if self._folder is None or not entry.get("kept_copy") or not entry.get("sha256"):
            return None
        return KeptCopy(self._folder / entry["kept_copy"], entry["bytes"], entry["sha256"])

    @property
    def has_entries(self) -> bool:
        return bool(self._index or self._problems)

    def reusable(self, relative: str, sha256: str) -> bool:
        """Whether the input's bytes are those the previous build read under this parser: every outcome of
        the input (each item's record or quarantine entry) is then the previous one."""
        indexed = self._index.get(relative)
        entries = self._problems.get(relative, [])
        if (indexed is None and not entries) or relative in self._decided_each_time:
            return False
        # A multi-item input may have records and quarantined items: all must be of these very bytes
        # (a record of other bytes means the input changed; its stale entries are not reused).
        return (indexed in (None, sha256)) and all(entry.get("input_key", entry.get("sha256")) == sha256
                                                   for entry in entries)

    def _group_of(self, position: int) -> int:
        return bisect.bisect_right(self._group_starts, position) - 1

    def _keys_at(self, position: int) -> int:
        """Load the keys of the row group holding ``position``; return the row's index in :attr:`_keys`."""
        group = self._keys_group
        if not (group >= 0 and self._group_starts[group] <= position < self._group_starts[group + 1]):
            assert self._parquet is not None
            group = self._group_of(position)
            # Only the short columns become Python values, one row group at a time.
            columns = [*_TAKE_COLUMNS, *self._unique]
            table = self._parquet.read_row_group(group, columns=columns)
            self._keys = {column: table.column(column).to_pylist() for column in columns}
            self._keys_group = group
        return position - self._group_starts[group]

    def take(self, relative: str) -> list[Outcome]:
        """The previous outcomes of an input :meth:`reusable` accepted: its records, in order, then its
        quarantined items (the order a build writes them in: records to the tables, problems to the list)."""
        self.hits += 1
        outcomes = []
        if relative in self._index:
            total = self._group_starts[-1]
            while True:
                position = self._position
                assert position < total, "inputs must be taken in order"
                at = self._keys_at(position)  # (may load the next row group's keys)
                if self._keys["source_file"][at] >= relative:
                    break
                self._position += 1  # a row whose input is gone or changed
            assert self._keys["source_file"][at] == relative, "inputs must be taken in order"
            while position < total and self._keys["source_file"][at] == relative:
                keys = self._keys
                outcomes.append(Outcome(reused=ReusedRow(position, keys["release_id"][at], keys["content_sha256"][at],
                                                         keys["source"][at], keys["published_date"][at],
                                                         keys["item"][at])))
                self._position = position = position + 1
                if position < total:
                    at = self._keys_at(position)
        for entry in self._problems.get(relative, []):
            outcomes.append(Outcome(problem=Problem(relative, entry["reason"], entry["message"], entry["stage"],
                                                    entry.get("details", {}), item=entry.get("item")),
                                    kept_copy=self._kept_copy(entry)))
        return outcomes

    def unique_values(self, position: int) -> dict[str, Any]:
        """The values of the schema's unique fields (other than release_id) in previous row ``position``.

        Read with the row's keys (the previous package was checked against this very schema, so the columns
        are there); :meth:`take` has just loaded them.
        """
        if not self._unique:
            return {}
        at = self._keys_at(position)
        return {name: self._keys[name][at] for name in self._unique}

    def rows(self, start: int, end: int) -> pa.Table:
        """Previous rows ``[start, end)`` as Arrow data, read one row group at a time (in order)."""
        assert self._parquet is not None
        pieces = []
        while start < end:
            group = self._group_of(start)
            if group != self._rows_group:
                self._rows_table = self._parquet.read_row_group(group)
                self._rows_group = group
            assert self._rows_table is not None
            offset = start - self._group_starts[group]
            count = min(end - start, self._rows_table.num_rows - offset)
            pieces.append(self._rows_table.slice(offset, count))
            start += count
        return pa.concat_tables(pieces)
