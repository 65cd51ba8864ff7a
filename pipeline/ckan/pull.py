"""Pull: download a dataset from any CKAN as a local data package, and verify it.

Every file is checked against the portal's metadata (``size`` and, where the
publisher kept one, ``hash``) and against the hashes inside the downloaded
``datapackage.json``; then the package is validated with Frictionless. A
package pulled from a portal that ogd-pipeline published to equals the
published one byte for byte.

Safety (issue #11):

* the tool never deletes what it did not write: ``--out DIR`` must be absent,
  empty, or a package of the same dataset holding only package files (else
  ``force``); the current folder and its parents are refused;
* the new copy is downloaded into ``.DIR.pulling`` beside DIR and replaces the
  old copy only once it verified; a copy that does not verify is kept as
  ``DIR.unverified`` and the old copy is untouched; a failed download leaves
  no staging folder;
* the API token is sent only to the portal's own origin (scheme, host, port),
  never to a resource URL elsewhere nor across a redirect;
* downloads are retried like API calls (connection errors, timeouts, 429,
  5xx) and stop when a server sends far more than the size it declared.

This module downloads and verifies; the folder rules, the lock and the swap
are :mod:`pipeline.ckan.pull_output`'s, one file's download is
:mod:`pipeline.ckan.download`'s.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import ckanapi

from ..changes.version import VERSION_PATTERN, parse_version
from ..hashing import file_digest
from ..package.layout import CHANGES_PATH, DESCRIPTOR_PATH
from ..problems import AuthError, DataError, OutputError, PortalUnavailable
from ..spreadsheet import SPREADSHEET_PATH
from ..validate.tables import validate_package_fast
from .client import PortalClient
from .download import declared_size, download
from .progress import Progress, no_progress
from .pull_output import (
    check_out_folder,
    check_same_dataset,
    descriptor_name,
    keep_unverified,
    lock_staging,
    recover_swap,
    swap_in,
)
from .resources import RESOURCES, SPREADSHEET_KEY, part_path, recorded_sha256, resources_by_key


@dataclass
class PullResult:
    dataset: str
    folder: Path
    files: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # resources of the dataset that are not part of the package
    validation: dict[str, Any] = field(default_factory=dict)
    replaced_previous: bool = False  # a previous copy in --out was replaced by this verified one
    since: str | None = None  # --since: the version the local copy held
    version: str | None = None  # the version pulled
    # --since: the change log's rows after that version (version, date, release_id, change, changed_fields)
    changes: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and bool(self.validation.get("valid"))

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "folder": str(self.folder), "ok": self.ok, "files": self.files,
                "mismatches": self.mismatches, "skipped": self.skipped, "replaced_previous": self.replaced_previous,
                "version": self.version, "since": self.since,
                **({"changes": self.changes} if self.since is not None else {}),
                "validation": {k: self.validation.get(k) for k in ("valid", "error_count", "errors")}}


# --------------------------------------------------------------------------- catching up (--since)


def _read_descriptor(folder: Path) -> tuple[Any, str | None]:
    """The folder's datapackage.json, parsed once: (the JSON, None), or (None, why it cannot be read)."""
    try:
        return json.loads((folder / DESCRIPTOR_PATH).read_text(encoding="utf-8")), None
    except (OSError, ValueError) as error:
        return None, type(error).__name__


def _x_ogd(descriptor: Any) -> dict[str, Any]:
    found = descriptor.get("x_ogd") if isinstance(descriptor, dict) else None
    return found if isinstance(found, dict) else {}


def _version_of(descriptor: Any) -> str | None:
    version = descriptor.get("version") if isinstance(descriptor, dict) else None
    return version if isinstance(version, str) else None


def _local_copy(out: Path, since: str) -> dict[str, str]:
    """{path: sha256} of the files of the copy in ``out``, which must hold version ``since``."""
    parse_version(since, "--since")
    held = _version_of(_read_descriptor(out)[0])
    if held is None:
        raise DataError(f"--since {since}: {out} holds no pulled package (no datapackage.json with a version)",
                        f"pull the whole dataset first: ogd pull NAME --out {out}")
    if held != since:
        raise DataError(f"--since {since}: {out} holds version {held}, not {since}",
                        f"give --since {held} (the version {out} holds), or pull the whole dataset again")
    hashes = {}
    for path in sorted(out.rglob("*")):  # the package's files, parts included (a pulled copy holds nothing else)
        if path.is_file() and not path.is_symlink():
            hashes[path.relative_to(out).as_posix()] = file_digest(path)[1]
    return hashes


