"""Publishing to a CKAN without the preview plugins and without the project's portal plugin (issue 18): a second
CKAN server of the local portal's installation and database, its plugins only CKAN's own activity and datastore
(no datatables_view, text_view, ogd_portal or scheming), as a stock portal runs."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import ckanapi
import pytest

from conftest import REPO, Portal
from s3server import free_port

from pipeline.build.run import build_dataset
from pipeline.ckan.client import PortalClient
from pipeline.ckan.publish import publish_package
from pipeline.config import load_config
from pipeline.problems import PortalRejected

pytestmark = pytest.mark.portal
PORTAL_DIR = Path(os.environ.get("OGD_PORTAL_DIR", REPO / ".portal"))


def _answers(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/api/action/status_show", timeout=5) as response:
            return json.load(response)["result"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="module")
def stock(portal: Portal, tmp_path_factory: pytest.TempPathFactory) -> str:
    if not portal.local:
        pytest.skip("needs the project's own local portal (its installation and configuration)")
    folder = tmp_path_factory.mktemp("stock-ckan")
    port = free_port()
    ini = (PORTAL_DIR / "ckan.ini").read_text(encoding="utf-8")
    ini = re.sub(r"(?m)^ckan\.plugins\s*=.*$", "ckan.plugins=activity datastore", ini)
    ini = re.sub(r"(?m)^ckan\.views\.default_views\s*=.*$", "ckan.views.default_views=", ini)
    ini = re.sub(r"(?m)^ckan\.site_url\s*=.*$", f"ckan.site_url=http://127.0.0.1:{port}", ini)
    config = folder / "ckan.ini"
    config.write_text(ini, encoding="utf-8")
    config.chmod(0o600)  # it holds the database passwords, as the portal's own does
    server = subprocess.Popen([str(PORTAL_DIR / "venv" / "bin" / "ckan"), "-c", str(config), "run", "-H", "127.0.0.1",
                               "-p", str(port), "--disable-reloader", "--threaded"], cwd=folder,
                              stdout=open(folder / "ckan.log", "wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while _answers(url) is None:
            assert server.poll() is None and time.time() < deadline, (folder / "ckan.log").read_text()[-3000:]
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_a_stock_ckan_gets_the_dataset_its_files_and_rows_without_a_preview(portal: Portal, stock: str,
                                                                           tmp_path: Path) -> None:
    plugins = _answers(stock)["extensions"]
    assert "datatables_view" not in plugins and "ogd_portal" not in plugins and "scheming_datasets" not in plugins
    name = f"stock-{uuid.uuid4().hex[:6]}"
    # Keywords a stock CKAN's tag check accepts (it refuses Thai vowel and tone marks: the next test).
    dataset = dataclasses.replace(load_config()["prd-releases-sample"], name=name,
                                  inputs=(REPO / "samples" / "prd",), organization=portal.org,
                                  keywords=("prd", "news"))
    assert build_dataset(dataset, tmp_path / name, workers=1).ok
    done = publish_package(tmp_path / name, PortalClient(stock, portal.admin_token))
    assert done.dataset_action == "create" and done.rows_upserted == 2  # the two bundled PRD releases
    site = ckanapi.RemoteCKAN(stock, apikey=portal.admin_token)
    shown = site.action.package_show(id=name)
    assert shown["private"] is False
    csv = next(r for r in shown["resources"] if r.get("ogd_key") == "releases-csv")
    assert site.action.resource_view_list(id=csv["id"]) == []  # no preview plugin: no view, and no error
    assert csv["ogd_preview"] == "unavailable"
    assert site.action.datastore_search(resource_id=csv["id"], limit=0)["total"] == 2
    # The GDC values went into extras (no scheming schema to take them as fields).
    assert any(extra["key"] == "data_source" for extra in shown.get("extras", []))
    again = publish_package(tmp_path / name, PortalClient(stock, portal.admin_token))
    assert not again.changed


def test_thai_tags_a_stock_ckan_refuses_are_a_clear_error_with_what_to_do(portal: Portal, stock: str,
                                                                         tmp_path: Path) -> None:
    name = f"stock-thai-{uuid.uuid4().hex[:6]}"
    dataset = dataclasses.replace(load_config()["prd-releases-sample"], name=name,
                                  inputs=(REPO / "samples" / "prd",), organization=portal.org)
    assert build_dataset(dataset, tmp_path / name, workers=1).ok
    with pytest.raises(PortalRejected) as raised:
        publish_package(tmp_path / name, PortalClient(stock, portal.admin_token))
    assert raised.value.exit_code == 6 and "tag_string" in raised.value.message
    assert "refuses Thai vowel and tone marks" in (raised.value.hint or "")

