"""The files a publish puts on the portal, one CKAN resource each, found again by ``ogd_key`` (never by position)."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from ..package.layout import CHANGES_PATH, CSV_PATH, DESCRIPTOR_PATH, PARQUET_PATH, PARTS_DIR
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
    # False: the file is over the portal's upload cap and its rows are served from the DataStore instead (the whole
    # CSV of a table published in parts: one searchable table, downloadable as CKAN's DataStore dump).
    upload: bool = True
    link: str | None = None  # not uploaded: the address where the team hosts this very file (files_url)


# Parts of a large table (pipeline/package/parts.py): ogd_key part-KEY-csv / -parquet / -excel.
PART_PREFIX = "part-"
_PART_FILES = {
    "csv": ("CSV", "text/csv", "ข่าวของช่วง {key} ในรูปแบบ CSV (UTF-8, RFC 4180) / The releases of {key} as CSV; the "
            "Table Schema is in the resource's `schema`."),
    "parquet": ("Parquet", "application/vnd.apache.parquet",
                "ข่าวของช่วง {key} ในรูปแบบ Apache Parquet / The releases of {key} as Apache Parquet (zstd)."),
    "excel": ("CSV", "text/csv", "ข่าวของช่วง {key} สำหรับ Excel (UTF-8 มี BOM, กันสูตร) / The releases of {key} for "
              "spreadsheets (UTF-8 with BOM, formulas neutralised; programs should use the CSV)."),
}


def part_specs(parts: list[dict[str, Any]]) -> list[ResourceSpec]:
    """The resources of the parts ``x_ogd.parts`` lists: CSV, Parquet and spreadsheet CSV of each."""
    specs = []
    for part in parts:
        for kind, (fmt, mimetype, description) in _PART_FILES.items():
            path = part[kind]["path"]
            specs.append(ResourceSpec(f"{PART_PREFIX}{part['key']}-{kind}", path, path.rsplit("/", 1)[-1], fmt,
                                      mimetype, description.format(key=part["key"])))
    return specs


def part_path(key: str) -> str | None:
    """The package path of a part's resource from its ``ogd_key`` (pull: the portal's resources say which exist)."""
    if not key.startswith(PART_PREFIX):
        return None
    name, _, kind = key[len(PART_PREFIX):].rpartition("-")
    suffix = {"csv": ".csv", "parquet": ".parquet", "excel": "-excel.csv"}.get(kind)
    if not suffix or not name or not all(c.isdigit() or c == "-" for c in name):
        return None
    return f"{PARTS_DIR}/releases-{name}{suffix}"


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
    """The resource's name and file name on the portal (``thaigov-news-sample.csv``, ``thaigov-news-2024.csv``);
    ``dataset`` is a slug (ASCII: CKAN mangles Thai file names)."""
    if spec.key.startswith(PART_PREFIX):
        return f"{dataset}-{spec.name.removeprefix('releases-')}"
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


_SHA256 = re.compile(r"(?:sha256:)?([0-9a-f]{64})")


def recorded_sha256(resource: dict[str, Any] | None) -> str | None:
    """The sha256 a publish recorded for the resource's file ("sha256:<hex>"), or None.

    Ours is in CKAN's ``hash`` and in ``ogd_sha256``. A portal that runs ckanext-xloader overwrites ``hash`` with
    the MD5 of the file it loaded: then ``ogd_sha256`` says it. A sha256 in ``hash`` comes first (whoever changed it
    declares other bytes); no sha256 in either (another tool's hash) says nothing about our file: None.
    """
    for value in ((resource or {}).get("hash"), (resource or {}).get("ogd_sha256")):
        found = _SHA256.fullmatch(str(value or "").strip().lower())
        if found:
            return f"sha256:{found.group(1)}"
    return None


def resource_fields(spec: ResourceSpec, file_hash: str, size: int, table_schema: dict[str, Any],
                    dataset: str) -> dict[str, Any]:
    """The resource's fields as a publish writes them (besides the upload itself)."""
    fields: dict[str, Any] = {
        "name": portal_name(spec, dataset), "format": spec.format, "mimetype": spec.mimetype, "description": spec.description,
        "hash": file_hash, "ogd_sha256": file_hash, "size": size, "ogd_key": spec.key,
    }
    if spec.key == CSV_KEY or (spec.key.startswith(PART_PREFIX) and spec.key.endswith("-csv")):
        fields["schema"] = json.dumps(table_schema, ensure_ascii=False)
    if spec.link:
        fields.update(url=spec.link, url_type="")  # a link to the team's copy (checked before it is sent)
    elif not spec.upload:
        # CKAN's own convention for a resource whose data is only in the DataStore: its URL becomes the table's dump.
        fields.update(url="_datastore_only_resource", url_type="datastore", size=None)
    return fields
