"""Versions on the real portal (issue 19): publish sets the version and the change log; a fresh work tree follows
the published version; a consumer catches up with ``ogd pull --since``."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import ckanapi
import pytest
from conftest import REPO, THAIGOV_CORPUS, Portal
from helpers import checkout_defaults, thaigov_files

pytestmark = pytest.mark.portal
RUN = uuid.uuid4().hex[:6]


def ogd(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CKAN_")}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**base, "PYTHONPATH": str(REPO), **env}, timeout=600)


def write_config(folder: Path, name: str, org: str) -> None:
    (folder / "datasets.toml").write_text(checkout_defaults() + f'''
[datasets.{name}]
title = "ข่าวทดสอบรุ่น {RUN}"
title_en = "Version test {RUN}"
description = "Releases for the versions test."
organization = "{org}"
inputs = ["in"]
source = "thaigov"
keywords = ["ข่าว"]
max_quarantine_ratio = 1.0

[datasets.{name}.gdc]
data_source = "สำนักเลขาธิการนายกรัฐมนตรี (www.thaigov.go.th)"
''', encoding="utf-8")


def place(folder: Path, sources: list[Path]) -> None:
    for source in sources:
        target = folder / "in" / source.relative_to(THAIGOV_CORPUS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_publish_follow_the_published_version_and_catch_up(portal: Portal, tmp_path: Path) -> None:
    name = f"versions-{RUN}"
    publisher = {"CKAN_URL": portal.url, "CKAN_API_TOKEN": portal.admin_token}
    reader = {"CKAN_URL": portal.url}  # anonymous
    files = thaigov_files(30, step=53)
    one = tmp_path / "one"
    one.mkdir()
    write_config(one, name, portal.org)
    place(one, files[:20])
    for step in (["build", "--dataset", name], ["publish", "--dataset", name]):
        done = ogd(*step, cwd=one, env=publisher)
        assert done.returncode == 0, done.stderr
    v1 = tmp_path / "pulled"
    assert ogd("pull", name, "--out", str(v1), cwd=tmp_path, env=reader).returncode == 0

    # v2 in the same work tree: 5 releases added.
    place(one, files[20:25])
    for step in (["build", "--dataset", name], ["publish", "--dataset", name]):
        done = ogd(*step, cwd=one, env=publisher)
        assert done.returncode == 0, done.stderr
    site = ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)
    dataset = site.action.package_show(id=name)
    assert dataset["version"] == "1.1.0"
    assert "changes.csv" in {resource["name"] for resource in dataset["resources"]}

    # A fresh work tree (no previous package: a CI runner) builds v3 against the published v2.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    write_config(fresh, name, portal.org)
    place(fresh, files[:30])  # v2's 25 and 5 more
    built = ogd("build", "--dataset", name, cwd=fresh, env=publisher)
    assert built.returncode == 0, built.stderr
    assert f"following the published version 1.1.0 of {name}" in built.stderr
    log = rows_of(fresh / "datapackages" / name / "data" / "changes.csv")
    assert [row["version"] for row in log].count("1.0.0") == 20 and [row["version"] for row in log].count("1.1.0") == 5
    v3 = [row for row in log if row["version"] == "1.2.0"]
    assert len(v3) == 5 and {row["change"] for row in v3} == {"added"}
    # What this build would change on the portal, before publishing it.
    against = ogd("diff", "--published", name, str(fresh / "datapackages" / name), cwd=fresh, env=reader)
    assert against.returncode == 0, against.stderr
    assert f"{name} (published) (1.1.0) -> {fresh / 'datapackages' / name} (1.2.0): 5 added, 0 changed, 0 removed" \
        in against.stdout
    assert ogd("publish", "--dataset", name, cwd=fresh, env=publisher).returncode == 0

    # A consumer who pulled v1 catches up: the same bytes as a fresh full pull of v3.
    caught_up = ogd("pull", name, "--out", str(v1), "--since", "1.0.0", "--json", cwd=tmp_path, env=reader)
    assert caught_up.returncode == 0, caught_up.stderr
    assert "1.0.0 -> 1.2.0: 10 added, 0 changed, 0 removed" in caught_up.stderr
    full = tmp_path / "full"
    assert ogd("pull", name, "--out", str(full), cwd=tmp_path, env=reader).returncode == 0
    files_of = lambda folder: {p.relative_to(folder).as_posix(): p.read_bytes()  # noqa: E731
                               for p in folder.rglob("*") if p.is_file()}
    assert files_of(v1) == files_of(full)

    wrong = ogd("pull", name, "--out", str(v1), "--since", "1.0.0", cwd=tmp_path, env=reader)
    assert wrong.returncode == 3 and "holds version 1.2.0, not 1.0.0" in wrong.stderr
