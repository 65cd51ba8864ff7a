"""Parts of a large table by year or month (issue 17): each part a slice of the whole, byte-stable when its rows are."""

from __future__ import annotations

import csv
import dataclasses
import os
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import REPO, THAIGOV_CORPUS
from helpers import checkout_defaults, thaigov_files

from pipeline.build.run import build_dataset
from pipeline.config import load_config
from pipeline.problems import ConfigError
from pipeline.validate.reference import validate_package

SAMPLE = REPO / "samples" / "thaigov"


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def sample_dataset(inputs: Path, **changes: object):
    return dataclasses.replace(load_config()["thaigov-news-sample"], inputs=(inputs,), **changes)


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    shutil.copytree(SAMPLE, folder)
    return folder


def test_parts_by_year_are_slices_of_the_whole_table(inputs: Path, tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    assert build_dataset(sample_dataset(inputs, partition="year"), package).ok
    whole = csv_rows(package / "data" / "releases.csv")
    descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["x_ogd"]["partition"] == "year"
    # The bundled sample holds releases of 2023 and 2024 (its folders are named by date).
    assert [(part["key"], part["rows"]) for part in descriptor["x_ogd"]["parts"]] == [
        ("2023", sum(row["published_date"].startswith("2023") for row in whole)),
        ("2024", sum(row["published_date"].startswith("2024") for row in whole))]
    for year in ("2023", "2024"):
        part = csv_rows(package / "data" / "parts" / f"releases-{year}.csv")
        assert part == [row for row in whole if row["published_date"].startswith(year)]  # same rows, same order
        table = pq.read_table(package / "data" / "parts" / f"releases-{year}.parquet")
        assert table.column("release_id").to_pylist() == [row["release_id"] for row in part]
        excel = (package / "data" / "parts" / f"releases-{year}-excel.csv").read_bytes()
        assert excel.startswith(b"\xef\xbb\xbf") and excel.count(b"\r\n") >= len(part) + 1
    names = [resource["name"] for resource in descriptor["resources"]]
    assert names == ["releases", "releases-parquet", "releases-2023", "releases-2023-parquet", "releases-2024",
                     "releases-2024-parquet", "changes"]
    assert all(resource["schema"]["fields"] == descriptor["resources"][0]["schema"]["fields"]
               for resource in descriptor["resources"] if resource["name"].startswith("releases"))
    assert validate_package(package)["valid"]  # Frictionless itself reads every part


def test_new_releases_of_this_year_leave_the_other_years_files_as_they_were(inputs: Path, tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    dataset = sample_dataset(inputs, partition="year")
    build_dataset(dataset, package)
    parts = package / "data" / "parts"
    before = {path.name: path.read_bytes() for path in parts.iterdir()}
    # One more release dated 2024 (a real one from the corpus, under the sample's own layout).
    extra = next(path for path in thaigov_files(3000, step=1) if "/2024/" in path.as_posix()
                 and not (inputs / path.relative_to(THAIGOV_CORPUS)).exists())
    (inputs / extra.relative_to(THAIGOV_CORPUS)).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(extra, inputs / extra.relative_to(THAIGOV_CORPUS))
    again = build_dataset(dataset, package)
    assert again.ok
    after = {path.name: path.read_bytes() for path in parts.iterdir()}
    assert {name for name in after if after[name] != before.get(name)} == {
        "releases-2024.csv", "releases-2024.parquet", "releases-2024-excel.csv"}


def test_auto_splits_only_a_table_that_would_not_fit_one_upload(inputs: Path, tmp_path: Path) -> None:
    roomy = build_dataset(sample_dataset(inputs, partition="auto", max_upload_bytes=100_000_000), tmp_path / "roomy")
    assert roomy.ok and not (tmp_path / "roomy" / "data" / "parts").exists()
    whole_csv = (tmp_path / "roomy" / "data" / "releases.csv").stat().st_size
    tight = build_dataset(sample_dataset(inputs, partition="auto", max_upload_bytes=whole_csv - 1), tmp_path / "tight")
    assert tight.ok
    descriptor = json.loads((tmp_path / "tight" / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["x_ogd"]["partition"] == "year" and len(descriptor["x_ogd"]["parts"]) == 2


def test_parts_by_month(inputs: Path, tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    assert build_dataset(sample_dataset(inputs, partition="month"), package).ok
    whole = csv_rows(package / "data" / "releases.csv")
    descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
    months = sorted({row["published_date"][:7] for row in whole})
    assert [part["key"] for part in descriptor["x_ogd"]["parts"]] == months
    assert sum(part["rows"] for part in descriptor["x_ogd"]["parts"]) == len(whole)


def test_a_partition_or_upload_cap_the_build_cannot_use_is_a_configuration_error(tmp_path: Path) -> None:
    base = (REPO / "datasets.toml").read_text(encoding="utf-8")
    config = tmp_path / "datasets.toml"
    config.write_text(base.replace('[defaults]\n', '[defaults]\npartition = "decade"\nmax_upload_bytes = "200MB"\n'
                                   'files_url = "ftp://files.example.go.th/"\n', 1), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert ("[datasets.prd-releases-sample]: partition 'decade' is not one of auto, year, month, none (auto: by year "
            "when the whole table would not fit one upload)") in raised.value.problems
    assert any(problem.startswith("[datasets.prd-releases-sample]: max_upload_bytes must be a whole number of bytes")
               for problem in raised.value.problems)
    assert any(problem.startswith("[datasets.prd-releases-sample]: files_url must be an http(s) address")
               for problem in raised.value.problems)


def test_parts_are_written_one_at_a_time_so_many_months_need_few_file_handles(tmp_path: Path) -> None:
    # The whole corpus spans 24 months: 72 part files. Under a limit of 48 open files a build that kept every
    # part open at once fails; one part at a time needs three.
    import resource
    import subprocess
    import sys

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

    config = checkout_defaults() + f"""
[datasets.months]
title = "ข่าวรายเดือน"
title_en = "Months"
description = "The corpus by month."
organization = "prd"
inputs = ["{THAIGOV_CORPUS}"]
source = "thaigov"
keywords = ["ข่าว"]
max_quarantine_ratio = 1.0
partition = "month"

[datasets.months.gdc]
data_source = "สำนักเลขาธิการนายกรัฐมนตรี (www.thaigov.go.th)"
"""
    (tmp_path / "datasets.toml").write_text(config, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "build", "--dataset", "months", "--workers", "1",
                           "--no-published", "-q"], cwd=tmp_path, capture_output=True, text=True,
                          preexec_fn=low_limit, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    descriptor = json.loads((tmp_path / "datapackages" / "months" / "datapackage.json").read_text(encoding="utf-8"))
    assert len(descriptor["x_ogd"]["parts"]) == 24


def test_a_parts_bytes_do_not_depend_on_where_the_whole_tables_batches_fall(inputs: Path, tmp_path: Path) -> None:
    # The same rows written in batches of 7 or of 2,000 (a release added early in the table moves every later
    # batch boundary): each part's three files are the same bytes.
    dataset = sample_dataset(inputs, partition="year")
    assert build_dataset(dataset, tmp_path / "small", batch_rows=7).ok
    assert build_dataset(dataset, tmp_path / "large").ok
    small, large = (sorted((tmp_path / which / "data" / "parts").iterdir()) for which in ("small", "large"))
    assert [p.name for p in small] == [p.name for p in large] and len(small) == 6
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(small, large))
