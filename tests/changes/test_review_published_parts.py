"""Review of #17 x #19: a table published in parts whose whole Parquet file is over the upload cap (the archive of
issue 17: 217 MB of Parquet against a 200 MB cap) is not on the portal as one file. A fresh work tree that follows
the published version must still follow it (not restart at datasets.toml's version and rewrite the change log),
and ``ogd diff --published`` must still compare with it."""

from __future__ import annotations

import dataclasses
import json
import shutil
import uuid
from pathlib import Path

import ckanapi
import pytest
from click.testing import CliRunner

from conftest import REPO, Portal

from pipeline.build.run import build_dataset
from pipeline.ckan.client import PortalClient
from pipeline.ckan.publish import publish_package
from pipeline.ckan.published import fetch_published
from pipeline.cli.main import cli
from pipeline.config import load_config

pytestmark = pytest.mark.portal
RUN = uuid.uuid4().hex[:6]
SAMPLE = REPO / "samples" / "thaigov"
# Over every month's part of the sample (the largest is 78 kB) and under its whole Parquet file (158 kB).
CAP = 100_000


def build(inputs: Path, out: Path, name: str, org: str, published: Path | None = None) -> dict:
    dataset = dataclasses.replace(load_config()["thaigov-news-sample"], name=name, inputs=(inputs,), organization=org,
                                  partition="month", max_upload_bytes=CAP)
    result = build_dataset(dataset, out, workers=1, published=published)
    assert result.ok, result.failure
    return json.loads((out / "datapackage.json").read_text(encoding="utf-8"))


def test_a_fresh_work_tree_follows_a_version_published_without_its_whole_parquet(
        portal: Portal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")
    name = f"review-parts-{RUN}"
    inputs = tmp_path / "in"
    shutil.copytree(SAMPLE, inputs)
    held_back = sorted(inputs.rglob("*.txt"))[-1]
    kept = held_back.read_bytes()
    held_back.unlink()
    package = tmp_path / "pkg"
    assert build(inputs, package, name, portal.org)["version"] == "1.0.0"
    held_back.write_bytes(kept)
    assert build(inputs, package, name, portal.org)["version"] == "1.1.0"  # one release added
    assert (package / "data" / "releases.parquet").stat().st_size > CAP
    publish_package(package, PortalClient(portal.url, portal.admin_token, attempts=2, backoff=0.05))
    keys = {r.get("ogd_key") for r in ckanapi.RemoteCKAN(portal.url).action.package_show(id=name)["resources"]}
    assert "releases-parquet" not in keys and "part-2024-10-parquet" in keys  # the whole Parquet is not published

    # A fresh work tree (no package in its output) builds the same inputs against the published 1.1.0.
    published = fetch_published(name, tmp_path / "published" / name, url=portal.url)
    assert published is not None
    fresh = tmp_path / "fresh"
    descriptor = build(inputs, fresh, name, portal.org, published=published)
    assert descriptor["version"] == "1.1.0"  # nothing changed: the published version stands
    assert (fresh / "data" / "changes.csv").read_bytes() == (package / "data" / "changes.csv").read_bytes()

    monkeypatch.setenv("CKAN_URL", portal.url)
    monkeypatch.delenv("CKAN_API_TOKEN", raising=False)
    diffed = CliRunner().invoke(cli, ["diff", "--published", name, str(fresh)])
    assert diffed.exit_code == 0, diffed.output
    assert "(1.1.0) -> " in diffed.output and ": 0 added, 0 changed, 0 removed" in diffed.output
