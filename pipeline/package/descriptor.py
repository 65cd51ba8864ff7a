"""``datapackage.json``: the Frictionless descriptor of a built package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..licences import descriptor_licence
from ..record import SCHEMA_DIR, load_table_schema
from .layout import CHANGES_PATH, CSV_PATH, PARQUET_PATH

CHANGES_SCHEMA_PATH = SCHEMA_DIR / "changes.schema.json"


def changes_table_schema() -> dict[str, Any]:
    """The change log's Table Schema (its own: version, date, release_id, change, changed_fields)."""
    with open(CHANGES_SCHEMA_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def descriptor_table_schema() -> dict[str, Any]:
    """The Table Schema as the descriptor carries it (without the ``$schema``-style keys)."""
    return {k: v for k, v in load_table_schema().items() if not k.startswith("$")}


def build_descriptor(
    folder: Path,
    *,
    digests: dict[str, tuple[int, str]],
    name: str,
    title: str,
    title_en: str,
    description: str,
    version: str,
    license_id: str,
    keywords: tuple[str, ...],
    sources: list[dict[str, str]],
    contributors: list[dict[str, str]],
    homepage: str | None,
    temporal: dict[str, str] | None,
    extra: dict[str, Any],
    parts: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """The ``datapackage.json`` descriptor for the files already written in ``folder``."""
    table_schema = descriptor_table_schema()
    resources = [
        _table_resource("releases", "Releases (CSV)", CSV_PATH, "csv", *digests[str(folder / CSV_PATH)], table_schema),
        _table_resource("releases-parquet", "Releases (Parquet)", PARQUET_PATH, "parquet",
                        *digests[str(folder / PARQUET_PATH)], table_schema),
    ]
    for part in parts:  # by year (or month) of published_date: pipeline/package/parts.py
        key = part["key"]
        resources.append(_table_resource(f"releases-{key}", f"Releases of {key} (CSV)", part["csv"]["path"], "csv",
                                         part["csv"]["bytes"], part["csv"]["hash"].removeprefix("sha256:"),
                                         table_schema))
        resources.append(_table_resource(f"releases-{key}-parquet", f"Releases of {key} (Parquet)",
                                         part["parquet"]["path"], "parquet", part["parquet"]["bytes"],
                                         part["parquet"]["hash"].removeprefix("sha256:"), table_schema))
    descriptor: dict[str, Any] = {
        "profile": "tabular-data-package",
        "name": name,
        "title": title,
        "title_en": title_en,
        "description": description,
        "version": version,
        "licenses": [descriptor_licence(license_id)],
        "keywords": list(keywords),
        "sources": sources,
        "contributors": contributors,
    }
    if homepage:
        descriptor["homepage"] = homepage
    if temporal:
        descriptor["temporal"] = temporal
    descriptor.update(extra)
    if str(folder / CHANGES_PATH) in digests:
        resources.append(_changes_resource(*digests[str(folder / CHANGES_PATH)]))
    descriptor["resources"] = resources
    return descriptor


def _table_resource(name: str, title: str, path: str, fmt: str, size: int, sha: str,
                    table_schema: dict[str, Any]) -> dict[str, Any]:
    """A tabular resource of the releases table (the whole table, or a part of it)."""
    resource: dict[str, Any] = {
        "name": name,
        "title": title,
        "path": path,
        "profile": "tabular-data-resource",
        "format": fmt,
        "mediatype": "text/csv" if fmt == "csv" else "application/vnd.apache.parquet",
        "bytes": size,
        "hash": f"sha256:{sha}",
        "schema": table_schema,
    }
    if fmt == "parquet":
        # Frictionless reads Parquet through pandas, where a null integer
        # becomes float NaN; "nan" as a missing value keeps those nulls null.
        resource["schema"] = {**table_schema, "missingValues": ["", "nan"]}
        # Nor does it count the bytes it reads through pandas, so a "bytes"
        # or "hash" property would always fail; ours are kept under x_ names
        # and checked by `ogd validate` and `ogd pull`.
        resource["x_bytes"] = resource.pop("bytes")
        resource["x_hash"] = resource.pop("hash")
    if fmt == "csv":
        resource["encoding"] = "utf-8"
        resource["dialect"] = {"delimiter": ",", "lineTerminator": "\r\n", "quoteChar": '"', "doubleQuote": True, "header": True}
    return resource


def _changes_resource(size: int, sha256: str) -> dict[str, Any]:
    """The change log (every version's added, changed and removed releases) as a tabular resource."""
    schema = {k: v for k, v in changes_table_schema().items() if not k.startswith("$")}
    return {
        "name": "changes",
        "title": "Change log (CSV)",
        "description": "บันทึกการเปลี่ยนแปลงทุกรุ่น / Every version's added, changed and removed releases, oldest first.",
        "path": CHANGES_PATH,
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "bytes": size,
        "hash": f"sha256:{sha256}",
        "dialect": {"delimiter": ",", "lineTerminator": "\r\n", "quoteChar": '"', "doubleQuote": True, "header": True},
        "schema": schema,
    }
