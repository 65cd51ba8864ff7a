"""Publish: a data package to a CKAN portal, safely and incrementally.

The order of work makes every interruption recoverable by simply running
again:

1. read only: check the package (valid report, file hashes), the token and
   the organization, the dataset and its resources;
2. the dataset metadata (create, or update when it differs);
3. each resource whose file hash differs from the portal's ``hash`` is
   uploaded (our sha256 is kept in ``hash``, so unchanged files are skipped;
   a resource is found again by its ``ogd_key``, so there are never two);
4. the DataStore table of the CSV resource: created with types from the
   Table Schema, then only changed rows upserted and vanished rows deleted,
   found by comparing ``content_sha256`` per ``release_id``;
5. last, the CSV resource records ``ogd_datastore_hash``: until then the next
   run re-checks the DataStore rows, so a run stopped midway is finished by
   the next one.

An unchanged package costs two API calls (token check + ``package_show``).

Safety (issue #11):

* the organization must be one the token may publish in; one is created
  only with ``create_org`` (a mistyped name never becomes a public
  organization); a dataset another organization owns is never moved;
* writes are serialised per dataset (:mod:`pipeline.publish_lock`: a lock
  the portal sees, plus one per machine); after taking the lock the plan is
  made again from what the portal holds, so a publish that waited for
  another finds its work done;
* a create whose answer was lost is never re-sent blindly: the dataset, or
  the resource by its ``ogd_key`` and hash, is looked for first; a
  uniqueness conflict of concurrent DataStore upserts is retried, not
  reported as a metadata error;
* ``verify`` downloads what the portal serves (the token goes only to the
  portal's own origin), compares size and sha256 with the package and
  re-uploads what differs.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import ckanapi
import pyarrow.parquet as pq

from ..package.files import file_digest
from ..package.layout import CSV_PATH, DESCRIPTOR_PATH, PARQUET_PATH, REPORT_PATH
from ..problems import (
    AuthError,
    DataError,
    PortalRejected,
    PortalUnavailable,
    UsageError,
)
from ..spreadsheet import SPREADSHEET_PATH
from .client import PortalClient
from .gdc import CORE_FIELDS, check_values, gdc_license
from .lock import DEFAULT_TTL, DEFAULT_WAIT, PortalLock, extras_with_lock, local_lock

UPSERT_CHUNK = 1000
SEARCH_PAGE = 10000
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")
DATASTORE_TYPES = {"string": "text", "integer": "int8", "number": "numeric", "boolean": "bool",
                   "date": "date", "datetime": "timestamp", "time": "time", "year": "int4"}

# The spreadsheet-facing CSV (pipeline/spreadsheet.py): described in datapackage.json under x_ogd.spreadsheet, not as
# a Frictionless resource, because its values are deliberately not the exact ones. Packages built before it have none.
SPREADSHEET_KEY = "releases-excel"

RESOURCES = (
    # ogd_key, file in the package, resource name, format, mimetype, description
    ("releases-csv", CSV_PATH, "releases.csv", "CSV", "text/csv",
     "ข่าวประชาสัมพันธ์ทั้งหมดในรูปแบบ CSV (UTF-8, RFC 4180) / All releases as CSV; the Table Schema is in the "
     "resource's `schema` and in the DataStore data dictionary."),
    ("releases-parquet", PARQUET_PATH, "releases.parquet", "Parquet", "application/vnd.apache.parquet",
     "ข้อมูลชุดเดียวกันในรูปแบบ Apache Parquet (zstd) / The same rows as Apache Parquet, typed, zstd-compressed."),
    (SPREADSHEET_KEY, SPREADSHEET_PATH, "releases-excel.csv", "CSV", "text/csv",
     "ข้อมูลชุดเดียวกันสำหรับ Excel และโปรแกรมตารางคำนวณอื่น (UTF-8 มี BOM; เซลล์ที่ขึ้นต้นด้วย = + - @ มี ' นำหน้า "
     "จึงไม่ถูกเรียกใช้เป็นสูตร; เซลล์ที่ยาวเกิน 32,767 ตัวอักษรถูกตัดพร้อมหมายเหตุ) โปรแกรมควรใช้ releases.csv / "
     "The same rows for Excel and other spreadsheets (UTF-8 with BOM; cells that start with = + - @ get a leading ' "
     "so they are never run as formulas; cells longer than 32,767 characters are cut with a note); programs should "
     "use releases.csv."),
    ("datapackage", DESCRIPTOR_PATH, "datapackage.json", "JSON", "application/json",
     "คำอธิบายชุดข้อมูลตามมาตรฐาน Frictionless Data Package / Frictionless Data Package descriptor "
     "(schema, licences, sources, file hashes)."),
)


@dataclass
class ResourcePlan:
    key: str
    name: str
    action: str  # create | update | skip
    reason: str = ""


@dataclass
class PublishResult:
    dataset: str
    url: str
    dataset_action: str = "skip"  # create | update | skip
    resources: list[ResourcePlan] = field(default_factory=list)
    datastore_action: str = "skip"  # create | update | skip
    rows_upserted: int = 0  # rows_added + rows_updated
    rows_added: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    api_calls: int = 0
    http_requests: int = 0
    uploads: int = 0
    dry_run: bool = False
    verified: list[str] = field(default_factory=list)  # --verify: files (ogd_key) and "datastore" checked
    repaired: list[str] = field(default_factory=list)  # of those, what differed from the package and is re-sent

    @property
    def changed(self) -> bool:
        return (self.dataset_action != "skip" or self.datastore_action != "skip"
                or any(r.action != "skip" for r in self.resources))

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "url": self.url, "dry_run": self.dry_run, "changed": self.changed,
            "dataset_action": self.dataset_action,
            "resources": [{"key": r.key, "name": r.name, "action": r.action, "reason": r.reason} for r in self.resources],
            "datastore_action": self.datastore_action, "rows_upserted": self.rows_upserted,
            "rows_added": self.rows_added, "rows_updated": self.rows_updated, "rows_deleted": self.rows_deleted, "api_calls": self.api_calls, "http_requests": self.http_requests,
            "uploads": self.uploads, "verified": self.verified, "repaired": self.repaired,
        }


RESOURCE_BY_KEY = {entry[0]: entry for entry in RESOURCES}


# ------------------------------------------------------------------ the package


@dataclass
class LocalPackage:
    folder: Path
    descriptor: dict[str, Any]
    hashes: dict[str, str]  # ogd_key -> "sha256:<hex>" (only the files this package has)
    sizes: dict[str, int]
    notes: list[str] = field(default_factory=list)  # what the user should know (an older package's missing parts)

    @property
    def table_schema(self) -> dict[str, Any]:
        return self.descriptor["resources"][0]["schema"]

    @property
    def extra(self) -> dict[str, Any]:
        return self.descriptor.get("x_ogd", {})


def _not_a_package(folder: Path, why: str, hint: str = "rebuild it with ogd build") -> DataError:
    return DataError(f"{folder} is not a data package: {why}", hint)


def _read_json(folder: Path, name: str, what: str) -> dict[str, Any]:
    """A JSON object file of the package, refused (exit 3, no traceback) when it is a link, unreadable or not JSON."""
    path = folder / name
    if path.is_symlink():
        raise _not_a_package(folder, f"its {name} is a symbolic link (to {os.readlink(path)}); {what} must be the "
                                     "file the build wrote")
    if not path.is_file():
        raise _not_a_package(folder, f"no {name}", "build it first: ogd build … or make etl")
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise _not_a_package(folder, f"its {name} is not UTF-8 text (byte {error.start + 1})") from None
    except json.JSONDecodeError as error:
        raise _not_a_package(folder, f"its {name} is not valid JSON ({error.msg} at line {error.lineno}, "
                                     f"column {error.colno})") from None
    except OSError as error:
        raise _not_a_package(folder, f"its {name} cannot be read ({error.strerror})") from None
    if not isinstance(document, dict):
        raise _not_a_package(folder, f"its {name} is JSON but not an object")
    return document


def package_file(folder: Path, relative: Any, where: str) -> Path:
    """The file a descriptor path names, refused unless it is a plain relative path to a regular file in the package.

    A datapackage.json edited after the build could name ``../../etc/passwd``,
    an absolute path, a URL, or a link out of the folder: publish would upload
    that file. No path part may be a symbolic link.
    """
    if not isinstance(relative, str) or not relative:
        raise _not_a_package(folder, f"{where} has no path (a text) but {relative!r}")
    parts = relative.split("/")
    if (relative.startswith("/") or "\\" in relative or ":" in parts[0] or ".." in parts
            or any(part in ("", ".") for part in parts)):
        raise _not_a_package(folder, f"{where} names {relative!r}: only a plain relative path inside the package "
                                     "is allowed (no absolute path, URL, '..' or empty part)",
                             "datapackage.json was changed after the build: rebuild the package")
    path = folder
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise _not_a_package(folder, f"{where}: {path.relative_to(folder).as_posix()} is a symbolic link "
                                         f"(to {os.readlink(path)}); a package holds its own files",
                                 "rebuild the package")
    if not path.is_file():
        raise DataError(f"{folder} lacks {relative} ({where})", "rebuild the package")
    return path


def load_package(folder: Path) -> LocalPackage:
    """Read a built package and refuse it unless its report says valid and its files are intact.

    Refused (exit 3): a datapackage.json that is a link, not JSON, changed
    since the build (``descriptor_sha256`` in report.json), or names a path
    outside the package; a file whose hash differs from the descriptor's.
    """
    descriptor = _read_json(folder, DESCRIPTOR_PATH, "the descriptor")
    report = _read_json(folder, REPORT_PATH, "the build report")
    validation = report.get("validation") if isinstance(report.get("validation"), dict) else {}
    if not report.get("ok") or not validation.get("valid"):
        raise DataError(
            f"{folder} is not publishable: its build report says "
            + str(report.get("failure") or f"validation found {validation.get('error_count')} errors"),
            f"run 'ogd validate {folder}' to see the errors, fix the inputs and rebuild",
        )
    notes: list[str] = []
    recorded = report.get("descriptor_sha256")
    descriptor_digest = file_digest(folder / DESCRIPTOR_PATH)[1]
    if recorded is None:
        notes.append(f"{folder.name}: report.json records no descriptor_sha256 (a package built before it did), "
                     "so an edit of datapackage.json after the build cannot be detected; rebuild to add it")
    elif str(recorded).removeprefix("sha256:") != descriptor_digest:
        raise DataError(f"{folder}: datapackage.json changed after the build (its sha256 differs from "
                        "descriptor_sha256 in report.json); rebuild", "rebuild the package with ogd build")
    resources = descriptor.get("resources")
    if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
        raise _not_a_package(folder, "datapackage.json has no list of resources")
    for number, resource in enumerate(resources, 1):
        paths = resource.get("path")
        for relative in paths if isinstance(paths, list) else [paths]:
            package_file(folder, relative, f"resource {number} ({resource.get('name')!r}) of datapackage.json")
    declared = {r["path"]: r for r in resources if isinstance(r.get("path"), str)}
    spreadsheet = (descriptor.get("x_ogd") or {}).get("spreadsheet") if isinstance(descriptor.get("x_ogd"), dict) else None
    hashes: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for key, path, *_ in RESOURCES:
        expected_hash, expected_bytes = None, None
        if key == SPREADSHEET_KEY:
            if spreadsheet is None:
                notes.append(f"{folder.name}: no spreadsheet file (x_ogd.spreadsheet; a package built before it "
                             "existed): releases-excel.csv is not published; rebuild to add it")
                continue
            if not isinstance(spreadsheet, dict) or spreadsheet.get("path") != SPREADSHEET_PATH:
                raise _not_a_package(folder, f"x_ogd.spreadsheet in datapackage.json must be an object with path "
                                             f"{SPREADSHEET_PATH!r}, not {spreadsheet!r:.200}")
            expected_hash, expected_bytes = spreadsheet.get("hash"), spreadsheet.get("bytes")
            if not expected_hash:
                raise _not_a_package(folder, "x_ogd.spreadsheet in datapackage.json has no hash")
        file_path = package_file(folder, path, f"the package's {path}")
        size, digest = file_digest(file_path)
        hashes[key], sizes[key] = f"sha256:{digest}", size
        resource = declared.get(path)
        if resource is not None:
            expected_hash = resource.get("hash") or resource.get("x_hash")
            expected_bytes = resource.get("bytes") or resource.get("x_bytes")
        if (expected_hash and str(expected_hash).removeprefix("sha256:") != digest) \
                or (expected_bytes is not None and expected_bytes != size):
            raise DataError(f"{path} in {folder} does not match the hash in datapackage.json: the file changed "
                            "after the build", "rebuild the package")
    return LocalPackage(folder, descriptor, hashes, sizes, notes)


def romanised_slug(title: str) -> str:
    """An ASCII dataset name from a (Thai) title: RTGS romanisation (PyThaiNLP royin)."""
    from pythainlp.tokenize import word_tokenize
    from pythainlp.transliterate import romanize

    words = [w for w in word_tokenize(title, engine="nlpo3") if w.strip()]
    parts = []
    for word in words:
        if re.search(r"[\u0e00-\u0e7f]", word):
            word = romanize(word, engine="royin")
        parts.append(word)
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(parts).lower()).strip("-")
    return slug[:100] or "dataset"


def dataset_name(package: LocalPackage) -> str:
    configured = package.extra.get("ckan_name")
    if configured:
        return str(configured)
    name = str(package.descriptor.get("name") or "")
    if SLUG.match(name):
        return name
    return romanised_slug(str(package.descriptor.get("title") or name))


# ------------------------------------------------------------------ portal reads


def check_token_and_org(client: PortalClient, org: str, *, dry_run: bool, create_org: bool = False) -> None:
    """Refuse, before any write, a token that may not publish in ``org``; one call in the usual case.

    An organization is created only when asked (``create_org``): a mistyped
    ``--org`` must not become a new public organization.
    """
    if not client.apikey:
        raise AuthError("no API token: CKAN_API_TOKEN is not set",
                        "create a token in the portal (user menu → API tokens) and export CKAN_API_TOKEN")
    answer = client.call_action("organization_list_for_user", {"permission": "create_dataset"})
    if not isinstance(answer, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in answer):
        raise client.not_ckan("organization_list_for_user")  # JSON of another API: the client's one check
    allowed = sorted(o["name"] for o in answer)
    if org in allowed:
        return
    if not allowed and not create_org:
        raise AuthError(
            f"the portal at {client.url} does not accept this API token for publishing: the token is unknown, "
            "expired or revoked, or its user is an editor of no organization",
            "create a new API token for a user with the editor role in the organization, and export CKAN_API_TOKEN",
        )
    may_publish_in = ", ".join(allowed) if allowed else "none"
    try:
        client.call_action("organization_show", {"id": org, "include_datasets": False})
        exists = True
    except ckanapi.NotFound:
        exists = False
    if exists:
        raise AuthError(f"this token's user may not publish in organization {org!r} on {client.url} (needs the editor "
                        f"or admin role); it may publish in: {may_publish_in}",
                        f"ask an admin of {org!r} to add the user as editor, or use --org with one of those")
    if not create_org:
        raise AuthError(f"organization {org!r} does not exist on {client.url}; this token may publish in: "
                        f"{may_publish_in}",
                        "check the spelling of --org (or organization in datasets.toml); to create a new "
                        "organization, add --create-org")
    if dry_run:
        return
    try:
        client.call_action("organization_create", {"name": org, "title": org},
                           lookup=lambda: _find_organization(client, org))
    except ckanapi.NotAuthorized:
        raise AuthError(f"organization {org!r} does not exist on {client.url} and this token may not create it",
                        "ask a portal sysadmin to create it, or publish with --org to an existing one") from None


def _find_organization(client: PortalClient, org: str) -> dict[str, Any] | None:
    try:
        return client.call_action("organization_show", {"id": org, "include_datasets": False})
    except ckanapi.NotFound:
        return None


def check_owner(dataset: dict[str, Any] | None, org: str, client: PortalClient) -> None:
    """Refuse to publish into a dataset another organization owns: an update would move it (never take what is not ours)."""
    if dataset is None:
        return
    owner = (dataset.get("organization") or {}).get("name")
    if owner and owner != org and dataset.get("owner_org") != org:
        raise PortalRejected(
            f"dataset {dataset['name']!r} on {client.url} belongs to organization {owner!r}, not {org!r}; "
            "publishing would move it, so nothing was written",
            {"name": [f"in use by organization {owner!r}"]},
            f"publish with --org {owner} if it is the same dataset, or give the package another name "
            "(ckan_name in datasets.toml)",
        )


def _show_dataset(client: PortalClient, name: str) -> dict[str, Any] | None:
    try:
        return client.call_action("package_show", {"id": name})
    except ckanapi.NotFound:
        return None
    except ckanapi.NotAuthorized:
        raise AuthError(f"dataset {name!r} exists on {client.url} but this token may not read it (another "
                        "organization owns the name)", "publish under another name (ckan_name in datasets.toml)") from None


def portal_schema(client: PortalClient) -> dict[str, Any] | None:
    """The portal's scheming dataset schema, or None on a portal without ckanext-scheming."""
    try:
        return client.call_action("scheming_dataset_schema_show", {"type": "dataset"})
    except (ckanapi.NotFound, ckanapi.CKANAPIError):
        return None


