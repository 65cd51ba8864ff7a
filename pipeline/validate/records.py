"""Check each record against the Table Schema as it is built, with Frictionless' error types,
and decide duplicates on every unique field."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..record import load_table_schema
from .rules import CompiledField, satisfies


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
    :mod:`pipeline.validate.tables` holds the one implementation of their rules.
    """

    def __init__(self, schema: dict[str, Any] | None = None) -> None:

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
