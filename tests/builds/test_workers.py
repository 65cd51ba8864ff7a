"""The worker processes: order kept, nothing left running, a dead worker stops the build cleanly."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from helpers import copy_thaigov, read_quarantine

import pipeline.build.executor
from pipeline.build.executor import WorkerDied, transform_all
from pipeline.build.run import build_dataset
from pipeline.config import ad_hoc_dataset
from pipeline.problems import ExitCode
from pipeline.extract.discover import discover


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("workers") / "in"
    # More inputs than a window of chunks in flight, so chunks are submitted while others run.
    copy_thaigov(folder, 3 * pipeline.build.executor.CHUNK_INPUTS * pipeline.build.executor.WINDOW_CHUNKS * 2 + 5, step=11)
    return folder


def data_files(package: Path) -> dict[str, bytes]:
    return {name: (package / name).read_bytes() for name in ("data/releases.csv", "data/releases.parquet")}


def test_workers_give_the_same_package_as_one_process(inputs: Path, tmp_path: Path) -> None:
    dataset = ad_hoc_dataset("w", [inputs], "thaigov", 1.0)
    one = build_dataset(dataset, tmp_path / "one", workers=1, incremental=False)
    two = build_dataset(dataset, tmp_path / "two", workers=2, incremental=False)
    assert one.ok and two.ok
    assert one.counts["records"] > 2 * pipeline.build.executor.CHUNK_INPUTS * pipeline.build.executor.WINDOW_CHUNKS
    assert data_files(tmp_path / "one") == data_files(tmp_path / "two")


def test_a_consumer_that_stops_early_leaves_no_worker_running(inputs: Path) -> None:
    _, files = discover([inputs])
    outcomes = transform_all(files, "thaigov", workers=2)
    first, = next(outcomes)
    assert first.row is not None and first.row["source_file"] == files[0].relative
    assert multiprocessing.active_children(), "the workers should be running while outcomes are read"
    outcomes.close()
    assert multiprocessing.active_children() == []


def _dies_on_the_fortieth(item, *args):  # runs in the worker (fork): the patch is inherited
    if item.relative == _dies_on_the_fortieth.victim:
        os._exit(9)
    return _real_transform_file(item, *args)


_real_transform_file = pipeline.build.executor.transform_file


def test_a_worker_that_dies_stops_the_build_and_keeps_the_previous_package(
        inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = ad_hoc_dataset("w", [inputs], "thaigov", 1.0)
    out = tmp_path / "pkg"
    assert build_dataset(dataset, out, workers=2).ok
    before = data_files(out)
    _, files = discover([inputs])
    _dies_on_the_fortieth.victim = files[40].relative
    monkeypatch.setattr(pipeline.build.executor, "transform_file", _dies_on_the_fortieth)
    with pytest.raises(WorkerDied) as raised:
        build_dataset(dataset, out, workers=2, incremental=False)
    assert "worker process died" in raised.value.message and "--workers 1" in (raised.value.hint or "")
    assert raised.value.exit_code == ExitCode.INTERNAL
    assert data_files(out) == before
    assert not [p.name for p in tmp_path.iterdir() if ".building-" in p.name], "no half-written package is left"
    assert multiprocessing.active_children() == []


def test_a_release_that_breaks_the_schema_is_quarantined_by_the_worker_with_each_error(tmp_path: Path) -> None:
    files = copy_thaigov(tmp_path / "in", 70, step=29)
    broken = files[33]
    lines = broken.read_text(encoding="utf-8").split("\n")
    assert lines[0].startswith("รัฐบาลไทย-")
    lines[0] = lines[0] + " ยาวมาก" * 400  # a title over the schema's maxLength of 2,000 characters
    broken.write_text("\n".join(lines), encoding="utf-8")
    result = build_dataset(ad_hoc_dataset("w", [tmp_path / "in"], "thaigov", 1.0), tmp_path / "pkg", workers=2)
    assert result.ok and result.counts["records"] == 69
    quarantine = read_quarantine(tmp_path / "pkg")
    assert [entry["reason"] for entry in quarantine] == ["schema-violation"]
    entry = quarantine[0]
    assert entry["path"] == broken.relative_to(tmp_path / "in").as_posix()
    assert entry["stage"] == "validate" and "title" in entry["message"]
    assert [(e["field"], e["constraint"]) for e in entry["details"]["errors"]] == [("title", "maxLength")]
