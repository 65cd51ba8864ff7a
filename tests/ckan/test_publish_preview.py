"""The table preview (datatables_view) of the DataStore-backed CSV resource, planned against the portal in memory
(tests/fakeckan.py): created on a portal that offers it, one view and never two, nothing on a portal without it.
The same on the real portal: test_portal_visitors.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeckan import FakeCKAN
from helpers import copy_thaigov
from test_publish_plan import NAME, build

from pipeline.ckan.publish import publish_package


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inputs = tmp_path_factory.mktemp("preview-inputs") / "in"
    copy_thaigov(inputs, 5, step=131)
    return build(tmp_path_factory.mktemp("preview-package"), inputs)


@pytest.fixture(autouse=True)
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "locks"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("OGD_LOCK_DIR", str(folder))


def csv_resource(portal: FakeCKAN) -> dict:
    return next(r for r in portal.datasets[NAME]["resources"] if r["ogd_key"] == "releases-csv")


def view_types(portal: FakeCKAN) -> list[str]:
    return [v["view_type"] for v in portal.views.get(csv_resource(portal)["id"], [])]


def test_a_new_dataset_gets_one_table_view_and_a_republish_adds_none(package: Path) -> None:
    portal = FakeCKAN()
    plan = publish_package(package, portal, dry_run=True)
    assert (plan.plan.preview.action, plan.plan.preview.mark) == ("create", "datatables_view")
    assert plan.as_dict()["plan"]["preview"]["action"] == "create"
    publish_package(package, portal)
    assert view_types(portal) == ["datatables_view"]
    assert csv_resource(portal)["ogd_preview"] == "datatables_view"

    portal.reset_counts()
    again = publish_package(package, portal)
    assert not again.changed and again.plan.preview.action == "skip"
    assert portal.actions == ["organization_list_for_user", "package_show"]  # a settled preview costs no call
    assert view_types(portal) == ["datatables_view"]


def test_a_view_the_portal_made_with_the_table_is_kept_not_doubled(package: Path) -> None:
    portal = FakeCKAN()

    def portal_makes_the_view(data: dict) -> None:  # CKAN's default views: made by datastore_create itself
        portal.views.setdefault(data["resource_id"], []).append({"id": "auto", "view_type": "datatables_view"})

    portal.faults["datastore_create"] = portal_makes_the_view
    publish_package(package, portal)
    assert view_types(portal) == ["datatables_view"]
    assert "resource_view_create" not in portal.actions


def test_a_portal_without_the_preview_plugin_gets_the_data_and_no_view(package: Path) -> None:
    portal = FakeCKAN(plugins=("datastore",))
    done = publish_package(package, portal)
    assert done.rows_upserted == 5 and done.plan.preview.action == "mark"
    assert portal.views == {} and "resource_view_create" not in portal.actions
    assert csv_resource(portal)["ogd_preview"] == "unavailable"
    portal.reset_counts()
    assert not publish_package(package, portal).changed
    assert portal.actions == ["organization_list_for_user", "package_show"]  # not asked again every time

    portal.plugins.append("datatables_view")  # the portal's admin enables it: --verify finds it
    verified = publish_package(package, portal, verify=True)
    assert verified.plan.preview.action == "create"
    assert view_types(portal) == ["datatables_view"]


def test_a_dataset_published_before_previews_gets_its_view(package: Path) -> None:
    portal = FakeCKAN()
    publish_package(package, portal)
    resource = csv_resource(portal)
    del resource["ogd_preview"]
    portal.views.clear()
    portal.reset_counts()
    done = publish_package(package, portal)
    assert done.plan.preview.action == "create" and done.plan.datastore.action == "skip"
    assert view_types(portal) == ["datatables_view"] and csv_resource(portal)["ogd_preview"] == "datatables_view"
    assert portal.uploads == 0 and "datastore_upsert" not in portal.actions


@pytest.mark.parametrize("plugins", [("datastore", "datatables_view"), ("datastore",)])
def test_resources_are_named_after_the_dataset_on_the_portal(package: Path, plugins: tuple[str, ...]) -> None:
    portal = FakeCKAN(plugins=plugins)
    publish_package(package, portal)
    names = {r["ogd_key"]: (r["name"], r["url"].rsplit("/", 1)[-1]) for r in portal.datasets[NAME]["resources"]}
    assert names["releases-csv"] == ("plan-test.csv", "plan-test.csv")
    assert names["releases-parquet"] == ("plan-test.parquet", "plan-test.parquet")
    assert names["releases-excel"] == ("plan-test-excel.csv", "plan-test-excel.csv")
    assert names["datapackage"] == ("datapackage.json", "datapackage.json")
