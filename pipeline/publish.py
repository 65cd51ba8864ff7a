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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import ckanapi
import pyarrow.parquet as pq

from .ckan_client import PortalClient
from .errors import AuthError, DataError, PortalRejected
from .gdc import CORE_FIELDS, check_values, gdc_license
from .package import CSV_PATH, DESCRIPTOR_PATH, PARQUET_PATH, REPORT_PATH, file_digest

UPSERT_CHUNK = 1000
SEARCH_PAGE = 10000
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")
DATASTORE_TYPES = {"string": "text", "integer": "int8", "number": "numeric", "boolean": "bool",
                   "date": "date", "datetime": "timestamp", "time": "time", "year": "int4"}

RESOURCES = (
    # ogd_key, file in the package, resource name, format, mimetype, description
    ("releases-csv", CSV_PATH, "releases.csv", "CSV", "text/csv",
     "ข่าวประชาสัมพันธ์ทั้งหมดในรูปแบบ CSV (UTF-8, RFC 4180) / All releases as CSV; the Table Schema is in the "
     "resource's `schema` and in the DataStore data dictionary."),
    ("releases-parquet", PARQUET_PATH, "releases.parquet", "Parquet", "application/vnd.apache.parquet",
     "ข้อมูลชุดเดียวกันในรูปแบบ Apache Parquet (zstd) / The same rows as Apache Parquet, typed, zstd-compressed."),
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
            "uploads": self.uploads,
        }


# ------------------------------------------------------------------ the package


@dataclass
class LocalPackage:
    folder: Path
    descriptor: dict[str, Any]
    hashes: dict[str, str]  # ogd_key -> "sha256:<hex>"
    sizes: dict[str, int]

    @property
    def table_schema(self) -> dict[str, Any]:
        return self.descriptor["resources"][0]["schema"]

    @property
    def extra(self) -> dict[str, Any]:
        return self.descriptor.get("x_ogd", {})


def load_package(folder: Path) -> LocalPackage:
    """Read a built package and refuse it unless its report says valid and its files are intact."""
    descriptor_path = folder / DESCRIPTOR_PATH
    if not descriptor_path.is_file():
        raise DataError(f"{folder} is not a data package (no datapackage.json)", "build it first: ogd build … or make etl")
    descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    report_path = folder / REPORT_PATH
    if not report_path.is_file():
        raise DataError(f"{folder} has no report.json, so its validity is unknown", "rebuild it with ogd build")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    validation = report.get("validation", {})
    if not report.get("ok") or not validation.get("valid"):
        raise DataError(
            f"{folder} is not publishable: its build report says "
            + (report.get("failure") or f"validation found {validation.get('error_count')} errors"),
            f"run 'ogd validate {folder}' to see the errors, fix the inputs and rebuild",
        )
    hashes: dict[str, str] = {}
    sizes: dict[str, int] = {}
    declared = {r["path"]: r for r in descriptor.get("resources", [])}
    for key, path, *_ in RESOURCES:
        file_path = folder / path
        if not file_path.is_file():
            raise DataError(f"{folder} lacks {path}", "rebuild the package")
        size, digest = file_digest(file_path)
        hashes[key], sizes[key] = f"sha256:{digest}", size
        resource = declared.get(path)
        if resource is not None:
            expected = resource.get("hash") or resource.get("x_hash")
            if expected and expected != hashes[key]:
                raise DataError(f"{path} in {folder} does not match the hash in datapackage.json: the file changed "
                                "after the build", "rebuild the package")
    return LocalPackage(folder, descriptor, hashes, sizes)


def romanised_slug(title: str) -> str:
    """An ASCII dataset name from a (Thai) title: RTGS romanisation (PyThaiNLP royin)."""
    from pythainlp.transliterate import romanize
    from pythainlp.tokenize import word_tokenize

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


def check_token_and_org(client: PortalClient, org: str, *, dry_run: bool) -> None:
    """One call in the usual case; a clear AuthError before any write otherwise."""
    if not client.apikey:
        raise AuthError("no API token: CKAN_API_TOKEN is not set",
                        "create a token in the portal (user menu → API tokens) and export CKAN_API_TOKEN")
    allowed = {o["name"] for o in client.call_action("organization_list_for_user", {"permission": "create_dataset"})}
    if org in allowed:
        return
    if not allowed:
        raise AuthError(
            f"the portal at {client.url} does not accept this API token for publishing: the token is unknown, "
            "expired or revoked, or its user is an editor of no organization",
            "create a new API token for a user with the editor role in the organization, and export CKAN_API_TOKEN",
        )
    try:
        client.call_action("organization_show", {"id": org, "include_datasets": False})
    except ckanapi.NotFound:
        if dry_run:
            return
        try:
            client.call_action("organization_create", {"name": org, "title": org})
            return
        except ckanapi.NotAuthorized:
            raise AuthError(f"organization {org!r} does not exist on {client.url} and this token may not create it",
                            "ask a portal sysadmin to create it, or publish with --org to an existing one") from None
    raise AuthError(f"this token's user may not publish in organization {org!r} (needs the editor or admin role)",
                    f"ask an admin of {org!r} to add the user as editor, or use --org for an organization it may write to")


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


