"""The quality profile of a build (pipeline/quality.py): in report.json, datapackage.json and the printed
summary; floors in datasets.toml that fail a build. Expectations written by hand."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import TESTS
from pipeline.config import load_config
from pipeline.problems import ConfigError
from pipeline.quality import RepeatedLines, floor_failure, profile_package

GAPS = TESTS / "thaigov_gaps"


def ogd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_repeated_lines_count_each_record_once_and_report_how_far_pruning_may_undercount() -> None:
    counter = RepeatedLines(cap=4)
    counter.add_record(["share", "share", "a"])  # twice in one record: once
    counter.add_record(["share", "b"])
    counter.add_record(["share", "c"])
    assert counter.most_common(10, 1) == [("share", 3), ("a", 1), ("b", 1), ("c", 1)]
    assert counter.undercount_at_most == 0
    counter.add_record(["d"])  # five distinct lines: the ones seen once go
    assert counter.most_common(10, 1) == [("share", 3)]
    assert counter.undercount_at_most == 1
    counter.add_record(["share", "a"])
    assert counter.most_common(10, 2) == [("share", 4)]


def write_rows(path: Path, rows: list[dict]) -> Path:
    """A Parquet file with the columns the profile reads (a package's own file has them all)."""
    schema = pa.schema([("source_file", pa.string()), ("category", pa.string()), ("title", pa.string()),
                        ("subtitle", pa.string()), ("published_date", pa.date32()), ("body", pa.string()),
                        ("language", pa.string())])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def row(name: str, body: str, *, category: str | None = "ข่าว", title: str = "หัวข้อข่าว", subtitle: str | None = None,
        year: int = 2023, language: str = "th") -> dict:
    return {"source_file": name, "category": category, "title": title, "subtitle": subtitle,
            "published_date": dt.date(year, 1, 2), "body": body, "language": language}


def test_the_profile_counts_fields_groups_furniture_repeated_lines_and_the_title_in_the_body(tmp_path: Path) -> None:
    parquet = write_rows(tmp_path / "rows.parquet", [
        row("a.txt", "หัวข้อข่าว\nเนื้อหา\n#แชร์ข่าวนี้"),  # the title again as the first body line
        row("b.txt", "เนื้อหา\n.\n#แชร์ข่าวนี้", category=None),  # a spacer line left
        row("c.txt", "Your browser does not support the audio element.\nเนื้อหา\n#แชร์ข่าวนี้", year=2024),
        row("d.txt", "ข่าวเต็ม\nหัวข้อข่าว\n╔════╗", subtitle="หัวข้อข่าว ฉบับเต็ม", language="en"),
    ])
    profile = profile_package(parquet, {"category": 0.9, "title": 1.0})
    assert profile["records"] == 4
    assert profile["fields"]["title"] == {"filled": 4, "share": 1.0}
    # 3 of 4 have a category: usually given, so the input that lacks it is named.
    assert profile["fields"]["category"] == {"filled": 3, "share": 0.75, "missing": ["b.txt"]}
    assert profile["fields"]["subtitle"] == {"filled": 1, "share": 0.25}  # rarely given: no list
    assert profile["by_category"] == [{"category": "ข่าว", "records": 3}, {"category": None, "records": 1}]
    assert profile["by_language"] == {"en": 1, "th": 3}
    assert profile["by_year"] == {"2023": 3, "2024": 1}
    assert profile["chrome"]["bodies_with"] == {"player-notice": 1, "spacer": 1, "box-drawing": 1, "rule": 0}
    assert profile["chrome"]["repeated_lines"] == [{"line": "#แชร์ข่าวนี้", "records": 3},
                                                   {"line": "เนื้อหา", "records": 3}]
    assert profile["title_in_body"] == {"first_line": 1, "any_line": 2, "examples": ["a.txt"]}
    assert profile["min_filled"] == {"category": 0.9, "title": 1.0}
    assert profile["below_floor"] == [{"field": "category", "share": 0.75, "floor": 0.9}]
    assert "category 75.0% filled (floor 90.0%)" in floor_failure(profile)


def test_a_profile_read_in_several_batches_is_the_profile_read_at_once(tmp_path: Path, monkeypatch) -> None:
    rows = [row(f"{n:03}.txt", f"เนื้อหาที่ {n}\nแชร์", category=None if n % 7 == 0 else "ข่าว") for n in range(50)]
    parquet = write_rows(tmp_path / "rows.parquet", rows)
    whole = profile_package(parquet)
    monkeypatch.setattr("pipeline.quality.BATCH_ROWS", 3)
    assert profile_package(parquet) == whole
    assert whole["fields"]["category"]["missing"] == ["000.txt", "007.txt", "014.txt", "021.txt", "028.txt"]


def test_the_build_publishes_its_profile_in_report_json_the_descriptor_and_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "gaps"
    result = ogd("build", str(GAPS / "data"), "--out", str(out), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    descriptor = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    quality = report["quality"]
    assert descriptor["x_ogd"]["quality"] == quality
    assert quality["records"] == 7
    for name in ("title", "published_date", "source_url", "category", "body"):
        assert quality["fields"][name] == {"filled": 7, "share": 1.0}, name
    assert quality["fields"]["subtitle"] == {"filled": 1, "share": 0.1429}
    assert quality["by_year"] == {"2020": 2, "2023": 3, "2024": 1, "2025": 1}
    assert quality["by_language"] == {"en": 1, "th": 6}
    assert quality["chrome"]["bodies_with"] == {"player-notice": 0, "spacer": 0, "box-drawing": 0, "rule": 0}
    assert quality["title_in_body"]["first_line"] == 0
    assert ("quality: filled title 100.0%, published_date 100.0%, source_url 100.0%, category 100.0%, body 100.0%"
            in result.stderr)


CONFIG = """
[defaults.gdc]
data_type = "ข้อมูลระเบียน"
objective = ["เพื่อการให้บริการประชาชน"]
update_frequency_unit = "วัน"
update_frequency_interval = "1"
geo_coverage = "ประเทศ"
data_format = ["CSV"]
data_category = "ข้อมูลสาธารณะ"
data_classification = "เปิดเผย"
data_language = ["ไทย"]
allow_harvest = "True"
accessible_condition = "เผยแพร่ต่อสาธารณะ"
data_support = "ไม่มี"
data_collect = "ไม่มี"
high_value_dataset = "False"
reference_data = "False"
data_source = "thaigov.go.th"

[datasets.gaps]
title = "t"
title_en = "t"
description = "d"
organization = "prd"
license = "CC-BY-4.0"
inputs = ["{inputs}"]
maintainer = "m"
maintainer_email = "m@example.go.th"
source = "thaigov"
keywords = ["ข่าว"]
{quality}
"""


def write_config(folder: Path, quality: str) -> Path:
    path = folder / "datasets.toml"
    path.write_text(CONFIG.format(inputs=(GAPS / "data").as_posix(), quality=quality), encoding="utf-8")
    return path


def test_a_field_under_its_floor_fails_the_build_with_exit_3_and_keeps_it_as_failed(tmp_path: Path) -> None:
    write_config(tmp_path, "[datasets.gaps.quality]\nmin_filled = {title = 1.0, subtitle = 0.5}\n")
    result = ogd("build", "--dataset", "gaps", "-q", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "subtitle 14.3% filled (floor 50.0%)" in result.stderr
    failed = tmp_path / "datapackages" / "gaps.failed"
    report = json.loads((failed / "report.json").read_text(encoding="utf-8"))
    assert report["ok"] is False
    assert report["quality"]["below_floor"] == [{"field": "subtitle", "share": 0.1429, "floor": 0.5}]
    assert not (tmp_path / "datapackages" / "gaps").exists()


def test_floors_that_hold_let_the_build_pass(tmp_path: Path) -> None:
    write_config(tmp_path, "[datasets.gaps.quality]\nmin_filled = {category = 1.0, subtitle = 0.1}\n")
    result = ogd("build", "--dataset", "gaps", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "quality: filled category 100.0%, subtitle 14.3%" in result.stderr


def test_floors_are_checked_with_the_configuration(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[datasets.gaps.quality]\nmin_filled = {titel = 1.0, body = 1.5}\nfloor = 1\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    problems = "\n".join(refused.value.problems)
    assert "[datasets.gaps.quality] min_filled: 'titel' is not a field of the records" in problems
    assert "[datasets.gaps.quality] min_filled.body must be a share from 0 to 1" in problems
    assert "[datasets.gaps.quality]: unknown key 'floor' (known: min_filled)" in problems
    path = write_config(tmp_path, "[datasets.gaps.quality]\nmin_filled = {body = 1, category = 0.95}\n")
    assert load_config(path)["gaps"].min_filled == {"body": 1.0, "category": 0.95}


def test_a_rebuild_that_changes_no_row_reuses_the_profile_and_applies_todays_floors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import pipeline.build.run as run
    from helpers import copy_thaigov
    from pipeline.build.run import build_dataset
    from pipeline.config import ad_hoc_dataset

    copy_thaigov(tmp_path / "in", 5, step=131)
    dataset = ad_hoc_dataset("reuse", [tmp_path / "in"], "auto", 1.0)
    first = build_dataset(dataset, tmp_path / "pkg", workers=1)
    assert first.ok
    profiled: list[object] = []
    real_profile = run.profile_package
    monkeypatch.setattr(run, "profile_package", lambda *args, **kwargs: profiled.append(args) or real_profile(*args, **kwargs))

    # Nothing changed but a floor: the rows are not read again, and today's floor is applied.
    floored = dataclasses.replace(dataset, min_filled={"byline": 0.5})
    second = build_dataset(floored, tmp_path / "pkg", workers=1)
    assert profiled == []
    assert second.ok is False and second.report["quality"]["below_floor"] == [
        {"field": "byline", "share": 0.0, "floor": 0.5}]
    unfloored = {k: v for k, v in second.report["quality"].items() if k not in ("min_filled", "below_floor")}
    assert unfloored == {k: v for k, v in first.report["quality"].items() if k not in ("min_filled", "below_floor")}

    # A new release changes the Parquet file: the profile is made again from the rows.
    copy_thaigov(tmp_path / "more", 6, step=131)
    extra = sorted((tmp_path / "more").rglob("*.txt"))[-1]
    (tmp_path / "in" / "zz-new.txt").write_bytes(extra.read_bytes())
    third = build_dataset(dataset, tmp_path / "pkg", workers=1)
    assert third.ok and len(profiled) == 1 and third.report["quality"]["records"] == 6
