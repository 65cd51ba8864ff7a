"""Build stage: every input accounted for, bad inputs quarantined with their own reason,
deterministic output, atomic replacement, thresholds and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import make_dirty_inputs, read_quarantine, read_rows

from pipeline.build.run import build_dataset
from pipeline.config import ad_hoc_dataset

from conftest import REPO  # noqa: E402


def ogd(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path, subprocess.CompletedProcess[str]]:
    base = tmp_path_factory.mktemp("dirty")
    inputs = base / "inputs"
    expected = make_dirty_inputs(inputs)
    out = base / "pkg"
    result = ogd("build", str(inputs), "--out", str(out), "--name", "dirty", "--max-quarantine-ratio", "1", "--json")
    return inputs, expected, out, result


def test_each_bad_input_gets_its_own_reason_and_none_is_lost(dirty) -> None:
    inputs, expected, out, result = dirty
    assert result.returncode == 0, result.stderr
    rows, _ = read_rows(out)
    quarantine = read_quarantine(out)
    outcomes = {row["source_file"]: "record" for row in rows}
    for entry in quarantine:
        assert entry["path"] not in outcomes, f"{entry['path']} is both a record and quarantined"
        outcomes[entry["path"]] = entry["reason"]
    assert outcomes == expected
    for entry in quarantine:
        assert entry["message"] and entry["stage"] in {"extract", "transform", "validate"}
        # The quarantined input is kept, byte for byte, beside the package.
        assert (out / entry["kept_copy"]).read_bytes() == (inputs / entry["path"]).read_bytes()
    duplicate = next(e for e in quarantine if e["reason"] == "duplicate")
    assert duplicate["details"]["kept_release_id"] in {row["release_id"] for row in rows}
    summary = json.loads(result.stdout)[0]
    assert summary["counts"] == {"inputs": len(expected), "items": len(expected), "records": 9, "quarantined": 6, "duplicates": 1, "reused": 0,
                                 "skipped": 0}
    assert summary["per_reason"]["truncated"] == 1


def test_encodings_are_decoded_not_guessed(dirty) -> None:
    _, _, out, _ = dirty
    rows, _ = read_rows(out)
    by_file = {row["source_file"]: row for row in rows}
    tis = by_file["encodings/prd_photo_tis620.txt"]
    assert tis["source_encoding"] == "tis-620"
    assert tis["byline"] == "กุลปราณี ชาลีวงศ์"
    assert by_file["encodings/thaigov_utf16.txt"]["source_encoding"] == "utf-16"
    latin = next(e for e in read_quarantine(out) if e["path"] == "bad/latin1.txt")
    assert "UTF-8" in latin["message"] and latin["details"]["offset"] == 9  # the é of "Communiqué"


def test_package_is_valid_and_csv_equals_parquet(dirty) -> None:
    _, _, out, _ = dirty
    csv_rows, parquet_rows = read_rows(out)
    assert csv_rows == parquet_rows
    assert len(csv_rows) == 9
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["validation"]["valid"] is True
    descriptor = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["name"] == "dirty"
    assert [r["name"] for r in descriptor["resources"]] == ["releases", "releases-parquet", "changes"]
    csv_resource, parquet_resource, changes_resource = descriptor["resources"]
    assert changes_resource["path"] == "data/changes.csv" and changes_resource["schema"]["primaryKey"] == [
        "version", "release_id"]
    assert csv_resource["hash"].startswith("sha256:")
    assert csv_resource["bytes"] == (out / csv_resource["path"]).stat().st_size
    assert parquet_resource["x_hash"].startswith("sha256:")
    assert parquet_resource["x_bytes"] == (out / parquet_resource["path"]).stat().st_size
    raw = (out / "data" / "releases.csv").read_bytes()
    assert raw.startswith(b'"release_id","source",') and b"\r\n" in raw
    raw.decode("utf-8")  # strict UTF-8


def test_the_report_records_the_hash_of_the_descriptor_as_written(dirty) -> None:
    import hashlib

    _, _, out, _ = dirty
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    written = (out / "datapackage.json").read_bytes()
    assert report["descriptor_sha256"] == hashlib.sha256(written).hexdigest()
    assert len(report["descriptor_sha256"]) == 64


def test_every_package_carries_a_spreadsheet_csv_with_formulas_neutralised(tmp_path: Path) -> None:
    import csv
    import hashlib
    import io

    from helpers import copy_thaigov

    files = copy_thaigov(tmp_path / "in", 3)
    lines = files[0].read_text(encoding="utf-8").split("\n")
    lines[0] = 'รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-=HYPERLINK("http://evil.example/","คลิก")'
    files[0].write_text("\n".join(lines), encoding="utf-8")
    out = tmp_path / "pkg"
    assert ogd("build", str(tmp_path / "in"), "--out", str(out)).returncode == 0
    raw = (out / "data" / "releases-excel.csv").read_bytes()
    assert raw.startswith(b'\xef\xbb\xbf"release_id","source",') and raw.endswith(b"\r\n")
    rows = list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    machine, _ = read_rows(out)
    assert len(rows) == len(machine) == 3
    titles = {row["source_file"]: row["title"] for row in rows}
    exact = {row["source_file"]: row["title"] for row in machine}
    evil = files[0].relative_to(tmp_path / "in").as_posix()
    assert exact[evil] == '=HYPERLINK("http://evil.example/","คลิก")'  # the machine CSV stays exact
    assert titles[evil] == '\'=HYPERLINK("http://evil.example/","คลิก")'
    assert all(titles[name] == exact[name] for name in titles if name != evil)
    descriptor = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    entry = descriptor["x_ogd"]["spreadsheet"]
    assert entry["path"] == "data/releases-excel.csv" and entry["bytes"] == len(raw)
    assert entry["hash"] == "sha256:" + hashlib.sha256(raw).hexdigest() and entry["description"]
    assert "data/releases-excel.csv" not in [resource["path"] for resource in descriptor["resources"]]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["spreadsheet"] == {"neutralised": 1, "cut": 0}
    frictionless = Path(sys.executable).parent / "frictionless"
    checked = subprocess.run([str(frictionless), "validate", "datapackage.json"], cwd=out, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_frictionless_cli_validates_the_package(dirty) -> None:
    _, _, out, _ = dirty
    frictionless = Path(sys.executable).parent / "frictionless"
    result = subprocess.run([str(frictionless), "validate", "datapackage.json"], cwd=out, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "INVALID" not in result.stdout


def test_ogd_validate_detects_a_tampered_package(dirty, tmp_path: Path) -> None:
    import shutil

    _, _, out, _ = dirty
    copy = tmp_path / "tampered"
    shutil.copytree(out, copy)
    assert ogd("validate", str(copy)).returncode == 0
    csv_path = copy / "data" / "releases.csv"
    csv_path.write_bytes(csv_path.read_bytes().replace(b',"th",', b',"xx",', 1))
    result = ogd("validate", str(copy), "--json")
    assert result.returncode == 3
    summary = json.loads(result.stdout)[0]
    assert summary["valid"] is False
    types = {e["type"] for e in summary["errors"]}
    assert {"constraint-error", "hash-count"} <= types  # the enum is broken, and so is the hash of the edited file


def test_two_builds_are_byte_identical_except_the_report(dirty, tmp_path: Path) -> None:
    inputs, _, first, _ = dirty
    second = tmp_path / "again"
    assert ogd("build", str(inputs), "--out", str(second), "--name", "dirty", "--max-quarantine-ratio", "1").returncode == 0
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    for name in names:
        if name != "report.json":
            assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_threshold_failure_keeps_previous_package(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    make_dirty_inputs(inputs)
    out = tmp_path / "pkg"
    assert ogd("build", str(inputs), "--out", str(out), "--max-quarantine-ratio", "1").returncode == 0
    before = (out / "data" / "releases.csv").read_bytes()
    result = ogd("build", str(inputs), "--out", str(out), "--max-quarantine-ratio", "0.1")
    assert result.returncode == 3
    assert "more than the threshold 10.0%" in result.stderr
    assert (out / "data" / "releases.csv").read_bytes() == before
    failed = tmp_path / "pkg.failed"
    assert json.loads((failed / "report.json").read_text())["ok"] is False


def test_interrupted_swap_is_recovered(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    make_dirty_inputs(inputs)
    out = tmp_path / "pkg"
    dataset = ad_hoc_dataset("pkg", [inputs], "auto", 1.0)
    build_dataset(dataset, out, workers=1)
    # Simulate a crash between the two renames: only <out>.previous exists.
    out.rename(tmp_path / "pkg.previous")
    (tmp_path / ".pkg.building-999").mkdir()
    result = build_dataset(dataset, out, workers=1)
    assert result.ok and (out / "datapackage.json").is_file()
    assert not (tmp_path / "pkg.previous").exists() and not (tmp_path / ".pkg.building-999").exists()


def test_usage_errors_have_exit_code_2(tmp_path: Path) -> None:
    missing = ogd("build", str(tmp_path / "nope"), "--out", str(tmp_path / "x"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    no_out = ogd("build", str(tmp_path))
    assert no_out.returncode == 2 and "--out" in no_out.stderr
    unknown = ogd("build", "--dataset", "no-such-dataset")
    assert unknown.returncode == 2 and "no dataset 'no-such-dataset'" in unknown.stderr
    not_package = ogd("validate", str(tmp_path))
    assert not_package.returncode == 2 and "no datapackage.json" in not_package.stderr


def test_empty_input_folder_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    result = ogd("build", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert result.returncode == 3
    assert "no input files were found" in result.stderr


def test_writer_writes_rows_unchecked_and_hashes_what_it_writes(tmp_path: Path) -> None:
    import datetime as dt

    from pipeline.package.writer import PackageWriter
    from pipeline.hashing import file_digest
    from pipeline.record import RELEASE_FIELDS

    row = {name: None for name in RELEASE_FIELDS}
    row.update(release_id="prd-0123456789abcdef", source="prd", source_kind="text", date_source="date-line", source_file="a.txt", source_sha256="0" * 64,
               source_encoding="utf-8", title="ข่าว", published_date=dt.date(2020, 6, 17), published_date_text="17 มิ.ย. 2563",
               body="เนื้อหา", body_words="เนื้อหา", word_count=1, language="th", content_sha256="1" * 64, parser_version="1")
    writer = PackageWriter(tmp_path, batch_size=2)
    writer.add_row(row)
    writer.add_row({**row, "release_id": "prd-1123456789abcdef", "language": "xx", "word_count": 0})
    writer.add_row({**row, "release_id": "prd-2123456789abcdef"})
    writer.close()
    # Rows come checked by their worker (RecordValidator): the writer does not check them a second time,
    # so even a row that breaks the schema is written as given.
    assert not hasattr(writer, "checker")
    assert writer.rows == writer.rows_checked == 3
    assert read_rows(tmp_path)[0][1]["language"] == "xx"
    for path, digest in writer.digests.items():
        assert file_digest(Path(path)) == digest


def test_text_columns_built_from_buffers_equal_pyarrows_own_conversion() -> None:
    import pyarrow as pa

    from pipeline.package.writer import _arrow_column

    samples = [
        ["ข่าว", None, "", "a\r\n\"quoted\"", "ทำเนียบรัฐบาล" * 500, None, "😀 ไม่ใช่ BMP"],
        [None, None],
        [],
        ["เท่านั้น"],
    ]
    for values in samples:
        built = _arrow_column([v.encode("utf-8") if v is not None and i % 2 else v for i, v in enumerate(values)],
                              pa.string())  # str and UTF-8 bytes, mixed as the writer receives them
        built.validate(full=True)
        assert built.equals(pa.array(values, pa.string())) and built.null_count == values.count(None)


def test_an_unreadable_input_is_quarantined_not_fatal(tmp_path: Path) -> None:
    # Simulated: root (as CI runs) reads any file whatever its mode.
    from unittest import mock

    import pipeline.extract.decode
    import pipeline.package.writer

    inputs = tmp_path / "in"
    make_dirty_inputs(inputs)
    target = sorted(inputs.rglob("*.txt"))[0]
    real_open_regular = pipeline.extract.decode.open_regular

    def failing_open(path: str) -> int:
        if str(path) == str(target):
            raise PermissionError(13, "Permission denied")
        return real_open_regular(path)

    # Both the read and the quarantine copy open inputs through open_regular.
    with mock.patch.object(pipeline.extract.decode, "open_regular", failing_open), \
            mock.patch.object(pipeline.package.writer, "open_regular", failing_open):
        result = build_dataset(ad_hoc_dataset("unreadable", [inputs], "auto", 1.0), tmp_path / "pkg", workers=1)
    entry = next(e for e in read_quarantine(tmp_path / "pkg") if e["reason"] == "read-error")
    assert entry["path"] == target.relative_to(inputs).as_posix()
    assert entry["message"] == "the file could not be read: Permission denied"
    assert entry["kept_copy"] is None and entry["copy_error"] == "Permission denied"
    assert result.ok


def test_record_validator_names_every_broken_constraint() -> None:
    import datetime as dt

    from pipeline.record import RELEASE_FIELDS
    from pipeline.validate.records import RecordValidator

    row = {name: None for name in RELEASE_FIELDS}
    row.update(release_id="PRD_1", source="prd", source_kind="text", date_source="date-line", source_file="a.txt", source_sha256="0" * 64, source_encoding="utf-8",
               title="", published_date=dt.date(1980, 1, 1), published_date_text="1 ม.ค. 2523", body="b",
               body_words="b", word_count=0, language="xx", content_sha256="1" * 64, parser_version="1")
    found = {(e.field, e.constraint): e.message for e in RecordValidator().errors(row)}
    assert found == {
        ("release_id", "pattern"): "release_id 'PRD_1' does not match '[a-z][a-z0-9]*-([0-9]+|[0-9a-f]{16})'",
        ("title", "required"): "title is required but empty",
        ("published_date", "minimum"): "published_date '1980-01-01' is below 1990-01-01",
        ("word_count", "minimum"): "word_count 0 is below 1",
        ("language", "enum"): "language 'xx' is not one of ['th', 'en', 'mixed']",
    }


def test_every_unique_field_of_the_schema_decides_duplicates_not_only_the_id() -> None:
    import copy

    from pipeline.build.run import _check_duplicate
    from pipeline.extract.discover import InputFile
    from pipeline.record import load_table_schema
    from pipeline.validate.records import RecordValidator

    schema = copy.deepcopy(load_table_schema())
    for field in schema["fields"]:
        if field["name"] == "source_url":
            field["constraints"] = {**field.get("constraints", {}), "unique": True}
    validator, kept = RecordValidator(schema), {}
    first = {"release_id": "thaigov-1", "source_url": "https://www.thaigov.go.th/news/contents/details/1"}
    assert _check_duplicate(first, "a" * 64, InputFile("/in/a.txt", "a.txt"), validator, kept) is None
    again = _check_duplicate({**first, "release_id": "thaigov-2"}, "b" * 64, InputFile("/in/b.txt", "b.txt"),
                             validator, kept)
    assert again is not None and again.reason == "duplicate"
    assert again.details == {"kept_release_id": "thaigov-1", "release_id": "thaigov-2", "match": "source_url"}
    assert again.message == ("release thaigov-2 has the same source_url "
                             "'https://www.thaigov.go.th/news/contents/details/1' as release thaigov-1, read from "
                             "another file, which is kept")


def test_a_duplicate_names_the_kept_release_whatever_matched() -> None:
    # One shape of details for every duplicate (README: Quarantine): kept_release_id, release_id, match.
    from pipeline.build.run import _check_duplicate
    from pipeline.extract.discover import InputFile
    from pipeline.validate.records import RecordValidator

    validator, kept = RecordValidator(), {}
    assert _check_duplicate({"release_id": "prd-1"}, "a" * 64, InputFile("/in/a.txt", "a.txt"), validator, kept) is None
    same_id = _check_duplicate({"release_id": "prd-1"}, "b" * 64, InputFile("/in/b.txt", "b.txt"), validator, kept)
    same_content = _check_duplicate({"release_id": "prd-2"}, "a" * 64, InputFile("/in/c.txt", "c.txt"), validator,
                                    kept)
    assert same_id is not None and same_id.details == {"kept_release_id": "prd-1", "release_id": "prd-1",
                                                       "match": "release_id"}
    assert same_content is not None and same_content.details == {"kept_release_id": "prd-1", "release_id": "prd-2",
                                                                 "match": "content_sha256"}


def _schema_with_unique_title() -> dict:
    import copy

    from pipeline.record import load_table_schema

    schema = copy.deepcopy(load_table_schema())  # the loaded schema is shared: never edit it
    for field in schema["fields"]:
        if field["name"] == "title":
            field["constraints"] = {**field.get("constraints", {}), "unique": True}
    return schema


def test_an_incremental_build_decides_duplicates_of_reused_rows_on_every_unique_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.build.executor
    import pipeline.package.descriptor
    import pipeline.package.writer
    import pipeline.validate.records
    from helpers import thaigov_files

    schema = _schema_with_unique_title()
    for module in (pipeline.package.writer, pipeline.package.descriptor, pipeline.validate.records):
        monkeypatch.setattr(module, "load_table_schema", lambda: schema)
    pipeline.build.executor._row_validator.cache_clear()  # the compiled schema of this process
    try:
        inputs = tmp_path / "in"
        inputs.mkdir()
        text = thaigov_files(1)[0].read_text(encoding="utf-8")
        assert "details/63312" in text and text.count("———-") == 1
        (inputs / "a_1_first.txt").write_text(text, encoding="utf-8")
        dataset = ad_hoc_dataset("unique", [inputs], "thaigov", 1.0)
        assert build_dataset(dataset, tmp_path / "pkg", workers=1).counts["records"] == 1
        # Another release (its own news number, another body) under the same title, read after the first.
        (inputs / "b_1_second.txt").write_text(
            text.replace("details/63312", "details/70001").replace("———-", "อีกหนึ่งย่อหน้า\n———-"),
            encoding="utf-8")
        again = build_dataset(dataset, tmp_path / "pkg", workers=1)
        full = build_dataset(dataset, tmp_path / "full", workers=1, incremental=False)
    finally:
        pipeline.build.executor._row_validator.cache_clear()
    assert again.counts["reused"] == 1  # the first input's row came from the previous package
    for result in (again, full):
        assert result.counts["records"] == 1 and result.counts["duplicates"] == 1
        [entry] = read_quarantine(result.output)
        assert entry["path"] == "b_1_second.txt" and entry["details"] == {
            "kept_release_id": "thaigov-63312", "release_id": "thaigov-70001", "match": "title"}


def test_an_incremental_build_keeps_the_input_hashes_transform_all_computed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    import pipeline.build.run
    from pipeline.incremental.previous import inputs_cache_path

    inputs = tmp_path / "in"
    make_dirty_inputs(inputs)
    dataset = ad_hoc_dataset("hashes", [inputs], "auto", 1.0)
    build_dataset(dataset, tmp_path / "pkg", workers=1)
    (inputs / "zz_new.txt").write_bytes((inputs / "bad" / "empty.txt").read_bytes() + b"   ")  # a new problem
    handed_over: list[dict[str, str]] = []
    real_transform_all = pipeline.build.run.transform_all

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        handed_over.append(args[6] if len(args) > 6 else kwargs["hashes"])
        return real_transform_all(*args, **kwargs)

    monkeypatch.setattr(pipeline.build.run, "transform_all", spy)
    again = build_dataset(dataset, tmp_path / "pkg", workers=1)
    assert again.counts["reused"] > 0
    cached = {relative: entry[2] for relative, entry in
              json.loads(inputs_cache_path(tmp_path / "pkg").read_text())["inputs"].items()}
    expected = {path.relative_to(inputs).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
                for path in inputs.rglob("*") if path.is_file()}
    assert cached == expected
    # The hashes transform_all computed to decide reuse are the ones kept: not worked out again.
    assert handed_over == [expected]
