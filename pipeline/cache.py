"""Incremental builds: the previous package is the cache.

Every record carries ``source_file``, ``source_sha256`` and
``parser_version``, and every quarantine entry its ``path``, ``sha256`` and
``parser_version``. An input whose bytes, path and parser version are those
of the previous build gets the previous outcome without being transformed
again; anything else (a new or changed file, a new parser version, another
``--source``) is transformed. Records are stored in input order, so the
previous Parquet file is read once, as a stream, alongside the inputs:
memory does not grow with the archive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pyarrow.parquet as pq

from . import PARSER_VERSION
from .package import DESCRIPTOR_PATH, PARQUET_PATH, QUARANTINE_PATH
from .record import RELEASE_FIELDS, Problem
from .transform import Outcome, ReusedRow


def inputs_cache_path(package: Path) -> Path:
    """Beside the package, hidden: not part of it (packages stay byte-identical across machines)."""
    return package.with_name(f".{package.name}.inputs.json")


def save_inputs_cache(package: Path, entries: dict[str, list[Any]]) -> None:
    """Keep [size, mtime_ns, sha256] of every input beside the package, for the next build."""
    path = inputs_cache_path(package)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(entries), encoding="utf-8")
    temporary.replace(path)


class PreviousPackage:
    """Earlier outcomes by (relative path, content hash).

    :meth:`reusable` answers from a small index (three short columns);
    :meth:`take` then streams the previous rows, so only one batch of them is
    in memory at a time. Call :meth:`take` in input order.
    """

    def __init__(self, folder: Path | None, source: str) -> None:
        self.hits = 0
        self._stats: dict[str, list[Any]] = {}
        self._index: dict[str, str] = {}
        self._batches: Iterator[Any] = iter(())
        self._batch: Any = None
        self._keys: dict[str, list[Any]] = {}
        self._position = 0
        self._problems: dict[str, dict[str, Any]] = {}
        if folder is None or not (folder / PARQUET_PATH).is_file() or not (folder / DESCRIPTOR_PATH).is_file():
            return
        descriptor = json.loads((folder / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
        if descriptor.get("x_ogd", {}).get("source_option") != source:
            return  # built with another --source: outcomes may differ
        parquet = pq.ParquetFile(folder / PARQUET_PATH)
        if tuple(parquet.schema_arrow.names) != RELEASE_FIELDS:
            return  # written by another schema version: nothing to reuse
        keys = parquet.read(columns=["source_file", "source_sha256", "parser_version"])
        for path, sha256, version in zip(*(keys.column(i).to_pylist() for i in range(3))):
            if version == PARSER_VERSION:
                self._index[path] = sha256
        self._batches = iter(parquet.iter_batches(batch_size=1000))
        self._next_batch()
        stats_file = inputs_cache_path(folder)
        if stats_file.is_file():
            try:
                self._stats = json.loads(stats_file.read_text(encoding="utf-8"))
            except ValueError:
                self._stats = {}
        quarantine = folder / QUARANTINE_PATH
        if quarantine.is_file():
            with open(quarantine, encoding="utf-8") as handle:
                for line in handle:
                    entry = json.loads(line)
                    # A duplicate depends on other files, so it is decided again every time.
                    if entry.get("reason") != "duplicate" and entry.get("parser_version") == PARSER_VERSION:
                        self._problems[entry["path"]] = entry

    def known_hash(self, relative: str, stat: tuple[int, int] | None) -> str | None:
        """The content hash seen last time, when the file's size and mtime are unchanged."""
        entry = self._stats.get(relative)
        if stat is None or entry is None or tuple(entry[:2]) != stat:
            return None
        return entry[2]

    def reused_hash(self, relative: str) -> str | None:
        """The content hash of a reused record's input (as in the previous package)."""
        return self._index.get(relative) or (self._problems.get(relative) or {}).get("sha256")

    @property
    def has_entries(self) -> bool:
        return bool(self._index or self._problems)

    def reusable(self, relative: str, sha256: str) -> bool:
        if self._index.get(relative) == sha256:
            return True
        entry = self._problems.get(relative)
        return entry is not None and entry.get("sha256") == sha256

    def _next_batch(self) -> None:
        self._batch = next(self._batches, None)
        self._position = 0
        if self._batch is not None:
            # Only the short columns become Python values; the rows stay Arrow data.
            self._keys = {name: self._batch.column(name).to_pylist()
                          for name in ("source_file", "release_id", "content_sha256", "source", "published_date")}

    def _advance(self) -> None:
        self._position += 1
        if self._batch is not None and self._position >= self._batch.num_rows:
            self._next_batch()

    def take(self, relative: str) -> Outcome:
        """The previous outcome of an input :meth:`reusable` accepted."""
        self.hits += 1
        if relative in self._index:
            while self._batch is not None and self._keys["source_file"][self._position] < relative:
                self._advance()
            assert self._batch is not None and self._keys["source_file"][self._position] == relative, \
                "inputs must be taken in order"
            keys, at = self._keys, self._position
            reused = ReusedRow(self._batch, at, keys["release_id"][at], keys["content_sha256"][at],
                               keys["source"][at], keys["published_date"][at])
            self._advance()
            return Outcome(reused=reused)
        entry = self._problems[relative]
        return Outcome(problem=Problem(relative, entry["reason"], entry["message"], entry["stage"], entry.get("details", {})))