def _described_resources(descriptor: Any) -> list[dict[str, Any]]:
    """The resources of a datapackage.json that name a path."""
    resources = descriptor.get("resources") if isinstance(descriptor, dict) else None
    return [r for r in resources or [] if isinstance(r, dict) and isinstance(r.get("path"), str)] \
        if isinstance(resources, list) else []


def _described_hashes(descriptor: Any) -> dict[str, str]:
    """{path: sha256} as the downloaded datapackage.json declares them (resources, x_ogd.spreadsheet and parts)."""
    hashes = {r["path"]: str(r.get("hash") or r.get("x_hash") or "").removeprefix("sha256:")
              for r in _described_resources(descriptor)}
    spreadsheet = _spreadsheet_entry(descriptor)
    if spreadsheet is not None:
        hashes[SPREADSHEET_PATH] = str(spreadsheet.get("hash") or "").removeprefix("sha256:")
    for path, entry in _part_spreadsheets(descriptor).items():
        hashes[path] = str(entry.get("hash") or "").removeprefix("sha256:")
    return {path: digest for path, digest in hashes.items() if digest}


def _part_spreadsheets(descriptor: Any) -> dict[str, dict[str, Any]]:
    """{path: {bytes, hash}} of the parts' spreadsheet copies (x_ogd.parts of the downloaded datapackage.json)."""
    try:
        return {part["excel"]["path"]: part["excel"] for part in _x_ogd(descriptor).get("parts") or []}
    except (KeyError, TypeError):
        return {}


def _copy_local(source: Path, target: Path) -> tuple[int, str]:
    """Copy a file of the local copy into the staging folder; (size, sha256) of what was copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return file_digest(target)


def _portal_agrees(resource: dict[str, Any], sha256: str, size: int) -> bool:
    """Whether the portal's declared hash and size (where it keeps them) are those of the local file."""
    portal_hash = (recorded_sha256(resource) or "").removeprefix("sha256:")
    declared = resource.get("size")
    return portal_hash in ("", sha256) and (declared in (None, "") or declared_size(declared) == size)


def changes_after(changes_csv: Path, since: str) -> list[dict[str, str]]:
    """The change log's rows of the versions after ``since`` (numbers compared, not text)."""
    if not changes_csv.is_file():
        return []
    floor = parse_version(since, "--since")
    with open(changes_csv, encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle)
                if VERSION_PATTERN.match(row.get("version") or "") and parse_version(row["version"], "") > floor]


# --------------------------------------------------------------------------- the portal's dataset


def _show_dataset(client: PortalClient, name: str, token_given: bool) -> dict[str, Any]:
    try:
        dataset = client.call_action("package_show", {"id": name})
    except ckanapi.NotFound:
        hint = "check the name (the last part of its /dataset/ URL)"
        if not token_given:
            hint += "; a private dataset is not shown without a token: --token-env NAME_OF_A_VARIABLE (or CKAN_API_TOKEN)"
        raise DataError(f"no dataset {name!r} on {client.url}", hint) from None
    except ckanapi.NotAuthorized:
        if token_given:
            raise AuthError(f"dataset {name!r} on {client.url} is private and this token may not read it",
                            "use the token of a member of the dataset's organization") from None
        raise AuthError(f"dataset {name!r} on {client.url} is private: pulling it needs an API token",
                        "put a token of a member of its organization in an environment variable and give "
                        "--token-env NAME (or export CKAN_API_TOKEN)") from None
    except ckanapi.CKANAPIError as error:  # CKAN's own error answer, of a type ckanapi does not know
        raise PortalUnavailable(client.scrub(f"the portal at {client.url} answered an error to package_show of "
                                             f"{name!r}: {str(error)[:300]}"),
                                f"see the portal's logs; {client.rerun_note}") from None
    if not isinstance(dataset, dict) or not isinstance(dataset.get("resources"), list) \
            or not all(isinstance(r, dict) for r in dataset["resources"]):
        raise client.not_ckan("package_show")  # JSON, but not a CKAN dataset: the client's one check
    return dataset


# --------------------------------------------------------------------------- the pull


