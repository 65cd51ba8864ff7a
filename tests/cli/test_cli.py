"""The command line's exact exit codes and messages (in-process: a subprocess adds nothing here)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import copy_thaigov

from pipeline.build.run import build_dataset
from pipeline.cli.main import cli, redact
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
    assert f"{package}: valid: 5 rows (5 in releases, 5 in releases-parquet, 5 in changes) checked by ogd-fast" in by_folder.stderr


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


def _copy_with_path(package: Path, target: Path, path: str) -> Path:
    import shutil

    shutil.copytree(package, target)
    descriptor = json.loads((target / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["resources"][0]["path"] = path
    (target / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    return target


@pytest.mark.parametrize("frictionless", [False, True])
@pytest.mark.parametrize("path", ["../../../../etc/passwd", "/etc/shadow", "data/outside-link.csv", "data"])
def test_validate_refuses_a_resource_path_out_of_the_package_without_opening_it(
        package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, frictionless: bool) -> None:
    copy = _copy_with_path(package, tmp_path / "evil", path)
    (copy / "data" / "outside-link.csv").symlink_to(package / "data" / "releases.csv")  # a link out of the folder
    opened: list[str] = []
    real_open = open

    def spying_open(file, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        opened.append(os.path.realpath(file) if isinstance(file, (str, Path)) else str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spying_open)
    for checker in ("check_csv", "check_parquet"):  # pyarrow opens files in C++, past builtins.open
        monkeypatch.setattr(f"pipeline.validate.tables.{checker}", lambda path, *_: opened.append(os.path.realpath(path)))
    result = run("validate", str(copy), "--json", *(["--frictionless"] if frictionless else []))
    monkeypatch.undo()
    assert result.exit_code == 3, result.stderr
    summary = json.loads(result.stdout)[0]
    assert summary["valid"] is False
    assert [(e["type"], e["resource"]) for e in summary["errors"]] == [("unsafe-path", "releases")]
    assert f"the path {path!r} of resource 'releases'" in summary["errors"][0]["message"]
    assert "it was not opened" in result.stderr
    assert not [p for p in opened if p.startswith("/etc") or p == str(package / "data" / "releases.csv")]


@pytest.mark.parametrize("frictionless", [False, True])
def test_validate_refuses_a_descriptor_that_is_not_json_or_is_a_link(
        package: Path, tmp_path: Path, frictionless: bool) -> None:
    import shutil

    flags = ["--frictionless"] if frictionless else []
    broken = shutil.copytree(package, tmp_path / "broken")
    (broken / "datapackage.json").write_text("{ not json", encoding="utf-8")
    result = run("validate", str(broken), "--json", *flags)
    assert result.exit_code == 3
    (error,) = json.loads(result.stdout)[0]["errors"]
    assert error["type"] == "package-error" and "is not valid JSON" in error["message"]
    linked = shutil.copytree(package, tmp_path / "linked")
    (linked / "datapackage.json").unlink()
    (linked / "datapackage.json").symlink_to(package / "datapackage.json")
    result = run("validate", str(linked / "datapackage.json"), *flags)
    assert result.exit_code == 3
    assert f"{linked / 'datapackage.json'} is a symbolic link (to '{package / 'datapackage.json'}')" in result.stderr
    (linked / "datapackage.json").unlink()
    (linked / "datapackage.json").symlink_to(tmp_path / "gone.json")  # dangling: still a link, not "no package"
    assert run("validate", str(linked), *flags).exit_code == 3


def test_redact_removes_every_form_of_a_secret() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"
    text = f"InvalidHeader: Invalid return character or leading space in header: Authorization: '{token}\\n' / {token}"
    redacted = redact(text, [token + "\n", token])
    assert token not in redacted
    assert redacted.count("[REDACTED]") == 2


def test_datasets_has_a_header_a_json_form_and_a_names_only_form(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import REPO

    monkeypatch.chdir(REPO)  # the checkout's datasets.toml: the bundled samples
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


INIT_FLAGS = ["--title", "ข่าวของเรา", "--title-en", "Our news", "--description", "ข่าวประชาสัมพันธ์ของหน่วยงาน",
              "--org", "my-agency", "--org-title", "หน่วยงานของเรา", "--maintainer", "ทีมข้อมูล",
              "--maintainer-email", "data@example.go.th", "--keyword", "ข่าว", "--no-input"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A newcomer's own folder with 3 releases; no portal answers (the bundled GDC schema is used)."""
    copy_thaigov(tmp_path / "releases", 3, step=151)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CKAN_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    return tmp_path


