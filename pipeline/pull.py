"""Pull: download a dataset from any CKAN as a local data package, and verify it.

Every file is checked against the portal's metadata (``size`` and, where the
publisher kept one, ``hash``) and against the hashes inside the downloaded
``datapackage.json``; then the package is validated with Frictionless. A
package pulled from a portal that ogd-pipeline published to equals the
published one byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ckanapi

from .ckan_client import PortalClient
from .errors import DataError
from .package import DESCRIPTOR_PATH
from .publish import RESOURCES, resources_by_key
from .validate import validate_package


@dataclass
class PullResult:
    dataset: str
    folder: Path
    files: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches and bool(self.validation.get("valid"))

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "folder": str(self.folder), "ok": self.ok, "files": self.files,
                "mismatches": self.mismatches, "validation": {k: self.validation.get(k) for k in ("valid", "error_count", "errors")}}


def _download(client: PortalClient, url: str, target: Path) -> tuple[int, str]:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    headers = {"Authorization": client.apikey} if client.apikey else {}
    temporary = target.with_name(target.name + ".part")
    with client.session.get(url, headers=headers, stream=True, timeout=client.timeout) as response:
        if response.status_code != 200:
            raise DataError(f"downloading {url} failed with HTTP {response.status_code}")
        with open(temporary, "wb") as handle:
            for chunk in response.iter_content(1 << 20):
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    os.replace(temporary, target)
    return size, digest.hexdigest()


def pull_dataset(client: PortalClient, name: str, out: Path) -> PullResult:
    try:
        dataset = client.call_action("package_show", {"id": name})
    except ckanapi.NotFound:
        raise DataError(f"no dataset {name!r} on {client.url}", "check the name (the last part of its /dataset/ URL)") from None
    except ckanapi.NotAuthorized:
        raise DataError(f"dataset {name!r} on {client.url} is private and this token may not read it",
                        "export CKAN_API_TOKEN with a token of a member of its organization") from None
    staging = out.with_name(f".{out.name}.pulling")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    result = PullResult(name, out)
    by_key = resources_by_key(dataset)
    if not by_key.get("datapackage"):
        raise DataError(f"dataset {name!r} has no datapackage.json resource: it was not published as a data package",
                        "only datasets published by ogd-pipeline (or with a datapackage.json resource) can be pulled")
    for key, path, *_ in RESOURCES:
        for resource in by_key.get(key, [])[:1]:
            size, digest = _download(client, resource["url"], staging / path)
            result.files.append({"path": path, "bytes": size, "sha256": digest, "resource_id": resource["id"]})
            if resource.get("size") not in (None, "") and int(resource["size"]) != size:
                result.mismatches.append(f"{path}: {size} bytes downloaded, the portal says {resource['size']}")
            portal_hash = str(resource.get("hash") or "")
            if portal_hash and portal_hash.removeprefix("sha256:") != digest:
                result.mismatches.append(f"{path}: sha256 {digest} differs from the portal's hash {portal_hash}")
    descriptor = json.loads((staging / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
    downloaded = {entry["path"]: entry for entry in result.files}
    for declared in descriptor.get("resources", []):
        entry = downloaded.get(declared["path"])
        if entry is None:
            result.mismatches.append(f"{declared['path']}: named in datapackage.json but not a resource of the dataset")
            continue
        expected_hash = declared.get("hash") or declared.get("x_hash")
        expected_bytes = declared.get("bytes") or declared.get("x_bytes")
        if expected_hash and expected_hash.removeprefix("sha256:") != entry["sha256"]:
            result.mismatches.append(f"{declared['path']}: sha256 differs from datapackage.json")
        if expected_bytes and int(expected_bytes) != entry["bytes"]:
            result.mismatches.append(f"{declared['path']}: size differs from datapackage.json")
    result.validation = validate_package(staging)
    if out.exists():
        shutil.rmtree(out)
    os.rename(staging, out)
    return result