def _license_for_portal(client: PortalClient, schema: dict[str, Any] | None, license_name: str) -> str:
    if schema is not None:
        license_field = next((f for f in schema.get("dataset_fields", []) if f["field_name"] == "license_id"), None)
        if license_field and license_field.get("choices"):
            return gdc_license(license_name)
    portal_licenses = client.call_action("license_list", {})
    for entry in portal_licenses:
        if license_name.lower() in {str(entry.get("id", "")).lower(), str(entry.get("title", "")).lower()}:
            return entry["id"]
    aliases = {"cc-by-4.0": "cc-by", "cc-by-sa-4.0": "cc-by-sa", "odbl-1.0": "odc-odbl", "pddl-1.0": "odc-pddl",
               "odc-by-1.0": "odc-by", "cc0-1.0": "cc-zero"}
    wanted = aliases.get(license_name.lower())
    return next((e["id"] for e in portal_licenses if e.get("id") == wanted), "notspecified")


# ------------------------------------------------------------------ metadata


def dataset_metadata(package: LocalPackage, org: str, client: PortalClient, schema: dict[str, Any] | None) -> dict[str, Any]:
    """The CKAN dataset dict for the package: core fields, and GDC fields top-level (scheming) or as extras."""
    descriptor = package.descriptor
    extra = package.extra
    description = descriptor.get("description", "")
    if descriptor.get("title_en"):
        description = f"{description}\n\n{descriptor['title_en']}"
    tags = [re.sub(r"[,]", " ", str(k)).strip() for k in descriptor.get("keywords", []) if str(k).strip()]
    license_name = (descriptor.get("licenses") or [{"name": "notspecified"}])[0]["name"]
    data: dict[str, Any] = {
        "name": dataset_name(package),
        "title": descriptor.get("title") or descriptor.get("name"),
        "notes": description,
        "owner_org": org,
        "tag_string": ",".join(tags),
        "version": descriptor.get("version", ""),
        "url": descriptor.get("homepage", ""),
        "maintainer": extra.get("maintainer", ""),
        "maintainer_email": extra.get("maintainer_email", ""),
        "license_id": _license_for_portal(client, schema, license_name),
    }
    gdc = {k: v for k, v in extra.get("gdc", {}).items() if k not in CORE_FIELDS or k == "license_id"}
    gdc.pop("license_id", None)
    temporal = descriptor.get("temporal") or {}
    if temporal.get("end"):
        gdc.setdefault("last_updated_date", temporal["end"])
    if schema is not None:
        specs = {f["field_name"]: f for f in schema.get("dataset_fields", [])}
        for key, value in gdc.items():
            if key in specs:
                data[key] = value
    else:
        data["extras"] = [
            {"key": key, "value": json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)}
            for key, value in sorted(gdc.items()) if key not in CORE_FIELDS
        ]
    return data


