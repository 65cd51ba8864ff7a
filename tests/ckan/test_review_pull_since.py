"""Review of #19: ``ogd pull --since`` gives a full pull's verdict. A file kept from the local copy is checked
against the portal's metadata as a downloaded one is: when the portal declares another hash for it, a full pull
does not verify, and neither may the catch-up (it reused the local bytes without looking)."""

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


def test_since_checks_kept_files_against_the_portal_as_a_full_pull_does(portal: Portal, tmp_path: Path) -> None:
    name = f"review-since-{RUN}"
    inputs = tmp_path / "in"
    shutil.copytree(REPO / "samples" / "thaigov", inputs)
    dataset = dataclasses.replace(load_config()["thaigov-news-sample"], name=name, inputs=(inputs,),
                                  organization=portal.org)
    package = tmp_path / name
    assert build_dataset(dataset, package, workers=1).ok
    publish_package(package, PortalClient(portal.url, portal.admin_token, attempts=2, backoff=0.05))
    anonymous = PortalClient(portal.url, None)
    copy = tmp_path / "copy"
    assert pull_dataset(anonymous, name, copy).ok
    again = pull_dataset(anonymous, name, copy, since="1.0.0")  # the portal agrees: kept, not downloaded
    assert again.ok and {f["path"] for f in again.files if f.get("reused")} >= {"data/releases.parquet",
                                                                                "data/releases.csv"}

    admin = ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)
    parquet = next(r for r in admin.action.package_show(id=name)["resources"] if r["ogd_key"] == "releases-parquet")
    admin.action.resource_patch(id=parquet["id"], hash="sha256:" + "0" * 64)  # the portal now declares other bytes

    full = pull_dataset(anonymous, name, tmp_path / "full")
    assert not full.ok and any("differs from the portal's hash" in m for m in full.mismatches)
    since = pull_dataset(anonymous, name, copy, since="1.0.0")
    assert not since.ok and any("differs from the portal's hash" in m for m in since.mismatches)
    assert (copy / "data" / "releases.parquet").read_bytes() == (package / "data" / "releases.parquet").read_bytes()
