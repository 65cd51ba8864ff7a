"""The scheduled workflow's sequence, twice, against a local test site and the local portal: the second run
(a fresh work tree with the state restored as the workflow restores it) fetches, builds and publishes only the
three releases the site gained in between."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import ckanapi
import pytest
import yaml

from conftest import REPO, Portal
from sites import PrdSite, TestWeb

WORKFLOW = REPO / ".github" / "workflows" / "publish.yml"


def workflow_steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["publish"]["steps"]


def fresh_work_tree(path: Path, config: str) -> Path:
    """What a checkout gives a scheduled run, with this test's datasets.toml: no archive, no packages."""
    path.mkdir()
    shutil.copy2(REPO / "Makefile", path / "Makefile")
    shutil.copy2(REPO / "pyproject.toml", path / "pyproject.toml")
    # Older than the venv's stamp, always: make must never install this tree into the test session's venv.
    os.utime(path / "pyproject.toml", (0, 0))
    (path / "datasets.toml").write_text(config, encoding="utf-8")
    return path


def run_workflow(tree: Path, cache: Path, portal: Portal) -> list[str]:
    """Run the workflow's steps in ``tree``: make steps as written, the cache steps as actions/cache does
    (restore the newest saved state, save the paths under a new key); returns the steps run, by name."""
    env = {**os.environ, "VENV": str(REPO / ".venv"), "CKAN_URL": portal.url, "CKAN_API_TOKEN": portal.admin_token,
           "DRY_RUN": "", "GITHUB_STEP_SUMMARY": str(tree / "step-summary.md")}
    ran = []
    for step in workflow_steps():
        uses, command = step.get("uses", ""), step.get("run")
        if command == "make setup":
            continue  # the venv is the test session's own (make setup would install this tree into it)
        if uses.startswith("actions/cache/restore"):
            saved = sorted(cache.iterdir()) if cache.exists() else []
            if saved:  # restore-keys: the newest entry
                for folder in step["with"]["path"].split():
                    if (saved[-1] / folder).exists():
                        shutil.copytree(saved[-1] / folder, tree / folder, symlinks=True)
        elif uses.startswith("actions/cache/save"):
            entry = cache / f"ogd-state-{len(list(cache.iterdir())) if cache.exists() else 0}"
            for folder in step["with"]["path"].split():
                if (tree / folder).exists():
                    shutil.copytree(tree / folder, entry / folder, symlinks=True)
        elif command:
            # The step's env holds expressions (secrets, inputs): their values here are in ``env``.
            result = subprocess.run(["bash", "-ec", command], cwd=tree, env=env, capture_output=True, text=True,
                                    timeout=1200)
            assert result.returncode == 0, f"{step['name']}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        else:
            continue  # upload-artifact
        ran.append(step["name"])
    return ran


def config_for(name: str, prd: PrdSite, org: str) -> str:
    """The repository's defaults, and one dataset harvested from the test site's PRD listing into its archive."""
    text = (REPO / "datasets.toml").read_text(encoding="utf-8")
    defaults = text[:re.search(r"^\[datasets\.", text, re.M).start()]
    return defaults + f'''
[harvest]
contact = "opendata@example.go.th"
delay = 0
timeout = 2
attempts = 2
backoff = 0.01

[datasets.{name}]
title = "ข่าวประชาสัมพันธ์ (ทดสอบรายวัน)"
title_en = "Press releases (daily test)"
description = "ทดสอบการเผยแพร่รายวัน. The daily publishing test."
organization = "{org}"
inputs = ["archive/{name}"]
source = "html"
keywords = ["ทดสอบ"]

[[datasets.{name}.harvest]]
kind = "listing"
url = "{prd.site.url('/th/content/category/getarticles/id/5')}"
method = "POST"
form = {{ pageIndex = "{{page}}" }}
json_html_key = "html"
selector = "div.inforow div.detail-title a"

[datasets.{name}.gdc]
data_source = "เว็บไซต์ทดสอบ (127.0.0.1)"
'''


def datastore_total(admin: ckanapi.RemoteCKAN, name: str) -> int:
    dataset = admin.action.package_show(id=name)
    csv = next(r for r in dataset["resources"] if r.get("ogd_key") == "releases-csv")
    return admin.action.datastore_search(resource_id=csv["id"], limit=0)["total"]


@pytest.mark.portal
def test_the_daily_workflow_twice_fetches_builds_and_publishes_only_the_three_new_releases(portal: Portal,
                                                                                           tmp_path: Path) -> None:
    web = TestWeb()
    try:
        prd = PrdSite(web, 9)
        name = f"daily-{uuid.uuid4().hex[:6]}"
        config = config_for(name, prd, portal.org)
        cache = tmp_path / "cache"
        admin = ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)

        first = run_workflow(fresh_work_tree(tmp_path / "run-1", config), cache, portal)
        assert first == ["Restore the web archive and the previous packages", "Harvest new releases",
                         "Build every configured dataset", "Validate every package",
                         "Keep the web archive and the packages for the next run", "Publish to the portal",
                         "Summarise what changed"]
        first_pages = {e.path for e in web.requests("prd", "/th/content/category/detail/")}
        assert first_pages == set(prd.detail_paths()) and len(first_pages) == 9
        assert datastore_total(admin, name) == 9

        web.clear_log()
        added = prd.add(3)
        second_tree = fresh_work_tree(tmp_path / "run-2", config)
        run_workflow(second_tree, cache, portal)
        fetched = [e.path for e in web.requests("prd", "/th/content/category/detail/")]
        assert sorted(fetched) == sorted(added), "only the three new release pages are fetched, once each"
        report = json.loads((second_tree / "datapackages" / name / "report.json").read_text(encoding="utf-8"))
        assert report["counts"]["records"] == 12
        assert report["reuse"]["inputs_reused"] == 9 and report["validation"]["rows_checked"] == 3
        assert datastore_total(admin, name) == 12, "exactly three new rows on the portal"
    finally:
        web.close()


def test_make_harvest_goes_on_past_an_unreachable_site_but_not_past_a_broken_configuration(tmp_path: Path) -> None:
    web = TestWeb()
    try:
        config = config_for("daily-down", PrdSite(web, 1), "prd").replace(
            web.sites["prd"].url("/th/content/category/getarticles/id/5"), "http://127.0.0.1:1/news")  # refused
    finally:
        web.close()
    tree = fresh_work_tree(tmp_path / "tree", config)
    env = {**os.environ, "VENV": str(REPO / ".venv")}
    result = subprocess.run(["make", "--no-print-directory", "harvest"], cwd=tree, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "harvest: exit 9 (see above); building what is archived" in result.stderr
    (tree / "datasets.toml").write_text(config.replace('kind = "listing"', 'kind = "carrier-pigeon"'), encoding="utf-8")
    result = subprocess.run(["make", "--no-print-directory", "harvest"], cwd=tree, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2 and "carrier-pigeon" in result.stderr