# CKAN's tag rules: ckan.logic.validators tag_length_validator (2-100 characters) and tag_name_validator, as the
# project's portal plugin (portal/ckanext-ogdportal) widens it to the Thai block (vowel and tone marks are not \w).
# A stock CKAN refuses Thai marks; data.go.th-style GDC portals accept them.
TAG_MIN, TAG_MAX = 2, 100
TAG_CHARACTERS = re.compile(r"[\w \-.\u0e00-\u0e7f]*", re.UNICODE)


def tag_problems(tag_string: str) -> list[str]:
    """What CKAN would refuse in each tag of ``tag_string`` (comma-separated), naming the tag."""
    problems = []
    for tag in (t.strip() for t in tag_string.split(",")):
        if not tag:
            continue
        if not TAG_MIN <= len(tag) <= TAG_MAX:
            problems.append(f"tag {tag!r} has {len(tag)} character(s); CKAN allows {TAG_MIN} to {TAG_MAX}")
        bad = sorted({ch for ch in tag if not TAG_CHARACTERS.fullmatch(ch)})
        if bad:
            shown = ", ".join(repr(ch) for ch in bad)
            problems.append(f"tag {tag!r} has character(s) CKAN refuses in tags ({shown}); allowed: letters (Thai "
                            "included), digits, spaces, '-', '_' and '.'")
    return problems


