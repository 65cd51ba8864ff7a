"""Screenshots of what a visitor sees, by headless Chromium: the home page, a dataset page and the CSV resource's page
with its table preview (issue #18). Saved under $OGD_TEST_ARTIFACTS/screenshots (CI keeps that folder), else in the
test's temporary folder; the preview's rows and the Thai text are checked in the page Chromium rendered (after its
scripts ran), the PNG files for being pictures of a page. Chromium is a system package (Debian: chromium); without
it these tests are skipped and say so."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import ckanapi
import pytest

from conftest import Portal
from test_portal_visitors import NAME, csv_of, published  # noqa: F401 (the published dataset fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [pytest.mark.portal,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: apt-get install chromium")]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ["OGD_TEST_ARTIFACTS"]) / "screenshots" if os.environ.get("OGD_TEST_ARTIFACTS") \
        else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium(*args: str, home: Path) -> bytes:
    # --virtual-time-budget lets the page's scripts (the DataTables view loads its rows from the DataStore) finish
    command = [str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--virtual-time-budget=8000", f"--user-data-dir={home}", *args]
    return subprocess.run(command, check=True, capture_output=True, timeout=120).stdout


def screenshot(url: str, target: Path) -> None:
    chromium("--window-size=1280,1600", f"--screenshot={target}", url, home=target.parent / ".chromium")
    data = target.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 20_000, f"{target} is not a picture of a page"


def rendered(url: str, home: Path) -> str:
    return chromium("--dump-dom", url, home=home).decode("utf-8")


def test_home_dataset_and_resource_pages_with_the_preview(portal: Portal, published: dict, shots: Path) -> None:  # noqa: F811
    admin = ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)
    resource = csv_of(published)
    view = admin.action.resource_view_list(id=resource["id"])[0]
    pages = {"home": f"{portal.url}/", "dataset": f"{portal.url}/dataset/{NAME}",
             "resource": f"{portal.url}/dataset/{NAME}/resource/{resource['id']}"}
    for name, url in pages.items():
        screenshot(url, shots / f"{name}.png")

    home = rendered(pages["home"], shots / ".chromium")
    assert "ข่าวประชาสัมพันธ์ของหน่วยงานไทย" in home
    dataset = rendered(pages["dataset"], shots / ".chromium")
    assert published["title"] in dataset and "ใช่ (yes)" in dataset
    # the preview is an iframe of the view: its own page holds the table the visitor sees
    table = rendered(f"{pages['resource']}/view/{view['id']}", shots / ".chromium")
    first = admin.action.datastore_search(resource_id=resource["id"], limit=1, sort="_id")["records"][0]
    assert first["release_id"] in table  # a row the DataTables script fetched from the DataStore
    # the column headers are the Thai and English data dictionary labels (DataTables joins their words with &nbsp;)
    assert "หัวข้อข่าว&nbsp;(Title)" in table
