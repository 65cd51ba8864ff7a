"""Versions and change logs (issue 19): every build says what changed and moves the version by the rules."""

from __future__ import annotations

import copy
import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import REPO, THAIGOV_CORPUS
from helpers import thaigov_files

from click.testing import CliRunner

import pipeline.build.run
from pipeline.build.run import build_dataset
from pipeline.cli.main import cli
from pipeline.changes.version import next_version, schema_change
from pipeline.config import ad_hoc_dataset
from pipeline.problems import ConfigError

_NEWS_NUMBER = re.compile(r"thaigov\.go\.th/news/contents/details/(\d+)")


def release_id_of(path: Path) -> str:
    """The id the README promises for a thaigov release: 'thaigov-' + the news number of its 'ที่มา' URL."""
    return "thaigov-" + _NEWS_NUMBER.findall(path.read_text(encoding="utf-8"))[-1]


def changes_of(package: Path) -> list[dict[str, str]]:
    with open(package / "data" / "changes.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def descriptor_of(package: Path) -> dict:
    return json.loads((package / "datapackage.json").read_text(encoding="utf-8"))


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != "report.json"}


def correct_body(path: Path) -> None:
    """A correction: one sentence added to the body, before the 'ที่มา' line that ends a thaigov release."""
    text = path.read_text(encoding="utf-8")
    at = text.rindex("ที่มา")
    path.write_text(text[:at] + "แก้ไขข้อมูล: ตัวเลขในย่อหน้าก่อนหน้านี้ได้รับการปรับปรุงให้ถูกต้องแล้ว\n" + text[at:],
                    encoding="utf-8")


