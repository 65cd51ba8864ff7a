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


_MESSAGES = {
    "required": "{name} is required but empty",
    "enum": "{name} {value!r} is not one of {constraint}",
    "pattern": "{name} {value!r} does not match {constraint!r}",
    "minimum": "{name} {value!r} is below {constraint}",
    "maximum": "{name} {value!r} is above {constraint}",
    "exclusiveMinimum": "{name} {value!r} is not above {constraint}",
    "exclusiveMaximum": "{name} {value!r} is not below {constraint}",
    "minLength": "{name} is shorter than {constraint}",
    "maxLength": "{name} is longer than {constraint}",
}


class RecordValidator:
    """Per-record Table Schema check, with the same compiled constraints as the table check.

    Records are typed already, so only the constraints are checked (no casts);
    :mod:`pipeline.tablecheck` holds the one implementation of their rules.
    """

    def __init__(self, schema: dict[str, Any] | None = None) -> None:
        from .tablecheck import CompiledField

        schema = schema or load_table_schema()
        key = schema.get("primaryKey", [])
        key = [key] if isinstance(key, str) else list(key)
        self._fields = [CompiledField(f, i + 1) for i, f in enumerate(schema["fields"])]
        self._key_fields = {name for name in key}
        self._missing = set(schema.get("missingValues", [""]))
        self._unique_fields = [f["name"] for f in schema["fields"] if f.get("constraints", {}).get("unique")]
        for name in key:
            if name not in self._unique_fields:
                self._unique_fields.append(name)
        self._seen: dict[str, set[Any]] = {name: set() for name in self._unique_fields}

    def errors(self, row: dict[str, Any]) -> list[FieldError]:
        """All constraint errors of one row (empty list: the row is valid)."""
        from .tablecheck import satisfies

        found: list[FieldError] = []
        for field in self._fields:
            value = row.get(field.name)
            if isinstance(value, str) and value in self._missing:
                value = None
            if value is None and field.name in self._key_fields and not field.spec.get("constraints", {}).get("required"):
                found.append(FieldError(field.name, "required", value, _MESSAGES["required"].format(name=field.name)))
                continue
            for name, constraint, _note in field.constraints:
                if not satisfies(name, constraint, value):
                    raw = field.spec["constraints"][name]
                    shown = value.isoformat() if isinstance(value, dt.date) else value
                    message = _MESSAGES.get(name, "{name} breaks the constraint " + name)
                    found.append(FieldError(field.name, name, value,
                                            message.format(name=field.name, value=shown, constraint=raw)))
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
        # The CSV and the Parquet file hold the same table: its rows are counted once, per resource below.
        "rows": max((task.stats.get("rows", 0) or 0 for task in report.tasks), default=0),
        "rows_by_resource": {task.name: task.stats.get("rows", 0) or 0 for task in report.tasks},
        "error_count": len(errors),
        "errors": errors[:100],
    }
