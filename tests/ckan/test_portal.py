"""The local CKAN portal is a real CKAN: GDC schema, DataStore, search, permissions, pages."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import ckanapi
import pytest
import requests
from conftest import REPO, Portal, manage_portal, portal_answers

from pipeline.gdc import bundled_schema

pytestmark = pytest.mark.portal
RUN = uuid.uuid4().hex[:8]


def gdc_dataset(name: str, org: str, **overrides: object) -> dict:
    values = {
        "name": name,
        "title": f"ข่าวประชาสัมพันธ์ทดสอบ portal{RUN}",
        "notes": "ชุดข้อมูลทดสอบ (test dataset)",
        "owner_org": org,
        "maintainer": "ทีมข้อมูลเปิด",
        "maintainer_email": "opendata@example.go.th",
        "tag_string": "ข่าว,press-release",
        "data_type": "ข้อมูลระเบียน",
        "data_source": "กรมประชาสัมพันธ์",
        "objective": ["พันธกิจหน่วยงาน"],
        "update_frequency_unit": "วัน",
        "update_frequency_interval": "1",
        "geo_coverage": "ประเทศ",
        "data_format": ["CSV", "อื่นๆ"],
        "data_format_other": "Parquet",
        "data_category": "ข้อมูลสาธารณะ",
        "license_id": "Creative Commons Attributions",
        "data_language": ["ไทย"],
    }
    values.update(overrides)
    return values


@pytest.fixture(scope="module")
def admin(portal: Portal) -> ckanapi.RemoteCKAN:
    return ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)


@pytest.fixture(scope="module")
def dataset(admin: ckanapi.RemoteCKAN, portal: Portal) -> dict:
    return admin.action.package_create(**gdc_dataset(f"portal-test-{RUN}", portal.org))


def test_status_and_gdc_schema(admin: ckanapi.RemoteCKAN) -> None:
    status = admin.action.status_show()
    assert status["ckan_version"].startswith("2.11")
    assert {"datastore", "scheming_datasets"} <= set(status["extensions"])
    schema = admin.action.scheming_dataset_schema_show(type="dataset")
    served = {field["field_name"] for field in schema["dataset_fields"]}
    assert {"data_type", "objective", "update_frequency_unit", "geo_coverage", "data_format",
            "data_category", "license_id", "data_source"} <= served
    assert served == {f["field_name"] for f in bundled_schema()["dataset_fields"]}


def test_gdc_fields_are_top_level_and_choices_are_enforced(admin: ckanapi.RemoteCKAN, dataset: dict, portal: Portal) -> None:
    shown = admin.action.package_show(id=dataset["name"])
    assert shown["data_type"] == "ข้อมูลระเบียน"
    assert shown["objective"] == ["พันธกิจหน่วยงาน"]
    assert shown["data_format_other"] == "Parquet"
    assert not any(extra["key"] == "data_type" for extra in shown.get("extras", []))
    assert sorted(tag["name"] for tag in shown["tags"]) == ["press-release", "ข่าว"]
    with pytest.raises(ckanapi.ValidationError) as refused:
        admin.action.package_create(**gdc_dataset(f"bad-choice-{RUN}", portal.org, geo_coverage="ดาวอังคาร"))
    assert "geo_coverage" in refused.value.error_dict
    with pytest.raises(ckanapi.ValidationError) as missing_other:
        admin.action.package_create(**gdc_dataset(f"bad-other-{RUN}", portal.org, data_format_other=""))
    assert "data_format_other" in missing_other.value.error_dict
    with pytest.raises(ckanapi.ValidationError) as missing_required:
        admin.action.package_create(**gdc_dataset(f"bad-required-{RUN}", portal.org, data_category=""))
    assert "data_category" in missing_required.value.error_dict


def test_csv_upload_and_typed_datastore(admin: ckanapi.RemoteCKAN, dataset: dict, tmp_path: Path, portal: Portal) -> None:
    csv_path = tmp_path / "releases.csv"
    csv_path.write_text("release_id,title,published_date,read_count\r\nprd-1,กรมประชาสัมพันธ์ จัดประชุม,2020-06-17,5\r\n",
                        encoding="utf-8")
    with open(csv_path, "rb") as upload:
        resource = admin.action.resource_create(package_id=dataset["id"], name="releases.csv", format="CSV", upload=upload)
    downloaded = requests.get(resource["url"], timeout=30)
    assert downloaded.status_code == 200 and downloaded.content == csv_path.read_bytes()
    table = admin.action.datastore_create(
        resource={"package_id": dataset["id"], "name": "typed"},
        fields=[{"id": "release_id", "type": "text"}, {"id": "body_words", "type": "text"},
                {"id": "published_date", "type": "date"}, {"id": "read_count", "type": "int"}],
        records=[{"release_id": "a", "body_words": "กรม ประชาสัมพันธ์ จัด ประชุม", "published_date": "2020-06-17", "read_count": 5},
                 {"release_id": "b", "body_words": "cabinet meeting", "published_date": "2023-11-07", "read_count": 0}],
        primary_key=["release_id"],
    )
    search = admin.action.datastore_search(resource_id=table["resource_id"], filters={"read_count": 5})
    assert [r["release_id"] for r in search["records"]] == ["a"]
    assert {f["id"]: f["type"] for f in search["fields"]}["published_date"] == "date"
    found = admin.action.datastore_search(resource_id=table["resource_id"], q="ประชาสัมพันธ์")
    assert [r["release_id"] for r in found["records"]] == ["a"]


def test_package_search_by_organization_and_title_word(admin: ckanapi.RemoteCKAN, dataset: dict, portal: Portal) -> None:
    by_org = admin.action.package_search(fq=f"organization:{portal.org}", rows=1000)
    assert dataset["name"] in [d["name"] for d in by_org["results"]]
    by_word = admin.action.package_search(q=f"portal{RUN}")
    assert [d["name"] for d in by_word["results"]] == [dataset["name"]]
    thai_word = admin.action.package_search(q="ข่าวประชาสัมพันธ์ทดสอบ", fq=f"name:{dataset['name']}")
    assert thai_word["count"] == 1
    assert admin.action.package_search(q=f"nosuchword{RUN}")["count"] == 0


def test_editor_permissions_and_private_datasets(portal: Portal) -> None:
    editor = ckanapi.RemoteCKAN(portal.url, apikey=portal.editor_token)
    own = editor.action.package_create(**gdc_dataset(f"editor-{RUN}", portal.org, private=True))
    assert own["organization"]["name"] == portal.org
    with pytest.raises(ckanapi.NotAuthorized):
        editor.action.package_create(**gdc_dataset(f"editor-other-{RUN}", portal.other_org))
    anonymous = ckanapi.RemoteCKAN(portal.url)
    with pytest.raises(ckanapi.NotAuthorized):
        anonymous.action.package_show(id=own["name"])
    assert own["name"] not in [d["name"] for d in anonymous.action.package_search(q=f"editor-{RUN}")["results"]]
    wrong = ckanapi.RemoteCKAN(portal.url, apikey="not-a-real-token")
    with pytest.raises(ckanapi.NotAuthorized):
        wrong.action.package_create(**gdc_dataset(f"wrong-token-{RUN}", portal.org))


def test_dataset_pages_render_in_thai(admin: ckanapi.RemoteCKAN, dataset: dict, portal: Portal) -> None:
    admin.action.resource_create(package_id=dataset["id"], name="ข้อมูลข่าว (CSV)", url="https://example.go.th/a.csv", format="CSV")
    page = requests.get(f"{portal.url}/dataset/{dataset['name']}", timeout=30)
    assert page.status_code == 200
    assert f"ข่าวประชาสัมพันธ์ทดสอบ portal{RUN}" in page.text
    assert "ข้อมูลข่าว (CSV)" in page.text
    listing = requests.get(f"{portal.url}/dataset/", params={"q": f"portal{RUN}"}, timeout=30)
    assert listing.status_code == 200 and f"/dataset/{dataset['name']}" in listing.text


def _portal_processes(root: Path) -> list[int]:
    """PIDs of every process whose command line or working folder is inside the portal folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if str(root) in cmdline and "pytest" not in cmdline:
            found.append(int(entry.name))
    return found


def test_zz_down_stops_everything_and_data_survives_a_restart(admin: ckanapi.RemoteCKAN, dataset: dict, portal: Portal) -> None:
    if not portal.local:
        pytest.skip("the portal under test is an external one named by CKAN_URL: not ours to stop")
    root = Path(os.environ.get("OGD_PORTAL_DIR", REPO / ".portal")).resolve()
    assert _portal_processes(root), "the portal's processes should be visible while it runs"
    down = manage_portal("down")
    assert down.returncode == 0, down.stderr
    assert _portal_processes(root) == []
    assert not portal_answers(portal.url)
    up = manage_portal("up")
    assert up.returncode == 0, up.stderr
    assert portal.url in up.stdout
    shown = admin.action.package_show(id=dataset["name"])
    assert shown["title"] == dataset["title"] and shown["data_type"] == "ข้อมูลระเบียน"
