"""Parts of a large table: one CSV, Parquet and spreadsheet file per year (or month) of ``published_date``.

Real portals cap uploads (CKAN's default is 10 MB; agencies set 100–500 MB), and
a consumer of an archive wants a year, not 1 GB. The build writes the whole
table as always (``data/releases.*``: the incremental machinery copies its
batches) and, when the dataset is partitioned, its parts under ``data/parts/``
(Parquet row groups of their own rows, whatever the whole table's batches)
from the whole Parquet file, streamed one row group at a time: memory stays
bounded by one batch whatever the archive's size. Rows keep their order in the
table; a part's bytes depend only on its rows, so adding today's releases
leaves every other year's files byte for byte as they were (and a publish
skips them: their hashes did not change).

Each part is a Frictionless tabular resource with the Table Schema (CSV and
Parquet); its spreadsheet copy is described under ``x_ogd.parts`` as the
whole table's is under ``x_ogd.spreadsheet``.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..streaming import open_parquet
from ..spreadsheet import WRITE_OPTIONS, spreadsheet_table, text_fields_of, text_schema
from .files import HashingFile
from .layout import BATCH_ROWS, LONG_TEXT_FIELDS, PARQUET_PATH, PARTS_DIR

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "PARTITIONS", "PARTS_DIR", "Partition", "resolve_partition",
           "write_parts"]
Partition = Literal["auto", "year", "month", "none"]
PARTITIONS: tuple[str, ...] = ("auto", "year", "month", "none")
#: The upload cap assumed when none is configured: below what agencies set (100–500 MB), over CKAN's default (10 MB).
DEFAULT_MAX_UPLOAD_BYTES = 100_000_000


def resolve_partition(partition: str, whole_csv_bytes: int, max_upload_bytes: int) -> str:
    """``auto``: by year when the whole CSV would not fit one upload, else none; the other modes as they are."""
    if partition == "auto":
        return "year" if whole_csv_bytes > max_upload_bytes else "none"
    return partition


@dataclass
class PartFiles:
    """One part's three files (CSV, Parquet, spreadsheet CSV), written batch by batch."""

    key: str
    folder: Path
    schema: pa.Schema
    short_fields: list[str]
    excel_schema: pa.Schema
    text_fields: set[str]
    rows: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"neutralised": 0, "cut": 0})
    _pending: list[pa.Table] = field(default_factory=list)  # Parquet rows not yet in a row group
    _pending_rows: int = 0

    def __post_init__(self) -> None:
        base = self.folder / PARTS_DIR / f"releases-{self.key}"
        self.paths = {"csv": base.with_name(base.name + ".csv"), "parquet": base.with_name(base.name + ".parquet"),
                      "excel": base.with_name(base.name + "-excel.csv")}
        self.files = {kind: HashingFile(path) for kind, path in self.paths.items()}
        self.files["excel"].write(codecs.BOM_UTF8)  # as the whole table's spreadsheet copy
        # The whole table's writing options: a part reads like a slice of releases.csv / releases.parquet.
        self.csv = pa_csv.CSVWriter(self.files["csv"], self.schema,
                                    write_options=pa_csv.WriteOptions(include_header=True, eol="\r\n",
                                                                      quoting_style="all_valid"))
        self.excel = pa_csv.CSVWriter(self.files["excel"], self.excel_schema,
                                      write_options=pa_csv.WriteOptions(include_header=True, **WRITE_OPTIONS))
        self.parquet = pq.ParquetWriter(self.files["parquet"], self.schema, compression="zstd",
                                        write_statistics=self.short_fields, use_dictionary=self.short_fields,
                                        write_page_index=False)

    def write(self, table: pa.Table) -> None:
        table = table.combine_chunks()  # pages are cut at chunk boundaries: one chunk keeps the bytes stable
        self.csv.write_table(table)  # CSV bytes do not depend on how the rows come in batches
        self.excel.write_table(spreadsheet_table(table, self.text_fields, self.counts).cast(self.excel_schema))
        self.rows += table.num_rows
        # Parquet row groups of BATCH_ROWS rows of this part: its bytes depend on its own rows only, not on where
        # the whole table's batches fall (a release added earlier in the table must not change later years' files).
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= BATCH_ROWS:
            self._write_group(BATCH_ROWS)

    def _write_group(self, rows: int) -> None:
        pending = pa.concat_tables(self._pending)
        self.parquet.write_table(pending.slice(0, rows).combine_chunks(), row_group_size=rows)
        rest = pending.slice(rows)
        self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self) -> dict[str, Any]:
        """Close the files; the part as ``x_ogd.parts`` lists it."""
        if self._pending_rows:
            self._write_group(self._pending_rows)
        for writer in (self.csv, self.excel, self.parquet):
            writer.close()
        entry: dict[str, Any] = {"key": self.key, "rows": self.rows}
        for kind, handle in self.files.items():
            handle.close()
            size, sha256 = handle.digest
            entry[kind] = {"path": self.paths[kind].relative_to(self.folder).as_posix(), "bytes": size,
                           "hash": f"sha256:{sha256}"}
        entry["spreadsheet_counts"] = dict(self.counts)
        return entry


def write_parts(folder: Path, table_schema: dict[str, Any], schema: pa.Schema, partition: str) -> list[dict[str, Any]]:
    """Write the parts of ``folder``'s whole Parquet table by ``partition`` ("year" or "month"); return them,
    in key order, as ``x_ogd.parts`` lists them. Nothing is written for "none"."""
    if partition == "none":
        return []
    (folder / PARTS_DIR).mkdir(parents=True, exist_ok=True)
    short = [f["name"] for f in table_schema["fields"] if f["name"] not in LONG_TEXT_FIELDS]
    excel_schema, text_fields = text_schema(table_schema), text_fields_of(table_schema)
    source = open_parquet(folder / PARQUET_PATH)
    key_format = "%Y" if partition == "year" else "%Y-%m"
    # First the keys of each row group (one short column), then one part at a time: three files open, whatever
    # the number of parts (months of decades would exceed a process's file handles if all were open at once).
    groups_of: dict[str, list[int]] = {}
    for group in range(source.metadata.num_row_groups):
        dates = source.read_row_group(group, columns=["published_date"]).column("published_date")
        for key in set(pc.strftime(dates, format=key_format).to_pylist()):
            groups_of.setdefault(key, []).append(group)
    entries = []
    cached: tuple[int, pa.Table, pa.Array] | None = None  # the last row group read (neighbouring parts share one)
    for key in sorted(groups_of):
        part = PartFiles(key, folder, schema, short, excel_schema, text_fields)
        try:
            for group in groups_of[key]:
                if cached is None or cached[0] != group:
                    table = source.read_row_group(group).cast(schema)
                    cached = (group, table, pc.strftime(table.column("published_date"), format=key_format))
                _, table, keys = cached
                part.write(table.filter(pc.equal(keys, key)))
        except BaseException:
            for handle in part.files.values():
                handle.close()
            raise
        entries.append(part.close())
    return entries
