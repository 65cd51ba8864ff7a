"""The spreadsheet CSV opened by a real spreadsheet program: LibreOffice Calc, headless, converting it to HTML.

Thai must come through intact, a formula must stay text, and a cut cell must show its note. LibreOffice is a
system package (Debian: libreoffice-calc-nogui, fonts-thai-tlwg for the glyphs); without it this test is skipped
and says so.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_spreadsheet import _write

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed: apt-get install "
                                                        "libreoffice-calc-nogui fonts-thai-tlwg")
# Comma, double quote, UTF-8 (76): what the import dialog's "Unicode (UTF-8)" choice sends. Headless conversion has no
# dialog and does not read the byte-order mark (measured: the header became 'ï»¿"release_id"').
CSV_UTF8 = "CSV:44,34,76"


def cells_in_libreoffice(csv_path: Path, out: Path) -> list[list[str]]:
    """The rows of the table LibreOffice Calc makes of the file (converted to HTML, which keeps cells as shown)."""
    env = {**os.environ, "HOME": str(out)}  # its profile goes to a folder of this test
    subprocess.run([str(SOFFICE), "--headless", f"--infilter={CSV_UTF8}", "--convert-to", "html", "--outdir", str(out),
                    str(csv_path)], check=True, capture_output=True, env=env, timeout=180)
    page = (out / (csv_path.stem + ".html")).read_text(encoding="utf-8")
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)
    text = lambda cell: html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()  # noqa: E731
    return [[text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def test_libreoffice_shows_thai_keeps_formulas_as_text_and_the_cut_note(tmp_path: Path) -> None:
    rows = [
        {"release_id": "prd-1", "title": "นายกรัฐมนตรีพบนักท่องเที่ยว", "contact_phone": "+66 2 618 2323",
         "published_date": dt.date(2024, 5, 1), "read_count": 7, "body": "เศรษฐกิจไทย"},
        {"release_id": "prd-2", "title": '=HYPERLINK("http://evil.example/","คลิก")', "contact_phone": None,
         "published_date": dt.date(2024, 5, 2), "read_count": 0, "body": "ข" * 40_000},
    ]
    _write(tmp_path, rows)
    table = cells_in_libreoffice(tmp_path / "releases-excel.csv", tmp_path / "calc")
    assert table[0][:3] == ["release_id", "title", "contact_phone"]
    assert table[1][:5] == ["prd-1", "นายกรัฐมนตรีพบนักท่องเที่ยว", "'+66 2 618 2323", "2024-05-01", "7"]
    assert table[1][5] == "เศรษฐกิจไทย"
    assert table[2][1] == '\'=HYPERLINK("http://evil.example/","คลิก")'  # shown as text, not run
    assert table[2][5].startswith("ข" * 1000) and "40,000" in table[2][5] and table[2][5].endswith("]")
