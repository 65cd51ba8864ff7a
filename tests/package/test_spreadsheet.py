"""The spreadsheet-facing CSV: formulas neutralised (OWASP), Thai readable (BOM), long cells cut visibly."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.spreadsheet import CELL_LIMIT, write_spreadsheet_csv

SCHEMA = {"fields": [
    {"name": "release_id", "type": "string"},
    {"name": "title", "type": "string"},
    {"name": "contact_phone", "type": "string"},
    {"name": "published_date", "type": "date"},
    {"name": "read_count", "type": "integer"},
    {"name": "body", "type": "string"},
]}


def _write(tmp_path: Path, rows: list[dict]) -> tuple[bytes, dict[str, int]]:
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("release_id", pa.string()), ("title", pa.string()), ("contact_phone", pa.string()),
        ("published_date", pa.date32()), ("read_count", pa.int64()), ("body", pa.string())]))
    parquet = tmp_path / "releases.parquet"
    pq.write_table(table, parquet)
    target = tmp_path / "releases-excel.csv"
    counts = write_spreadsheet_csv(parquet, SCHEMA, target, batch_rows=2)
    return target.read_bytes(), counts


def test_formula_cells_get_the_text_marker_and_the_machine_values_do_not(tmp_path: Path) -> None:
    rows = [
        {"release_id": "prd-1", "title": '=HYPERLINK("http://evil.example/","คลิก")', "contact_phone": "+66 2 618 2323",
         "published_date": dt.date(2024, 5, 1), "read_count": 7, "body": "@SUM(1+1)\nบรรทัดสอง"},
        {"release_id": "prd-2", "title": "-ข่าว", "contact_phone": None, "published_date": dt.date(2024, 5, 2),
         "read_count": None, "body": "\tcmd|' /C calc'!A0"},
        {"release_id": "prd-3", "title": "ข่าวปกติ a=b", "contact_phone": None, "published_date": dt.date(2024, 5, 3),
         "read_count": 0, "body": "ธรรมดา"},
    ]
    data, counts = _write(tmp_path, rows)
    assert data.startswith(b"\xef\xbb\xbf"), "a UTF-8 BOM, so Excel reads Thai as UTF-8"
    text = data[3:].decode("utf-8")
    assert "\r\n" in text
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == ["release_id", "title", "contact_phone", "published_date", "read_count", "body"]
    assert parsed[1] == ["prd-1", '\'=HYPERLINK("http://evil.example/","คลิก")', "'+66 2 618 2323", "2024-05-01", "7",
                         "'@SUM(1+1)\nบรรทัดสอง"]
    assert parsed[2] == ["prd-2", "'-ข่าว", "", "2024-05-02", "", "'\tcmd|' /C calc'!A0"]
    assert parsed[3] == ["prd-3", "ข่าวปกติ a=b", "", "2024-05-03", "0", "ธรรมดา"]
    assert counts == {"rows": 3, "neutralised": 5, "cut": 0}
    # Every cell is quoted, so a spreadsheet never splits or re-interprets one.
    assert text.splitlines()[1].startswith('"prd-1","\'=HYPERLINK(""http://evil.example/"",""คลิก"")"')


def test_a_cell_over_the_spreadsheet_limit_is_cut_visibly(tmp_path: Path) -> None:
    body = "ก" * 40_000
    rows = [{"release_id": "prd-9", "title": "ยาว", "contact_phone": None, "published_date": dt.date(2024, 1, 1),
             "read_count": 1, "body": body}]
    data, counts = _write(tmp_path, rows)
    cell = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))[1][5]
    assert len(cell) == 32_767 == CELL_LIMIT
    assert cell.startswith("ก" * 30_000)
    assert cell.endswith("]")
    assert "40,000" in cell and "releases.csv" in cell and "body" in cell
    assert counts["cut"] == 1


def test_owasp_triggers_all_get_the_marker_phone_numbers_included(tmp_path: Path) -> None:
    # OWASP CSV Injection: = + - @ tab, carriage return; ASVS 5.0 1.2.10 adds the null character
    starts = ["=1+1", "+66 2 618 2323", "-2+3", "@SUM(A1)", "\tx", "\rx", "\x00x", "ก=1", " =1"]
    rows = [{"release_id": f"prd-{n}", "title": start, "contact_phone": None, "published_date": dt.date(2024, 5, 1),
             "read_count": 1, "body": "ข่าว"} for n, start in enumerate(starts)]
    data, counts = _write(tmp_path, rows)
    titles = [row[1] for row in csv.reader(io.StringIO(data[3:].decode("utf-8"), newline=""))][1:]
    assert titles == ["'=1+1", "'+66 2 618 2323", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "'\x00x", "ก=1", " =1"]
    assert counts["neutralised"] == 7
