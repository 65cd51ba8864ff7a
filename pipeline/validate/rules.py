"""The Table Schema's rules, compiled once: Frictionless' error templates, cell readers and
constraint checks, and the Arrow types of the schema's fields."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

_ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
}


def arrow_schema(table_schema: dict[str, Any]) -> pa.Schema:
    """Arrow schema matching a Table Schema (required fields are non-nullable)."""
    return pa.schema(
        [
            pa.field(
                f["name"],
                _ARROW_TYPES[f["type"]],
                nullable=not f.get("constraints", {}).get("required", False),
            )
            for f in table_schema["fields"]
        ]
    )


def as_text(table: pa.Table) -> pa.Table:
    """Typed values as the text the CSV holds (dates ISO, integers in decimal, nulls empty)."""
    return pa.table({name: pc.fill_null(pc.cast(table.column(name), pa.string()), "") for name in table.column_names})

TYPE_TEMPLATE = 'Type error in the cell "{cell}" in row "{row}" and field "{field}" at position "{position}": {note}'
CONSTRAINT_TEMPLATE = ('The cell "{cell}" in row at position "{row}" and field "{field}" at position "{position}" '
                       "does not conform to a constraint: {note}")
UNIQUE_TEMPLATE = ('Row at position "{row}" has unique constraint violation in field "{field}" at position '
                   '"{position}": {note}')
PRIMARY_TEMPLATE = 'Row at position "{row}" violates the primary key: {note}'
BLANK_TEMPLATE = 'Row at position "{row}" is completely blank'
SUPPORTED = {
    "string": ["required", "minLength", "maxLength", "pattern", "enum"],
    "integer": ["required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"],
    "number": ["required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"],
    "date": ["required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"],
    "boolean": ["required", "enum"],
}
_URI_SCHEME = re.compile(r"^[^:/?#]+:")  # rfc3986: a URI reference has a scheme iff this matches
_PLAIN_INT = re.compile(r"^[0-9]{1,18}$")
_PLAIN_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TRUE_VALUES = ["true", "True", "TRUE", "1"]
FALSE_VALUES = ["false", "False", "FALSE", "0"]


class Unsupported(Exception):
    """The package uses something this checker does not cover: ask Frictionless."""


def _reader(field: dict[str, Any]) -> Callable[[str], Any]:
    """A per-cell cast with Frictionless' semantics (returns None when the cell is not of the type)."""
    kind, fmt = field.get("type", "string"), field.get("format", "default")
    if kind == "string":
        if fmt == "uri":
            return lambda cell: cell if _URI_SCHEME.match(cell) else None
        if fmt in ("default", None):
            return lambda cell: cell
    if kind == "integer" and field.get("bareNumber", True):
        def read_int(cell: str) -> int | None:
            try:
                return int(cell.strip())
            except ValueError:
                return None
        return read_int
    if kind == "number" and field.get("bareNumber", True) and not field.get("decimalChar") and not field.get("groupChar"):
        def read_number(cell: str) -> Decimal | None:
            try:
                return Decimal(cell.strip())
            except (InvalidOperation, ValueError):
                return None
        return read_number
    if kind == "date" and fmt in ("default", None):
        def read_date(cell: str) -> dt.date | None:
            try:
                return dt.datetime.strptime(cell, "%Y-%m-%d").date()
            except ValueError:
                return None
        return read_date
    if kind == "boolean":
        true_values = field.get("trueValues", TRUE_VALUES)
        false_values = field.get("falseValues", FALSE_VALUES)
        return lambda cell: True if cell in true_values else False if cell in false_values else None
    raise Unsupported(f"field type {kind}/{fmt}")


def _fast_valid(field: dict[str, Any], column: pa.ChunkedArray) -> tuple[Any, Any]:
    """(cells that certainly cast, their typed values) with Arrow; (None, None) without a fast path."""
    kind, fmt = field.get("type", "string"), field.get("format", "default")
    if kind == "string" and fmt in ("default", None):
        return pc.is_valid(column), None
    if kind == "integer":
        fast = pc.match_substring_regex(column, _PLAIN_INT.pattern)
        return fast, pc.cast(pc.if_else(fast, column, "0"), pa.int64())
    if kind == "date" and fmt in ("default", None):
        parsed = pc.strptime(column, format="%Y-%m-%d", unit="s", error_is_null=True)
        fast = pc.and_(pc.match_substring_regex(column, _PLAIN_DATE), pc.is_valid(parsed))
        return fast, pc.cast(parsed, pa.date32())
    return None, None


def satisfies(name: str, constraint: Any, value: Any) -> bool:
    """Frictionless' check of one constraint on one (already cast) value; None is a missing value."""
    if name == "required":
        return not (constraint and value is None)
    if value is None:
        return True
    if name == "minLength":
        return len(value) >= constraint
    if name == "maxLength":
        return len(value) <= constraint
    if name == "pattern":
        return bool(constraint.match(value))
    if name == "enum":
        return value in constraint
    if name == "minimum":
        return value >= constraint
    if name == "maximum":
        return value <= constraint
    if name == "exclusiveMinimum":
        return value > constraint
    if name == "exclusiveMaximum":
        return value < constraint
    raise Unsupported(f"constraint {name}")


class CompiledField:
    """One Table Schema field: its cast and its constraints, compiled once (Frictionless' rules)."""

    def __init__(self, field: dict[str, Any], position: int) -> None:
        self.spec = field
        self.name = field["name"]
        self.position = position
        self.read = _reader(field)
        self.constraints: list[tuple[str, Any, str]] = []
        kind = field.get("type", "string")
        for name in SUPPORTED.get(kind, []):
            if name not in field.get("constraints", {}):
                continue
            raw = field["constraints"][name]
            value = raw
            if name in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                value = self.read(str(raw)) if not isinstance(raw, (int, float)) or kind == "date" else raw
            elif name == "pattern":
                value = re.compile(f"^{raw}$")
            elif name == "enum":
                value = [self.read(str(v)) if isinstance(v, str) else v for v in raw]
            self.constraints.append((name, value, f'constraint "{name}" is "{raw}"'))
        for name in field.get("constraints", {}):
            if name not in SUPPORTED.get(kind, []) and name != "unique":
                raise Unsupported(f"constraint {name} on {kind}")
        self.type_note = f'type is "{kind}/{field.get("format", "default")}"'
