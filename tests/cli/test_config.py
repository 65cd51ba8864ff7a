"""datasets.toml: the bundled configuration loads; mistakes are all reported at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from pipeline.config import load_config
from pipeline.gdc import check_values
from pipeline.licences import gdc_title
from pipeline.problems import ConfigError


def test_bundled_configuration_loads() -> None:
    configs = load_config()
    assert set(configs) == {"prd-releases-sample", "thaigov-news-sample"}
    prd = configs["prd-releases-sample"]
    assert prd.source == "prd" and prd.inputs == ((REPO / "samples" / "prd").resolve(),)
    assert prd.gdc["data_type"] == "ข้อมูลระเบียน"
    assert prd.gdc["data_language"] == ["ไทย"]  # the dataset's own table overrides [defaults.gdc]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "datasets.toml"
    config.write_text(
        """
[datasets.Bad_Name]
title = "x"
[datasets.ok-name]
title = "ข่าว"
title_en = "News"
description = "d"
organization = "prd"
license = "CC-BY-4.0"
inputs = ["in"]
maintainer = "m"
maintainer_email = "m@example.go.th"
source = "rss"
colour = "blue"
ckan_name = "ข่าว"
[datasets.ok-name.gdc]
data_type = "ข้อมูลระเบียน"
objective = ["อื่นๆ"]
update_frequency_unit = "ทุกวัน"
geo_coverage = "ประเทศ"
data_format = ["CSV"]
data_category = "ข้อมูลสาธารณะ"
data_source = "s"
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    problems = "\n".join(caught.value.problems)
    for expected in (
        "[datasets.Bad_Name]: the name must be",
        "[datasets.Bad_Name]: inputs is required",
        "[datasets.ok-name]: unknown key 'colour'",
        "[datasets.ok-name]: source 'rss' is not one of",
        "[datasets.ok-name]: ckan_name must be",
        "gdc.update_frequency_unit: update_frequency_unit: 'ทุกวัน' is not an allowed choice",
        "gdc.objective_other: objective is 'อื่นๆ'",
    ):
        assert expected in problems
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "datasets", "--config", str(config)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and "unknown key 'colour'" in result.stderr


def test_gdc_checks_and_licences() -> None:
    assert gdc_title("CC-BY-4.0") == "Creative Commons Attributions"
    assert gdc_title("ODbL-1.0") == "Open Data Common"
    assert gdc_title("some-custom") == "อื่นๆ"
    problems = check_values({"data_format": ["CSV", "PNG"], "geo_coverage": ["ประเทศ", "ภาค"]})
    by_field = {p["field"]: p["message"] for p in problems}
    assert {"data_type", "objective", "data_category"} <= set(by_field)  # required and missing
    assert "'PNG' is not an allowed choice" in by_field["data_format"]
    assert by_field["geo_coverage"] == "geo_coverage takes one value, not a list"
