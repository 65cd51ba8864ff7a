"""Validate a written package with Frictionless itself: the reference.

:func:`validate_package` gives the answer ``frictionless validate
datapackage.json`` gives (``ogd validate --frictionless``;
:mod:`pipeline.validate.tables` gives the same errors faster and is what the
build and ``ogd validate`` use). Before anything is opened,
:func:`check_before_opening` refuses a descriptor that is a link or not JSON
and resource paths that lead out of the package folder.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

DESCRIPTOR = "datapackage.json"
MAX_DESCRIPTOR_BYTES = 64 << 20  # ours are a few kB; a bigger "descriptor" is not one


def _error(kind: str, message: str, resource: str | None = None) -> dict[str, Any]:
    return {"resource": resource, "type": kind, "row": None, "field": None, "message": message}


def invalid_summary(errors: list[dict[str, Any]], validator: str) -> dict[str, Any]:
    """The summary of a package refused before any of its data files was opened."""
    return {"valid": False, "validator": validator, "rows": 0, "rows_by_resource": {},
            "error_count": len(errors), "errors": errors[:100]}


def read_descriptor(folder: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The package's descriptor, or why it cannot be used (``package-error``), read without following a link."""
    path = folder / DESCRIPTOR
    how = "; a package written by ogd build or ogd pull has a plain datapackage.json file: build or pull it again"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            return None, [_error("package-error", f"{path} is a symbolic link (to {os.readlink(path)!r}), not the "
                                 "package's own descriptor; ogd validate never follows it" + how)]
        return None, [_error("package-error", f"{path} cannot be read: {exc.strerror}" + how)]
    with open(fd, "rb", closefd=True) as handle:
        mode = os.fstat(fd)
        if not stat.S_ISREG(mode.st_mode):
            return None, [_error("package-error", f"{path} is not a regular file" + how)]
        data = handle.read(MAX_DESCRIPTOR_BYTES + 1)
    if len(data) > MAX_DESCRIPTOR_BYTES:
        return None, [_error("package-error", f"{path} is larger than {MAX_DESCRIPTOR_BYTES} bytes: not a "
                             "descriptor" + how)]
    try:
        descriptor = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, [_error("package-error", f"{path} is not UTF-8 text (byte offset {exc.start})" + how)]
    except ValueError as exc:
        return None, [_error("package-error", f"{path} is not valid JSON: {exc}" + how)]
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("resources", []), list):
        return None, [_error("package-error", f"{path} is not a data package descriptor (a JSON object with a "
                             "list of resources)" + how)]
    return descriptor, []


def unsafe_paths(folder: Path, descriptor: dict[str, Any]) -> list[dict[str, Any]]:
    """Every path of a resource (data, schema or dialect) that is not a regular file inside ``folder``.

    Checked before anything is opened: a descriptor may name ``/etc/shadow``,
    ``../../secret``, a URL, or a link in the folder that points out of it.
    None of them is opened, by the fast check or by Frictionless.
    """
    found = []
    for index, resource in enumerate(descriptor.get("resources", [])):
        if not isinstance(resource, dict):
            found.append(_error("resource-error", f"resource {index + 1} is not a JSON object"))
            continue
        name = str(resource.get("name", f"resource {index + 1}"))
        named: list[tuple[str, Any]] = []
        if "path" in resource:
            paths = resource["path"] if isinstance(resource["path"], list) else [resource["path"]]
            named += [("path", p) for p in paths]
        named += [(key, resource[key]) for key in ("schema", "dialect") if isinstance(resource.get(key), str)]
        for key, given in named:
            problem = _path_problem(folder, given)
            if problem:
                found.append(_error("unsafe-path", f"the {key} {given!r} of resource {name!r} {problem}; it was not "
                                    "opened. A package's files are plain files inside its folder", name))
    return found


def _path_problem(folder: Path, given: Any) -> str | None:
    """Why ``given`` is not a regular file inside ``folder`` (no component a link), or None; opens nothing."""
    if not isinstance(given, str) or not given:
        return "is not a file path"
    if "://" in given:
        return "is a URL, not a file in the package"
    parts = given.replace("\\", "/").split("/")
    if given.startswith(("/", "\\")) or (len(given) > 1 and given[1] == ":"):
        return "is an absolute path, outside the package"
    if ".." in parts:
        return "leads out of the package folder (..)"
    current = folder
    mode = stat.S_IFDIR  # the folder itself, for a path of only "." parts
    for part in parts:
        if part in ("", "."):
            continue
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except OSError as exc:
            return f"cannot be found in the package ({exc.strerror})"
        if stat.S_ISLNK(mode):
            return f"goes through a symbolic link ({current.relative_to(folder)}), which may lead out of the package"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def check_before_opening(folder: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The descriptor, and the errors that forbid opening anything it names (empty: safe to validate)."""
    descriptor, errors = read_descriptor(folder)
    if descriptor is None:
        return None, errors
    return descriptor, unsafe_paths(folder, descriptor)


def validate_package(package_dir: str | Path) -> dict[str, Any]:
    """Validate a package folder with Frictionless; return a JSON-ready summary.

    ``valid`` is Frictionless' verdict; ``errors`` lists at most 100 errors as
    ``{resource, type, row, field, message}``. A package whose descriptor or
    resource paths are refused by :func:`check_before_opening` is invalid
    without Frictionless opening anything.
    """
    from frictionless import FrictionlessException, Package, system

    folder = Path(package_dir)
    _descriptor, refused = check_before_opening(folder)
    if refused:
        return invalid_summary(refused, "frictionless (not run: the package was refused before opening its files)")
    descriptor = folder / DESCRIPTOR
    try:
        with system.use_context(trusted=False):
            package = Package(str(descriptor))
            report = package.validate()
    except FrictionlessException as exc:  # what it refuses to open (an unsafe path...), as an error, not a traceback
        return invalid_summary([_error(exc.error.type, exc.error.message)], "frictionless")
    errors: list[dict[str, Any]] = []
    for task in report.tasks:
        for error in task.errors:
            errors.append(
                {
                    "resource": task.name,
                    "type": error.type,
                    "row": getattr(error, "row_number", None),
                    "field": getattr(error, "field_name", None),
                    "message": error.message,
                }
            )
    for error in report.errors:
        errors.append({"resource": None, "type": error.type, "row": None, "field": None, "message": error.message})
    return {
        "valid": bool(report.valid),
        "validator": "frictionless",
        # The CSV and the Parquet file hold the same table: its rows are counted once, per resource below.
        "rows": max((task.stats.get("rows", 0) or 0 for task in report.tasks), default=0),
        "rows_by_resource": {task.name: task.stats.get("rows", 0) or 0 for task in report.tasks},
        "error_count": len(errors),
        "errors": errors[:100],
    }
