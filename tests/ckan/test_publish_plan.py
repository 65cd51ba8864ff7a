"""Publish as plan, then apply, against a portal in memory (tests/fakeckan.py): what the plan says, what a
dry run prints, and what a publish sends. The same cases against the real portal are in test_publish.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import ckanapi
import pyarrow.parquet as pq
import pytest
from conftest import REPO
from fakeckan import FakeCKAN, Stop
from helpers import copy_thaigov

from pipeline.build.run import build_dataset
from pipeline.ckan import datastore
from pipeline.ckan.publish import publish_package
from pipeline.config import load_config
from pipeline.problems import AuthError, ExitCode, PortalRejected, UsageError

NAME = "plan-test"
KEYS = ["releases-csv", "releases-parquet", "releases-excel", "changes", "datapackage"]


def build(base: Path, inputs: Path, *, name: str = NAME, **changes: object) -> Path:
    template = load_config()["thaigov-news-sample"]
    dataset = dataclasses.replace(template, name=name, inputs=(inputs,), **{"organization": "prd", **changes})
    result = build_dataset(dataset, base / name, workers=1)
    assert result.ok, result.failure
    return base / name


def parquet_rows(package: Path) -> dict[str, str]:
    """The package's release_id -> content_sha256, read here with pyarrow (not by the code under test)."""
    table = pq.read_table(package / "data" / "releases.parquet", columns=["release_id", "content_sha256"])
    return dict(zip(table.column("release_id").to_pylist(), table.column("content_sha256").to_pylist(), strict=True))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plan-inputs") / "in"
    copy_thaigov(folder, 5, step=131)
    return folder


@pytest.fixture(scope="module")
def package(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("plan-package"), inputs)


@pytest.fixture(autouse=True)
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "locks"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("OGD_LOCK_DIR", str(folder))


def published(package: Path) -> FakeCKAN:
    portal = FakeCKAN()
    publish_package(package, portal)
    portal.reset_counts()
    return portal


def test_create_a_dry_run_writes_nothing_and_the_publish_does_what_it_said(package: Path) -> None:
    portal = FakeCKAN()
    plan = publish_package(package, portal, dry_run=True)
    assert portal.writes == [] and portal.uploads == 0
    rows = parquet_rows(package)
    assert len(rows) == 5
    assert plan.dataset_action == "create" and plan.changed
    assert [(r.key, r.action) for r in plan.resources] == [(key, "create") for key in KEYS]
    assert plan.datastore_action == "create" and plan.rows_upserted == 5 and plan.rows_deleted == 0
    assert plan.as_dict()["plan"]["datastore"] == {"action": "create", "reason": "new CSV resource", "rows_added": 5,
                                                   "rows_updated": 0, "rows_to_upsert": 5, "rows_to_delete": 0,
                                                   "loader": "api", "portal_loader": ""}

    done = publish_package(package, portal)
    assert done.dataset_action == "create" and done.rows_upserted == 5
    assert portal.uploads == 5
    dataset = portal.datasets[NAME]
    assert sorted(r["ogd_key"] for r in dataset["resources"]) == sorted(KEYS)
    assert portal.rows(NAME) == rows
    csv = next(r for r in dataset["resources"] if r["ogd_key"] == "releases-csv")
    assert csv["hash"] == "sha256:" + hashlib.sha256((package / "data" / "releases.csv").read_bytes()).hexdigest()
    assert csv["ogd_datastore_hash"].startswith(csv["hash"] + ";types=")  # the rows are marked complete


def test_unchanged_costs_two_reads_and_no_write(package: Path) -> None:
    portal = published(package)
    plan = publish_package(package, portal, dry_run=True)
    assert not plan.changed and plan.datastore_action == "skip"
    assert [r.action for r in plan.resources] == ["skip"] * 5
    again = publish_package(package, portal)
    assert not again.changed
    assert portal.actions == ["organization_list_for_user", "package_show"] * 2
    assert again.api_calls == 2 and portal.writes == [] and portal.uploads == 0


