"""`ogd publish` and `ogd pull` on the command line, in-process, with the portal in memory (tests/fakeckan.py):
the plan a dry run prints, --quiet and --json, metadata from datasets.toml, progress, help examples."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakeckan import FakeCKAN
from helpers import copy_thaigov

from pipeline.build.run import build_dataset
from pipeline.ckan import client as client_module
from pipeline.ckan.publish import publish_package
from pipeline.cli.main import cli
from pipeline.config import load_config

NAME = "cli-plan"
TOKEN = "fake-token-0123456789"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("publish-cli")
    copy_thaigov(base / "in", 3, step=131)
    dataset = dataclasses.replace(load_config()["thaigov-news-sample"], name=NAME, inputs=(base / "in",),
                                  organization="prd")
    assert build_dataset(dataset, base / NAME, workers=1).ok
    return base / NAME


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeCKAN:
    fake = FakeCKAN(apikey=TOKEN)
    monkeypatch.setattr(client_module, "PortalClient", lambda *args, **kwargs: fake)
    (tmp_path / "locks").mkdir(mode=0o700)
    monkeypatch.setenv("OGD_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.chdir(tmp_path)  # no ./datasets.toml here unless a test writes one
    return fake


def run(*args: str) -> object:
    env = {"CKAN_URL": FakeCKAN.url, "CKAN_API_TOKEN": TOKEN}
    return CliRunner().invoke(cli, list(args), env=env)


def test_the_dry_run_prints_the_plan(portal: FakeCKAN, package: Path, tmp_path: Path) -> None:
    # Outside the checkout with no datasets.toml: the metadata is the package's own.
    monkeypatch_free = run("publish", str(package), "--dry-run")
    assert monkeypatch_free.exit_code == 0, monkeypatch_free.output
    lines = monkeypatch_free.stderr.splitlines()
    start = lines.index(f"{NAME}: plan: changes ({FakeCKAN.url}/dataset/{NAME}; organization prd; metadata from "
                        "the package's datapackage.json)")
    assert lines[start + 1:start + 8] == [
        "  dataset: create (new dataset)",
        "  releases.csv: create (new file)",
        "  releases.parquet: create (new file)",
        "  releases-excel.csv: create (new file)",
        "  changes.csv: create (new file)",
        "  datapackage.json: create (new file)",
        "  DataStore: create (new CSV resource): 3 row(s) to upsert (3 new, 0 changed), 0 to delete",
    ]
    assert portal.writes == []


def test_quiet_prints_nothing_and_json_gives_the_plan(portal: FakeCKAN, package: Path) -> None:
    result = run("publish", str(package), "-q", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    entry = summary["datasets"][0]
    assert summary["ok"] is True and entry["dataset_action"] == "create" and entry["rows_upserted"] == 3
    assert entry["plan"]["datastore"]["action"] == "create"
    assert run("publish", str(package), "--quiet", "--dry-run").stderr == ""


def test_the_metadata_of_datasets_toml_is_published_without_a_rebuild(portal: FakeCKAN, package: Path,
                                                                       tmp_path: Path) -> None:
    assert run("publish", str(package), "-q").exit_code == 0
    sample = load_config()["thaigov-news-sample"]
    config = tmp_path / "team" / "datasets.toml"
    (config.parent / "in").mkdir(parents=True)

    def toml(value: object) -> str:
        return json.dumps(value, ensure_ascii=False)  # a JSON string or list of strings is a TOML value too

    values = {"title": "ชื่อใหม่จาก datasets.toml", "title_en": sample.title_en, "description": sample.description,
              "organization": "prd", "license": sample.license, "maintainer": sample.maintainer,
              "maintainer_email": sample.maintainer_email, "keywords": list(sample.keywords), "inputs": ["in"],
              **({"url": sample.url} if sample.url else {})}
    config.write_text("\n".join([f"[datasets.{NAME}]", *(f"{k} = {toml(v)}" for k, v in values.items()),
                                 f"[datasets.{NAME}.gdc]", *(f"{k} = {toml(v)}" for k, v in sample.gdc.items())])
                      + "\n", encoding="utf-8")
    result = run("publish", str(package), "--config", str(config), "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"metadata from [datasets.{NAME}] of {config}" in result.stderr
    assert "  dataset: update (changed: title)" in result.stderr
    assert "  datapackage.json: skip (unchanged)" in result.stderr
    assert run("publish", str(package), "--config", str(config), "-q").exit_code == 0
    assert portal.datasets[NAME]["title"] == "ชื่อใหม่จาก datasets.toml"


def test_a_missing_organization_is_exit_2_on_the_command_line(portal: FakeCKAN, tmp_path: Path) -> None:
    copy_thaigov(tmp_path / "in", 2, step=131)
    dataset = dataclasses.replace(load_config()["thaigov-news-sample"], name="no-org", inputs=(tmp_path / "in",),
                                  organization="")
    assert build_dataset(dataset, tmp_path / "no-org", workers=1).ok
    result = run("publish", str(tmp_path / "no-org"))
    assert result.exit_code == 2
    assert f"error: no organization for {tmp_path / 'no-org'}: the package names none\n" in result.stderr
    assert ("hint: pass --org NAME (an organization the token may publish in); to give the dataset its organization "
            "and the rest of its catalogue metadata once, run `ogd init no-org …` (it writes [datasets.no-org] of "
            "datasets.toml, which publishing reads: no rebuild)\n") in result.stderr


def test_progress_reports_every_byte_uploaded_and_every_row(portal: FakeCKAN, package: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    publish_package(package, portal, progress=lambda what, done, total: seen.append((what, done, total)))
    sizes = sum(path.stat().st_size for path in [package / "datapackage.json", *(package / "data").iterdir()])
    assert [entry for entry in seen if entry[0] == "bytes"][-1] == ("bytes", sizes, sizes)
    assert [entry for entry in seen if entry[0] == "rows"] == [("rows", 3, 3)]


@pytest.mark.parametrize("command, example", [
    ("publish", "ogd publish --dataset my-news --dry-run"),
    ("pull", "ogd pull my-news --out copies/my-news"),
])
def test_help_has_an_example_and_quiet(command: str, example: str) -> None:
    text = CliRunner().invoke(cli, [command, "--help"]).output
    assert "Example:" in text and example in text
    assert "-q, --quiet" in text and "--json" in text
