"""The spreadsheet-facing CSV: what a person opens by double-click, kept apart from the exact machine CSV.

``data/releases.csv`` is the Frictionless resource: exact values, checked
against the Table Schema, for programs. A spreadsheet program reads a CSV
differently, and three things go wrong there:

* Excel reads a CSV without a byte-order mark in the ANSI code page, so Thai
  turns into mojibake: this file starts with the UTF-8 BOM.
* A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage
  return or a null character is read as a formula (CSV injection: a title such as
  ``=HYPERLINK("http://…")`` becomes a live link, and DDE payloads run
  commands). As OWASP recommends for CSV meant for spreadsheets, such a text
  cell is prefixed with a single quote (shown by spreadsheets as a text
  marker), every cell is quoted and embedded quotes are doubled. Numbers and
  dates are typed columns, never text, so they are left as they are.
* A cell longer than a spreadsheet allows (Excel: 32,767 characters) is cut
  by the program without a word. Here it is cut *visibly*: the cell ends with
  a note that names the column and the full length and says where the whole
  text is.

The machine CSV is never changed by any of this.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from .streaming import open_parquet

CELL_LIMIT = 32_767  # Excel's maximum characters in one cell (LibreOffice Calc allows more; Excel is the floor)
# OWASP's CSV Injection page lists = + - @ tab and carriage return; OWASP ASVS 5.0 (1.2.10) adds the null character.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")


def cut_note(field: str, length: int) -> str:
    """The visible end of a cut cell (Thai and English), naming the column and the whole text's length."""
    return (f" …[ตัดเหลือ {CELL_LIMIT:,} ตัวอักษรเพราะยาวเกินเซลล์ของโปรแกรมตารางคำนวณ; ข้อความเต็ม {length:,} ตัวอักษร"
            f" อยู่ในคอลัมน์ {field} ของ releases.csv / cut to fit a spreadsheet cell: the full {field} "
            f"({length:,} characters) is in releases.csv and releases.parquet]")


SPREADSHEET_PATH = "data/releases-excel.csv"
DESCRIPTION = (
    "The same rows as data/releases.csv, for Excel and other spreadsheet programs: UTF-8 with a byte-order mark, "
    "every cell quoted, CRLF; a text cell that starts with = + - @, a tab or a carriage return gets a leading ' "
    "(never run as a formula); a cell longer than 32,767 characters is cut with a note. Not a Frictionless resource: "
    "its values deliberately differ from the exact ones; programs should read data/releases.csv or the Parquet file."
)
WRITE_OPTIONS = {"quoting_style": "all_valid", "eol": "\r\n"}


def spreadsheet_table(table: pa.Table, text_fields: set[str], counts: dict[str, int]) -> pa.Table:
    """The cells of ``table`` as a spreadsheet should receive them, all as strings (nulls empty); adds to ``counts``.

    Column by column with Arrow: text cells that start with a formula trigger get
    the ``'`` marker, cells over :data:`CELL_LIMIT` characters are cut with
    :func:`cut_note` (only those few cells go through Python). Typed columns are
    written as the machine CSV writes them.
    """
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if name not in text_fields:
            columns[name] = pc.fill_null(pc.cast(column, pa.string()), "")
            continue
        column = pc.cast(column, pa.string())
        triggered = None
        for trigger in FORMULA_TRIGGERS:
            starts = pc.starts_with(column, trigger)
            triggered = starts if triggered is None else pc.or_(triggered, starts)
        triggered = pc.fill_null(triggered, False)
        neutralised = pc.sum(triggered).as_py() or 0
        if neutralised:
            counts["neutralised"] += neutralised
            column = pc.if_else(triggered, pc.binary_join_element_wise("'", column, ""), column)
        column = pc.fill_null(column, "")
        # A character is at most 4 bytes: only cells over the limit in bytes may be over it in characters.
        maybe_long = pc.greater(pc.binary_length(column), CELL_LIMIT)
        if pc.any(maybe_long).as_py():
            long_cells = pc.indices_nonzero(pc.and_(maybe_long, pc.greater(pc.utf8_length(column), CELL_LIMIT)))
            if len(long_cells):
                # Only the long cells become Python strings; the rest of the column stays in Arrow.
                lengths = pc.take(pc.utf8_length(pc.cast(table.column(name), pa.string())), long_cells).to_pylist()
                cut = []
                for cell, length in zip(pc.take(column, long_cells).to_pylist(), lengths):
                    note = cut_note(name, length)
                    cut.append(cell[: CELL_LIMIT - len(note)] + note)
                counts["cut"] += len(long_cells)
                mask = pc.is_in(pa.array(range(len(column)), pa.int64()), value_set=long_cells.cast(pa.int64()))
                column = pc.replace_with_mask(column, mask, pa.array(cut, pa.string()))
        columns[name] = column
    return pa.table(columns)


def text_fields_of(table_schema: dict[str, Any]) -> set[str]:
    """The string columns of the Table Schema: only text can carry a formula."""
    return {f["name"] for f in table_schema["fields"] if f["type"] == "string"}


def text_schema(table_schema: dict[str, Any]) -> pa.Schema:
    return pa.schema([pa.field(f["name"], pa.string(), nullable=False) for f in table_schema["fields"]])


def write_spreadsheet_csv(parquet_path: Path, table_schema: dict[str, Any], target: Path,
                          batch_rows: int = 2000) -> dict[str, int]:
    """Write the spreadsheet CSV of a package's Parquet file (streamed: memory bounded by one batch).

    Returns counts: ``rows``, ``neutralised`` (cells given the text marker) and ``cut`` (cells cut visibly).
    (The build writes the same bytes batch by batch as it writes the package: :class:`pipeline.package.writer.PackageWriter`.)
    """
    counts = {"rows": 0, "neutralised": 0, "cut": 0}
    fields = [f["name"] for f in table_schema["fields"]]
    text_fields = text_fields_of(table_schema)
    schema = text_schema(table_schema)
    temporary = target.with_name(target.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(codecs.BOM_UTF8)
        with pa_csv.CSVWriter(handle, schema,
                              write_options=pa_csv.WriteOptions(**WRITE_OPTIONS)) as writer:
            for batch in open_parquet(parquet_path).iter_batches(batch_size=batch_rows, columns=fields):
                table = pa.Table.from_batches([batch])
                writer.write_table(spreadsheet_table(table, text_fields, counts).cast(schema))
                counts["rows"] += table.num_rows
    temporary.replace(target)
    return counts