def test_one_changed_row_is_the_only_row_sent(package: Path, inputs: Path, tmp_path: Path) -> None:
    portal = published(package)
    changed_inputs = tmp_path / "in"
    shutil.copytree(inputs, changed_inputs)
    victim = sorted(changed_inputs.rglob("*.txt"))[0]
    lines = victim.read_text(encoding="utf-8").split("\n")
    longest = max(range(len(lines)), key=lambda i: len(lines[i]))
    lines[longest] += " (แก้ไข)"
    victim.write_text("\n".join(lines), encoding="utf-8")
    changed = build(tmp_path, changed_inputs)
    before, after = parquet_rows(package), parquet_rows(changed)
    edited = [k for k in after if before.get(k) != after[k]]
    assert len(edited) == 1 and set(before) == set(after)

    plan = publish_package(changed, portal, dry_run=True)
    assert plan.datastore_action == "update" and (plan.rows_added, plan.rows_updated, plan.rows_deleted) == (0, 1, 0)
    assert {r.key: r.action for r in plan.resources} == {"releases-csv": "update", "releases-parquet": "update",
                                                         "releases-excel": "update", "datapackage": "update",
                                                         # built in a fresh folder: its own first version, the same
                                                         # log of five added releases as the published one
                                                         "changes": "skip"}
    portal.reset_counts()
    done = publish_package(changed, portal)
    assert done.rows_upserted == 1 and done.rows_deleted == 0
    assert portal.writes.count("datastore_upsert") == 1 and "datastore_create" not in portal.writes
    assert portal.rows(NAME) == after


def test_one_removed_row_is_deleted(package: Path, inputs: Path, tmp_path: Path) -> None:
    portal = published(package)
    fewer = tmp_path / "in"
    shutil.copytree(inputs, fewer)
    sorted(fewer.rglob("*.txt"))[-1].unlink()
    smaller = build(tmp_path, fewer)
    after = parquet_rows(smaller)
    assert len(after) == 4

    plan = publish_package(smaller, portal, dry_run=True)
    assert plan.datastore_action == "update" and (plan.rows_upserted, plan.rows_deleted) == (0, 1)
    portal.reset_counts()
    publish_package(smaller, portal)
    assert "datastore_upsert" not in portal.writes and portal.writes.count("datastore_delete") == 1
    assert portal.rows(NAME) == after


