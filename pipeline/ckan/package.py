"""The package a publish reads: a built data package, refused unless valid and intact."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..hashing import file_digest
from ..package.layout import DESCRIPTOR_PATH, PARQUET_PATH, REPORT_PATH
from ..problems import DataError, UploadTooLarge, UsageError
from ..streaming import open_parquet
from ..spreadsheet import SPREADSHEET_PATH
from .resources import CHANGES_KEY, CSV_KEY, DESCRIPTOR_KEY, RESOURCES, SPREADSHEET_KEY, ResourceSpec, part_specs

#: Overrides the package's max_upload_bytes (x_ogd, from datasets.toml) for one publish: a portal's cap.
UPLOAD_CAP_VARIABLE = "OGD_MAX_UPLOAD_BYTES"
#: Overrides the package's files_url for one publish: where the team hosts the package's files.
FILES_URL_VARIABLE = "OGD_FILES_URL"


@dataclass
class LocalPackage:
    folder: Path
    descriptor: dict[str, Any]
    hashes: dict[str, str]  # ogd_key -> "sha256:<hex>" (only the files this package has)
    sizes: dict[str, int]
    notes: list[str] = field(default_factory=list)  # what the user should know (an older package's missing parts)
    # The files this publish puts on the portal, in order (parts included; files over the cap left out).
    specs: tuple[ResourceSpec, ...] = RESOURCES
    # datapackage.json as published, when some files of the package are not (over the cap): the descriptor of what
    # the portal holds, so that a pull verifies; None: the package's own file.
    descriptor_bytes: bytes | None = None
    max_upload_bytes: int | None = None

    @property
    def table_schema(self) -> dict[str, Any]:
        return self.descriptor["resources"][0]["schema"]

    @property
    def extra(self) -> dict[str, Any]:
        return self.descriptor.get("x_ogd", {})

    @property
    def name(self) -> str:
        return str(self.descriptor.get("name") or "")

    @cached_property
    def longest_cell(self) -> int:
        """Characters of the longest text value of the table (a reader with a cell limit cannot read it), read
        one row group at a time."""
        parquet = open_parquet(self.folder / PARQUET_PATH)
        names = [field.name for field in parquet.schema_arrow if pa.types.is_string(field.type)
                 or pa.types.is_large_string(field.type)]
        longest = 0
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=names)
            for column in table.columns:
                found = pc.max(pc.utf8_length(column)).as_py()
                longest = max(longest, found or 0)
        return longest

    @cached_property
    def row_hashes(self) -> dict[str, str]:
        """release_id -> content_sha256 of every row (read once: planning and --verify compare them with the portal's)."""
        table = pq.read_table(self.folder / PARQUET_PATH, columns=["release_id", "content_sha256"])
        return dict(zip(table.column("release_id").to_pylist(), table.column("content_sha256").to_pylist(), strict=True))


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
    parts = (descriptor.get("x_ogd") or {}).get("parts") if isinstance(descriptor.get("x_ogd"), dict) else None
    try:
        listed = part_specs(parts or [])
        # The parts' spreadsheet copies are not Frictionless resources: their hashes are in x_ogd.parts.
        described = {part["excel"]["path"]: part["excel"] for part in parts or []}
    except (KeyError, TypeError, AttributeError):
        raise _not_a_package(folder, f"x_ogd.parts in datapackage.json is not a list of parts ({parts!r:.200})") from None
    candidates = [*RESOURCES[:-1], *listed, RESOURCES[-1]]  # datapackage.json last (it describes the others)
    for key, path, *_ in candidates:
        expected_hash, expected_bytes = None, None
        if key == CHANGES_KEY and path not in declared:
            notes.append(f"{folder.name}: no change log (a package built before versions existed): changes.csv is "
                         "not published; rebuild to add it")
            continue
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
        if path in described:
            expected_hash, expected_bytes = described[path].get("hash"), described[path].get("bytes")
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
    cap = upload_cap(descriptor)
    specs, descriptor_bytes = _within_cap(folder, descriptor, candidates, sizes, cap, bool(parts), notes)
    if descriptor_bytes is not None:
        hashes[DESCRIPTOR_KEY] = f"sha256:{hashlib.sha256(descriptor_bytes).hexdigest()}"
        sizes[DESCRIPTOR_KEY] = len(descriptor_bytes)
    return LocalPackage(folder, descriptor, hashes, sizes, notes, specs, descriptor_bytes, cap)


def upload_cap(descriptor: dict[str, Any]) -> int | None:
    """The portal's upload cap for this publish: OGD_MAX_UPLOAD_BYTES, else the package's max_upload_bytes."""
    given = os.environ.get(UPLOAD_CAP_VARIABLE, "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise UsageError(f"{UPLOAD_CAP_VARIABLE}={given!r} is not a whole number of bytes",
                             f"export {UPLOAD_CAP_VARIABLE}=200000000 (the portal's ckan.max_resource_size in bytes)")
        return int(given)
    cap = (descriptor.get("x_ogd") or {}).get("max_upload_bytes") if isinstance(descriptor.get("x_ogd"), dict) else None
    return cap if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 else None


def _within_cap(folder: Path, descriptor: dict[str, Any], candidates: list[ResourceSpec], sizes: dict[str, int],
                cap: int | None, has_parts: bool, notes: list[str]) -> tuple[tuple[ResourceSpec, ...], bytes | None]:
    """The files to publish under the cap, and the descriptor of what is published when some are left out.

    A table published in parts keeps its whole CSV as the DataStore table (no upload: CKAN serves it as a
    dump) and leaves out whole files over the cap; any other file over the cap is refused before anything is
    sent (exit 11), with what to do.
    """
    specs: list[ResourceSpec] = []
    left_out: list[str] = []
    x_ogd = descriptor.get("x_ogd") if isinstance(descriptor.get("x_ogd"), dict) else {}
    files_url = os.environ.get(FILES_URL_VARIABLE, "").strip() or x_ogd.get("files_url")
    for spec in candidates:
        if spec.key not in sizes:
            continue  # a file this (older) package does not have: see notes
        if cap is None or sizes[spec.key] <= cap or spec.key == DESCRIPTOR_KEY:
            specs.append(spec)
        elif isinstance(files_url, str) and files_url.startswith(("https://", "http://")):
            # Over the cap, hosted by the team: linked, not uploaded (publish checks the hosted bytes first).
            specs.append(spec._replace(upload=False, link=f"{files_url.rstrip('/')}/{spec.path}"))
        elif has_parts and spec.key == CSV_KEY:
            specs.append(spec._replace(upload=False))
            left_out.append(spec.path)
        elif has_parts and spec.key in ("releases-parquet", SPREADSHEET_KEY):
            left_out.append(spec.path)
            notes.append(f"{folder.name}: {spec.path} ({sizes[spec.key]:,} bytes) is over the upload cap of {cap:,} "
                         "bytes: not published (its parts are)")
        else:
            raise UploadTooLarge(
                f"{folder.name}: {spec.path} is {sizes[spec.key]:,} bytes, over the portal's upload cap of {cap:,} "
                f"bytes ({UPLOAD_CAP_VARIABLE} or max_upload_bytes); nothing was sent",
                "split the table into smaller parts (partition = \"year\", or \"month\" for a year this large, in "
                "datasets.toml, then rebuild), raise the portal's ckan.max_resource_size and max_upload_bytes, or "
                "host the package's files yourself and give their address as files_url (they are then linked)")
    if not left_out:
        return tuple(specs), None
    published = json.loads(json.dumps(descriptor))
    published["resources"] = [r for r in published["resources"] if r.get("path") not in left_out]
    if SPREADSHEET_PATH in left_out:
        published.get("x_ogd", {}).pop("spreadsheet", None)
    published.setdefault("x_ogd", {})["not_published"] = sorted(left_out)
    return tuple(specs), (json.dumps(published, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