def check_metadata(data: dict[str, Any], schema: dict[str, Any] | None) -> None:
    """Refuse, before any write, values the portal would refuse (all at once): tags, and the scheming schema's."""
    tags = tag_problems(str(data.get("tag_string") or ""))
    if tags:
        raise PortalRejected(
            f"the dataset's keywords break CKAN's tag rules ({len(tags)} problem(s)); nothing was written",
            {"tags": tags},
            "fix keywords in datasets.toml (2-100 characters: letters, digits, spaces, - _ .) and rebuild")
    if schema is None:
        return
    problems = check_values(data, schema)
    if problems:
        raise PortalRejected(
            f"the dataset metadata does not fit the portal's schema ({len(problems)} problem(s)); nothing was written",
            {p["field"]: p["message"] for p in problems},
            "fix the [datasets.NAME.gdc] values in datasets.toml (allowed values: the portal's scheming schema)",
        )


def _normalise(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    return "" if value is None else str(value)


def metadata_differs(wanted: dict[str, Any], current: dict[str, Any], schema: dict[str, Any] | None) -> list[str]:
    """Fields whose portal value differs from what we would send."""
    different = []
    for key, value in wanted.items():
        if key == "owner_org":
            current_org = (current.get("organization") or {}).get("name")
            if value not in (current_org, current.get("owner_org")):
                different.append(key)
        elif key == "tag_string":
            if sorted(t for t in value.split(",") if t) != sorted(t["name"] for t in current.get("tags", [])):
                different.append(key)
        elif key == "extras":
            have = {e["key"]: e["value"] for e in current.get("extras", [])}
            if any(have.get(e["key"]) != e["value"] for e in value):
                different.append(key)
        elif _normalise(value) != _normalise(current.get(key)):
            different.append(key)
    return different


# ------------------------------------------------------------------ DataStore


def datastore_fields(table_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """DataStore fields with types and the data dictionary (label, description) from the Table Schema."""
    return [
        {"id": f["name"], "type": DATASTORE_TYPES.get(f["type"], "text"),
         "info": {"label": f.get("title", f["name"]), "notes": f.get("description", "")}}
        for f in table_schema["fields"]
    ]


def local_rows(package: LocalPackage) -> Iterator[dict[str, Any]]:
    """Rows of the package, typed as the DataStore wants them (dates as ISO text)."""
    parquet = pq.ParquetFile(package.folder / PARQUET_PATH)
    for batch in parquet.iter_batches(batch_size=UPSERT_CHUNK):
        for row in batch.to_pylist():
            yield {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def local_row_hashes(package: LocalPackage) -> dict[str, str]:
    table = pq.read_table(package.folder / PARQUET_PATH, columns=["release_id", "content_sha256"])
    return dict(zip(table.column("release_id").to_pylist(), table.column("content_sha256").to_pylist()))


def portal_row_hashes(client: PortalClient, resource_id: str) -> dict[str, str]:
    hashes: dict[str, str] = {}
    offset = 0
    while True:
        page = client.call_action("datastore_search", {
            "resource_id": resource_id, "fields": ["release_id", "content_sha256"], "limit": SEARCH_PAGE,
            "offset": offset, "sort": "release_id", "include_total": False,
        })
        for record in page["records"]:
            hashes[record["release_id"]] = record["content_sha256"]
        if len(page["records"]) < SEARCH_PAGE:
            return hashes
        offset += SEARCH_PAGE


def _datastore_info(client: PortalClient, resource_id: str) -> list[dict[str, Any]] | None:
    try:
        result = client.call_action("datastore_search", {"resource_id": resource_id, "limit": 0})
    except ckanapi.NotFound:
        return None
    return [f for f in result["fields"] if f["id"] != "_id"]


# ------------------------------------------------------------------ publishing


def publish_package(package_folder: Path, client: PortalClient, *, org: str | None = None, dry_run: bool = False,
                    create_org: bool = False, verify: bool = False, lock_wait: float = DEFAULT_WAIT,
                    lock_ttl: float = DEFAULT_TTL, say: Callable[[str], None] = lambda _: None) -> PublishResult:
    """Publish one package (see the module docstring for the order of work).

    CKAN's refusals become pipeline errors with CKAN's per-field messages kept:
    a validation error is :class:`PortalRejected` (exit 6), a refused write
    :class:`AuthError` (exit 4). ``verify`` downloads the portal's files and
    repairs those that differ from the package. ``say`` receives progress
    messages meant for the user (waiting for a lock, taking one over).
    """
    options = _Options(org, dry_run, create_org, verify, lock_wait, lock_ttl, say)
    try:
        return _publish(package_folder, client, options)
    except ckanapi.ValidationError as error:
        fields = {k: v for k, v in (error.error_dict or {}).items() if k != "__type"}
        raise PortalRejected(client.scrub(f"the portal refused {package_folder.name}: {fields}"), fields,
                             "fix the named fields (datasets.toml, or ckan_name for a name in use) and run again") from None
    except ckanapi.NotAuthorized as error:
        raise AuthError(client.scrub(f"the portal refused a write for {package_folder.name}: {error}"),
                        "the token's user needs the editor role in the organization") from None
    except ckanapi.CKANAPIError as error:
        raise PortalRejected(client.scrub(f"the portal answered an unexpected error for {package_folder.name}: "
                                          f"{str(error)[:500]}"),
                             hint="see the portal's logs; publishing is safe to re-run") from None


@dataclass(frozen=True)
class _Options:
    org: str | None
    dry_run: bool
    create_org: bool
    verify: bool
    lock_wait: float
    lock_ttl: float
    say: Callable[[str], None]


class _SchemaCache:
    """The portal's dataset schema, asked for at most once per package (only when metadata must be checked)."""

    def __init__(self, client: PortalClient) -> None:
        self.client, self.loaded, self.schema = client, False, None

    def get(self) -> dict[str, Any] | None:
        if not self.loaded:
            self.schema, self.loaded = portal_schema(self.client), True
        return self.schema


def _publish(package_folder: Path, client: PortalClient, options: _Options) -> PublishResult:
    package = load_package(package_folder)
    for note in package.notes:
        options.say(note)
    organization = options.org or package.extra.get("organization")
    if not organization:
        raise UsageError(f"no organization for {package_folder}: the package names none",
                         "pass --org NAME (an organization the token may publish in), or set organization in "
                         "datasets.toml and rebuild")
    name = dataset_name(package)
    result = PublishResult(dataset=name, url=f"{client.url}/dataset/{name}", dry_run=options.dry_run)
    # Counters are per package: the client may serve several packages in one run.
    result.api_calls, result.http_requests, result.uploads = client.api_calls, client.http_requests, client.uploads
    check_token_and_org(client, organization, dry_run=options.dry_run, create_org=options.create_org)
    current = _show_dataset(client, name)
    check_owner(current, organization, client)
    schema = _SchemaCache(client)
    wanted = _plan(client, package, organization, current, result, schema)

    if options.dry_run:
        if options.verify:
            _verify(client, package, current, result)
        if result.datastore_action != "skip":
            csv_resource = (resources_by_key(current).get("releases-csv") or [None])[0]
            remote = portal_row_hashes(client, csv_resource["id"]) if result.datastore_action == "update" else {}
            changed, vanished = row_changes(local_row_hashes(package), remote, result)
            result.rows_upserted, result.rows_deleted = len(changed), len(vanished)
        return _finish(result, client)
    if not result.changed and not options.verify:
        return _finish(result, client)  # nothing to write: no lock, two calls

    with local_lock(client.url, name, wait=options.lock_wait, say=options.say):
        lock = PortalLock(client, name, ttl=options.lock_ttl, wait=options.lock_wait, say=options.say)
        try:
            created = False
            if current is None and result.dataset_action == "create":
                assert wanted is not None
                created = _create_dataset(client, wanted, lock)
            current = _acquire(lock, client)
            check_owner(current, organization, client)
            # Plan again from what the portal holds now: another publish may have done part of the work.
            wanted = _plan(client, package, organization, current, result, schema)
            if created:
                result.dataset_action = "create"
            if options.verify:
                _verify(client, package, current, result)
            _write(client, package, current, wanted, result, lock)
        finally:
            lock.release()
    return _finish(result, client)


def _plan(client: PortalClient, package: LocalPackage, organization: str, current: dict[str, Any] | None,
          result: PublishResult, schema: _SchemaCache) -> dict[str, Any] | None:
    """Fill ``result`` with what to do (dataset, each resource, DataStore); return the dataset dict to send, if any."""
    result.dataset_action = "skip"
    result.resources = []
    if current is not None and current.get("state") == "deleted":
        current = None  # a deleted dataset keeps its name: package_create would collide; update revives it
        result.dataset_action = "update"
    wanted = None
    if current is None or _metadata_needs_check(current, package):
        wanted = dataset_metadata(package, organization, client, schema.get())
        check_metadata(wanted, schema.get())
        if current is None:
            result.dataset_action = result.dataset_action if result.dataset_action == "update" else "create"
        elif metadata_differs(wanted, current, schema.get()):
            result.dataset_action = "update"

    by_key = resources_by_key(current)
    csv_resource = (by_key.get("releases-csv") or [None])[0]
    for key, path, res_name, *_ in RESOURCES:
        if key not in package.hashes:
            continue  # a file this (older) package does not have: see package.notes
        existing = by_key.get(key) or []
        if not existing:
            result.resources.append(ResourcePlan(key, res_name, "create", "new file"))
        elif existing[0].get("hash") != package.hashes[key] or len(existing) > 1:
            reason = "file changed" if existing[0].get("hash") != package.hashes[key] else "duplicate resources"
            result.resources.append(ResourcePlan(key, res_name, "update", reason))
        else:
            result.resources.append(ResourcePlan(key, res_name, "skip", "unchanged"))

    datastore_done = bool(csv_resource and csv_resource.get("ogd_datastore_hash") == package.hashes["releases-csv"]
                          and csv_resource.get("datastore_active"))
    result.datastore_action = "skip"
    if not datastore_done:
        result.datastore_action = "update" if csv_resource and csv_resource.get("datastore_active") else "create"
    return wanted


def _verify(client: PortalClient, package: LocalPackage, current: dict[str, Any] | None, result: PublishResult) -> None:
    """Download what the portal serves for each file the plan would skip; plan a repair where it differs.

    The portal's ``hash`` field is only what a publisher wrote: the bytes it
    serves may have been replaced since. The DataStore rows are compared by
    ``content_sha256`` too.
    """
    by_key = resources_by_key(current if (current or {}).get("state") != "deleted" else None)
    for plan in result.resources:
        existing = by_key.get(plan.key) or []
        if plan.action != "skip" or not existing:
            continue
        url = existing[0].get("url") or ""
        served = client.file_digest(url)
        if served in (401, 403):
            # Not a damaged file: re-uploading would not help and would repeat on every run.
            sent = "the token was sent" if client.apikey and client.on_portal_origin(url) else (
                "no token was sent: the file is not on the portal's own origin" if client.apikey else "no token given")
            raise AuthError(f"the portal refused to serve {plan.name} of {result.dataset} for --verify "
                            f"(HTTP {served}; {sent}): {url}",
                            "use a token that may read the dataset; if the portal's public address differs from "
                            "CKAN_URL, set CKAN_URL (or --url) to the address its resource URLs use")
        expected = (package.sizes[plan.key], package.hashes[plan.key].removeprefix("sha256:"))
        result.verified.append(plan.key)
        if served != expected:
            if isinstance(served, int):
                plan.reason = f"the portal answered HTTP {served} for the file"
            elif served[0] != expected[0]:
                plan.reason = f"the portal serves {served[0]} bytes, the package has {expected[0]}"
            else:
                plan.reason = "the portal serves different bytes (sha256) under the same size"
            plan.action = "update"
            result.repaired.append(plan.key)
    csv_resource = (by_key.get("releases-csv") or [None])[0]
    if result.datastore_action == "skip" and csv_resource:
        result.verified.append("datastore")
        probe = PublishResult(result.dataset, result.url)
        changed, vanished = row_changes(local_row_hashes(package), portal_row_hashes(client, csv_resource["id"]), probe)
        if changed or vanished:
            result.datastore_action = "update"
            result.repaired.append("datastore")


def _create_dataset(client: PortalClient, wanted: dict[str, Any], lock: PortalLock) -> bool:
    """Create the dataset holding our lock; False when another publisher's create won the name."""
    data = {**wanted, "extras": extras_with_lock(wanted.get("extras"), lock.value.render())}

    def look_again() -> dict[str, Any] | None:
        # The answer was lost: the portal may have created it. Exists → done (by us or a rival: acquire() tells).
        try:
            return client.call_action("package_show", {"id": wanted["name"]})
        except ckanapi.NotFound:
            return None

    try:
        created = client.call_action("package_create", data, lookup=look_again)
    except ckanapi.ValidationError as error:
        # "That URL is already in use" (in the portal's language): a concurrent publish, or our own lost create.
        # Asking the portal again is language-independent; then compete for the dataset's lock.
        if "name" in (error.error_dict or {}) and look_again() is not None:
            return False
        raise
    return lock.owns(created)


def _acquire(lock: PortalLock, client: PortalClient) -> dict[str, Any]:
    try:
        return lock.acquire()
    except ckanapi.NotAuthorized:
        raise AuthError(f"dataset {lock.name!r} exists on {client.url} but this token may not read it (another "
                        "organization owns the name)", "publish under another name (ckan_name in datasets.toml)") from None


def _write(client: PortalClient, package: LocalPackage, current: dict[str, Any], wanted: dict[str, Any] | None,
           result: PublishResult, lock: PortalLock) -> None:
    """The writes, in the order that makes any interruption finished by a re-run: dataset, files, DataStore, mark."""
    if wanted is not None and (current.get("state") == "deleted" or metadata_differs(wanted, current, None)):
        patch = {**wanted, "id": current["id"], "state": "active"}
        if "extras" in wanted:  # package_patch replaces the list: keep our lock in it
            patch["extras"] = extras_with_lock(wanted["extras"], lock.value.render())
        current = client.call_action("package_patch", patch)
    dataset_id = current["id"]
    by_key = resources_by_key(current if current.get("state") != "deleted" else None)
    csv_resource = (by_key.get("releases-csv") or [None])[0]

    for plan in result.resources:
        key, path, res_name, fmt, mimetype, description = RESOURCE_BY_KEY[plan.key]
        existing = by_key.get(key) or []
        for duplicate in existing[1:]:  # left by an interrupted run: never two resources for one file
            _delete_resource(client, duplicate["id"])
        if plan.action == "skip":
            continue
        lock.renew()
        fields = {
            "name": res_name, "format": fmt, "mimetype": mimetype, "description": description,
            "hash": package.hashes[key], "size": package.sizes[key], "ogd_key": key,
        }
        if key == "releases-csv":
            fields["schema"] = json.dumps(package.table_schema, ensure_ascii=False)
        with open(package.folder / path, "rb") as upload:
            files = {"upload": (res_name, upload)}
            if existing:
                resource = client.call_action("resource_patch", {**fields, "id": existing[0]["id"]}, files=files)
            else:
                resource = client.call_action("resource_create", {**fields, "package_id": dataset_id}, files=files,
                                              lookup=lambda: _find_resource(client, dataset_id, key, package.hashes[key]))
        if key == "releases-csv":
            csv_resource = resource

    if result.datastore_action != "skip":
        assert csv_resource is not None
        _load_datastore(client, package, csv_resource, result, lock)
        client.call_action("resource_patch", {"id": csv_resource["id"], "ogd_datastore_hash": package.hashes["releases-csv"]})


def _find_resource(client: PortalClient, dataset_id: str, key: str, file_hash: str) -> dict[str, Any] | None:
    """The resource of ``key`` the portal holds for this file, if a create whose answer was lost made it."""
    dataset = client.call_action("package_show", {"id": dataset_id})
    return next((r for r in resources_by_key(dataset).get(key, []) if r.get("hash") == file_hash), None)


def _delete_resource(client: PortalClient, resource_id: str) -> None:
    try:
        client.call_action("resource_delete", {"id": resource_id})
    except ckanapi.NotFound:
        pass  # already gone (a retried delete whose first answer was lost)


def _metadata_needs_check(current: dict[str, Any], package: LocalPackage) -> bool:
    """Cheap test without the portal's schema: did anything we publish change since last time?

    The datapackage.json resource's hash covers the whole descriptor (titles,
    description, keywords, licence, GDC values), so an unchanged hash means
    unchanged metadata.
    """
    descriptor_resource = (resources_by_key(current).get("datapackage") or [None])[0]
    return not descriptor_resource or descriptor_resource.get("hash") != package.hashes["datapackage"]


def resources_by_key(dataset: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The dataset's resources of each file we publish, by ``ogd_key`` (or, failing that, by name)."""
    found: dict[str, list[dict[str, Any]]] = {}
    names = {res_name: key for key, _, res_name, *_ in RESOURCES}
    for resource in (dataset or {}).get("resources", []):
        key = resource.get("ogd_key") or names.get(resource.get("name", ""))
        if key:
            found.setdefault(key, []).append(resource)
    return found


def row_changes(local: dict[str, str], remote: dict[str, str], result: PublishResult) -> tuple[set[str], list[str]]:
    """Release ids to upsert (new or changed content) and to delete (gone); counts added/updated into ``result``."""
    changed = {k for k, v in local.items() if remote.get(k) != v}
    result.rows_added = sum(1 for k in changed if k not in remote)
    result.rows_updated = len(changed) - result.rows_added
    return changed, sorted(k for k in remote if k not in local)


def transient_conflict(error: ckanapi.ValidationError) -> bool:
    """A uniqueness conflict between concurrent writers of the same rows (e.g. a killed run's upsert still running
    on the portal): the same upsert succeeds once the other finishes, so it is retried, not a metadata error."""
    text = str(error.error_dict or error)
    return "duplicate key value" in text or "uniqueness constraint" in text or "23505" in text


def _upsert(client: PortalClient, resource_id: str, records: list[dict[str, Any]]) -> None:
    """datastore_upsert (idempotent by primary key), retried after a transient uniqueness conflict."""
    attempt = 0
    while True:
        attempt += 1
        try:
            client.call_action("datastore_upsert", {"resource_id": resource_id, "force": True,
                                                    "method": "upsert", "records": records})
            return
        except ckanapi.ValidationError as error:
            if not transient_conflict(error):
                raise
            wait = min(client.backoff * (2 ** (attempt - 1)), 30)
            if attempt >= client.attempts or client.remaining() <= wait:
                raise PortalUnavailable(
                    f"the portal at {client.url} kept refusing the DataStore rows of {resource_id} with a uniqueness "
                    f"conflict after {attempt} attempt(s): another writer is changing the same rows",
                    "run again once the other publish has finished (publishing is safe to re-run)") from None
            time.sleep(wait)


def _load_datastore(client: PortalClient, package: LocalPackage, csv_resource: dict[str, Any], result: PublishResult,
                    lock: PortalLock | None = None) -> None:
    resource_id = csv_resource["id"]
    fields = datastore_fields(package.table_schema)
    existing = _datastore_info(client, resource_id)
    wanted_types = [(f["id"], f["type"]) for f in fields]
    if existing is not None and [(f["id"], f["type"]) for f in existing] != wanted_types:
        client.call_action("datastore_delete", {"resource_id": resource_id, "force": True})
        existing = None
    if existing is None:
        client.call_action("datastore_create", {
            "resource_id": resource_id, "force": True, "fields": fields, "primary_key": ["release_id"],
            "indexes": ["published_date", "source", "category"],
        })
        remote: dict[str, str] = {}
        result.datastore_action = "create"
    else:
        remote = portal_row_hashes(client, resource_id)
        result.datastore_action = "update"
    changed, vanished = row_changes(local_row_hashes(package), remote, result)
    batch: list[dict[str, Any]] = []
    for row in local_rows(package):
        if row["release_id"] in changed:
            batch.append(row)
            if len(batch) >= UPSERT_CHUNK:
                _upsert(client, resource_id, batch)
                result.rows_upserted += len(batch)
                batch = []
                if lock is not None:
                    lock.renew()
    if batch:
        _upsert(client, resource_id, batch)
        result.rows_upserted += len(batch)
    for start in range(0, len(vanished), UPSERT_CHUNK):
        chunk = vanished[start:start + UPSERT_CHUNK]
        # datastore_delete with filters removes rows, not the table (works on CKAN 2.9+).
        client.call_action("datastore_delete", {"resource_id": resource_id, "force": True,
                                                "filters": {"release_id": chunk}})
        result.rows_deleted += len(chunk)


def _finish(result: PublishResult, client: PortalClient) -> PublishResult:
    result.api_calls = client.api_calls - result.api_calls
    result.http_requests = client.http_requests - result.http_requests
    result.uploads = client.uploads - result.uploads
    return result
