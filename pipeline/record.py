"""The record passed between stages, and the one place that maps it to the Table Schema.

``Release`` field names *are* the schema's field names; ``tests/validate/test_schema.py``
holds the two against each other, so the dataclass and
``pipeline/schemas/releases.schema.json`` cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"  # package data: found in a wheel too
RELEASES_SCHEMA_PATH = SCHEMA_DIR / "releases.schema.json"


@dataclass(frozen=True, slots=True)
class Release:
    """One clean release: the contract with consumers (see the schema for meanings)."""

    release_id: str
    source: str
    source_kind: str
    source_url: str | None
    source_file: str
    item: str | None
    source_sha256: str
    source_encoding: str
    category: str | None
    title: str
    subtitle: str | None
    published_date: dt.date
    published_date_text: str
    date_source: str
    agency: str | None
    office: str | None
    contact_phone: str | None
    byline: str | None
    byline_unit: str | None
    read_count: int | None
    vote_count: int | None
    body: str
    body_words: str
    word_count: int
    language: str
    content_sha256: str
    parser_version: str

    def to_row(self) -> dict[str, Any]:
        """The row as a plain dict, in schema field order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


RELEASE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Release))


@lru_cache(maxsize=4)
def load_table_schema(path: str | Path = RELEASES_SCHEMA_PATH) -> dict[str, Any]:
    """Load a Table Schema descriptor (cached: it is read once per process)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
