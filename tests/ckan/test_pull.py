"""ogd pull against the real portal: anonymous by default, private datasets, the token's origin (issue #11).

Faults and hostile answers are in test_pull_safety.py (local stand-in servers).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import ckanapi
import pytest
from conftest import REPO, Portal
from helpers import copy_thaigov
from pull_servers import Server

from pipeline.build.run import build_dataset
from pipeline.ckan.client import PortalClient
from pipeline.config import load_config
from pipeline.ckan.publish import publish_package

pytestmark = pytest.mark.portal
RUN = uuid.uuid4().hex[:6]


def published(portal: Portal, base: Path, name: str) -> Path:
    """Build a small real package NAME and publish it as the sysadmin; returns the package folder."""
    inputs = base / f"{name}-inputs"
    copy_thaigov(inputs, 3, step=173)
    template = load_config()["thaigov-news-sample"]
    dataset = dataclasses.replace(template, name=name, inputs=(inputs,), organization=portal.org)
    result = build_dataset(dataset, base / name, workers=1)
    assert result.ok, result.failure
    publish_package(base / name, PortalClient(portal.url, portal.admin_token, attempts=2, backoff=0.05))
    return base / name


def pull(name: str, out: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("CKAN_URL", "CKAN_API_TOKEN")}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "pull", name, "--out", str(out), *extra],
                          cwd=REPO, capture_output=True, text=True, env={**base, **env})


@pytest.fixture(scope="module")
def admin(portal: Portal) -> ckanapi.RemoteCKAN:
    return ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pull")


@pytest.fixture
def attacker() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


FILES = ("datapackage.json", "data/releases.csv", "data/releases.parquet")


def test_pull_is_anonymous_unless_a_token_is_given_and_replaces_only_its_own_copy(portal: Portal, workdir: Path) -> None:
    name = f"pulltest-anon-{RUN}"
    package = published(portal, workdir, name)
    out = workdir / f"{name}-copy"
    env = {"CKAN_URL": portal.url}
    first = pull(name, out, env)
    assert first.returncode == 0, first.stderr
    assert f"portal {portal.url} (from CKAN_URL); token: none (anonymous)" in first.stderr
    for relative in FILES:
        assert (out / relative).read_bytes() == (package / relative).read_bytes()
    again = pull(name, out, env)
    assert again.returncode == 0 and "replaced the previous copy" in again.stderr
    (out / "notes.txt").write_text("mine\n")
    refused = pull(name, out, env)
    assert refused.returncode == 2 and "notes.txt" in refused.stderr and "--force" in refused.stderr
    assert (out / "notes.txt").read_text() == "mine\n"
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(f".{out.name}")) == []


def test_a_private_dataset_needs_a_token_and_the_local_sysadmin_token_is_never_taken(
        portal: Portal, admin: ckanapi.RemoteCKAN, workdir: Path) -> None:
    name = f"pulltest-private-{RUN}"
    package = published(portal, workdir, name)
    admin.action.package_patch(id=name, private=True)
    out = workdir / f"{name}-copy"
    explicit = pull(name, out, {"CKAN_URL": portal.url})
    assert explicit.returncode == 4, explicit.stderr
    assert "private" in explicit.stderr and "--token-env" in explicit.stderr and "Traceback" not in explicit.stderr
    if portal.local:
        # CKAN_URL unset: the local portal's URL from .portal/env, but not its sysadmin token.
        implicit = pull(name, out, {})
        assert implicit.returncode == 4, implicit.stderr
        assert "token: none (anonymous)" in implicit.stderr
    assert not out.exists()
    with_token = pull(name, out, {"CKAN_URL": portal.url, "PULLTEST_EDITOR": portal.editor_token},
                      "--token-env", "PULLTEST_EDITOR")
    assert with_token.returncode == 0, with_token.stderr
    assert "token: PULLTEST_EDITOR" in with_token.stderr
    assert portal.editor_token not in with_token.stderr + with_token.stdout
    for relative in FILES:
        assert (out / relative).read_bytes() == (package / relative).read_bytes()


def test_a_resource_pointed_at_another_server_never_gets_the_token(
        portal: Portal, admin: ckanapi.RemoteCKAN, workdir: Path, attacker: Server) -> None:
    name = f"pulltest-leak-{RUN}"
    package = published(portal, workdir, name)
    csv = next(r for r in admin.action.package_show(id=name)["resources"] if r["ogd_key"] == "releases-csv")
    # An editor of the dataset points its CSV at a server of their own, serving the right bytes.
    attacker.files["data/releases.csv"] = (package / "data" / "releases.csv").read_bytes()
    admin.action.resource_patch(id=csv["id"], url=f"{attacker.url}/files/data/releases.csv", url_type="")
    out = workdir / f"{name}-copy"
    result = pull(name, out, {"CKAN_URL": portal.url, "CKAN_API_TOKEN": portal.admin_token})
    assert result.returncode == 0, result.stderr
    assert "token: CKAN_API_TOKEN" in result.stderr
    assert [seen.path for seen in attacker.seen] == ["/files/data/releases.csv"]
    assert "Authorization" not in attacker.seen[0].headers
    assert portal.admin_token not in json.dumps([seen.headers for seen in attacker.seen])
    assert (out / "data" / "releases.csv").read_bytes() == (package / "data" / "releases.csv").read_bytes()
