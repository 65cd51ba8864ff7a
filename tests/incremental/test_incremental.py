"""Incremental builds reuse unchanged inputs and give exactly what a full build gives."""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import THAIGOV_CORPUS
from helpers import copy_thaigov, make_dirty_inputs, package_files, read_quarantine

import pipeline.incremental.previous
import pipeline.package.descriptor
import pipeline.package.files
from pipeline.build.run import build_dataset
from pipeline.config import ad_hoc_dataset


def files_of(folder: Path) -> dict[str, bytes]:
    """The package an incremental build must equal a full build's in (its version history aside: the full build
    is made in a fresh folder, with no earlier version; tests/changes holds the history)."""
    return package_files(folder)


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    make_dirty_inputs(folder)
    copy_thaigov(folder / "more", 70, step=37)
    return folder


def test_unchanged_inputs_are_reused_and_the_package_is_identical(inputs: Path, tmp_path: Path) -> None:
    dataset = ad_hoc_dataset("inc", [inputs], "auto", 1.0)
    first = build_dataset(dataset, tmp_path / "pkg", workers=2)
    assert first.counts["reused"] == 0
    again = build_dataset(dataset, tmp_path / "pkg", workers=2)
    duplicates = again.counts["duplicates"]
    assert again.counts["reused"] == again.counts["inputs"] - duplicates  # duplicates are decided again
    full = build_dataset(dataset, tmp_path / "full", workers=2, incremental=False)
    assert full.counts["reused"] == 0
    assert files_of(tmp_path / "pkg") == files_of(tmp_path / "full")


def test_a_reused_quarantined_input_links_the_previous_copy_a_changed_one_is_copied_again(
        inputs: Path, tmp_path: Path) -> None:
    dataset = ad_hoc_dataset("inc", [inputs], "auto", 1.0)
    package = tmp_path / "pkg"
    build_dataset(dataset, package, workers=2)
    kept_before = shutil.copytree(package, tmp_path / "before", copy_function=os.link)  # the inodes of the old copies
    notes = inputs / "bad" / "notes.txt"
    notes.write_text("other notes\nstill nothing to publish\n", encoding="utf-8")  # still quarantined, other bytes
    build_dataset(dataset, package, workers=2)
    entries = {entry["path"]: entry for entry in read_quarantine(package)}
    for path in ("bad/garbage.txt", "bad/latin1.txt", "bad/notes.txt"):
        kept = package / entries[path]["kept_copy"]
        assert kept.read_bytes() == (inputs / path).read_bytes(), path
        assert entries[path]["sha256"] == hashlib.sha256(kept.read_bytes()).hexdigest()
        linked = os.stat(kept).st_ino == os.stat(kept_before / entries[path]["kept_copy"]).st_ino
        assert linked is (path != "bad/notes.txt"), path
    build_dataset(dataset, tmp_path / "full", workers=2, incremental=False)
    assert files_of(package) == files_of(tmp_path / "full")


def test_changed_and_new_inputs_are_transformed_again(inputs: Path, tmp_path: Path) -> None:
    dataset = ad_hoc_dataset("inc", [inputs], "auto", 1.0)
    build_dataset(dataset, tmp_path / "pkg", workers=2)
    victim = sorted((inputs / "more").rglob("*.txt"))[3]
    victim.write_text(victim.read_text(encoding="utf-8").replace("ที่มา", "เพิ่มเติม\nที่มา", 1), encoding="utf-8")
    extra = sorted((inputs / "more").rglob("*.txt"))[5]
    shutil.copyfile(extra, inputs / "zz_new.txt")
    result = build_dataset(dataset, tmp_path / "pkg", workers=2)
    # Transformed again: the changed file, the new one (a copy, so a duplicate) and every duplicate.
    assert result.counts["reused"] == result.counts["inputs"] - result.counts["duplicates"] - 1
    assert result.report["per_reason"]["duplicate"] == result.counts["duplicates"]
    build_dataset(dataset, tmp_path / "full", workers=2, incremental=False)
    assert files_of(tmp_path / "pkg") == files_of(tmp_path / "full")


