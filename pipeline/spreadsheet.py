"""The spreadsheet-facing CSV: what a person opens by double-click, kept apart from the exact machine CSV.

``data/releases.csv`` is the Frictionless resource: exact values, checked
against the Table Schema, for programs. A spreadsheet program reads a CSV
differently, and three things go wrong there:

* Excel reads a CSV without a byte-order mark in the ANSI code page, so Thai
  turns into mojibake: this file starts with the UTF-8 BOM.
* A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return is read as a formula (CSV injection: a title such as
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
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

CELL_LIMIT = 32_767  # Excel's maximum characters in one cell (LibreOffice Calc allows more; Excel is the floor)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def cut_note(field: str, length: int) -> str:
    """The visible end of a cut cell (Thai and English), naming the column and the whole text's length."""
    return (f" …[ตัดเหลือ {CELL_LIMIT:,} ตัวอักษรเพราะยาวเกินเซลล์ของโปรแกรมตารางคำนวณ; ข้อความเต็ม {length:,} ตัวอักษร"
            f" อยู่ในคอลัมน์ {field} ของ releases.csv / cut to fit a spreadsheet cell: the full {field} "
            f"({length:,} characters) is in releases.csv and releases.parquet]")


def spreadsheet_cell(value: Any, field: str, *, text: bool) -> tuple[str, bool]:
    """One cell as a spreadsheet should receive it, and whether it was cut.

    ``text`` says the column is a string column of the Table Schema: only text
    can carry a formula; typed values are written as the machine CSV writes them.
    """
    if value is None:
        return "", False
    if not text:
        if isinstance(value, bool):
            return ("true" if value else "false"), False
        return (value.isoformat() if hasattr(value, "isoformat") else str(value)), False
    cell = str(value)
    if cell.startswith(FORMULA_TRIGGERS):
        cell = "'" + cell
    if len(cell) > CELL_LIMIT:
        note = cut_note(field, len(str(value)))
        return cell[: CELL_LIMIT - len(note)] + note, True
    return cell, False


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


def spreadsheet_lines(table_schema: dict[str, Any], batches: Iterable[pa.RecordBatch],
                      counts: dict[str, int]) -> Iterable[str]:
    """CSV lines (CRLF, every cell quoted): the header, then one line per row; counts cut and neutralised cells."""
    fields = [f["name"] for f in table_schema["fields"]]
    is_text = {f["name"]: f["type"] == "string" for f in table_schema["fields"]}
    yield ",".join(_quoted(name) for name in fields) + "\r\n"
    for batch in batches:
        for row in batch.to_pylist():
            cells = []
            for name in fields:
                value = row.get(name)
                cell, cut = spreadsheet_cell(value, name, text=is_text[name])
                if is_text[name] and value is not None and str(value).startswith(FORMULA_TRIGGERS):
                    counts["neutralised"] += 1
                counts["cut"] += cut
                cells.append(_quoted(cell))
            counts["rows"] += 1
            yield ",".join(cells) + "\r\n"


def write_spreadsheet_csv(parquet_path: Path, table_schema: dict[str, Any], target: Path,
                          batch_rows: int = 2000) -> dict[str, int]:
    """Write the spreadsheet CSV of a package's Parquet file (streamed: memory bounded by one batch).

    Returns counts: ``rows``, ``neutralised`` (cells given the text marker) and ``cut`` (cells cut visibly).
    """
    counts = {"rows": 0, "neutralised": 0, "cut": 0}
    batches = pq.ParquetFile(parquet_path).iter_batches(batch_size=batch_rows)
    temporary = target.with_name(target.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(codecs.BOM_UTF8)
        for line in spreadsheet_lines(table_schema, batches, counts):
            handle.write(line.encode("utf-8"))
    temporary.replace(target)
    return counts
