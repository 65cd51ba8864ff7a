"""Publishing to a portal that runs ckanext-xloader, as data.go.th and most agency catalogs do (issue 17): a second
CKAN server of the local portal's installation and database with xloader and its jobs worker
(portal/xloader.py). xloader loads every uploaded CSV into the DataStore itself and rewrites the resource's
``hash`` with the file's MD5: before this, a first publish there failed (xloader replaced the table the rows were
being sent to) and every later publish uploaded every CSV again."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from pathlib import Path

import ckanapi
import pyarrow.parquet as pq
import pytest

from conftest import REPO, THAIGOV_CORPUS, Portal
from helpers import build_thaigov_sample, csv_rows, thaigov_files
from s3server import free_port

from pipeline.ckan import xloader as xloader_module
from pipeline.ckan.client import PortalClient
from pipeline.ckan.publish import publish_package
from pipeline.ckan.pull import pull_dataset
from pipeline.problems import PortalUnavailable
from portal.xloader import XloaderPortal, xloader_portal

pytestmark = pytest.mark.portal
RUN = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def xloader(portal: Portal, tmp_path_factory: pytest.TempPathFactory) -> XloaderPortal:
    if not portal.local:
        pytest.skip("needs the project's own local portal (its installation and configuration)")
    with xloader_portal(tmp_path_factory.mktemp("xloader-ckan"), free_port()) as running:
        yield running


def table_rows(site: ckanapi.RemoteCKAN, resource_id: str) -> list[dict[str, str]]:
    records = site.action.datastore_search(resource_id=resource_id, limit=1000, sort="release_id")["records"]
    return [{k: ("" if v is None else str(v)) for k, v in record.items() if k != "_id"} for record in records]


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    shutil.copytree(REPO / "samples" / "thaigov", folder)
    return folder


def test_xloader_loads_the_csv_with_the_table_schema_types_and_a_republish_sends_nothing(
        portal: Portal, xloader: XloaderPortal, inputs: Path, tmp_path: Path) -> None:
    name = f"xl-{RUN}"
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org)
    done = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert (done.dataset_action, done.datastore_action, done.plan.datastore.loader) == ("create", "create", "xloader")
    site = ckanapi.RemoteCKAN(xloader.url, apikey=portal.admin_token)
    dataset = site.action.package_show(id=name)
    assert dataset["private"] is False
    csv_resource = next(r for r in dataset["resources"] if r["ogd_key"] == "releases-csv")
    assert csv_resource["url_type"] == "upload"
    described = site.action.datastore_search(resource_id=csv_resource["id"], limit=0)["fields"]
    fields = {f["id"]: f["type"] for f in described}
    # The data dictionary survives xloader's load: the Thai and English label, and the type it keeps.
    info = {f["id"]: f.get("info") or {} for f in described}
    assert (info["title"].get("label"), info["published_date"].get("type_override")) == ("หัวข้อข่าว (Title)", "date")
    # The Table Schema's types, not xloader's text: dates are dates and counts numbers (filters and sorting work).
    assert (fields["published_date"], fields["word_count"], fields["read_count"], fields["title"]) == (
        "date", "int8", "int8", "text")
    assert "search_words" not in fields  # xloader loads the file's columns only (README: "Portals that run xloader")
    # Every cell as the package has it: xloader was told not to trim them.
    expected = sorted(csv_rows(package / "data" / "releases.csv"), key=lambda row: row["release_id"])
    assert table_rows(site, csv_resource["id"]) == expected
    assert len(expected) == 40
    # xloader wrote the file's MD5 into `hash`; ours is in ogd_sha256, so the next publish has nothing to send.
    assert len(csv_resource["hash"]) == 32 and csv_resource["ogd_sha256"].startswith("sha256:")
    again = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert not again.changed and again.uploads == 0 and again.api_calls <= 3
    # A consumer's pull verifies against our sha256, not xloader's MD5.
    pulled = pull_dataset(PortalClient(xloader.url, None), name, tmp_path / "pulled")
    assert pulled.ok, pulled.mismatches


def test_new_releases_are_loaded_again_by_xloader(portal: Portal, xloader: XloaderPortal, inputs: Path,
                                                   tmp_path: Path) -> None:
    name = f"xl-daily-{RUN}"
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org)
    publish_package(package, PortalClient(xloader.url, portal.admin_token))
    new = [path for path in thaigov_files(3000, step=1) if "/2024/" in path.as_posix()
           and not (inputs / path.relative_to(THAIGOV_CORPUS)).exists()][:3]
    for path in new:
        (inputs / path.relative_to(THAIGOV_CORPUS)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, inputs / path.relative_to(THAIGOV_CORPUS))
    build_thaigov_sample(inputs, package, name, portal.org)
    again = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert (again.datastore_action, again.plan.datastore.loader) == ("update", "xloader")
    assert (again.rows_added, again.rows_updated, again.rows_deleted) == (3, 0, 0)
    site = ckanapi.RemoteCKAN(xloader.url, apikey=portal.admin_token)
    csv_resource = next(r for r in site.action.package_show(id=name)["resources"] if r["ogd_key"] == "releases-csv")
    assert table_rows(site, csv_resource["id"]) == sorted(csv_rows(package / "data" / "releases.csv"),
                                                          key=lambda row: row["release_id"])
    assert len(table_rows(site, csv_resource["id"])) == 43


def test_an_archive_in_parts_keeps_its_api_table_and_xloader_does_not_make_a_republish_resend(
        portal: Portal, xloader: XloaderPortal, inputs: Path, tmp_path: Path) -> None:
    name = f"xl-parts-{RUN}"
    probe = build_thaigov_sample(inputs, tmp_path / "probe", "probe", portal.org)
    cap = (probe / "data" / "releases.csv").stat().st_size - 1  # the whole CSV over the cap: parts by year
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org, max_upload_bytes=cap)
    done = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    # The whole table is only in the DataStore (xloader leaves such resources alone): loaded through the API, with
    # the search column; xloader loads each part's CSV file into the part's own table, as that portal does.
    assert done.plan.datastore.loader == "api"
    site = ckanapi.RemoteCKAN(xloader.url, apikey=portal.admin_token)
    resources = {r["ogd_key"]: r for r in site.action.package_show(id=name)["resources"]}
    assert resources["releases-csv"]["url_type"] == "datastore"
    fields = [f["id"] for f in site.action.datastore_search(resource_id=resources["releases-csv"]["id"],
                                                            limit=0)["fields"]]
    assert "search_words" in fields
    again = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert not again.changed and again.uploads == 0


def test_a_portal_whose_loads_do_not_run_is_a_clear_error_and_a_rerun_completes(
        portal: Portal, xloader: XloaderPortal, inputs: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"xl-stalled-{RUN}"
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org)
    xloader.stop_worker()
    try:
        monkeypatch.setenv("OGD_XLOADER_TIMEOUT", "4")
        with pytest.raises(PortalUnavailable) as raised:
            publish_package(package, PortalClient(xloader.url, portal.admin_token))
    finally:
        xloader.start_worker()
    assert raised.value.exit_code == 5
    assert "xloader has not loaded data/releases.csv within 4 s" in raised.value.message
    assert "ckan jobs worker" in (raised.value.hint or "")
    site = ckanapi.RemoteCKAN(xloader.url, apikey=portal.admin_token)
    assert site.action.package_show(id=name)["private"] is True  # nothing half-visible
    monkeypatch.delenv("OGD_XLOADER_TIMEOUT")
    done = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert done.plan.datastore.loader == "xloader"
    dataset = site.action.package_show(id=name)
    assert dataset["private"] is False
    csv_resource = next(r for r in dataset["resources"] if r["ogd_key"] == "releases-csv")
    assert site.action.datastore_search(resource_id=csv_resource["id"], limit=0)["total"] == 40


# A real release of 273,432 characters (the minutes of a cabinet meeting): over the 131,072 characters a cell that
# xloader's CSV reader takes (row 235 of the table in file order).
LONG_RELEASE = "data/2023/03/01/สรุปข่าวการประชุม ครม_1_213ae8bb-0ffd-4d10-b839-1b23a662883a.txt"


def test_a_cell_longer_than_xloader_reads_is_loaded_through_the_api_once_its_job_has_ended(
        portal: Portal, xloader: XloaderPortal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(THAIGOV_CORPUS.rglob("*.txt"))
    until = files.index(THAIGOV_CORPUS / LONG_RELEASE) + 1
    inputs = tmp_path / "in"
    for path in files[:until]:
        (inputs / path.relative_to(THAIGOV_CORPUS)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, inputs / path.relative_to(THAIGOV_CORPUS))
    name = f"xl-long-{RUN}"
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org)
    done = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert (done.plan.datastore.loader, done.plan.datastore.portal_loader) == ("api", "xloader")
    assert "a cell of 273,432 characters is over what the portal's xloader reads, 131,072" in done.plan.datastore.reason
    site = ckanapi.RemoteCKAN(xloader.url, apikey=portal.admin_token)

    def check_table() -> None:
        dataset = site.action.package_show(id=name)
        assert dataset["private"] is False
        csv_resource = next(r for r in dataset["resources"] if r["ogd_key"] == "releases-csv")
        assert site.action.xloader_status(resource_id=csv_resource["id"])["status"] == "error"  # its job failed
        table = site.action.datastore_search(resource_id=csv_resource["id"], limit=0)
        fields = {f["id"]: f["type"] for f in table["fields"]}
        assert (fields["published_date"], fields["word_count"], "search_words" in fields) == ("date", "int8", True)
        assert table["total"] == pq.read_metadata(package / "data" / "releases.parquet").num_rows
        longest = site.action.datastore_search(resource_id=csv_resource["id"], filters={
            "source_file": LONG_RELEASE}, fields=["body"])["records"][0]["body"]
        assert len(longest) > 131_072

    check_table()
    assert not publish_package(package, PortalClient(xloader.url, portal.admin_token)).changed
    # A day later: the upload of the changed file starts xloader's job again. The publish waits for it to end
    # before touching the table (a job that got past its first rows would drop the table: its columns are not the
    # file's), then reads the table again: xloader 2.5 fails before touching it, so only the new row is sent.
    following = files[until]
    (inputs / following.relative_to(THAIGOV_CORPUS)).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(following, inputs / following.relative_to(THAIGOV_CORPUS))
    build_thaigov_sample(inputs, package, name, portal.org)
    again = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert (again.rows_added, again.rows_upserted) == (1, 1)
    check_table()

    # A job that got further (a long cell past what it reads first) drops the table before it fails: after such a
    # job the publish finds no table and loads every row.
    ended = xloader_module.wait_for_end

    def job_that_dropped_the_table(client: PortalClient, resource_id: str, **kwargs: object) -> str:
        status = ended(client, resource_id, **kwargs)
        site.action.datastore_delete(resource_id=resource_id, force=True)
        return status

    monkeypatch.setattr(xloader_module, "wait_for_end", job_that_dropped_the_table)
    following = files[until + 1]
    (inputs / following.relative_to(THAIGOV_CORPUS)).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(following, inputs / following.relative_to(THAIGOV_CORPUS))
    build_thaigov_sample(inputs, package, name, portal.org)
    third = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert third.rows_upserted == pq.read_metadata(package / "data" / "releases.parquet").num_rows  # all of them
    check_table()
    monkeypatch.setattr(xloader_module, "wait_for_end", ended)

    # A run that stopped while xloader's job for its upload was still queued (exit 5): the re-run sends no file,
    # and still waits for that job to end before it touches the table.
    xloader.stop_worker()
    try:
        following = files[until + 2]
        (inputs / following.relative_to(THAIGOV_CORPUS)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(following, inputs / following.relative_to(THAIGOV_CORPUS))
        build_thaigov_sample(inputs, package, name, portal.org)
        monkeypatch.setenv("OGD_XLOADER_TIMEOUT", "3")
        with pytest.raises(PortalUnavailable) as stalled:
            publish_package(package, PortalClient(xloader.url, portal.admin_token))
        assert "job for data/releases.csv has not ended within 3 s" in stalled.value.message
    finally:
        xloader.start_worker()
    monkeypatch.delenv("OGD_XLOADER_TIMEOUT")
    waited: list[str] = []

    def recorded(client: PortalClient, resource_id: str, **kwargs: object) -> str:
        waited.append(resource_id)
        return ended(client, resource_id, **kwargs)

    monkeypatch.setattr(xloader_module, "wait_for_end", recorded)
    fourth = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert fourth.plan.step("releases-csv").action == "skip" and waited
    check_table()


def test_a_whole_csv_uploaded_once_the_cap_allows_it_goes_to_xloader_with_its_types(
        portal: Portal, xloader: XloaderPortal, inputs: Path, tmp_path: Path) -> None:
    name = f"xl-cap-{RUN}"
    probe = build_thaigov_sample(inputs, tmp_path / "probe", "probe", portal.org)
    size = (probe / "data" / "releases.csv").stat().st_size
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org, max_upload_bytes=size - 1)
    first = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert first.plan.datastore.loader == "api"  # the whole CSV only in the DataStore: the API's table
    # The portal's cap raised: the same CSV is uploaded now, and xloader loads every upload. Its table goes
    # through xloader with the Table Schema's types (left alone, xloader's job would guess them).
    build_thaigov_sample(inputs, package, name, portal.org, max_upload_bytes=size + 1_000_000)
    again = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert again.plan.step("releases-csv").reason == "uploaded now (within the upload cap)"
    assert (again.plan.datastore.loader, again.datastore_action) == ("xloader", "recreate")
    site = ckanapi.RemoteCKAN(xloader.url, apikey=portal.admin_token)
    csv_resource = next(r for r in site.action.package_show(id=name)["resources"] if r["ogd_key"] == "releases-csv")
    table = site.action.datastore_search(resource_id=csv_resource["id"], limit=0)
    fields = {f["id"]: f["type"] for f in table["fields"]}
    assert (fields["published_date"], fields["read_count"], "search_words" in fields, table["total"]) == (
        "date", "int8", False, 40)
    assert csv_resource["ogd_datastore_hash"].endswith(";loader=xloader")
    assert not publish_package(package, PortalClient(xloader.url, portal.admin_token)).changed


def test_a_load_that_ended_in_error_with_its_rows_in_place_is_asked_for_again(
        portal: Portal, xloader: XloaderPortal, inputs: Path, tmp_path: Path) -> None:
    name = f"xl-error-{RUN}"
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org)
    publish_package(package, PortalClient(xloader.url, portal.admin_token))
    site = ckanapi.RemoteCKAN(xloader.url, apikey=portal.admin_token)
    csv_id = next(r for r in site.action.package_show(id=name)["resources"] if r["ogd_key"] == "releases-csv")["id"]
    # As a job leaves it that copied every row, then failed building its indexes: status error, and the publish
    # that waited for it ended (exit 6) before writing its mark.
    site.action.task_status_update(entity_id=csv_id, entity_type="resource", task_type="xloader", key="xloader",
                                   value="{}", state="error", error=json.dumps({"message": "index build timed out"}),
                                   last_updated=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat())
    site.action.resource_patch(id=csv_id, ogd_datastore_hash="")
    assert site.action.xloader_status(resource_id=csv_id)["status"] == "error"
    again = publish_package(package, PortalClient(xloader.url, portal.admin_token))
    assert (again.datastore_action, again.rows_upserted, again.plan.datastore.loader) == ("update", 0, "xloader")
    assert site.action.xloader_status(resource_id=csv_id)["status"] == "complete"  # loaded again, not exit 6
    assert site.action.resource_show(id=csv_id)["ogd_datastore_hash"].endswith(";loader=xloader")
