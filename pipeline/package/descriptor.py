"""``datapackage.json``: the Frictionless descriptor of a built package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..licences import descriptor_licence
from ..record import load_table_schema
from .layout import CSV_PATH, PARQUET_PATH


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
) -> dict[str, Any]:
    """The ``datapackage.json`` descriptor for the files already written in ``folder``."""
    table_schema = descriptor_table_schema()
    resources = []
    for res_name, path, fmt, mediatype, res_title in (
        ("releases", CSV_PATH, "csv", "text/csv", "Releases (CSV)"),
        ("releases-parquet", PARQUET_PATH, "parquet", "application/vnd.apache.parquet", "Releases (Parquet)"),
    ):
        size, sha = digests[str(folder / path)]
        resource: dict[str, Any] = {
            "name": res_name,
            "title": res_title,
            "path": path,
            "profile": "tabular-data-resource",
            "format": fmt,
            "mediatype": mediatype,
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
        resources.append(resource)
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
    descriptor["resources"] = resources
    return descriptor