def retype_read_count(package: Path, target: Path) -> Path:
    """A copy whose Table Schema says read_count is a number (the CSV bytes unchanged), as a build would record it."""
    shutil.copytree(package, target)
    descriptor = json.loads((target / "datapackage.json").read_text(encoding="utf-8"))
    for resource in descriptor["resources"]:
        for column in resource["schema"]["fields"]:
            if column["name"] == "read_count":
                column["type"] = "number"
    text = json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n"
    (target / "datapackage.json").write_text(text, encoding="utf-8")
    report = json.loads((target / "report.json").read_text(encoding="utf-8"))
    report["descriptor_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (target / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return target


def test_a_changed_column_type_recreates_the_table_and_the_dry_run_says_so(package: Path, tmp_path: Path) -> None:
    portal = published(package)
    retyped = retype_read_count(package, tmp_path / NAME)
    plan = publish_package(retyped, portal, dry_run=True)
    step = plan.as_dict()["plan"]["datastore"]
    assert step["action"] == "recreate" and "read_count: int8 -> numeric" in step["reason"]
    assert step["rows_to_upsert"] == 5
    assert {r.key: r.action for r in plan.resources}["releases-csv"] == "skip"  # the same CSV bytes
    portal.reset_counts()
    publish_package(retyped, portal)
    csv = next(r for r in portal.datasets[NAME]["resources"] if r["ogd_key"] == "releases-csv")
    assert {f["id"]: f["type"] for f in portal.tables[csv["id"]]["fields"]}["read_count"] == "numeric"
    assert "datastore_create" in portal.writes
    assert portal.writes.index("datastore_delete") < portal.writes.index("datastore_create")
    assert portal.rows(NAME) == parquet_rows(package)
    assert not publish_package(retyped, portal, dry_run=True).changed


def test_an_interrupted_load_is_finished_by_the_next_plan(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    portal = FakeCKAN()
    monkeypatch.setattr(datastore, "UPSERT_CHUNK", 2)
    upserts = []

    def stop_after_the_first(data: dict) -> None:
        upserts.append(len(data["records"]))
        if len(upserts) > 1:
            raise Stop("killed")

    portal.faults["datastore_upsert"] = stop_after_the_first
    with pytest.raises(Stop):
        publish_package(package, portal)
    assert len(portal.rows(NAME)) == 2  # the first chunk arrived, the rest did not
    del portal.faults["datastore_upsert"]

    plan = publish_package(package, portal, dry_run=True)
    assert plan.dataset_action == "skip" and all(r.action == "skip" for r in plan.resources)
    assert plan.as_dict()["plan"]["datastore"] == {"action": "update", "reason": "rows not loaded completely",
                                                   "rows_added": 3, "rows_updated": 0, "rows_to_upsert": 3,
                                                   "rows_to_delete": 0, "loader": "api", "portal_loader": ""}
    done = publish_package(package, portal)
    assert done.rows_upserted == 3 and portal.rows(NAME) == parquet_rows(package)
    assert not publish_package(package, portal, dry_run=True).changed


# ------------------------------------------------------------------ exit codes (issue #13)


def test_a_private_dataset_the_token_may_not_read_is_exit_4(package: Path) -> None:
    portal = FakeCKAN(orgs=("prd", "other"), member_of=("prd",))
    portal.datasets[NAME] = {"id": "x", "name": NAME, "state": "active", "private": True, "resources": [],
                             "organization": {"name": "other"}, "owner_org": "org-other", "extras": []}
    with pytest.raises(AuthError) as refused:
        publish_package(package, portal, dry_run=True)
    assert refused.value.exit_code == ExitCode.AUTH == 4
    assert f"dataset {NAME!r} exists on {portal.url} but this token may not read it" in refused.value.message


def test_a_package_without_organization_is_exit_2(inputs: Path, tmp_path: Path) -> None:
    package = build(tmp_path, inputs, name="no-org", organization="")
    with pytest.raises(UsageError) as refused:
        publish_package(package, FakeCKAN(), dry_run=True)
    assert refused.value.exit_code == ExitCode.USAGE == 2
    assert refused.value.message == f"no organization for {package}: the package names none"


# ------------------------------------------------------------------ metadata: where to fix it (issue #12)


def test_missing_metadata_names_each_datasets_toml_key_and_its_table(inputs: Path, tmp_path: Path) -> None:
    package = build(tmp_path, inputs, name="my-news", keywords=(), maintainer="", maintainer_email="",
                    gdc={"data_type": "ข้อมูลระเบียน"})
    with pytest.raises(PortalRejected) as refused:
        publish_package(package, FakeCKAN(), dry_run=True)
    error = refused.value
    assert error.exit_code == ExitCode.PORTAL_REJECTED == 6
    assert error.field_errors["tag_string"].endswith("-> keywords in [datasets.my-news]")
    assert error.field_errors["maintainer_email"].endswith("-> maintainer_email in [datasets.my-news]")
    assert error.field_errors["objective"].endswith("-> objective in [datasets.my-news.gdc]")
    assert error.hint == (
        "add to datasets.toml: keywords, maintainer, maintainer_email in [datasets.my-news]; data_category, "
        "data_format, data_source, geo_coverage, objective, update_frequency_unit in [datasets.my-news.gdc] "
        "(`ogd init my-news …` writes such an entry, asking for or listing every value it needs); then publish "
        "again from that file's folder, or with --config FILE: publish reads the metadata of a package named in "
        "datasets.toml from it, so no rebuild is needed (this package's metadata came from its datapackage.json: "
        "no datasets.toml names it)")


def test_metadata_from_the_configuration_needs_no_rebuild(package: Path, tmp_path: Path) -> None:
    portal = published(package)
    config = load_config()["thaigov-news-sample"]
    fixed = dataclasses.replace(config, name=NAME, organization="prd", title="ชื่อที่แก้แล้ว",
                                keywords=("ข่าว", "แก้ไข"), organization_description=None)
    config_file = tmp_path / "datasets.toml"
    plan = publish_package(package, portal, dry_run=True, configuration=({NAME: fixed}, config_file))
    assert plan.dataset_action == "update" and plan.plan.dataset_reason == "changed: title, tag_string"
    assert plan.plan.metadata_source == f"[datasets.{NAME}] of {config_file}"
    assert [r.action for r in plan.resources] == ["skip"] * 5  # the built files stay
    portal.reset_counts()
    publish_package(package, portal, configuration=({NAME: fixed}, config_file))
    assert portal.datasets[NAME]["title"] == "ชื่อที่แก้แล้ว" and portal.uploads == 0
    assert sorted(t["name"] for t in portal.datasets[NAME]["tags"]) == ["ข่าว", "แก้ไข"]
    # Compared each time (the descriptor's hash does not cover it): one call more than an unchanged package
    portal.reset_counts()
    assert not publish_package(package, portal, configuration=({NAME: fixed}, config_file)).changed
    assert portal.actions == ["organization_list_for_user", "package_show", "scheming_dataset_schema_show"]


def test_the_dataset_description_says_how_complete_the_data_is(package: Path) -> None:
    """The build's quality profile reaches the dataset's page: a short paragraph of the description (#14)."""
    portal = published(package)
    notes = portal.datasets[NAME]["notes"]
    profile = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))["x_ogd"]["quality"]
    assert profile["records"] == 5  # five releases were built
    assert notes.endswith("คุณภาพข้อมูล / Data quality (5 records): filled title 100%, published_date 100%, "
                          "source_url 100%, category 100%, body 100%, agency 100%, byline 0%. The whole profile "
                          "(every field, categories, years, leftover page furniture) is in datapackage.json, "
                          "x_ogd.quality.")


