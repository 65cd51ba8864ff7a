"""Versions that follow the data (semantic versioning, MAJOR.MINOR.PATCH).

The rules (README: Versions), from the previous package's version:

- **major**: the Table Schema changed in a way that can break a consumer: a
  field removed, renamed or given another type (a program that reads the old
  field fails);
- **minor**: rows added or removed, or the schema changed without breaking
  (a field added, a description or constraint changed);
- **patch**: only corrections (rows with the same ``release_id`` and other
  content);
- nothing changed: the same version (a rebuild of the same inputs adds no version).

The version in ``datasets.toml`` is the first version, and a floor: a team can
move to a higher one by hand (a new major for a reason the data does not show),
never to a lower one.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from ..problems import ConfigError

VERSION_PATTERN = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")

SchemaChange = Literal["breaking", "compatible"] | None


def parse_version(text: str, where: str) -> tuple[int, int, int]:
    """``"1.2.3"`` -> (1, 2, 3); anything else is a configuration error naming ``where``."""
    match = VERSION_PATTERN.match(text or "")
    if not match:
        raise ConfigError(f"{where}: the version is not MAJOR.MINOR.PATCH",
                          [f"{where}: version {text!r}: write three numbers separated by dots (for example \"1.0.0\"); "
                           "builds move it by the README's rules (Versions)"])
    return int(match[1]), int(match[2]), int(match[3])


def format_version(parts: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in parts)


def schema_change(old_fields: list[dict[str, Any]], new_fields: list[dict[str, Any]]) -> SchemaChange:
    """How the Table Schema's fields changed: None (equal), "compatible" or "breaking"."""
    if old_fields == new_fields:
        return None
    new_types = {f["name"]: (f.get("type", "string"), f.get("format")) for f in new_fields}
    for old in old_fields:
        if new_types.get(old["name"]) != (old.get("type", "string"), old.get("format")):
            return "breaking"  # removed, renamed or retyped: a consumer reading it fails
    return "compatible"


def next_version(previous: str | None, configured: str, *, schema: SchemaChange, added: int, changed: int,
                 removed: int, where: str) -> str:
    """The version of a build, by the rules above (``previous`` None: the first version is ``configured``)."""
    floor = parse_version(configured, where)
    if previous is None:
        return format_version(floor)
    major, minor, patch = parse_version(previous, "the previous package's datapackage.json")
    if schema == "breaking":
        bumped = (major + 1, 0, 0)
    elif schema == "compatible" or added or removed:
        bumped = (major, minor + 1, 0)
    elif changed:
        bumped = (major, minor, patch + 1)
    else:
        bumped = (major, minor, patch)
    return format_version(max(bumped, floor))
