"""A CKAN portal in memory, with the client's interface (``call_action(action, data_dict, files=...)``, as
ckanapi's own test client has): datasets, resources and their files, DataStore tables. For planning tests: what
a publish would do, and what it sent, without a portal. Only what publish and its lock use is answered."""

from __future__ import annotations

import copy
import hashlib
import itertools
import threading
import uuid
from typing import Any, Callable

import ckanapi

from pipeline.gdc import bundled_schema
from pipeline.problems import UsageError


class Stop(Exception):
    """Raised by a planted fault: the run stops there, as a killed process would."""


class FakeCKAN:
    url = "http://fake.ckan.test"

    def __init__(self, *, orgs: tuple[str, ...] = ("prd",), member_of: tuple[str, ...] = ("prd",),
                 scheming: bool = True, apikey: str = "fake-token-0123456789",
                 plugins: tuple[str, ...] = ("datastore", "datatables_view")) -> None:
        self.apikey = apikey
        self._serial = threading.RLock()
        self.attempts, self.backoff = 1, 0.0
        self.orgs = {name: {"id": f"org-{name}", "name": name, "title": name} for name in orgs}
        self.org_admin_of: set[str] = set()  # organizations the token's user is an admin of (organization_patch)
        self.member_of = list(member_of)
        self.scheming = scheming
        self.datasets: dict[str, dict[str, Any]] = {}  # by name
        self.files: dict[str, bytes] = {}  # resource url -> bytes served
        self.tables: dict[str, dict[str, Any]] = {}  # resource id -> {"fields": [...], "records": {id: record}}
        self.plugins = list(plugins)  # status_show's extensions
        self.views: dict[str, list[dict[str, Any]]] = {}  # resource id -> its views
        self.actions: list[str] = []
        self.uploads = 0
        self.downloads = 0
        self.faults: dict[str, Callable[[dict[str, Any]], None]] = {}  # action -> called before it is answered
        self.upsert_methods: list[str] = []  # datastore_upsert's method, per call
        self._clock = itertools.count(1)

    # ------------------------------------------------------------------ the client's interface

    @property
    def api_calls(self) -> int:
        return len(self.actions)

    @property
    def http_requests(self) -> int:
        return len(self.actions) + self.downloads

    @property
    def writes(self) -> list[str]:
        reads = {"organization_list_for_user", "organization_show", "package_show", "scheming_dataset_schema_show",
                 "license_list", "datastore_search", "status_show", "resource_view_list"}
        return [a for a in self.actions if a not in reads]

    def remaining(self) -> float:
        return 3600.0

    def next_wait(self, attempt: int, error: BaseException) -> float | None:
        return None  # one attempt: the fake never fails transiently unless a test plants it

    def scrub(self, text: str) -> str:
        return text.replace(self.apikey, "[REDACTED]")

    def not_ckan(self, action: str) -> UsageError:
        return UsageError(f"{self.url} does not answer like a CKAN API ({action})")

    def on_portal_origin(self, url: str) -> bool:
        return url.startswith(self.url)

    def file_digest(self, url: str, chunk: int = 1 << 20) -> tuple[int, str] | int:
        self.downloads += 1
        if url not in self.files:
            return 404
        data = self.files[url]
        return len(data), hashlib.sha256(data).hexdigest()

    def companion(self) -> "FakeCKAN":
        """The same in-memory portal for a sending thread (its calls are serialised by the lock below)."""
        return self

    def absorb(self, other: "FakeCKAN") -> None:
        """Nothing to add: a companion is this client."""

    def call_action(self, action: str, data_dict: dict[str, Any] | None = None, context: Any = None,
                    apikey: str | None = None, files: dict[str, Any] | None = None,
                    lookup: Callable[[], Any] | None = None) -> Any:
        with self._serial:  # the DataStore's chunks arrive from several threads (datastore.send_rows)
            data = copy.deepcopy(data_dict or {})
            self.actions.append(action)
            if action in self.faults:
                self.faults[action](data)
            answer = getattr(self, "_" + action)(data, files)
            return copy.deepcopy(answer)

    # ------------------------------------------------------------------ helpers

    def _tick(self) -> str:
        return f"2025-01-01T00:00:{next(self._clock):06d}"

    def _dataset(self, ref: str) -> dict[str, Any]:
        for dataset in self.datasets.values():
            if ref in (dataset["name"], dataset["id"]):
                return dataset
        raise ckanapi.NotFound(f"dataset {ref}")

    def _resource(self, ref: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for dataset in self.datasets.values():
            for resource in dataset["resources"]:
                if resource["id"] == ref:
                    return dataset, resource
        raise ckanapi.NotFound(f"resource {ref}")

    def _set_fields(self, dataset: dict[str, Any], data: dict[str, Any]) -> None:
        for key, value in data.items():
            if key == "tag_string":
                dataset["tags"] = [{"name": t} for t in str(value).split(",") if t]
            elif key == "owner_org":
                dataset["owner_org"] = self.orgs[value]["id"]
                dataset["organization"] = dict(self.orgs[value])
            elif key not in ("id", "resources"):
                dataset[key] = value
        dataset["metadata_modified"] = self._tick()

    def _store_upload(self, resource: dict[str, Any], files: dict[str, Any] | None) -> None:
        if files and "upload" in files:
            filename, handle = files["upload"]
            resource["url"] = f"{self.url}/dataset/x/resource/{resource['id']}/download/{filename}"
            self.files[resource["url"]] = handle.read()
            self.uploads += 1

    # ------------------------------------------------------------------ actions

    def _organization_list_for_user(self, data: dict[str, Any], files: Any) -> list[dict[str, Any]]:
        return [dict(self.orgs[name]) for name in self.member_of if name in self.orgs]

    def _organization_patch(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        if data["id"] not in self.org_admin_of:
            raise ckanapi.NotAuthorized("Access denied")  # an editor may publish in it, not change it
        self.orgs[data["id"]].update({k: v for k, v in data.items() if k != "id"})
        return self.orgs[data["id"]]

    def _organization_show(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        if data["id"] not in self.orgs:
            raise ckanapi.NotFound(data["id"])
        return self.orgs[data["id"]]

    def _package_show(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        dataset = self._dataset(data["id"])
        if dataset.get("private") and dataset["organization"]["name"] not in self.member_of:
            raise ckanapi.NotAuthorized("Access denied")
        return dataset

    def _package_create(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        if data["name"] in self.datasets:
            raise ckanapi.ValidationError({"name": ["That URL is already in use."], "__type": "Validation Error"})
        dataset: dict[str, Any] = {"id": str(uuid.uuid4()), "state": "active", "resources": [], "tags": [],
                                   "extras": [], "private": False}
        self._set_fields(dataset, data)
        self.datasets[dataset["name"]] = dataset
        return dataset

    def _package_patch(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        dataset = self._dataset(data["id"])
        self._set_fields(dataset, data)
        return dataset

    def _package_revise(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        dataset = self._dataset(data["match"]["id"])
        if dataset["metadata_modified"] != data["match"]["metadata_modified"]:
            raise ckanapi.ValidationError({"message": "There is a newer version"})
        dataset["extras"] = data["update"]["extras"]
        dataset["metadata_modified"] = self._tick()
        return {"package": dataset}

    def _scheming_dataset_schema_show(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        if not self.scheming:
            raise ckanapi.NotFound("scheming_dataset_schema_show")
        return bundled_schema()

    def _license_list(self, data: dict[str, Any], files: Any) -> list[dict[str, Any]]:
        return [{"id": "cc-by", "title": "Creative Commons Attribution"},
                {"id": "odc-odbl", "title": "Open Data Commons Open Database License (ODbL)"},
                {"id": "notspecified", "title": "License not specified"}]

    def _resource_create(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        dataset = self._dataset(data.pop("package_id"))
        resource = {"id": str(uuid.uuid4()), "datastore_active": False, **data}
        self._store_upload(resource, files)
        dataset["resources"].append(resource)
        dataset["metadata_modified"] = self._tick()
        return resource

    def _resource_patch(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        dataset, resource = self._resource(data["id"])
        resource.update(data)
        self._store_upload(resource, files)
        dataset["metadata_modified"] = self._tick()
        return resource

    def _resource_delete(self, data: dict[str, Any], files: Any) -> None:
        dataset, resource = self._resource(data["id"])
        dataset["resources"].remove(resource)
        self.tables.pop(resource["id"], None)

    def _datastore_create(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        _, resource = self._resource(data["resource_id"])
        table = self.tables.setdefault(data["resource_id"], {"fields": [], "records": {}})
        if not table["fields"]:
            table["fields"] = [{"id": f["id"], "type": f["type"], "info": f.get("info", {})} for f in data["fields"]]
        resource["datastore_active"] = True
        return {"resource_id": data["resource_id"]}

    def _datastore_delete(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        if data["resource_id"] not in self.tables:
            raise ckanapi.NotFound(data["resource_id"])
        if "filters" in data:
            for release_id in data["filters"]["release_id"]:
                self.tables[data["resource_id"]]["records"].pop(release_id, None)
        else:
            del self.tables[data["resource_id"]]
            self._resource(data["resource_id"])[1]["datastore_active"] = False
        return {}

    def _datastore_upsert(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        table = self.tables[data["resource_id"]]
        if data.get("method") == "insert" and any(record["release_id"] in table["records"] for record in data["records"]):
            # CKAN's insert is one INSERT: a key the table holds fails the whole request (unique constraint).
            raise ckanapi.ValidationError({"records": ["duplicate key value violates unique constraint"],
                                           "__type": "Validation Error"})
        for record in data["records"]:
            table["records"][record["release_id"]] = record
        self.upsert_methods.append(data.get("method", "upsert"))
        return {}

    def _datastore_search(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        if data["resource_id"] not in self.tables:
            raise ckanapi.NotFound(data["resource_id"])
        table = self.tables[data["resource_id"]]
        fields = [{"id": "_id", "type": "int"}] + table["fields"]
        if data.get("limit") == 0:
            return {"fields": fields, "records": []}
        wanted = data.get("fields") or [f["id"] for f in table["fields"]]
        ordered = [table["records"][k] for k in sorted(table["records"])]
        page = ordered[data.get("offset", 0):data.get("offset", 0) + data["limit"]]
        return {"fields": fields, "records": [{k: r.get(k) for k in wanted} for r in page]}

    def _status_show(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        return {"ckan_version": "2.11.6", "extensions": list(self.plugins)}

    def _resource_view_list(self, data: dict[str, Any], files: Any) -> list[dict[str, Any]]:
        self._resource(data["id"])
        return self.views.get(data["id"], [])

    def _resource_view_create(self, data: dict[str, Any], files: Any) -> dict[str, Any]:
        self._resource(data["resource_id"])
        if data["view_type"] not in self.plugins:
            raise ckanapi.ValidationError({"view_type": ["No view plugin found"]})
        view = {"id": str(uuid.uuid4()), **data}
        self.views.setdefault(data["resource_id"], []).append(view)
        return view

    # ------------------------------------------------------------------ for tests

    def rows(self, dataset: str) -> dict[str, str]:
        """release_id -> content_sha256 of the dataset's DataStore table."""
        csv = next(r for r in self.datasets[dataset]["resources"] if r.get("ogd_key") == "releases-csv")
        return {k: r["content_sha256"] for k, r in self.tables[csv["id"]]["records"].items()}

    def reset_counts(self) -> None:
        self.actions.clear()
        self.uploads = self.downloads = 0
