"""Dataset metadata: where it comes from, the CKAN dataset dict (core + GDC fields), checks, and what differs.

The values come from the package's ``datapackage.json`` (``x_ogd`` holds the
organization, maintainer and GDC values), or, when the package's name is a
dataset of the configuration (``--config``, ``--dataset``, else
``./datasets.toml``), from that ``[datasets.NAME]`` entry: a metadata fix
then needs no rebuild. The files uploaded are always the built ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ckanapi

from ..config import NAME_PATTERN, DatasetConfig, default_config_path, load_config
from ..gdc import CORE_FIELDS, check_values, tag_problems
from ..licences import ckan_candidates, gdc_title
from ..problems import PortalRejected
from .client import PortalClient


#: CKAN dataset fields -> the key of [datasets.NAME] in datasets.toml that gives them; every other field is a GDC
#: value, given in [datasets.NAME.gdc] under its own name.
CONFIG_KEYS = {
    "title": "title", "notes": "description", "tag_string": "keywords", "tags": "keywords",
    "maintainer": "maintainer", "maintainer_email": "maintainer_email", "license_id": "license",
    "url": "url", "version": "version", "owner_org": "organization", "name": "ckan_name",
}


@dataclass(frozen=True)
class DatasetMetadata:
    """What a publish says about the dataset (not its files), and where that was read."""

    package_name: str
    ckan_name: str | None
    title: str
    title_en: str
    description: str
    version: str
    homepage: str
    licence: str
    keywords: tuple[str, ...]
    organization: str
    maintainer: str
    maintainer_email: str
    gdc: dict[str, Any] = field(default_factory=dict)
    temporal_end: str | None = None  # the newest release's date: GDC last_updated_date unless given
    config_path: Path | None = None  # the datasets.toml read; None: the package's datapackage.json
    quality: dict[str, Any] = field(default_factory=dict)  # the build's quality profile (x_ogd.quality): what the data is
    # Kept private on purpose (private = true in datasets.toml); otherwise a dataset is made public only once its
    # files and DataStore rows are complete.
    private: bool = False
    organization_description: str | None = None  # [organizations.NAME] of datasets.toml: the portal's page says it

    @property
    def source(self) -> str:
        if self.config_path is None:
            return "the package's datapackage.json"
        return f"[datasets.{self.package_name}] of {self.config_path}"


def metadata_from_descriptor(descriptor: dict[str, Any]) -> DatasetMetadata:
    extra = descriptor.get("x_ogd") if isinstance(descriptor.get("x_ogd"), dict) else {}
    licences = descriptor.get("licenses") or [{"name": "notspecified"}]
    return DatasetMetadata(
        package_name=str(descriptor.get("name") or ""),
        ckan_name=str(extra["ckan_name"]) if extra.get("ckan_name") else None,
        title=str(descriptor.get("title") or descriptor.get("name") or ""),
        title_en=str(descriptor.get("title_en") or ""),
        description=str(descriptor.get("description") or ""),
        version=str(descriptor.get("version") or ""),
        homepage=str(descriptor.get("homepage") or ""),
        licence=str(licences[0].get("name") or "notspecified"),
        keywords=tuple(str(k) for k in descriptor.get("keywords", [])),
        organization=str(extra.get("organization") or ""),
        maintainer=str(extra.get("maintainer") or ""),
        maintainer_email=str(extra.get("maintainer_email") or ""),
        gdc=dict(extra.get("gdc") or {}),
        temporal_end=(descriptor.get("temporal") or {}).get("end"),
        quality=_quality_of(descriptor),
        private=extra.get("private") is True,
    )


def _quality_of(descriptor: dict[str, Any]) -> dict[str, Any]:
    extra = descriptor.get("x_ogd") if isinstance(descriptor.get("x_ogd"), dict) else {}
    return extra["quality"] if isinstance(extra.get("quality"), dict) else {}


def quality_section(profile: dict[str, Any]) -> str:
    """A short bilingual paragraph for the dataset's description: how complete this version is (the build's profile)."""
    fields = profile.get("fields") or {}
    if not profile.get("records") or not fields:
        return ""
    shown = [name for name in ("title", "published_date", "source_url", "category", "body", "agency", "byline")
             if name in fields]
    filled = ", ".join(f"{name} {fields[name]['share']:.0%}" for name in shown)
    return (f"คุณภาพข้อมูล / Data quality ({profile['records']:,} records): filled {filled}. "
            "The whole profile (every field, categories, years, leftover page furniture) is in datapackage.json, "
            "x_ogd.quality.")


def metadata_from_config(dataset: DatasetConfig, descriptor: dict[str, Any], config_path: Path) -> DatasetMetadata:
    """The configuration's values; only what the data decides (the newest release's date, the version that
    followed the data from the configured first one) from the package."""
    return DatasetMetadata(
        package_name=dataset.name, ckan_name=dataset.ckan_name, title=dataset.title, title_en=dataset.title_en,
        description=dataset.description, version=str(descriptor.get("version") or dataset.version),
        homepage=dataset.url or "",
        licence=dataset.license or "notspecified", keywords=tuple(dataset.keywords),
        organization=dataset.organization, maintainer=dataset.maintainer, maintainer_email=dataset.maintainer_email,
        gdc=dict(dataset.gdc), temporal_end=(descriptor.get("temporal") or {}).get("end"), config_path=config_path,
        quality=_quality_of(descriptor), private=dataset.private,
        organization_description=dataset.organization_description,
    )


def load_configuration(config_path: Path | None) -> tuple[dict[str, DatasetConfig], Path] | None:
    """The configuration publish reads dataset metadata from: ``config_path``, else ./datasets.toml (or the
    checkout's) when there is one; None when there is none.

    A configuration that does not load raises :class:`pipeline.problems.ConfigError` (exit 2): with --config
    the user's to fix; for the implicit one the caller decides.
    """
    path = (config_path or default_config_path()).absolute()
    if config_path is None and not path.is_file():
        return None
    return load_config(path), path


def romanised_slug(title: str) -> str:
    """An ASCII dataset name from a (Thai) title: RTGS romanisation (PyThaiNLP royin)."""
    # Imported here, not at the top: PyThaiNLP is heavy and only a name that is not a slug needs it.
    from pythainlp.tokenize import word_tokenize
    from pythainlp.transliterate import romanize

    words = [w for w in word_tokenize(title, engine="nlpo3") if w.strip()]
    parts = []
    for word in words:
        if re.search(r"[\u0e00-\u0e7f]", word):
            word = romanize(word, engine="royin")
        parts.append(word)
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(parts).lower()).strip("-")
    return slug[:100] or "dataset"


def dataset_name(metadata: DatasetMetadata) -> str:
    """The dataset's name on the portal: ckan_name, else the package name when it is a slug, else the title's."""
    if metadata.ckan_name:
        return metadata.ckan_name
    if NAME_PATTERN.match(metadata.package_name):
        return metadata.package_name
    return romanised_slug(metadata.title or metadata.package_name)


# ------------------------------------------------------------------ the portal's side


def portal_schema(client: PortalClient) -> dict[str, Any] | None:
    """The portal's scheming dataset schema, or None on a portal without ckanext-scheming."""
    try:
        return client.call_action("scheming_dataset_schema_show", {"type": "dataset"})
    except (ckanapi.NotFound, ckanapi.CKANAPIError):
        return None


def schema_lists_licences(schema: dict[str, Any] | None) -> bool:
    """Whether the schema offers its own licence choices (GDC titles); else the portal's license_list applies."""
    if schema is None:
        return False
    spec = next((f for f in schema.get("dataset_fields", []) if f.get("field_name") == "license_id"), None)
    return bool(spec and spec.get("choices"))


def licence_for_portal(licence: str, schema: dict[str, Any] | None, portal_licences: list[dict[str, Any]] | None) -> str:
    """The portal's licence id for the package's licence: the GDC title, or the id in the portal's license_list."""
    if schema_lists_licences(schema):
        return gdc_title(licence)
    entries = portal_licences or []
    for entry in entries:
        if licence.lower() in {str(entry.get("id", "")).lower(), str(entry.get("title", "")).lower()}:
            return str(entry["id"])
    offered = {str(entry.get("id")) for entry in entries}
    return next((candidate for candidate in ckan_candidates(licence) if candidate in offered), "notspecified")


def dataset_metadata(metadata: DatasetMetadata, org: str, schema: dict[str, Any] | None,
                     portal_licences: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The CKAN dataset dict: core fields, and GDC fields top-level (scheming) or as extras."""
    description = metadata.description
    if metadata.title_en:
        description = f"{description}\n\n{metadata.title_en}"
    quality = quality_section(metadata.quality)
    if quality:  # consumers see how complete the data is on the dataset's page, not only in the files
        description = f"{description}\n\n{quality}"
    tags = [re.sub(r"[,]", " ", k).strip() for k in metadata.keywords if k.strip()]
    data: dict[str, Any] = {
        "name": dataset_name(metadata),
        "title": metadata.title,
        "notes": description,
        "owner_org": org,
        "tag_string": ",".join(tags),
        "version": metadata.version,
        "url": metadata.homepage,
        "maintainer": metadata.maintainer,
        "maintainer_email": metadata.maintainer_email,
        "license_id": licence_for_portal(metadata.licence, schema, portal_licences),
    }
    gdc = {k: v for k, v in metadata.gdc.items() if k not in CORE_FIELDS}
    if metadata.temporal_end:
        gdc.setdefault("last_updated_date", metadata.temporal_end)
    if schema is not None:
        specs = {f["field_name"] for f in schema.get("dataset_fields", [])}
        data.update({key: value for key, value in gdc.items() if key in specs})
    else:
        data["extras"] = [
            {"key": key, "value": json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)}
            for key, value in sorted(gdc.items())
        ]
    return data


def config_place(ckan_field: str, dataset: str) -> str:
    """Where datasets.toml gives a CKAN field: ``keywords in [datasets.NAME]``, ``objective in [datasets.NAME.gdc]``."""
    if ckan_field in CONFIG_KEYS:
        return f"{CONFIG_KEYS[ckan_field]} in [datasets.{dataset}]"
    return f"{ckan_field} in [datasets.{dataset}.gdc]"


def where_to_fix(ckan_fields: list[str], metadata: DatasetMetadata | None) -> str:
    """The hint of a refusal: which datasets.toml keys, in which tables, and what to run then (no rebuild)."""
    name = metadata.package_name if metadata and metadata.package_name else "NAME"
    top = sorted({CONFIG_KEYS[f] for f in ckan_fields if f in CONFIG_KEYS})
    gdc = sorted({f for f in ckan_fields if f not in CONFIG_KEYS})
    places = "; ".join(([f"{', '.join(top)} in [datasets.{name}]"] if top else [])
                       + ([f"{', '.join(gdc)} in [datasets.{name}.gdc]"] if gdc else []))
    if metadata is not None and metadata.config_path is not None:
        return (f"set in {metadata.config_path}: {places}; then publish again: publish reads the dataset metadata "
                "from that file, so no rebuild is needed")
    return (f"add to datasets.toml: {places} (`ogd init {name} …` writes such an entry, asking for or listing every "
            "value it needs); then publish again from that file's folder, or with --config FILE: publish reads the "
            "metadata of a package named in datasets.toml from it, so no rebuild is needed (this package's metadata "
            "came from its datapackage.json: no datasets.toml names it)")


def check_metadata(data: dict[str, Any], schema: dict[str, Any] | None,
                   metadata: DatasetMetadata | None = None) -> None:
    """Refuse, before any write, values the portal would refuse (all at once): tags, and the scheming schema's.

    Each refusal names the datasets.toml key that gives the field and its table.
    """
    name = metadata.package_name if metadata and metadata.package_name else "NAME"
    tags = tag_problems(str(data.get("tag_string") or ""))
    if tags:
        raise PortalRejected(
            f"the dataset's keywords break CKAN's tag rules ({len(tags)} problem(s)); nothing was written",
            {"tags": tags}, where_to_fix(["tags"], metadata) + " (tags: 2-100 characters: letters, digits, spaces, "
                                                               "- _ .)")
    if schema is None:
        return
    problems = check_values(data, schema)
    if problems:
        raise PortalRejected(
            f"the dataset metadata does not fit the portal's schema ({len(problems)} problem(s)); nothing was written",
            {p["field"]: f"{p['message']} -> {config_place(p['field'], name)}" for p in problems},
            where_to_fix([p["field"] for p in problems], metadata),
        )


def _normalise(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    return "" if value is None else str(value)


def metadata_differs(wanted: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Fields whose portal value differs from what we would send."""
    different = []
    for key, value in wanted.items():
        if key == "owner_org":
            current_org = (current.get("organization") or {}).get("name")
            if value not in (current_org, current.get("owner_org")):
                different.append(key)
        elif key == "tag_string":
            if sorted(t for t in value.split(",") if t) != sorted(t["name"] for t in current.get("tags", [])):
                different.append(key)
        elif key == "extras":
            have = {e["key"]: e["value"] for e in current.get("extras", [])}
            if any(have.get(e["key"]) != e["value"] for e in value):
                different.append(key)
        elif _normalise(value) != _normalise(current.get(key)):
            different.append(key)
    return different

