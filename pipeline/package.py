"""Package: write a Frictionless data package, streaming, atomically.

Layout of a package folder::

    datapackage.json          descriptor (resources carry bytes + sha256 hash)
    data/releases.csv         UTF-8, RFC 4180 (CRLF, quoted where needed)
    data/releases.parquet     the same rows, Arrow types from the schema, zstd
    quarantine.jsonl          one line per input that is not a record
    quarantine/files/...      the quarantined inputs themselves, byte for byte
    report.json               counts, per-reason counts, validation, timings

Everything but ``report.json`` is a pure function of the inputs (no
wall-clock times), so two builds of the same inputs are byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from . import PARSER_VERSION
from .record import RELEASE_FIELDS, Problem, load_table_schema

CSV_PATH = "data/releases.csv"
PARQUET_PATH = "data/releases.parquet"
QUARANTINE_PATH = "quarantine.jsonl"
QUARANTINE_FILES = "quarantine/files"
REPORT_PATH = "report.json"
DESCRIPTOR_PATH = "datapackage.json"

LONG_TEXT_FIELDS = {"title", "subtitle", "body", "body_words", "source_url", "source_file", "published_date_text"}

_ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
}


def arrow_schema(table_schema: dict[str, Any]) -> pa.Schema:
    """Arrow schema matching a Table Schema (required fields are non-nullable)."""
    return pa.schema(
        [
            pa.field(
                f["name"],
                _ARROW_TYPES[f["type"]],
                nullable=not f.get("constraints", {}).get("required", False),
            )
            for f in table_schema["fields"]
        ]
    )


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class HashingFile:
    """A binary file that counts and hashes what is written to it (no second read afterwards)."""

    def __init__(self, path: Path) -> None:
        self._handle = open(path, "wb")
        self._digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._digest.update(view)
        self.size += view.nbytes
        return self._handle.write(view)

    def flush(self) -> None:
        self._handle.flush()

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
            self.closed = True

    @property
    def digest(self) -> tuple[int, str]:
        return self.size, self._digest.hexdigest()


class PackageWriter:
    """Streams rows into CSV and Parquet in batches; memory stays bounded by the batch.

    Each batch is checked against the Table Schema as it is written
    (:class:`pipeline.tablecheck.TableChecker`, Frictionless' rules), except
    rows reused unchanged from a previous package that passed the same checks.
    """

    def __init__(self, folder: Path, *, batch_size: int = 2000) -> None:
        self.folder = folder
        self.table_schema = load_table_schema()
        names = tuple(f["name"] for f in self.table_schema["fields"])
        if names != RELEASE_FIELDS:
            raise RuntimeError("schemas/releases.schema.json and pipeline.record.Release disagree on fields")
        self.schema = arrow_schema(self.table_schema)
        (folder / "data").mkdir(parents=True, exist_ok=True)
        self._csv_file = HashingFile(folder / CSV_PATH)
        self._parquet_file = HashingFile(folder / PARQUET_PATH)
        self._csv = pa_csv.CSVWriter(
            self._csv_file,
            self.schema,
            write_options=pa_csv.WriteOptions(include_header=True, eol="\r\n", quoting_style="all_valid"),
        )
        # Statistics and dictionaries help the short columns (ids, dates, categories);
        # on long unique texts (title, body, body_words...) they only cost time.
        short = [f["name"] for f in self.table_schema["fields"] if f["name"] not in LONG_TEXT_FIELDS]
        self._parquet = pq.ParquetWriter(
            self._parquet_file, self.schema, compression="zstd",
            write_statistics=short, use_dictionary=short,
        )
        self._quarantine = open(folder / QUARANTINE_PATH, "w", encoding="utf-8", newline="\n")
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="package-writer")
        self._writes: list[Any] = []
        self._columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self._python_rows = 0  # rows waiting in self._columns
        self._parts: list[tuple[pa.Table, bool]] = []  # (rows, already checked), in order, before the Python ones
        from .tablecheck import TableChecker

        self.checker = TableChecker(self.table_schema, check_keys=False)
        self.rows_checked = 0
        self._run: list[Any] | None = None  # [record batch, start, end): reused rows not yet sliced
        self._pending = 0
        self._batch_size = batch_size
        self.rows = 0
        self.min_date: Any = None
        self.max_date: Any = None

    def add_row(self, row: dict[str, Any]) -> None:
        self._close_run()
        for name, values in self._columns.items():
            values.append(row[name])
        self._python_rows += 1
        self._count(row["published_date"])

    def add_previous(self, batch: pa.RecordBatch, index: int, published_date: Any) -> None:
        """A row reused from the previous package, passed on as Arrow data (no Python objects)."""
        self._close_python_rows()
        run = self._run
        if run is not None and run[0] is batch and run[2] == index:
            run[2] += 1
        else:
            self._close_run()
            self._run = [batch, index, index + 1]
        self._count(published_date)

    def _count(self, date: Any) -> None:
        self._pending += 1
        self.rows += 1
        self.min_date = date if self.min_date is None or date < self.min_date else self.min_date
        self.max_date = date if self.max_date is None or date > self.max_date else self.max_date
        if self._pending >= self._batch_size:
            self._flush()

    def _close_run(self) -> None:
        if self._run is not None:
            batch, start, end = self._run
            self._parts.append((pa.Table.from_batches([batch.slice(start, end - start)]).cast(self.schema), True))
            self._run = None

    def _close_python_rows(self) -> None:
        if self._python_rows:
            # Column by column: much faster than converting a list of row dicts.
            self._parts.append((pa.table({name: pa.array(values, type=self.schema.field(name).type)
                                          for name, values in self._columns.items()}, schema=self.schema), False))
            self._columns = {name: [] for name in self.schema.names}
            self._python_rows = 0

    def add_problem(self, problem: Problem, input_path: str | None) -> str | None:
        """Record a quarantined input and keep a copy of its bytes beside the package; return its sha256."""
        entry = {"path": problem.path, "reason": problem.reason, "message": problem.message,
                 "stage": problem.stage, "details": problem.details, "parser_version": PARSER_VERSION}
        if input_path is not None and os.path.isfile(input_path):
            kept = self.folder / QUARANTINE_FILES / problem.path
            kept.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(input_path, kept)
            except OSError as exc:  # an unreadable input (read-error) stays listed, with why no copy exists
                entry["kept_copy"] = None
                entry["copy_error"] = exc.strerror
            else:
                size, sha = file_digest(kept)
                entry.update({"kept_copy": f"{QUARANTINE_FILES}/{problem.path}", "bytes": size, "sha256": sha})
        self._quarantine.write(json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str) + "\n")
        return entry.get("sha256")

    def _flush(self) -> None:
        self._close_run()
        self._close_python_rows()
        if not self._parts:
            return
        table = pa.concat_tables([part for part, _ in self._parts])
        # Both writers release the GIL and run in threads: this batch is written while the
        # next one is prepared (double buffering: one batch written at a time, in order).
        self._wait_for_writes()
        self._writes = [self._executor.submit(self._parquet.write_table, table),
                        self._executor.submit(self._csv.write_table, table)]
        for part, checked in self._parts:
            if checked:
                self.checker.skip(part.num_rows)
            else:
                self.checker.check(as_text(part))
                self.rows_checked += part.num_rows
        self._parts = []
        self._pending = 0

    def _wait_for_writes(self) -> None:
        writes, self._writes = self._writes, []
        for write in writes:
            write.result()

    def close(self) -> None:
        try:
            self._flush()
            self._wait_for_writes()
        finally:
            self._executor.shutdown()
            self._csv.close()
            self._parquet.close()
            self._csv_file.close()
            self._parquet_file.close()
            self._quarantine.close()

    @property
    def digests(self) -> dict[str, tuple[int, str]]:
        """(size, sha256) of the data files, keyed by their path, once closed."""
        return {str(self.folder / CSV_PATH): self._csv_file.digest,
                str(self.folder / PARQUET_PATH): self._parquet_file.digest}


def as_text(table: pa.Table) -> pa.Table:
    """Typed values as the text the CSV holds (dates ISO, integers in decimal, nulls empty)."""
    return pa.table({name: pc.fill_null(pc.cast(table.column(name), pa.string()), "") for name in table.column_names})


def build_descriptor(
    folder: Path,
    *,
    digests: dict[str, tuple[int, str]],
    name: str,
    title: str,
    title_en: str,
    description: str,
    version: str,
    license_id: str,
    keywords: tuple[str, ...],
    sources: list[dict[str, str]],
    contributors: list[dict[str, str]],
    homepage: str | None,
    temporal: dict[str, str] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The ``datapackage.json`` descriptor for the files already written in ``folder``."""
    table_schema = {k: v for k, v in load_table_schema().items() if not k.startswith("$")}
    resources = []
    for res_name, path, fmt, mediatype, res_title in (
        ("releases", CSV_PATH, "csv", "text/csv", "Releases (CSV)"),
        ("releases-parquet", PARQUET_PATH, "parquet", "application/vnd.apache.parquet", "Releases (Parquet)"),
    ):
        size, sha = digests[str(folder / path)]
        resource: dict[str, Any] = {
            "name": res_name,
            "title": res_title,
            "path": path,
            "profile": "tabular-data-resource",
            "format": fmt,
            "mediatype": mediatype,
            "bytes": size,
            "hash": f"sha256:{sha}",
            "schema": table_schema,
        }
        if fmt == "parquet":
            # Frictionless reads Parquet through pandas, where a null integer
            # becomes float NaN; "nan" as a missing value keeps those nulls null.
            resource["schema"] = {**table_schema, "missingValues": ["", "nan"]}
            # Nor does it count the bytes it reads through pandas, so a "bytes"
            # or "hash" property would always fail; ours are kept under x_ names
            # and checked by `ogd validate` and `ogd pull`.
            resource["x_bytes"] = resource.pop("bytes")
            resource["x_hash"] = resource.pop("hash")
        if fmt == "csv":
            resource["encoding"] = "utf-8"
            resource["dialect"] = {"delimiter": ",", "lineTerminator": "\r\n", "quoteChar": '"', "doubleQuote": True, "header": True}
        resources.append(resource)
    descriptor: dict[str, Any] = {
        "profile": "tabular-data-package",
        "name": name,
        "title": title,
        "title_en": title_en,
        "description": description,
        "version": version,
        "licenses": [_license(license_id)],
        "keywords": list(keywords),
        "sources": sources,
        "contributors": contributors,
    }
    if homepage:
        descriptor["homepage"] = homepage
    if temporal:
        descriptor["temporal"] = temporal
    descriptor.update(extra)
    descriptor["resources"] = resources
    return descriptor


_LICENSES = {
    "CC-BY-4.0": ("Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    "CC-BY-SA-4.0": ("Creative Commons Attribution Share-Alike 4.0", "https://creativecommons.org/licenses/by-sa/4.0/"),
    "CC0-1.0": ("CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
    "ODC-BY-1.0": ("Open Data Commons Attribution License 1.0", "https://opendatacommons.org/licenses/by/1-0/"),
    "ODbL-1.0": ("Open Data Commons Open Database License 1.0", "https://opendatacommons.org/licenses/odbl/1-0/"),
    "PDDL-1.0": ("Open Data Commons Public Domain Dedication and License 1.0", "https://opendatacommons.org/licenses/pddl/1-0/"),
}


def _license(license_id: str) -> dict[str, str]:
    title, path = _LICENSES.get(license_id, (license_id, ""))
    entry = {"name": license_id, "title": title}
    if path:
        entry["path"] = path
    return entry


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (temp file + rename), UTF-8, stable key order."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def publish_folder(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` so that a crash never leaves a half package.

    Both are renames within one parent folder. Between them the previous
    package sits at ``<target>.previous``; :func:`recover` puts it back if a
    run died right there.
    """
    previous = target.with_name(target.name + ".previous")
    if previous.exists():
        shutil.rmtree(previous)
    if target.exists():
        os.rename(target, previous)
    os.rename(staging, target)
    if previous.exists():
        shutil.rmtree(previous)


def recover(target: Path) -> None:
    """Undo an interrupted swap and clear stale staging folders of ``target``."""
    previous = target.with_name(target.name + ".previous")
    if previous.exists() and not target.exists():
        os.rename(previous, target)
    for stale in target.parent.glob(f".{target.name}.building-*"):
        shutil.rmtree(stale, ignore_errors=True)
