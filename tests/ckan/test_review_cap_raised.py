"""Review of #17: a whole CSV once served from the DataStore only (over the upload cap of that publish) is uploaded
when a later publish of the same file may send it; otherwise its resource stays without a file while the
datapackage.json uploaded beside it names data/releases.csv, and no pull of the dataset verifies."""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from pathlib import Path

import ckanapi
import pytest

from conftest import REPO, Portal

from pipeline.build.run import build_dataset
from pipeline.ckan.client import PortalClient
from pipeline.ckan.publish import publish_package
from pipeline.ckan.pull import pull_dataset
from pipeline.config import load_config

pytestmark = pytest.mark.portal
RUN = uuid.uuid4().hex[:6]


def test_a_cap_raised_uploads_the_whole_csv_again_and_the_dataset_pulls(
        portal: Portal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"review-cap-{RUN}"
    inputs = tmp_path / "in"
    shutil.copytree(REPO / "samples" / "thaigov", inputs)
    dataset = dataclasses.replace(load_config()["thaigov-news-sample"], name=name, inputs=(inputs,),
                                  organization=portal.org, partition="year")
    package = tmp_path / name
    assert build_dataset(dataset, package, workers=1).ok
    whole_csv = (package / "data" / "releases.csv").stat().st_size
    client = PortalClient(portal.url, portal.admin_token, attempts=2, backoff=0.05)
    admin = ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)

    monkeypatch.setenv("OGD_MAX_UPLOAD_BYTES", str(whole_csv - 1))  # one publish to a portal with a lower cap
    publish_package(package, client)
    csv_resource = next(r for r in admin.action.package_show(id=name)["resources"] if r["ogd_key"] == "releases-csv")
    assert csv_resource["url_type"] == "datastore"

    monkeypatch.delenv("OGD_MAX_UPLOAD_BYTES")  # the package's own cap (100 MB): the whole CSV fits
    publish_package(package, client)
    csv_resource = next(r for r in admin.action.package_show(id=name)["resources"] if r["ogd_key"] == "releases-csv")
    assert csv_resource["url_type"] == "upload" and int(csv_resource["size"]) == whole_csv

    pulled = pull_dataset(PortalClient(portal.url, None), name, tmp_path / "pulled")
    assert pulled.ok, pulled.mismatches
    assert (pulled.folder / "data" / "releases.csv").read_bytes() == (package / "data" / "releases.csv").read_bytes()
