"""What a visitor of the real local portal gets from a publish (issue #18): the table preview, Thai search that finds
words inside compounds and in titles, a bilingual data dictionary, files named after the dataset, and pages without
the publisher's internal fields."""

from __future__ import annotations

import dataclasses
import html
import re
import urllib.request
import uuid

import ckanapi
import pytest

from conftest import REPO, Portal
from pipeline.build.run import build_dataset
from pipeline.ckan.client import PortalClient
from pipeline.ckan.publish import publish_package
from pipeline.config import load_config

pytestmark = pytest.mark.portal
NAME = f"visitors-{uuid.uuid4().hex[:6]}"

# Releases of samples/thaigov whose title or body contains the word, counted by hand with
# `grep -rl WORD samples/thaigov | wc -l` (the counts). Before this search column the DataStore found
# 4, 10 and 11 of them (compounds such as นักท่องเที่ยว, รองนายกรัฐมนตรี were missed).
EXPECTED = {"ท่องเที่ยว": 8, "นายกรัฐมนตรี": 17, "เศรษฐกิจ": 16}


@pytest.fixture(scope="module")
def admin(portal: Portal) -> ckanapi.RemoteCKAN:
    return ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)


@pytest.fixture(scope="module")
def published(portal: Portal, tmp_path_factory: pytest.TempPathFactory) -> dict:
    template = load_config()["thaigov-news-sample"]
    dataset = dataclasses.replace(template, name=NAME, inputs=(REPO / "samples" / "thaigov",), organization=portal.org)
    package = tmp_path_factory.mktemp("visitors") / NAME
    result = build_dataset(dataset, package, workers=1)
    assert result.ok, result.failure
    done = publish_package(package, PortalClient(portal.url, portal.admin_token))
    # "skip" when another module (test_portal_screenshots.py) published it already in this session
    assert done.dataset_action in ("create", "skip")
    again = publish_package(package, PortalClient(portal.url, portal.admin_token))
    assert not again.changed
    return ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token).action.package_show(id=NAME)


def csv_of(dataset: dict) -> dict:
    return next(r for r in dataset["resources"] if r["ogd_key"] == "releases-csv")


def test_the_table_has_one_preview_view(published: dict, admin: ckanapi.RemoteCKAN) -> None:
    views = admin.action.resource_view_list(id=csv_of(published)["id"])
    assert [v["view_type"] for v in views] == ["datatables_view"]  # CKAN's default view, or ours: never both
    assert csv_of(published)["ogd_preview"] == "datatables_view"


def test_datastore_search_finds_thai_words_inside_compounds(published: dict, admin: ckanapi.RemoteCKAN) -> None:
    found = {word: admin.action.datastore_search(resource_id=csv_of(published)["id"], q=word, limit=0)["total"]
             for word in EXPECTED}
    assert found == EXPECTED


def test_search_finds_a_word_only_in_a_title(published: dict, admin: ckanapi.RemoteCKAN) -> None:
    records = admin.action.datastore_search(resource_id=csv_of(published)["id"], limit=100,
                                            fields=["release_id", "title", "body"])["records"]
    # a Thai dictionary word of some title that no body has (found here by hand-written rule: the title's last
    # Thai run of 4+ letters, checked against the bodies)
    candidates = [(r["release_id"], word) for r in records for word in r["title"].split()
                  if len(word) >= 4 and all(word not in other["body"] for other in records)]
    assert candidates, "the sample has a title word no body contains"
    release_id, run = candidates[0]
    hits = admin.action.datastore_search(resource_id=csv_of(published)["id"], q=run, fields=["release_id"])["records"]
    assert release_id in [h["release_id"] for h in hits]


def test_the_data_dictionary_is_thai_and_english_and_keeps_placeholders(published: dict,
                                                                        admin: ckanapi.RemoteCKAN) -> None:
    fields = {f["id"]: f for f in admin.action.datastore_search(resource_id=csv_of(published)["id"], limit=0)["fields"]}
    assert fields["title"]["info"]["label"] == "หัวข้อข่าว (Title)"
    assert fields["published_date"]["info"]["label"] == "วันที่เผยแพร่ (Published date)"
    assert "`<source>`" in fields["release_id"]["info"]["notes"]  # inline code: not stripped as an HTML tag
    page = urllib.request.urlopen(f"{admin.address}/dataset/{NAME}/resource/{csv_of(published)['id']}").read().decode()
    assert "&lt;source&gt;" in page  # rendered as text on the resource page's data dictionary


def test_files_are_named_after_the_dataset(published: dict) -> None:
    names = sorted(r["name"] for r in published["resources"])
    assert f"{NAME}.csv" in names and f"{NAME}.parquet" in names and "datapackage.json" in names
    assert csv_of(published)["url"].endswith(f"/{NAME}.csv")


def test_pages_hide_internal_fields_and_show_both_calendars(published: dict, admin: ckanapi.RemoteCKAN) -> None:
    resource_page = urllib.request.urlopen(
        f"{admin.address}/dataset/{NAME}/resource/{csv_of(published)['id']}").read().decode()
    assert "ogd_datastore_hash" not in resource_page and "ogd_key" not in resource_page
    assert '"primaryKey"' not in resource_page  # the raw Table Schema JSON
    dataset_page = urllib.request.urlopen(f"{admin.address}/dataset/{NAME}").read().decode()
    rows = dict(additional_info(dataset_page))
    modified = published["metadata_modified"][:10]
    year, month, day = (int(part) for part in modified.split("-"))
    thai_month = "ม.ค. ก.พ. มี.ค. เม.ย. พ.ค. มิ.ย. ก.ค. ส.ค. ก.ย. ต.ค. พ.ย. ธ.ค.".split()[month - 1]
    assert rows["เผยแพร่บนพอร์ทัลล่าสุด (Last updated on this portal)"] == f"{modified} ({day} {thai_month} {year + 543})"
    assert rows["อนุญาตให้เก็บเกี่ยวข้อมูล"] == "ใช่ (yes)"  # datasets.toml: allow_harvest = "True"
    assert rows["ชุดข้อมูลที่มีคุณค่าสูง"] == "ไม่ใช่ (no)"
    assert all(value for _, value in additional_info(dataset_page)), "an empty GDC row is shown"
    assert "วัตถุประสงค์อื่นๆ" not in rows  # objective_other: empty in datasets.toml, so hidden


def additional_info(page: str) -> list[tuple[str, str]]:
    """(label, text) of each row of the dataset page's additional-information table."""
    table = page[page.index("additional-info"):]
    table = table[:table.index("</table>")]
    cells = re.findall(r"<th[^>]*>(.*?)</th>\s*<td[^>]*>(.*?)</td>", table, re.S)
    text = lambda fragment: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())  # noqa: E731
    return [(text(label), text(value)) for label, value in cells]


def test_the_home_page_says_what_the_portal_holds(portal: Portal) -> None:
    home = urllib.request.urlopen(f"{portal.url}/").read().decode()
    assert "ข่าวประชาสัมพันธ์ของหน่วยงานไทย" in home and "Welcome to CKAN" not in home


def test_organizations_have_a_description(portal: Portal, published: dict) -> None:
    if not portal.local:
        pytest.skip("the portal under test is an external one named by CKAN_URL: its organizations are not ours")
    dataset_page = urllib.request.urlopen(f"{portal.url}/dataset/{NAME}").read().decode()
    box = dataset_page[dataset_page.index('id="organization-info"'):]
    box = box[:box.index("</section>")]
    assert "กรมประชาสัมพันธ์ สำนักนายกรัฐมนตรี" in html.unescape(box)
