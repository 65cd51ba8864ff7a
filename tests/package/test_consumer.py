"""The consumers' one call (issue 18): a package's releases typed by its Table Schema, whole or in parts."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO

from pipeline.build.run import build_dataset
from pipeline.config import load_config
from pipeline.consumer import read_releases
from pipeline.problems import DataError


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("consumer") / "thaigov"
    dataset = dataclasses.replace(load_config()["thaigov-news-sample"], inputs=(REPO / "samples" / "thaigov",),
                                  partition="year")
    assert build_dataset(dataset, out, workers=1).ok
    return out


def test_the_releases_come_typed_by_the_table_schema(package: Path) -> None:
    frame = read_releases(package)
    assert len(frame) == 40  # the bundled sample: 41 items, one an empty placeholder (samples/README.md)
    # What a naive CSV reader gets wrong: counts with empty cells, the parser version, dates.
    assert frame["read_count"].dtype == pd.Int64Dtype() and frame["word_count"].dtype == pd.Int64Dtype()
    assert frame["parser_version"].dtype == pd.StringDtype() and set(frame["parser_version"]) == {"3"}
    assert str(frame["published_date"].dtype).startswith("datetime64")
    assert frame["title"].dtype == pd.StringDtype()


def test_a_package_published_in_parts_reads_the_same_rows(package: Path, tmp_path: Path) -> None:
    parts_only = tmp_path / "pulled"
    shutil.copytree(package, parts_only)
    (parts_only / "data" / "releases.parquet").unlink()  # as a pull of a table too large to publish whole
    whole = read_releases(package, arrow=True)
    from_parts = read_releases(parts_only, arrow=True)
    assert sorted(from_parts.column("release_id").to_pylist()) == sorted(whole.column("release_id").to_pylist())
    assert from_parts.schema == whole.schema


def test_what_is_not_a_package_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as raised:
        read_releases(tmp_path)
    assert raised.value.message.startswith(f"{tmp_path} is not a data package (datapackage.json:")