@pytest.fixture()
def corpus(tmp_path: Path) -> tuple[Path, list[Path], list[Path]]:
    """60 releases in the inputs, 20 more kept aside for v2."""
    chosen = thaigov_files(80, step=31)
    inputs = tmp_path / "in"
    placed = []
    for source in chosen[:60]:
        target = inputs / source.relative_to(THAIGOV_CORPUS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        placed.append(target)
    return inputs, placed, chosen[60:]


def test_a_version_says_what_was_added_corrected_and_removed(corpus, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764460800")  # 2025-11-30 (UTC)
    inputs, placed, extra = corpus
    dataset = ad_hoc_dataset("news", [inputs], "thaigov", 1.0)
    package = tmp_path / "pkg"
    v1 = build_dataset(dataset, package)
    assert v1.ok and v1.counts["records"] == 60
    assert descriptor_of(package)["version"] == "1.0.0"  # the configured first version
    first = changes_of(package)
    assert {row["release_id"] for row in first} == {release_id_of(path) for path in placed}
    assert {(row["version"], row["date"], row["change"], row["changed_fields"]) for row in first} == {
        ("1.0.0", "2025-11-30", "added", "")}

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764547200")  # the next day: 2025-12-01
    shutil.copytree(package, tmp_path / "v1")
    added = []
    for source in extra:
        target = inputs / source.relative_to(THAIGOV_CORPUS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        added.append(target)
    corrected, removed = placed[10:13], placed[40:42]
    for path in corrected:
        correct_body(path)
    removed_ids = {release_id_of(path) for path in removed}
    for path in removed:
        path.unlink()
    v2 = build_dataset(dataset, package)
    assert v2.ok and v2.counts["records"] == 78
    log = changes_of(package)
    assert log[:60] == first, "the log of an earlier version never changes"
    new = {(row["change"], row["release_id"]): row for row in log[60:]}
    assert {row["version"] for row in log[60:]} == {"1.1.0"} and {row["date"] for row in log[60:]} == {"2025-12-01"}
    assert {release for change, release in new if change == "added"} == {release_id_of(path) for path in added}
    assert {release for change, release in new if change == "removed"} == removed_ids
    assert {release: row["changed_fields"] for (change, release), row in new.items() if change == "changed"} == {
        release_id_of(path): "body" for path in corrected}
    descriptor = descriptor_of(package)
    assert descriptor["version"] == "1.1.0"  # rows added and removed: minor
    assert descriptor["x_ogd"]["changes"] == {"version": "1.1.0", "previous_version": "1.0.0", "date": "2025-12-01",
                                              "added": 20, "changed": 3, "removed": 2, "schema": None}
    # ogd diff agrees with the log.
    diffed = CliRunner().invoke(cli, ["diff", str(tmp_path / "v1"), str(package), "--json"])
    assert diffed.exit_code == 0, diffed.output
    answer = json.loads(diffed.stdout)
    assert answer["counts"] == {"added": 20, "changed": 3, "removed": 2}
    assert (answer["old"]["version"], answer["new"]["version"]) == ("1.0.0", "1.1.0")
    assert {(c["change"], c["release_id"], " ".join(c["changed_fields"])) for c in answer["changes"]} == {
        (row["change"], row["release_id"], row["changed_fields"]) for row in log[60:]}
    text = CliRunner().invoke(cli, ["diff", str(tmp_path / "v1"), str(package)])
    assert f"(1.0.0) -> {package} (1.1.0): 20 added, 3 changed, 2 removed" in text.stdout
    changelog = (package / "CHANGELOG.md").read_text(encoding="utf-8")
    assert changelog.index("## 1.1.0 (2025-12-01)") < changelog.index("## 1.0.0 (2025-11-30)"), "newest first"
    assert "เพิ่ม / Added 20, แก้ไข / Changed 3, ถอนออก / Removed 2" in changelog
    for release in removed_ids:
        assert f"- {release}\n" in changelog

    # A rebuild of the same inputs is the same version, byte for byte, with no new log rows.
    before = files_of(package)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764633600")  # another day: nothing may depend on it
    again = build_dataset(dataset, package)
    assert again.ok and files_of(package) == before

    # Only corrections: a patch version.
    correct_body(placed[20])
    build_dataset(dataset, package)
    assert descriptor_of(package)["version"] == "1.1.1"
    assert [(row["version"], row["change"], row["release_id"], row["changed_fields"]) for row in changes_of(package)[85:]] \
        == [("1.1.1", "changed", release_id_of(placed[20]), "body")]


def test_a_full_build_is_versioned_against_the_package_it_replaces(corpus, tmp_path: Path) -> None:
    inputs, placed, _ = corpus
    dataset = ad_hoc_dataset("news", [inputs], "thaigov", 1.0)
    build_dataset(dataset, tmp_path / "pkg")
    gone = release_id_of(placed[0])
    placed[0].unlink()
    build_dataset(dataset, tmp_path / "pkg", incremental=False)  # --full: no cache, the same versions
    assert descriptor_of(tmp_path / "pkg")["version"] == "1.1.0"
    last = changes_of(tmp_path / "pkg")[-1]
    assert (last["version"], last["change"], last["release_id"]) == ("1.1.0", "removed", gone)


def test_a_changed_table_schema_moves_the_major_version(corpus, tmp_path: Path, monkeypatch) -> None:
    inputs, _, _ = corpus
    dataset = ad_hoc_dataset("news", [inputs], "thaigov", 1.0)
    build_dataset(dataset, tmp_path / "pkg")
    schema = copy.deepcopy(pipeline.build.run.descriptor_table_schema())  # the loaded schema is shared: copy it
    for field in schema["fields"]:
        if field["name"] == "word_count":
            field["type"] = "number"  # a consumer reading an integer column breaks
    monkeypatch.setattr(pipeline.build.run, "descriptor_table_schema", lambda: schema)
    build_dataset(dataset, tmp_path / "pkg")
    assert descriptor_of(tmp_path / "pkg")["version"] == "2.0.0"
    assert descriptor_of(tmp_path / "pkg")["x_ogd"]["changes"]["schema"] == "breaking"


@pytest.mark.parametrize(("previous", "configured", "change", "expected"), [
    (None, "1.0.0", {}, "1.0.0"),
    ("1.0.0", "1.0.0", {}, "1.0.0"),
    ("1.0.0", "1.0.0", {"changed": 3}, "1.0.1"),
    ("1.0.1", "1.0.0", {"added": 1}, "1.1.0"),
    ("1.4.2", "1.0.0", {"removed": 1, "changed": 9}, "1.5.0"),
    ("1.4.2", "1.0.0", {"schema": "compatible"}, "1.5.0"),
    ("1.4.2", "1.0.0", {"schema": "breaking", "added": 5}, "2.0.0"),
    ("1.4.2", "3.0.0", {"changed": 1}, "3.0.0"),  # a team moved the configured version up by hand
    ("1.9.0", "1.10.0", {}, "1.10.0"),  # numbers, not text: 10 > 9
])
def test_the_version_rules(previous, configured, change, expected) -> None:
    arguments = {"schema": None, "added": 0, "changed": 0, "removed": 0, **change}
    assert next_version(previous, configured, where="[datasets.x]", **arguments) == expected


def test_a_version_that_is_not_semantic_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError) as raised:
        next_version(None, "2024.1", schema=None, added=0, changed=0, removed=0, where="[datasets.news]")
    assert raised.value.problems == ["[datasets.news]: version '2024.1': write three numbers separated by dots "
                                     "(for example \"1.0.0\"); builds move it by the README's rules (Versions)"]


def test_schema_changes_are_breaking_only_when_a_field_goes_or_changes_type() -> None:
    old = [{"name": "a", "type": "string"}, {"name": "b", "type": "integer"}]
    assert schema_change(old, old) is None
    assert schema_change(old, [*old, {"name": "c", "type": "string"}]) == "compatible"
    assert schema_change(old, [old[0], {**old[1], "description": "counted"}]) == "compatible"
    assert schema_change(old, [old[0]]) == "breaking"
    assert schema_change(old, [old[0], {"name": "b", "type": "number"}]) == "breaking"
    assert schema_change(old, [old[0], {"name": "bb", "type": "integer"}]) == "breaking"


def test_diff_refuses_what_is_not_a_package(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["diff", str(tmp_path / "empty"), str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "is not a data package (no datapackage.json and data/releases.parquet)" in result.output



def test_a_portal_that_cannot_be_reached_costs_only_the_comparison_unless_asked_for(tmp_path: Path, monkeypatch) -> None:
    # A configured dataset, no package yet, CKAN_URL naming a portal that does not answer.
    config = (REPO / "datasets.toml").read_text(encoding="utf-8").replace('inputs = ["samples/', f'inputs = ["{REPO}/samples/')
    (tmp_path / "datasets.toml").write_text(config, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CKAN_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    runner = CliRunner()
    default = runner.invoke(cli, ["build", "--dataset", "prd-releases-sample", "-q"])
    assert default.exit_code == 0, default.output
    assert "prd-releases-sample: warning: the published version could not be read (the portal at " \
           "http://127.0.0.1:9 could not be reached" in default.stderr
    assert descriptor_of(tmp_path / "datapackages" / "prd-releases-sample")["version"] == "1.0.0"
    shutil.rmtree(tmp_path / "datapackages")
    asked = runner.invoke(cli, ["build", "--dataset", "prd-releases-sample", "-q", "--published"])
    assert asked.exit_code == 5 and "could not be reached" in asked.stderr
