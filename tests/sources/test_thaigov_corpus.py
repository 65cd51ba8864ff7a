"""Acceptance on the whole shared thaigov corpus (3,000 real items)."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import THAIGOV_CORPUS
from helpers import read_quarantine, read_rows

pytestmark = pytest.mark.slow

# Each of these is a real defect of the input, checked below item by item.
REAL_DEFECTS = {"empty-release", "empty-body", "truncated", "duplicate"}


@pytest.fixture(scope="module")
def corpus_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("thaigov") / "thaigov-news"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "build", str(THAIGOV_CORPUS), "--out", str(out), "--json", "-q"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout)[0]


def test_every_input_is_accounted_for_and_98_percent_become_records(corpus_package) -> None:
    out, summary = corpus_package
    inputs = sorted(p.relative_to(THAIGOV_CORPUS).as_posix() for p in THAIGOV_CORPUS.rglob("*") if p.is_file())
    assert len(inputs) == 3000
    rows, parquet_rows = read_rows(out)
    quarantine = read_quarantine(out)
    accounted = sorted([r["source_file"] for r in rows] + [q["path"] for q in quarantine])
    assert accounted == inputs
    assert len(rows) >= 0.98 * 3000
    assert summary["counts"]["records"] == len(rows)
    assert rows == parquet_rows


def without_source_line(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.strip().startswith("ที่มา")]


def test_every_quarantine_reason_is_a_real_defect(corpus_package) -> None:
    out, _ = corpus_package
    rows, _ = read_rows(out)
    rows_by_id = {row["release_id"]: row for row in rows}
    seen: dict[str, int] = {}
    title_whole = title_resplit = 0
    for entry in read_quarantine(out):
        assert entry["reason"] in REAL_DEFECTS, entry
        seen[entry["reason"]] = seen.get(entry["reason"], 0) + 1
        text = (THAIGOV_CORPUS / entry["path"]).read_text(encoding="utf-8")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if entry["reason"] == "empty-release":
            assert lines[0] == "รัฐบาลไทย-" and "2513" in text
        elif entry["reason"] == "truncated":
            assert "..." in lines  # the body is only an ellipsis
        elif entry["reason"] == "empty-body":
            title = lines[0].removeprefix("รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-").strip()
            content = [l for l in lines[1:] if not l.startswith(("วัน", "ที่มา", "พิมพ์")) and not re.fullmatch(r"[\d/]+|-+", l)]
            # What stands below the title is the title again: whole on its lines, or re-split over lines.
            squash = lambda t: re.sub(r"[\s\W_]+", "", t)  # noqa: E731
            rest = [l for l in content if squash(l) not in (squash(title), "")]  # "" = symbols only
            if rest:
                assert squash("".join(rest)) == squash(title), entry["path"]
                title_resplit += 1
            else:
                assert squash(title) in {squash(l) for l in content}, entry["path"]
                title_whole += 1
        elif entry["reason"] == "duplicate":
            details = entry["details"]
            own_id = re.search(r"ที่มา\s*:\s*\S+/details/(\d+)", text)[1]
            assert details["release_id"] == f"thaigov-{own_id}"
            kept = rows_by_id[details["kept_release_id"]]
            assert kept["source_file"] < entry["path"]  # the first in input order is kept
            kept_text = (THAIGOV_CORPUS / kept["source_file"]).read_text(encoding="utf-8")
            if details["match"] == "release_id":
                assert details["kept_release_id"] == details["release_id"]
            else:
                # Republished under another id: the same item but for its source line.
                assert details["match"] == "content_sha256"
                assert details["kept_release_id"] != details["release_id"]
                assert without_source_line(text) == without_source_line(kept_text), entry["path"]
    # The corpus has each of these (counted by reading it): every branch above ran.
    assert {"empty-release", "empty-body", "duplicate"} <= set(seen), seen
    assert title_whole and title_resplit


def expected_date(ddmmyyyy: str) -> dt.date:
    """dd/mm/yyyy with a Buddhist-Era year (the corpus writes BE: 2566 = 2023), read here by hand."""
    day, month, year = (int(part) for part in ddmmyyyy.split("/"))
    return dt.date(year - 543 if year > 2400 else year, month, day)


def test_published_date_is_the_items_own_ddmmyyyy_line_and_ids_come_from_the_source_line(corpus_package) -> None:
    out, _ = corpus_package
    rows, _ = read_rows(out)
    checked = 0
    for row in rows:
        text = (THAIGOV_CORPUS / row["source_file"]).read_text(encoding="utf-8")
        numeric = re.search(r"^\s*(\d{1,2}/\d{1,2}/\d{4})\s*$", text, re.M)
        if numeric:
            assert row["published_date"] == expected_date(numeric.group(1)), row["source_file"]
            assert row["published_date_text"] == numeric.group(1)
            checked += 1
        source = re.search(r"ที่มา\s*:\s*(\S+/details/(\d+))", text)
        if source:
            assert row["source_url"] == source.group(1)
            assert row["release_id"] == f"thaigov-{source.group(2)}"
        # The file name is <news section>_<n>_<uuid>.txt; the section (spaces collapsed) is the category.
        section = re.fullmatch(r"(.+)_\d+_[0-9a-f-]{36}\.txt", Path(row["source_file"]).name)
        assert section, row["source_file"]
        assert row["category"] == re.sub(r"\s+", " ", section[1].replace("_", " ")).strip(), row["source_file"]
    assert checked > 1700


def test_english_items_are_tagged_and_frictionless_passes(corpus_package) -> None:
    out, _ = corpus_package
    rows, _ = read_rows(out)
    languages = {row["language"] for row in rows}
    assert {"th", "en"} <= languages
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["validation"]["valid"] is True
    frictionless = Path(sys.executable).parent / "frictionless"
    result = subprocess.run([str(frictionless), "validate", "datapackage.json"], cwd=out, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