def test_an_upload_the_portal_refuses_for_its_size_is_its_own_error(package: Path) -> None:
    from pipeline.problems import UploadTooLarge

    portal = FakeCKAN()

    def refuse(data: dict) -> None:
        raise ckanapi.ValidationError({"upload": ["File upload too large"], "__type": "Validation Error"})

    portal.faults["resource_create"] = refuse
    with pytest.raises(UploadTooLarge) as raised:
        publish_package(package, portal)
    assert raised.value.exit_code == 11
    assert raised.value.message.startswith("the portal refused data/releases.csv (")
    assert "as too large for one upload: its cap (ckan.max_resource_size) is below that" in raised.value.message
    assert "set max_upload_bytes below" in (raised.value.hint or "")
    created = next(iter(portal.datasets.values()))
    assert created["private"] is True, "a dataset whose first publish failed stays private"


def test_a_new_dataset_is_public_only_after_its_files_and_rows(package: Path) -> None:
    portal = FakeCKAN()
    order: list[str] = []
    portal.faults["package_create"] = lambda data: order.append(f"create private={data.get('private')}")
    portal.faults["datastore_upsert"] = lambda data: order.append("rows")
    portal.faults["package_patch"] = lambda data: order.append(f"patch private={data.get('private')}")
    plan = publish_package(package, portal)
    assert plan.plan.visibility == "public"
    assert order[0] == "create private=True" and order[-1] == "patch private=False" and "rows" in order
    assert next(iter(portal.datasets.values()))["private"] is False