def test_init_lists_every_missing_value_at_once_and_writes_nothing(project: Path) -> None:
    result = run("init", "../my-news", "--no-input", "--title", "ข่าว")
    assert result.exit_code == 2
    assert "error: ogd init ../my-news: 9 problem(s); nothing was written" in result.stderr
    assert "NAME '../my-news' is not a valid dataset name" in result.stderr
    for flag in ("--title-en is required", "--description is required", "--org is required", "--maintainer is required",
                 "--maintainer-email is required", "--keyword is required", "--input is required",
                 "--gdc data_source=… is required (แหล่งที่มา; free text)"):
        assert flag in result.stderr
    assert not (project / "datasets.toml").exists()


def test_init_writes_an_entry_that_build_uses_with_paths_relative_to_the_file(project: Path, tmp_path_factory) -> None:
    from pipeline.config import load_config

    result = run("init", "my-news", *INIT_FLAGS, "--input", "releases", "--gdc", "data_language=ไทย;อังกฤษ")
    assert result.exit_code == 0, result.stderr
    assert "added [datasets.my-news] to datasets.toml (GDC values checked against the bundled GDC schema)" in result.stderr
    config = load_config(project / "datasets.toml")["my-news"]
    assert (config.title, config.organization, config.license, config.keywords) == (
        "ข่าวของเรา", "my-agency", "CC-BY-4.0", ("ข่าว",))
    assert config.inputs == ((project / "releases").resolve(),)
    assert config.gdc["data_language"] == ["ไทย", "อังกฤษ"]
    assert config.gdc["data_source"] == "หน่วยงานของเรา"
    text = (project / "datasets.toml").read_text(encoding="utf-8")
    assert 'inputs = ["releases"]' in text

    # From another folder, with --config: inputs and datapackages/ are beside the file, not the current folder.
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.chdir(elsewhere)
    built = run("build", "--dataset", "my-news", "--config", str(project / "datasets.toml"), "-q")
    assert built.exit_code == 0, built.stderr
    assert (project / "datapackages" / "my-news" / "datapackage.json").is_file()
    assert not (elsewhere / "datapackages").exists()

    again = run("init", "my-news", *INIT_FLAGS, "--input", str(project / "releases"),
                "--config", str(project / "datasets.toml"))
    assert again.exit_code == 2
    assert "already has a dataset 'my-news'" in again.stderr


def test_init_refuses_a_gdc_value_outside_the_schema_and_keeps_the_file(project: Path) -> None:
    assert run("init", "first", *INIT_FLAGS, "--input", "releases").exit_code == 0
    before = (project / "datasets.toml").read_bytes()
    bad = run("init", "second", *INIT_FLAGS, "--input", "releases", "--gdc", "data_type=ข้อมูลลับ")
    assert bad.exit_code == 2
    assert "[datasets.second] gdc.data_type: data_type: 'ข้อมูลลับ' is not an allowed choice" in bad.stderr
    assert (project / "datasets.toml").read_bytes() == before
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []  # no candidate file left