def test_a_new_parser_version_or_source_invalidates_the_cache(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_dataset(ad_hoc_dataset("inc", [inputs], "auto", 1.0), tmp_path / "pkg", workers=2)
    monkeypatch.setattr(pipeline.incremental.previous, "PARSER_VERSION", "a-newer-parser")
    assert build_dataset(ad_hoc_dataset("inc", [inputs], "auto", 1.0), tmp_path / "pkg", workers=2).counts["reused"] == 0
    monkeypatch.undo()
    build_dataset(ad_hoc_dataset("inc", [inputs], "auto", 1.0), tmp_path / "pkg", workers=2)
    forced = build_dataset(ad_hoc_dataset("inc", [inputs], "thaigov", 1.0), tmp_path / "pkg", workers=2)
    assert forced.counts["reused"] == 0


# ------------------------------------------------------------------ copying unchanged batches

BATCH = 8  # rows per batch here (2000 in real builds), so that small inputs make many batches


def build_small_batches(inputs: Path, out: Path, *, incremental: bool = True):
    return build_dataset(ad_hoc_dataset("inc", [inputs], "auto", 1.0), out, workers=2, incremental=incremental,
                         batch_rows=BATCH)


def another_release(source: Path, number: int) -> str:
    """A real thaigov item turned into a release of its own: another id and one more line of body."""
    text = source.read_text(encoding="utf-8")
    text = re.sub(r"(/details/)(\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) + 5_000_000 + number}", text)
    return text.replace("\nที่มา", f"\nประกาศเพิ่มเติมฉบับที่ {number}\nที่มา", 1)


def row_of(package: Path, source_file: str) -> int:
    return pq.read_table(package / "data" / "releases.parquet", columns=["source_file"]).column(0).to_pylist().index(source_file)


@pytest.mark.parametrize("change", ["nothing", "append", "change", "remove", "change-first"])
def test_batches_before_the_first_change_are_copied_and_the_package_is_a_full_builds(
        inputs: Path, tmp_path: Path, change: str) -> None:
    first = build_small_batches(inputs, tmp_path / "pkg")
    records = first.counts["records"]
    assert records > 6 * BATCH and first.report["reuse"]["batches_copied"] == 0
    thaigov = sorted((inputs / "more").rglob("*.txt"))
    victim = thaigov[40]
    victim_row = row_of(tmp_path / "pkg", victim.relative_to(inputs).as_posix())
    if change == "append":
        for number in range(3):
            (inputs / f"zz_new_{number}.txt").write_text(another_release(thaigov[number], number), encoding="utf-8")
        expected = records // BATCH  # the last, partial batch is written again with the new rows
    elif change == "change":
        victim.write_text(another_release(victim, 1), encoding="utf-8")
        expected = victim_row // BATCH
    elif change == "remove":
        victim.unlink()
        expected = victim_row // BATCH
    elif change == "change-first":
        assert row_of(tmp_path / "pkg", thaigov[0].relative_to(inputs).as_posix()) < BATCH
        thaigov[0].write_text(another_release(thaigov[0], 2), encoding="utf-8")
        expected = 0
    else:
        expected = -(-records // BATCH)  # every batch, the last one too

    again = build_small_batches(inputs, tmp_path / "pkg")
    reuse = again.report["reuse"]
    assert reuse["batches_copied"] == expected
    assert reuse["rows_copied"] == min(expected * BATCH, records)
    if expected == 0:
        assert reuse["copy_refused"] == "the first batch changed"
    full = build_small_batches(inputs, tmp_path / "full", incremental=False)
    assert files_of(tmp_path / "pkg") == files_of(tmp_path / "full")  # data/releases-excel.csv included
    assert "data/releases-excel.csv" in files_of(tmp_path / "pkg")
    assert again.report["spreadsheet"] == full.report["spreadsheet"]  # copied batches' counts are kept
    # And the next build copies what this one wrote.
    assert build_small_batches(inputs, tmp_path / "pkg").report["reuse"]["batches_copied"] == -(-again.counts["records"] // BATCH)


def test_a_layout_that_does_not_match_the_previous_files_is_not_used(inputs: Path, tmp_path: Path) -> None:
    build_small_batches(inputs, tmp_path / "pkg")
    cache_file = pipeline.incremental.previous.inputs_cache_path(tmp_path / "pkg")
    cache = json.loads(cache_file.read_text(encoding="utf-8"))
    cache["layout"]["csv_sha256"] = "0" * 64  # e.g. the package was replaced by another one meanwhile
    cache_file.write_text(json.dumps(cache), encoding="utf-8")
    again = build_small_batches(inputs, tmp_path / "pkg")
    assert again.report["reuse"]["batches_copied"] == 0
    assert again.report["reuse"]["copy_refused"] == "the kept layout is not that of the previous CSV file"
    assert again.counts["reused"] == again.counts["inputs"] - again.counts["duplicates"]

    # Another batch size: nothing lines up, so nothing is copied; the rows are still reused.
    other = build_dataset(ad_hoc_dataset("inc", [inputs], "auto", 1.0), tmp_path / "pkg", workers=2, batch_rows=BATCH * 2)
    assert other.report["reuse"]["copy_refused"] == (
        f"the previous package was written in batches of {BATCH} rows, not {BATCH * 2}")
    build_dataset(ad_hoc_dataset("inc", [inputs], "auto", 1.0), tmp_path / "full", workers=2, incremental=False,
                  batch_rows=BATCH * 2)
    assert files_of(tmp_path / "pkg") == files_of(tmp_path / "full")


@pytest.mark.slow
def test_at_the_real_batch_size_mixed_batches_give_a_full_builds_bytes(tmp_path: Path) -> None:
    # Batches of 2,000 rows fill many Parquet pages: where reused and new rows meet inside
    # a batch, the pages must still be cut as a full build cuts them.
    inputs = tmp_path / "in"
    shutil.copytree(THAIGOV_CORPUS, inputs)
    dataset = ad_hoc_dataset("inc", [inputs], "thaigov", 1.0)
    build_dataset(dataset, tmp_path / "pkg", workers=2)
    sources = pq.read_table(tmp_path / "pkg" / "data" / "releases.parquet", columns=["source_file"]).column(0).to_pylist()
    assert len(sources) > 2000
    changed = inputs / sources[1000]
    changed.write_text(another_release(changed, 7), encoding="utf-8")
    (inputs / "zz_new.txt").write_text(another_release(inputs / sources[5], 8), encoding="utf-8")
    again = build_dataset(dataset, tmp_path / "pkg", workers=2)
    assert again.report["reuse"]["batches_copied"] == 0 and again.counts["reused"] >= len(sources) - 1
    build_dataset(dataset, tmp_path / "full", workers=2, incremental=False)
    assert files_of(tmp_path / "pkg") == files_of(tmp_path / "full")


def test_a_changed_table_schema_invalidates_the_cache(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_small_batches(inputs, tmp_path / "pkg")
    schema = copy.deepcopy(pipeline.package.descriptor.descriptor_table_schema())  # the loaded schema is shared: never edit it
    for field in schema["fields"]:
        if field["name"] == "word_count":
            field["constraints"] = {**field.get("constraints", {}), "maximum": 100}  # a rule the old rows never met
    monkeypatch.setattr(pipeline.incremental.previous, "descriptor_table_schema", lambda: schema)
    again = build_small_batches(inputs, tmp_path / "pkg")
    assert again.counts["reused"] == 0
    assert again.report["reuse"]["copy_refused"] == "the Table Schema changed since the previous build"


def test_batches_are_copied_without_copy_file_range_too(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_small_batches(inputs, tmp_path / "pkg")

    def unsupported(*args: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")  # as older kernels across file systems

    monkeypatch.setattr(pipeline.package.files.os, "copy_file_range", unsupported)
    (inputs / "zz_new.txt").write_text(another_release(sorted((inputs / "more").rglob("*.txt"))[0], 9), encoding="utf-8")
    again = build_small_batches(inputs, tmp_path / "pkg")
    assert again.report["reuse"]["batches_copied"] > 3
    full = build_small_batches(inputs, tmp_path / "full", incremental=False)
    assert files_of(tmp_path / "pkg") == files_of(tmp_path / "full")  # data/releases-excel.csv included
    assert "data/releases-excel.csv" in files_of(tmp_path / "pkg")
    assert again.report["spreadsheet"] == full.report["spreadsheet"]  # copied batches' counts are kept
