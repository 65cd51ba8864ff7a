"""The command line's exact exit codes and messages (in-process: a subprocess adds nothing here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import copy_thaigov

from pipeline.build import build_dataset
from pipeline.cli import cli, redact
from pipeline.config import ad_hoc_dataset


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli")
    copy_thaigov(base / "in", 5, step=131)
    out = base / "cli-news"
    assert build_dataset(ad_hoc_dataset("cli-news", [base / "in"], "auto", 0.5), out, workers=1).ok
    return out


def run(*args: str) -> "click.testing.Result":  # noqa: F821
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_validate_takes_the_descriptor_as_frictionless_does_and_counts_rows_once(package: Path) -> None:
    by_folder = run("validate", str(package), "--json")
    by_descriptor = run("validate", str(package / "datapackage.json"), "--json")
    assert by_folder.exit_code == by_descriptor.exit_code == 0
    assert json.loads(by_folder.stdout)[0]["rows"] == json.loads(by_descriptor.stdout)[0]["rows"] == 5
    assert f"{package}: valid: 5 rows (5 in releases, 5 in releases-parquet) checked by ogd-fast" in by_folder.stderr


def test_validate_quiet_prints_nothing_for_a_valid_package(package: Path) -> None:
    quiet = run("validate", "-q", str(package))
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_validate_refuses_what_is_not_a_package_with_exit_2(tmp_path: Path) -> None:
    missing = run("validate", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2
    assert f"{tmp_path / 'nowhere'} does not exist; give a package folder" in missing.stderr
    (tmp_path / "plain").mkdir()
    plain = run("validate", str(tmp_path / "plain"))
    assert plain.exit_code == 2
    assert "is not a data package (it has no datapackage.json)" in plain.stderr


def test_redact_removes_every_form_of_a_secret() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"
    text = f"InvalidHeader: Invalid return character or leading space in header: Authorization: '{token}\\n' / {token}"
    redacted = redact(text, [token + "\n", token])
    assert token not in redacted
    assert redacted.count("[REDACTED]") == 2


def test_datasets_has_a_header_a_json_form_and_a_names_only_form() -> None:
    table = run("datasets")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0] == "name\torganization\ttitle"
    assert lines[1:] == ["prd-releases-sample\tprd\tข่าวประชาสัมพันธ์ กรมประชาสัมพันธ์ (ตัวอย่าง)",
                         "thaigov-news-sample\tprd\tข่าวทำเนียบรัฐบาล (ตัวอย่าง)"]
    as_json = json.loads(run("datasets", "--json").stdout)
    assert [(d["name"], d["organization"], d["title_en"]) for d in as_json] == [
        ("prd-releases-sample", "prd", "Government Public Relations Department press releases (sample)"),
        ("thaigov-news-sample", "prd", "Royal Thai Government news (sample)")]
    assert run("datasets", "-q").stdout == "prd-releases-sample\nthaigov-news-sample\n"
