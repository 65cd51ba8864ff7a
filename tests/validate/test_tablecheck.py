"""The fast package check reports exactly what Frictionless reports, on a dirty package."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from helpers import copy_thaigov, read_rows

from pipeline.build.run import build_dataset
from pipeline.config import ad_hoc_dataset
from pipeline.validate.tables import validate_package_fast
from pipeline.validate.reference import validate_package


@pytest.fixture(scope="module")
def clean_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("tablecheck")
    copy_thaigov(base / "in", 12, step=89)
    out = base / "pkg"
    assert build_dataset(ad_hoc_dataset("tablecheck", [base / "in"], "auto", 0.5), out, workers=1).ok
    return out


def rewrite_csv(package: Path, rows: list[dict], *, fix_stats: bool) -> None:
    path = package / "data" / "releases.csv"
    header = list(rows[0])
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if row[k] is None else str(row[k]) for k in header])
    if fix_stats:
        from pipeline.hashing import file_digest

        descriptor_path = package / "datapackage.json"
        descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
        size, digest = file_digest(path)
        descriptor["resources"][0].update(bytes=size, hash=f"sha256:{digest}")
        descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False, indent=2), encoding="utf-8")


def dirty_rows(package: Path) -> list[dict]:
    rows, _ = read_rows(package)
    rows = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in rows]
    rows[0]["read_count"] = "abc"                       # type-error (integer)
    rows[1]["published_date"] = "2020-13-45"            # type-error (date)
    rows[2]["language"] = "xx"                          # enum
    rows[3]["release_id"] = "PRD_1"                     # pattern
    rows[4]["title"] = ""                               # required
    rows[5]["word_count"] = "0"                         # minimum
    rows[6]["published_date"] = "1980-01-01"            # minimum (date)
    rows[7]["contact_phone"] = "02-618-2323"            # pattern
    rows[8]["source_url"] = "not a url"                 # type-error (uri)
    rows[9]["release_id"] = rows[10]["release_id"]      # unique + primary key
    rows[10]["vote_count"] = "๑๒"                       # Thai digits: int() accepts them, so Frictionless does
    rows[11]["read_count"] = " 12 "                     # spaces around an integer are accepted
    rows[11]["published_date"] = "2020-6-7"             # strptime accepts an unpadded date
    # maxLength 2,000 counts characters, not UTF-8 bytes (a Thai character is 3 bytes):
    rows[5]["title"] = "ก" * 2000                       # 6,000 bytes, yet within the limit
    rows[6]["title"] = "ก" * 2001                       # one character over
    rows[7]["title"] = "x" * 9000                       # over by its bytes alone
    rows[8]["published_date_text"] = "ก"                # minLength 1: one character of 3 bytes
    rows.append({k: None for k in rows[0]})             # a blank row
    rows.append({**rows[2], "release_id": "thaigov-1", "body": "", "subtitle": "x" * 5})  # required body
    return rows


@pytest.mark.parametrize("fix_stats", [True, False], ids=["stats-fixed", "stats-stale"])
def test_fast_check_reports_exactly_the_frictionless_errors(clean_package: Path, tmp_path: Path, fix_stats: bool) -> None:
    package = tmp_path / "dirty"
    shutil.copytree(clean_package, package)
    rewrite_csv(package, dirty_rows(package), fix_stats=fix_stats)
    reference = validate_package(package)
    fast = validate_package_fast(package)
    assert fast["validator"] == "ogd-fast"
    assert reference["valid"] is False and fast["valid"] is False
    key = lambda e: (e["resource"], e["type"], e["row"], e["field"], e["message"])  # noqa: E731
    assert [key(e) for e in fast["errors"]] == [key(e) for e in reference["errors"]]
    types = {e["type"] for e in fast["errors"]}
    assert {"type-error", "constraint-error", "unique-error", "primary-key", "blank-row"} <= types
    assert ("hash-count" in types) is (not fix_stats)
    # Thai digits, spaced integers and unpadded dates are values, not errors, in both.
    assert not any(e["row"] in (12, 13) and e["field"] in ("vote_count", "read_count") for e in fast["errors"])


def test_fast_check_passes_a_clean_package_and_agrees_on_row_counts(clean_package: Path) -> None:
    fast = validate_package_fast(clean_package)
    reference = validate_package(clean_package)
    assert fast["valid"] is True and reference["valid"] is True
    # 12 releases: counted once as the table's rows (not once per file), and per resource.
    assert fast["rows"] == reference["rows"] == 12
    assert fast["rows_by_resource"] == reference["rows_by_resource"] == {"releases": 12, "releases-parquet": 12,
                                                                                      "changes": 12}


def test_uncovered_shapes_fall_back_to_frictionless(clean_package: Path, tmp_path: Path) -> None:
    package = tmp_path / "extra-cell"
    shutil.copytree(clean_package, package)
    path = package / "data" / "releases.csv"
    lines = path.read_bytes().split(b"\r\n")
    lines[0] = lines[0] + b',"extra"'
    path.write_bytes(b"\r\n".join(lines))
    fast = validate_package_fast(package)
    assert fast["validator"].startswith("frictionless")
    assert fast["valid"] is False
