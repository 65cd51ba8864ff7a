"""Issue #12's acceptance: a newcomer publishes a folder of their own with the installed command.

A fresh folder outside the checkout with 20 real releases; `ogd init NAME` with flags, `ogd build
--dataset NAME`, `ogd publish --dataset NAME` to the local portal, `ogd pull NAME --out ...`, `ogd
validate` — each a subprocess of the `ogd` installed from the wheel (the venv of test_wheel.py), never
the checkout's modules; every step exits 0 and the dataset is on the portal with its GDC fields.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import InstalledOgd, Portal
from helpers import copy_thaigov

pytestmark = [pytest.mark.portal, pytest.mark.slow]  # slow: installing the wheel's venv takes a minute

TITLE = "ข่าวของทีมเรา (ทดสอบ)"
GDC = {  # chosen by the newcomer, each from the GDC schema's choices
    "data_source": "ทีมข้อมูลเปิดของเรา",
    "data_language": ["ไทย", "อังกฤษ"],
    "update_frequency_unit": "เดือน",
    "geo_coverage": "จังหวัด",
    "data_category": "ข้อมูลสาธารณะ",
}


def package_show(portal: Portal, name: str) -> dict:
    request = urllib.request.Request(f"{portal.url}/api/action/package_show?id={name}",
                                     headers={"Authorization": portal.admin_token})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["result"]


def test_a_newcomer_publishes_their_own_folder_with_the_installed_command(
        installed_ogd: InstalledOgd, portal: Portal, tmp_path: Path) -> None:
    home = tmp_path / "my-project"  # tmp_path is outside the checkout (InstalledOgd.run checks)
    releases = copy_thaigov(home / "releases", 20, step=113)
    assert len(releases) == 20
    name = f"newcomer-{uuid.uuid4().hex[:6]}"
    portal_env = {"CKAN_URL": portal.url, "CKAN_API_TOKEN": portal.editor_token}  # an editor of the org, not a sysadmin

    def ogd(*args: str) -> str:
        result = installed_ogd.run(*args, cwd=home, **portal_env)
        assert result.returncode == 0, f"ogd {' '.join(args)} exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        assert portal.editor_token not in result.stdout + result.stderr
        return result.stdout

    ogd("init", name, "--no-input", "--title", TITLE, "--title-en", "Our team's news (test)",
        "--description", "ข่าวทดสอบของผู้ใช้ใหม่ A newcomer's test news.", "--org", portal.org,
        "--maintainer", "ทีมข้อมูล", "--maintainer-email", "data@example.go.th", "--input", "releases",
        "--keyword", "ข่าวทดสอบ", "--license", "CC-BY-4.0",
        *[arg for key, value in GDC.items()
          for arg in ("--gdc", f"{key}={';'.join(value) if isinstance(value, list) else value}")])
    assert (home / "datasets.toml").is_file()
    assert f"[datasets.{name}]" in (home / "datasets.toml").read_text(encoding="utf-8")

    built = json.loads(ogd("build", "--dataset", name, "--json"))
    assert [entry["name"] for entry in built] == [name]
    assert built[0]["counts"]["records"] == 20 and built[0]["counts"]["quarantined"] == 0
    package = home / "datapackages" / name  # beside datasets.toml
    assert built[0]["output"] == str(package)

    published = json.loads(ogd("publish", "--dataset", name, "--json"))
    assert published["ok"] is True
    [outcome] = published["datasets"]
    assert outcome["dataset_action"] == "create" and outcome["rows_upserted"] == 20

    dataset = package_show(portal, name)
    assert dataset["title"] == TITLE
    assert dataset["organization"]["name"] == portal.org
    assert dataset["maintainer"] == "ทีมข้อมูล" and dataset["maintainer_email"] == "data@example.go.th"
    assert [tag["name"] for tag in dataset["tags"]] == ["ข่าวทดสอบ"]
    for key, value in GDC.items():
        assert dataset.get(key) == value, key
    assert sorted(resource["name"] for resource in dataset["resources"]) == [  # named after the dataset on the portal
        "changes.csv", "datapackage.json", f"{name}-excel.csv", f"{name}.csv", f"{name}.parquet"]

    ogd("pull", name, "--out", "pulled")
    pulled = home / "pulled"
    for data in ("data/releases.csv", "data/releases.parquet"):
        assert (pulled / data).read_bytes() == (package / data).read_bytes(), data

    ogd("validate", "pulled", f"datapackages/{name}")