def check_metadata(data: dict[str, Any], schema: dict[str, Any] | None) -> None:
    """Refuse, before any write, values the portal's scheming schema would refuse (all at once)."""
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


def publish_package(package_folder: Path, client: PortalClient, *, org: str | None = None,
                    dry_run: bool = False) -> PublishResult:
    """Publish one package (see the module docstring for the order of work).

    CKAN's refusals become pipeline errors with CKAN's per-field messages kept:
    a validation error is :class:`PortalRejected` (exit 6), a refused write
    :class:`AuthError` (exit 4).
    """
    try:
        return _publish(package_folder, client, org=org, dry_run=dry_run)
    except ckanapi.ValidationError as error:
        fields = {k: v for k, v in (error.error_dict or {}).items() if k != "__type"}
        raise PortalRejected(f"the portal refused {package_folder.name}: {fields}", fields,
                             "fix the named fields (datasets.toml, or ckan_name for a name in use) and run again") from None
    except ckanapi.NotAuthorized as error:
        raise AuthError(f"the portal refused a write for {package_folder.name}: {error}",
                        "the token's user needs the editor role in the organization") from None
    except ckanapi.CKANAPIError as error:
        raise PortalRejected(f"the portal answered an unexpected error for {package_folder.name}: {str(error)[:500]}",
                             hint="see the portal's logs; publishing is safe to re-run") from None


def _publish(package_folder: Path, client: PortalClient, *, org: str | None, dry_run: bool) -> PublishResult:
    package = load_package(package_folder)
    organization = org or package.extra.get("organization")
    if not organization:
        raise AuthError(f"no organization for {package_folder}: the package names none",
                        "pass --org NAME (an organization the token may publish in)")
    name = dataset_name(package)
    result = PublishResult(dataset=name, url=f"{client.url}/dataset/{name}", dry_run=dry_run)
    # Counters are per package: the client may serve several packages in one run.
    result.api_calls, result.http_requests, result.uploads = client.api_calls, client.http_requests, client.uploads
    check_token_and_org(client, organization, dry_run=dry_run)
    current = _show_dataset(client, name)

    schema: dict[str, Any] | None = None
    schema_loaded = False

    def load_schema() -> dict[str, Any] | None:
        nonlocal schema, schema_loaded
        if not schema_loaded:
            schema, schema_loaded = portal_schema(client), True
        return schema

    if current is not None and current.get("state") == "deleted":
        current = None  # a deleted dataset keeps its name: package_create would collide; update revives it
        result.dataset_action = "update"
    wanted = None
    if current is None or _metadata_needs_check(current, package):
        wanted = dataset_metadata(package, organization, client, load_schema())
        check_metadata(wanted, load_schema())
        if current is None:
            result.dataset_action = result.dataset_action if result.dataset_action == "update" else "create"
        elif metadata_differs(wanted, current, load_schema()):
            result.dataset_action = "update"

    by_key = resources_by_key(current)
    csv_resource = (by_key.get("releases-csv") or [None])[0]
    for key, path, res_name, *_ in RESOURCES:
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
    if not datastore_done:
        result.datastore_action = "update" if csv_resource and csv_resource.get("datastore_active") else "create"

    if dry_run:
        if not datastore_done:
            remote = portal_row_hashes(client, csv_resource["id"]) if result.datastore_action == "update" else {}
            changed, vanished = row_changes(local_row_hashes(package), remote, result)
            result.rows_upserted, result.rows_deleted = len(changed), len(vanished)
        return _finish(result, client)

    # Writes: dataset, then files, then DataStore, then the completion mark.
    if result.dataset_action == "create":
        current = client.call_action("package_create", wanted)
    elif result.dataset_action == "update":
        assert wanted is not None
        current = client.call_action("package_patch", {**wanted, "id": current["id"] if current else name,
                                                       "state": "active"})
    dataset_id = current["id"] if current else name

    for plan, (key, path, res_name, fmt, mimetype, description) in zip(result.resources, RESOURCES):
        existing = by_key.get(key) or []
        for duplicate in existing[1:]:  # left by an interrupted run: never two resources for one file
            client.call_action("resource_delete", {"id": duplicate["id"]})
        if plan.action == "skip":
            continue
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
                resource = client.call_action("resource_create", {**fields, "package_id": dataset_id}, files=files)
        if key == "releases-csv":
            csv_resource = resource

    if result.datastore_action != "skip":
        assert csv_resource is not None
        _load_datastore(client, package, csv_resource, result)
        client.call_action("resource_patch", {"id": csv_resource["id"], "ogd_datastore_hash": package.hashes["releases-csv"]})
    return _finish(result, client)


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


def _load_datastore(client: PortalClient, package: LocalPackage, csv_resource: dict[str, Any], result: PublishResult) -> None:
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
                client.call_action("datastore_upsert", {"resource_id": resource_id, "force": True,
                                                        "method": "upsert", "records": batch})
                result.rows_upserted += len(batch)
                batch = []
    if batch:
        client.call_action("datastore_upsert", {"resource_id": resource_id, "force": True, "method": "upsert", "records": batch})
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
