"""Archive-scale publishing on the real portal (issue 17): parts under the upload cap, only changed parts re-sent,
private until complete, a clear refusal of a file over the cap; pull verifies every part."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import uuid
from pathlib import Path

import ckanapi
import pytest

from conftest import REPO, THAIGOV_CORPUS, Portal
from helpers import build_thaigov_sample, csv_rows, thaigov_files

from pipeline.ckan.client import PortalClient
from pipeline.ckan.publish import publish_package
from pipeline.ckan.pull import pull_dataset
from pipeline.problems import DataError, UploadTooLarge

pytestmark = pytest.mark.portal
RUN = uuid.uuid4().hex[:6]
SAMPLE = REPO / "samples" / "thaigov"


def client_for(portal: Portal) -> PortalClient:
    return PortalClient(portal.url, portal.admin_token, attempts=2, backoff=0.05)


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    shutil.copytree(SAMPLE, folder)
    return folder


def cap_between_parts_and_whole(inputs: Path, tmp_path: Path) -> int:
    """An upload cap under the whole CSV's size and over each year's: the sample as a (small) archive."""
    probe = build_thaigov_sample(inputs, tmp_path / "probe", "probe", "prd", partition="year")
    whole = (probe / "data" / "releases.csv").stat().st_size
    largest_part = max(path.stat().st_size for path in (probe / "data" / "parts").iterdir())
    assert largest_part < whole - 1
    shutil.rmtree(probe)
    return whole - 1


def test_a_table_over_the_cap_publishes_as_parts_and_pulls_back(portal: Portal, inputs: Path, tmp_path: Path) -> None:
    name = f"parts-{RUN}"
    cap = cap_between_parts_and_whole(inputs, tmp_path)
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org, max_upload_bytes=cap)  # partition = "auto"
    descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["x_ogd"]["partition"] == "year"
    publish_package(package, client_for(portal))
    admin = ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)
    dataset = admin.action.package_show(id=name)
    assert dataset["private"] is False  # public once complete
    by_key = {r["ogd_key"]: r for r in dataset["resources"]}
    assert sorted(by_key) == sorted(["releases-csv", "releases-parquet", "changes", "datapackage",
                                     *(f"part-{year}-{kind}" for year in ("2023", "2024")
                                       for kind in ("csv", "parquet", "excel"))])
    # Every uploaded file is under the cap; the whole CSV is the DataStore table (served as its dump), not an upload.
    assert all(int(r["size"]) <= cap for key, r in by_key.items() if key != "releases-csv")
    assert by_key["releases-csv"]["url_type"] == "datastore"
    whole_rows = csv_rows(package / "data" / "releases.csv")
    table = admin.action.datastore_search(resource_id=by_key["releases-csv"]["id"], limit=0)
    assert table["total"] == len(whole_rows)

    pulled = pull_dataset(PortalClient(portal.url, None), name, tmp_path / "pulled")
    assert pulled.ok, pulled.mismatches
    got = pulled.folder
    assert not (got / "data" / "releases.csv").exists()  # not published as a file
    for year in ("2023", "2024"):
        assert csv_rows(got / "data" / "parts" / f"releases-{year}.csv") == [
            row for row in whole_rows if row["published_date"].startswith(year)]
        for suffix in (".csv", ".parquet", "-excel.csv"):
            part = f"data/parts/releases-{year}{suffix}"
            assert (got / part).read_bytes() == (package / part).read_bytes()

    # A release of 2024 added: only 2024's files (and what describes them) are sent again.
    extra = next(path for path in thaigov_files(3000, step=1) if "/2024/" in path.as_posix()
                 and not (inputs / path.relative_to(THAIGOV_CORPUS)).exists())
    (inputs / extra.relative_to(THAIGOV_CORPUS)).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(extra, inputs / extra.relative_to(THAIGOV_CORPUS))
    build_thaigov_sample(inputs, package, name, portal.org, max_upload_bytes=cap)
    again = publish_package(package, client_for(portal))
    sent = {step.key for step in again.resources if step.action != "skip"}
    assert {key for key in sent if key.startswith("part-")} == {"part-2024-csv", "part-2024-parquet", "part-2024-excel"}
    assert not {"part-2023-csv", "part-2023-parquet", "part-2023-excel"} & sent
    assert (again.rows_added, again.rows_updated, again.rows_deleted) == (1, 0, 0)


def test_a_file_over_the_cap_is_refused_before_anything_is_sent(portal: Portal, inputs: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"toolarge-{RUN}"
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org, partition="none")
    monkeypatch.setenv("OGD_MAX_UPLOAD_BYTES", "1000")
    with pytest.raises(UploadTooLarge) as raised:
        publish_package(package, client_for(portal))
    assert raised.value.exit_code == 11
    assert "data/releases.csv is " in raised.value.message and "over the portal's upload cap of 1,000 bytes" in \
        raised.value.message and "nothing was sent" in raised.value.message
    assert 'partition = "year"' in (raised.value.hint or "")
    with pytest.raises(ckanapi.NotFound):
        ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token).action.package_show(id=name)


def _publish_then_die(package: Path, portal: Portal, stop_after: int) -> None:
    """In a child process: publish, and die (as by SIGKILL: no clean-up, no lock released) at API call N+1."""
    client = client_for(portal)
    real = client.call_action
    calls = {"n": 0}

    def dying(action: str, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] > stop_after:
            os._exit(9)
        return real(action, *args, **kwargs)

    client.call_action = dying  # type: ignore[method-assign]
    publish_package(package, client)
    os._exit(0)


def test_an_interrupted_first_publish_shows_nothing_and_a_rerun_completes(portal: Portal, inputs: Path,
                                                                          tmp_path: Path) -> None:
    name = f"interrupted-{RUN}"
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org, partition="year")
    anonymous = ckanapi.RemoteCKAN(portal.url)
    context = multiprocessing.get_context("fork")
    for stop_after in (4, 9, 14):  # after the create; among the uploads; before the DataStore mark
        child = context.Process(target=_publish_then_die, args=(package, portal, stop_after))
        child.start()
        child.join(300)
        assert child.exitcode == 9, f"the publish ended ({child.exitcode}) before call {stop_after + 1}"
        with pytest.raises((ckanapi.NotFound, ckanapi.NotAuthorized)):
            anonymous.action.package_show(id=name)  # private: nothing half-visible
    done = publish_package(package, client_for(portal))
    assert done.changed
    dataset = anonymous.action.package_show(id=name)
    keys = [r["ogd_key"] for r in dataset["resources"]]
    assert len(keys) == len(set(keys)), "no duplicate resource"
    assert dataset["private"] is False


@pytest.fixture()
def team_host(tmp_path: Path):
    """The team's own file server on 127.0.0.1 (what object storage behind a web address would be)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "hosted"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_file_over_the_cap_hosted_by_the_team_is_linked_checked_and_pulled(portal: Portal, inputs: Path,
                                                                            tmp_path: Path, team_host) -> None:
    hosted, host_url = team_host
    name = f"linked-{RUN}"
    files_url = f"{host_url}/{name}/"
    probe = build_thaigov_sample(inputs, tmp_path / "probe", "probe", portal.org, partition="none")
    cap = (probe / "data" / "releases.csv").stat().st_size - 1  # the whole CSV is over it, the rest under
    package = build_thaigov_sample(inputs, tmp_path / name, name, portal.org, partition="none", max_upload_bytes=cap,
                    files_url=files_url)
    # Not hosted yet: refused before anything is sent.
    with pytest.raises(DataError) as raised:
        publish_package(package, client_for(portal))
    assert raised.value.exit_code == 3 and f"{files_url}data/releases.csv answers HTTP 404" in raised.value.message
    with pytest.raises(ckanapi.NotFound):
        ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token).action.package_show(id=name)
    shutil.copytree(package, hosted / name)  # the team copies its package to its host
    done = publish_package(package, client_for(portal))
    dataset = ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token).action.package_show(id=name)
    by_key = {r["ogd_key"]: r for r in dataset["resources"]}
    # The whole CSV and its spreadsheet copy (a little larger) are over the cap: linked; the rest uploaded.
    assert by_key["releases-csv"]["url"] == f"{files_url}data/releases.csv"
    assert by_key["releases-excel"]["url"] == f"{files_url}data/releases-excel.csv"
    assert done.uploads == 3  # Parquet, change log, datapackage.json
    assert done.rows_upserted == len(csv_rows(package / "data" / "releases.csv"))  # the table is searchable too
    pulled = pull_dataset(PortalClient(portal.url, None), name, tmp_path / "pulled")
    assert pulled.ok, pulled.mismatches
    assert (pulled.folder / "data" / "releases.csv").read_bytes() == (package / "data" / "releases.csv").read_bytes()