def test_an_ad_hoc_build_takes_its_description_from_flags_then_the_configurations_defaults(
        project: Path) -> None:
    (project / "datasets.toml").write_text(
        '[defaults]\nlicense = "CC-BY-4.0"\nmaintainer = "ทีมข้อมูลเปิด"\nmaintainer_email = "opendata@example.go.th"\n'
        '[defaults.gdc]\ndata_type = "ข้อมูลระเบียน"\n', encoding="utf-8")
    result = run("build", "releases", "--out", "pkg", "--name", "my-news", "--title", "ข่าวของเรา",
                 "--org", "my-agency", "--keyword", "ข่าว", "--keyword", "press", "-q")
    assert result.exit_code == 0, result.stderr
    descriptor = json.loads((project / "pkg" / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["title"] == "ข่าวของเรา"
    assert descriptor["keywords"] == ["ข่าว", "press"]
    assert descriptor["licenses"][0]["name"] == "CC-BY-4.0"
    extra = descriptor["x_ogd"]
    assert (extra["organization"], extra["maintainer"], extra["maintainer_email"]) == (
        "my-agency", "ทีมข้อมูลเปิด", "opendata@example.go.th")
    assert extra["gdc"]["data_type"] == "ข้อมูลระเบียน"


def test_description_flags_are_refused_for_configured_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import REPO

    monkeypatch.chdir(REPO)
    result = run("build", "--dataset", "prd-releases-sample", "--title", "x", "--org", "y")
    assert result.exit_code == 2
    assert "--org, --title describe ad-hoc builds only" in result.stderr


@pytest.mark.portal
def test_init_checks_gdc_values_against_the_configured_portals_schema(portal, project: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKAN_URL", portal.url)
    result = run("init", "portal-news", *INIT_FLAGS, "--input", "releases")
    assert result.exit_code == 0, result.stderr
    assert f"(GDC values checked against the schema of {portal.url})" in result.stderr


def test_summarize_refuses_what_is_not_a_publish_summary_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[1]", encoding="utf-8")
    (tmp_path / "config.toml").write_text("[defaults]\n", encoding="utf-8")
    listed = run("summarize", str(tmp_path / "list.json"))
    assert listed.exit_code == 2 and "is not a publish summary (no list of datasets)" in listed.stderr
    toml = run("summarize", str(tmp_path / "config.toml"))
    assert toml.exit_code == 2 and "is not a publish summary (not JSON:" in toml.stderr
    (tmp_path / "summary.json").write_text(json.dumps({"ok": True, "dry_run": False, "datasets": [
        {"dataset": "a-news", "url": "http://portal/dataset/a-news", "ok": True, "dataset_action": "create",
         "changed": True, "rows_added": 3, "rows_updated": 0, "rows_deleted": 0, "uploads": 4, "version": "1.1.0",
         "changes": {"version": "1.1.0", "previous_version": "1.0.0", "date": "2026-11-30", "added": 3, "changed": 0,
                     "removed": 1, "schema": None}}]}), encoding="utf-8")
    rendered = run("summarize", str(tmp_path / "summary.json"))
    assert rendered.exit_code == 0
    assert ("| [a-news](http://portal/dataset/a-news) | 1.1.0 since 1.0.0: 3 added, 0 changed, 1 removed (built "
            "2026-11-30) | created | 3 | 0 | 0 | 4 |") in rendered.stdout


def test_init_refuses_what_publishing_would_refuse_all_at_once(project: Path) -> None:
    flags = [f for f in INIT_FLAGS if f not in ("--keyword", "ข่าว", "--maintainer-email", "data@example.go.th")]
    result = run("init", "bad-news", *flags, "--input", "releases", "--keyword", "k",
                 "--maintainer-email", "ทีมข้อมูล", "--license", "BOGUS")
    assert result.exit_code == 2
    assert "[datasets.bad-news]: keywords: tag 'k' has 1 character(s); CKAN allows 2 to 100" in result.stderr
    assert "[datasets.bad-news]: maintainer_email 'ทีมข้อมูล' is not an e-mail address" in result.stderr
    assert ("[datasets.bad-news]: license 'BOGUS' is not a licence id ogd-pipeline knows (CC-BY-4.0, " in result.stderr)
    assert "license_id_other: license_id is" not in result.stderr  # the cryptic GDC wording is not repeated
    assert not (project / "datasets.toml").exists()


def test_an_ad_hoc_build_takes_gdc_values_as_init_does(project: Path) -> None:
    result = run("build", "releases", "--out", "pkg", "--name", "my-news", "--gdc", "data_type=ข้อมูลระเบียน",
                 "--gdc", "data_language=ไทย;อังกฤษ", "-q")
    assert result.exit_code == 0, result.stderr
    gdc = json.loads((project / "pkg" / "datapackage.json").read_text(encoding="utf-8"))["x_ogd"]["gdc"]
    assert gdc["data_type"] == "ข้อมูลระเบียน" and gdc["data_language"] == ["ไทย", "อังกฤษ"]
    refused = run("build", "--dataset", "my-news", "--gdc", "data_type=x")
    assert refused.exit_code == 2 and "--gdc describe ad-hoc builds only" in refused.stderr
