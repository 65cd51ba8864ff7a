"""Validate: records against the Table Schema, and whole packages with Frictionless.

Two levels, on purpose:

* :class:`RecordValidator` checks each record as it is built, so a record that
  breaks the schema is quarantined with its reason instead of poisoning the
  package. It implements the Table Schema constraints the schema uses
  (required, unique, pattern, enum, minimum, maximum, minLength, maxLength)
  with the same error type names as Frictionless.
* :func:`validate_package` runs Frictionless itself on a written package:
  the reference, the answer ``frictionless validate datapackage.json`` gives
  (``ogd validate --frictionless``; :mod:`pipeline.tablecheck` gives the same
  errors faster and is what the build and ``ogd validate`` use).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .record import load_table_schema


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    constraint: str
    value: Any
    message: str

    def as_dict(self) -> dict[str, Any]:
        value = self.value.isoformat() if isinstance(self.value, dt.date) else self.value
        if isinstance(value, str) and len(value) > 200:
            value = value[:200] + "…"
        return {"field": self.field, "constraint": self.constraint, "value": value, "message": self.message}


def _cast_bound(field_type: str, bound: Any) -> Any:
    if field_type == "date" and isinstance(bound, str):
        return dt.date.fromisoformat(bound)
    return bound


class RecordValidator:
    """Per-record Table Schema check compiled once from the schema descriptor."""

    def __init__(self, schema: dict[str, Any] | None = None) -> None:
        schema = schema or load_table_schema()
        self._checks: list[tuple[str, str, dict[str, Any]]] = []
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._unique_fields = [f["name"] for f in schema["fields"] if f.get("constraints", {}).get("unique")]
        for key in schema.get("primaryKey", []):
            if key not in self._unique_fields:
                self._unique_fields.append(key)
        self._seen: dict[str, set[Any]] = {name: set() for name in self._unique_fields}
        for field in schema["fields"]:
            constraints = dict(field.get("constraints", {}))
            if field["name"] in schema.get("primaryKey", []):
                constraints["required"] = True
            if "pattern" in constraints:
                # Table Schema patterns match the whole value.
                self._patterns[field["name"]] = re.compile(constraints["pattern"])
            for bound in ("minimum", "maximum"):
                if bound in constraints:
                    constraints[bound] = _cast_bound(field["type"], constraints[bound])
            self._checks.append((field["name"], field["type"], constraints))

    def errors(self, row: dict[str, Any]) -> list[FieldError]:
        """All constraint errors of one row (empty list: the row is valid)."""
        found: list[FieldError] = []
        for name, _type, constraints in self._checks:
            value = row.get(name)
            if value is None or value == "":
                if constraints.get("required"):
                    found.append(FieldError(name, "required", value, f"{name} is required but empty"))
                continue
            if "enum" in constraints and value not in constraints["enum"]:
                found.append(FieldError(name, "enum", value, f"{name} {value!r} is not one of {constraints['enum']}"))
            pattern = self._patterns.get(name)
            if pattern is not None and not pattern.fullmatch(str(value)):
                found.append(FieldError(name, "pattern", value, f"{name} {value!r} does not match {pattern.pattern!r}"))
            if "minimum" in constraints and value < constraints["minimum"]:
                found.append(FieldError(name, "minimum", value, f"{name} {value!r} is below {constraints['minimum']}"))
            if "maximum" in constraints and value > constraints["maximum"]:
                found.append(FieldError(name, "maximum", value, f"{name} {value!r} is above {constraints['maximum']}"))
            if "minLength" in constraints and len(value) < constraints["minLength"]:
                found.append(FieldError(name, "minLength", value, f"{name} is shorter than {constraints['minLength']}"))
            if "maxLength" in constraints and len(value) > constraints["maxLength"]:
                found.append(FieldError(name, "maxLength", value, f"{name} is longer than {constraints['maxLength']}"))
        return found

    def is_new(self, row: dict[str, Any]) -> tuple[bool, str | None]:
        """Check unique fields against rows accepted so far; remember this row's values."""
        for name in self._unique_fields:
            value = row.get(name)
            if value is not None and value in self._seen[name]:
                return False, name
        for name in self._unique_fields:
            if row.get(name) is not None:
                self._seen[name].add(row[name])
        return True, None


def validate_package(package_dir: str | Path) -> dict[str, Any]:
    """Validate a package folder with Frictionless; return a JSON-ready summary.

    ``valid`` is Frictionless' verdict; ``errors`` lists at most 100 errors as
    ``{resource, type, row, field, message}``.
    """
    from frictionless import Package, system

    descriptor = Path(package_dir) / "datapackage.json"
    with system.use_context(trusted=False):
        package = Package(str(descriptor))
        report = package.validate()
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
        "rows": sum(task.stats.get("rows", 0) or 0 for task in report.tasks),
        "error_count": len(errors),
        "errors": errors[:100],
    }
