"""The files a publish puts on the portal, one CKAN resource each, found again by ``ogd_key`` (never by position)."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from ..package.layout import CHANGES_PATH, CSV_PATH, DESCRIPTOR_PATH, PARQUET_PATH
from ..spreadsheet import SPREADSHEET_PATH

# The spreadsheet-facing CSV (pipeline/spreadsheet.py): described in datapackage.json under x_ogd.spreadsheet, not as
# a Frictionless resource, because its values are deliberately not the exact ones. Packages built before it have none.
SPREADSHEET_KEY = "releases-excel"
CSV_KEY = "releases-csv"
DESCRIPTOR_KEY = "datapackage"
# The change log (pipeline/changes): a resource of datapackage.json; packages built before versions have none.
CHANGES_KEY = "changes"


class ResourceSpec(NamedTuple):
    key: str  # ogd_key: how a publish finds the resource again
    path: str  # the file in the package
    name: str  # the file's name in the package (the portal's name: portal_name)
    format: str
    mimetype: str
    description: str


RESOURCES: tuple[ResourceSpec, ...] = (
    ResourceSpec(CSV_KEY, CSV_PATH, "releases.csv", "CSV", "text/csv",
                 "ข่าวประชาสัมพันธ์ทั้งหมดในรูปแบบ CSV (UTF-8, RFC 4180) / All releases as CSV; the Table Schema is in "
                 "the resource's `schema` and in the DataStore data dictionary."),
    ResourceSpec("releases-parquet", PARQUET_PATH, "releases.parquet", "Parquet", "application/vnd.apache.parquet",
                 "ข้อมูลชุดเดียวกันในรูปแบบ Apache Parquet (zstd) / The same rows as Apache Parquet, typed, "
                 "zstd-compressed."),
    ResourceSpec(SPREADSHEET_KEY, SPREADSHEET_PATH, "releases-excel.csv", "CSV", "text/csv",
                 "ข้อมูลชุดเดียวกันสำหรับ Excel และโปรแกรมตารางคำนวณอื่น (UTF-8 มี BOM; เซลล์ที่ขึ้นต้นด้วย = + - @ มี ' "
                 "นำหน้า จึงไม่ถูกเรียกใช้เป็นสูตร; เซลล์ที่ยาวเกิน 32,767 ตัวอักษรถูกตัดพร้อมหมายเหตุ) โปรแกรมควรใช้ "
                 "releases.csv / The same rows for Excel and other spreadsheets (UTF-8 with BOM; cells that start with "
                 "= + - @ get a leading ' so they are never run as formulas; cells longer than 32,767 characters are "
                 "cut with a note); programs should use releases.csv."),
    ResourceSpec(CHANGES_KEY, CHANGES_PATH, "changes.csv", "CSV", "text/csv",
                 "บันทึกการเปลี่ยนแปลงทุกรุ่น: ข่าวที่เพิ่ม แก้ไข และถอนออก (version, date, release_id, change, "
                 "changed_fields) / The change log: every version's added, changed (with the changed fields) and "
                 "removed releases, oldest first; read it to catch up without downloading everything again."),
    ResourceSpec(DESCRIPTOR_KEY, DESCRIPTOR_PATH, "datapackage.json", "JSON", "application/json",
                 "คำอธิบายชุดข้อมูลตามมาตรฐาน Frictionless Data Package / Frictionless Data Package descriptor "
                 "(schema, licences, sources, file hashes)."),
)

RESOURCE_BY_KEY: dict[str, ResourceSpec] = {spec.key: spec for spec in RESOURCES}

# What the portal calls each file (resource name and upload file name): the dataset's name says what it holds, where
# every package's own file is releases.csv. Renamed at upload only: the package's paths stay as built (byte identity,
# incremental builds and pull's layout depend on them). datapackage.json keeps the name tools look for.
PORTAL_SUFFIX = {CSV_KEY: ".csv", "releases-parquet": ".parquet", SPREADSHEET_KEY: "-excel.csv"}


def portal_name(spec: ResourceSpec, dataset: str) -> str:
    """The resource's name and file name on the portal (``thaigov-news-sample.csv``); ``dataset`` is a slug (ASCII:
    CKAN mangles Thai file names)."""
    suffix = PORTAL_SUFFIX.get(spec.key)
    return f"{dataset}{suffix}" if suffix else spec.name


def resources_by_key(dataset: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The dataset's resources of each file we publish, by ``ogd_key`` (or, failing that, by name)."""
    found: dict[str, list[dict[str, Any]]] = {}
    names = {spec.name: spec.key for spec in RESOURCES}
    for resource in (dataset or {}).get("resources", []):
        key = resource.get("ogd_key") or names.get(resource.get("name", ""))
        if key:
            found.setdefault(key, []).append(resource)
    return found


def resource_fields(spec: ResourceSpec, file_hash: str, size: int, table_schema: dict[str, Any],
                    dataset: str) -> dict[str, Any]:
    """The resource's fields as a publish writes them (besides the upload itself)."""
    fields: dict[str, Any] = {
        "name": portal_name(spec, dataset), "format": spec.format, "mimetype": spec.mimetype, "description": spec.description,
        "hash": file_hash, "size": size, "ogd_key": spec.key,
    }
    if spec.key == CSV_KEY:
        fields["schema"] = json.dumps(table_schema, ensure_ascii=False)
    return fields
