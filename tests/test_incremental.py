"""Incremental builds reuse unchanged inputs and give exactly what a full build gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import copy_thaigov, make_dirty_inputs

import pipeline.cache
from pipeline.build import build_dataset
from pipeline.config import ad_hoc_dataset


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != "report.json"}


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
    monkeypatch.setattr(pipeline.cache, "PARSER_VERSION", "a-newer-parser")
    assert build_dataset(ad_hoc_dataset("inc", [inputs], "auto", 1.0), tmp_path / "pkg", workers=2).counts["reused"] == 0
    monkeypatch.undo()
    build_dataset(ad_hoc_dataset("inc", [inputs], "auto", 1.0), tmp_path / "pkg", workers=2)
    forced = build_dataset(ad_hoc_dataset("inc", [inputs], "thaigov", 1.0), tmp_path / "pkg", workers=2)
    assert forced.counts["reused"] == 0