def _ordered_resources(dataset: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(ogd_key, path, resource) of the package files, datapackage.json first: its name is checked against --out
    before the big files, and it says whether the package has a spreadsheet file."""
    by_key = resources_by_key(dataset)
    ordered = [(key, path) for key, path, *_ in sorted(RESOURCES, key=lambda entry: entry[1] != DESCRIPTOR_PATH)]
    # The parts of a table published by year or month (their paths follow from their ogd_key).
    ordered += sorted((key, path) for key in by_key if (path := part_path(key)) is not None)
    for key, path in ordered:
        for resource in by_key.get(key, [])[:1]:
            if resource.get("url_type") == "datastore":
                continue  # the whole table served from the DataStore (no file): its parts are the files
            yield key, path, resource


def _spreadsheet_entry(descriptor: Any) -> dict[str, Any] | None:
    """x_ogd.spreadsheet of the downloaded datapackage.json ({path, bytes, hash, ...}), or None (an older package)."""
    entry = _x_ogd(descriptor).get("spreadsheet")
    return entry if isinstance(entry, dict) else None


def _described_sizes(descriptor: Any) -> dict[str, int]:
    """{path: bytes} as the downloaded datapackage.json declares them (a bound for servers that declare none)."""
    sizes = {r["path"]: declared_size(r.get("bytes") or r.get("x_bytes")) for r in _described_resources(descriptor)}
    spreadsheet = _spreadsheet_entry(descriptor)
    if spreadsheet is not None:
        sizes[SPREADSHEET_PATH] = declared_size(spreadsheet.get("bytes"))
    return {path: size for path, size in sizes.items() if size is not None}


def _verify_against_descriptor(read: tuple[Any, str | None], result: PullResult) -> bool:
    """Compare the files with datapackage.json (as :func:`_read_descriptor` read it); False when it names files we
    did not download (not validated then)."""
    descriptor, unreadable = read
    if unreadable:
        result.mismatches.append(f"{DESCRIPTOR_PATH}: not readable JSON ({unreadable})")
        return False
    declared_resources = descriptor.get("resources") if isinstance(descriptor, dict) else None
    if not isinstance(declared_resources, list):
        result.mismatches.append(f"{DESCRIPTOR_PATH}: no list of resources")
        return False
    downloaded = {entry["path"]: entry for entry in result.files}
    complete = True
    for declared in declared_resources:
        path = declared.get("path") if isinstance(declared, dict) else None
        entry = downloaded.get(path) if isinstance(path, str) else None
        if entry is None:
            # Also keeps Frictionless from opening a path or URL the descriptor names outside the package.
            result.mismatches.append(f"{path!r}: named in datapackage.json but not a resource of the dataset")
            complete = False
            continue
        expected_hash = declared.get("hash") or declared.get("x_hash")
        expected_bytes = declared.get("bytes") or declared.get("x_bytes")
        if expected_hash and str(expected_hash).removeprefix("sha256:") != entry["sha256"]:
            result.mismatches.append(f"{path}: sha256 differs from datapackage.json")
        if expected_bytes and declared_size(expected_bytes) != entry["bytes"]:
            result.mismatches.append(f"{path}: size differs from datapackage.json")
    for path, described in _part_spreadsheets(descriptor).items():  # the parts' spreadsheet copies, by x_ogd.parts
        entry = downloaded.get(path)
        if entry is None:
            result.mismatches.append(f"{path}: named in datapackage.json (x_ogd.parts) but not a resource of the dataset")
        elif str(described.get("hash") or "").removeprefix("sha256:") != entry["sha256"]:
            result.mismatches.append(f"{path}: sha256 differs from datapackage.json (x_ogd.parts)")
    spreadsheet = _spreadsheet_entry(descriptor)
    if spreadsheet is not None:
        # Not a Frictionless resource (its values are deliberately not the exact ones): checked here, by x_ogd.
        entry = downloaded.get(SPREADSHEET_PATH)
        if spreadsheet.get("path") != SPREADSHEET_PATH:
            result.mismatches.append(f"x_ogd.spreadsheet in {DESCRIPTOR_PATH} names {spreadsheet.get('path')!r}, "
                                     f"not {SPREADSHEET_PATH!r}")
        elif entry is None:
            result.mismatches.append(f"{SPREADSHEET_PATH}: named in datapackage.json (x_ogd.spreadsheet) but not a "
                                     "resource of the dataset")
        else:
            if str(spreadsheet.get("hash") or "").removeprefix("sha256:") != entry["sha256"]:
                result.mismatches.append(f"{SPREADSHEET_PATH}: sha256 differs from datapackage.json (x_ogd.spreadsheet)")
            if declared_size(spreadsheet.get("bytes")) != entry["bytes"]:
                result.mismatches.append(f"{SPREADSHEET_PATH}: size differs from datapackage.json (x_ogd.spreadsheet)")
    return complete


def pull_dataset(client: PortalClient, name: str, out: Path, *, force: bool = False,
                 progress: Progress = no_progress, since: str | None = None) -> PullResult:
    """Download dataset ``name`` into ``out`` and verify it; ``out`` is replaced only by a verified copy.

    A copy that does not verify is kept in ``DIR.unverified`` (``result.folder``). ``progress`` receives the
    bytes downloaded, of the sizes the portal declares (0: not declared).

    ``since``: ``out`` holds version ``since`` of the dataset (pulled before); only the files that changed
    are downloaded (the others are copied from ``out``, their hashes checked against the new
    datapackage.json), and ``result.changes`` lists the change log's rows after ``since``. The result is the
    same as a full pull's, byte for byte.
    """
    check_out_folder(out, force=force)  # with the path as given: the messages quote what the user typed
    out = Path(os.path.abspath(out))
    local_hashes = _local_copy(out, since) if since is not None else {}
    dataset = _show_dataset(client, name, bool(client.apikey))
    if not resources_by_key(dataset).get("datapackage"):
        raise DataError(f"dataset {name!r} has no datapackage.json resource: it was not published as a data package",
                        "only datasets published by ogd-pipeline (or with a datapackage.json resource) can be pulled")
    staging = lock_staging(out)
    moved = False
    try:
        recover_swap(out)
        result = PullResult(name, out)
        described: dict[str, int] = {}
        total = sum(declared_size(resource.get("size")) or 0 for _, _, resource in _ordered_resources(dataset))
        done = 0
        wanted: dict[str, str] = {}  # --since: path -> the sha256 the new datapackage.json declares
        read: tuple[Any, str | None] = (None, "not downloaded")  # the downloaded datapackage.json (the first file)
        descriptor: Any = None  # ... parsed once
        for key, path, resource in _ordered_resources(dataset):
            if key == SPREADSHEET_KEY and _spreadsheet_entry(descriptor) is None:
                # The package (datapackage.json, downloaded first) has no spreadsheet file: not part of it.
                result.skipped.append(f"{resource.get('name') or path}: a resource of the dataset that "
                                      "datapackage.json does not describe (x_ogd.spreadsheet); not downloaded")
                continue
            if path != DESCRIPTOR_PATH and wanted.get(path) and local_hashes.get(path) == wanted[path] \
                    and _portal_agrees(resource, wanted[path], (out / path).stat().st_size):
                # --since: the local copy of this file is the one the new version declares: no download. (When the
                # portal's metadata says otherwise the file is downloaded and checked, as a full pull would.)
                size, digest = _copy_local(out / path, staging.path / path)
                result.files.append({"path": path, "bytes": size, "sha256": digest, "resource_id": resource.get("id"),
                                     "reused": True})
                done += declared_size(resource.get("size")) or 0
                continue
            size, digest = download(client, resource, path, staging.path / path, described.get(path),
                                    on_bytes=lambda received, before=done: progress("bytes", before + received, total))
            done += size
            if path == DESCRIPTOR_PATH:
                check_same_dataset(out, str(dataset.get("name") or name), descriptor_name(staging.path), force)
                read = _read_descriptor(staging.path)
                descriptor = read[0]
                described = _described_sizes(descriptor)
                result.version = _version_of(descriptor)
                if since is not None:
                    wanted = _described_hashes(descriptor)
            result.files.append({"path": path, "bytes": size, "sha256": digest, "resource_id": resource.get("id")})
            declared = resource.get("size")
            if declared not in (None, "") and declared_size(declared) != size:
                result.mismatches.append(f"{path}: {size} bytes downloaded, the portal says {declared}")
            portal_hash = recorded_sha256(resource)  # not xloader's MD5 of the file (it overwrites ``hash``)
            if portal_hash and portal_hash.removeprefix("sha256:") != digest:
                result.mismatches.append(f"{path}: sha256 {digest} differs from the portal's hash {portal_hash}")
        if since is not None:
            result.since = since
            result.changes = changes_after(staging.path / CHANGES_PATH, since)
        if _verify_against_descriptor(read, result):
            result.validation = validate_package_fast(staging.path)  # Frictionless where it does not cover; bounded memory
        else:
            result.validation = {"valid": False, "error_count": 0, "errors": [],
                                 "skipped": "datapackage.json does not describe the downloaded files"}
        try:
            if result.ok:
                check_out_folder(out, force=force)  # again: files may have been added to DIR while we downloaded
                result.replaced_previous = swap_in(staging.path, out)
            else:
                result.folder = keep_unverified(staging.path, out)
        except OSError as error:
            raise OutputError(f"cannot move the pulled package into place at {out}: {error.strerror}",
                              "check the folder's permissions and free space") from None
        moved = True
        return result
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT):
            raise OutputError(f"cannot write the pulled files beside {out}: {error.strerror}",
                              "free some space or choose a writable --out") from None
        raise
    finally:
        if not moved:
            shutil.rmtree(staging.path, ignore_errors=True)  # a failed pull leaves nothing behind
        staging.release()
