"""Check each record against the Table Schema as it is built, and decide duplicates on every unique field.

This is the build's one check of a record's cells: a record that breaks a rule
is quarantined (``schema-violation``) before it is written, so the package
writer does not check the rows again. The rules are those of
:mod:`pipeline.validate.rules`, which the table check of ``ogd validate``
(:mod:`pipeline.validate.tables`) compiles too: both give the same verdict on
every cell (``tests/project/test_problems.py`` holds them against each other).
"""

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
    "type": "{name} {value!r} is not of type {constraint}",
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

    Records are typed already: of the casts, only a string's format (``uri``)
    can fail, and is checked; then the constraints.
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
        # Every unique value accepted so far -> the release_id of the record that has it.
        self._kept: dict[str, dict[Any, str]] = {name: {} for name in self._unique_fields}
        # Strings with a format (uri) are cast by the table check: a value that does not cast is a type error.
        self._formatted = {f.name for f in self._fields
                           if f.spec.get("type", "string") == "string" and f.spec.get("format", "default") != "default"}

    @property
    def unique_fields(self) -> tuple[str, ...]:
        """The fields whose values must be unique (the ``unique`` ones and the primary key)."""
        return tuple(self._unique_fields)

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
            if field.name in self._formatted and value is not None and field.read(value) is None:
                kind = f'{field.spec.get("type", "string")}/{field.spec["format"]}'
                found.append(FieldError(field.name, "type", value,
                                        _MESSAGES["type"].format(name=field.name, value=value, constraint=kind)))
                continue  # as in the table check: a cell that does not cast is not checked further
            for name, constraint, _note in field.constraints:
                if not satisfies(name, constraint, value):
                    raw = field.spec["constraints"][name]
                    shown = value.isoformat() if isinstance(value, dt.date) else value
                    message = _MESSAGES.get(name, "{name} breaks the constraint " + name)
                    found.append(FieldError(field.name, name, value,
                                            message.format(name=field.name, value=shown, constraint=raw)))
        return found

    def kept_match(self, row: dict[str, Any]) -> tuple[str, str] | None:
        """``(field, kept release_id)`` when a record accepted before has the same value of a unique field
        (the first such field in schema order); else ``None``, and this row's values are remembered.

        ``row`` holds ``release_id`` and the value of every other unique field.
        """
        for name in self._unique_fields:
            value = row.get(name)
            if value is not None:
                kept = self._kept[name].get(value)
                if kept is not None:
                    return name, kept
        for name in self._unique_fields:
            if row.get(name) is not None:
                self._kept[name][row[name]] = row["release_id"]
        return None
