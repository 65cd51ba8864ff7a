"""The consumers' one call straight from the real portal: pulled, verified, typed (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from test_portal_visitors import published  # noqa: F401 (the published dataset fixture)

from pipeline.consumer import read_releases

pytestmark = pytest.mark.portal


def test_a_published_dataset_reads_typed_from_the_portal(published: dict, portal, tmp_path: Path,  # noqa: F811
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CKAN_API_TOKEN", raising=False)  # a consumer: anonymous
    frame = read_releases(published["name"], portal=portal.url, into=tmp_path)
    assert (tmp_path / published["name"] / "datapackage.json").is_file()  # the verified copy stays for next time
    assert len(frame) == 40  # the bundled thaigov sample's 40 releases
    assert frame["read_count"].dtype == pd.Int64Dtype() and frame["parser_version"].dtype == pd.StringDtype()