def test_rows_the_table_does_not_hold_go_by_insert_changed_ones_by_upsert(package: Path, inputs: Path,
                                                                          tmp_path: Path) -> None:
    portal = FakeCKAN()
    publish_package(package, portal)
    assert set(portal.upsert_methods) == {"insert"}  # a new table: every row is new
    portal.upsert_methods.clear()
    changed_inputs = tmp_path / "in"
    shutil.copytree(inputs, changed_inputs)
    victim = sorted(changed_inputs.rglob("*.txt"))[0]
    lines = victim.read_text(encoding="utf-8").split("\n")
    longest = max(range(len(lines)), key=lambda i: len(lines[i]))
    lines[longest] += " (แก้ไข)"  # a correction of the body
    victim.write_text("\n".join(lines), encoding="utf-8")
    changed = build(tmp_path, changed_inputs)
    done = publish_package(changed, portal)
    assert (done.rows_added, done.rows_updated) == (0, 1)
    assert portal.upsert_methods == ["upsert"]  # the changed row: a key the table holds


def test_a_resource_added_by_hand_is_never_deleted_and_a_dataset_made_private_by_hand_stays_private(
        package: Path) -> None:
    portal = published(package)
    dataset = next(iter(portal.datasets.values()))
    # Someone adds a file by hand, named like one the tool writes but without its ogd_key, and hides the dataset.
    dataset["resources"].append({"id": "by-hand", "name": "releases.csv", "hash": "x"})
    dataset["private"] = True
    plan = publish_package(package, portal, dry_run=True)
    assert not [step for step in plan.resources if step.action == "delete"]
    assert plan.plan.visibility == "keep" and not plan.changed


def test_the_organization_description_of_datasets_toml_is_kept_on_the_portal_by_its_admin(
        package: Path, tmp_path: Path) -> None:
    portal = published(package)
    config = dataclasses.replace(load_config()["thaigov-news-sample"], name=NAME, organization="prd",
                                 organization_description="กรมประชาสัมพันธ์\n\nThe Government Public Relations Department")
    configuration = ({NAME: config}, tmp_path / "datasets.toml")
    said: list[str] = []
    publish_package(package, portal, configuration=configuration, say=said.append)  # an editor's token
    assert "description" not in portal.orgs["prd"]
    assert said[-1] == ("organization prd: its description on the portal differs from [organizations.prd] of "
                        "datasets.toml; only an admin of the organization may change it")
    portal.org_admin_of.add("prd")
    publish_package(package, portal, configuration=configuration, say=said.append)
    assert portal.orgs["prd"]["description"] == "กรมประชาสัมพันธ์\n\nThe Government Public Relations Department"
    portal.reset_counts()
    again = publish_package(package, portal, configuration=configuration)
    assert "organization_patch" not in portal.actions and not again.changed  # compared with the listing, no call


def test_an_organizations_table_is_checked(tmp_path: Path) -> None:
    from pipeline.problems import ConfigError

    base = (REPO / "datasets.toml").read_text(encoding="utf-8")
    (tmp_path / "datasets.toml").write_text(base + '\n[organizations.other-agency]\ndescription = "x"\nlogo = "y"\n',
                                            encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "datasets.toml")
    assert raised.value.problems == ["[organizations.other-agency]: unknown key 'logo' (known: description)"]


def test_an_insert_that_meets_rows_already_there_is_sent_again_as_an_upsert() -> None:
    # A re-sent insert whose first answer was lost, or a killed run's insert that finished: the rows are there.
    from pipeline.ckan.datastore import upsert

    portal = FakeCKAN()
    portal.tables["r1"] = {"fields": [], "records": {"prd-1": {"release_id": "prd-1"}}}
    upsert(portal, "r1", [{"release_id": "prd-1"}, {"release_id": "prd-2"}], "insert")
    assert portal.upsert_methods == ["upsert"] and set(portal.tables["r1"]["records"]) == {"prd-1", "prd-2"}
