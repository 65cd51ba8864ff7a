"""Dataset configuration (``datasets.toml``): a team adds a dataset without writing code.

The whole file is checked at once and every problem is reported together,
each naming the dataset and key, so a team fixes its file in one pass.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .changes.version import VERSION_PATTERN
from .extract.decode import DEFAULT_MAX_INPUT_BYTES
from .extract.discover import is_url
from .gdc import check_values, tag_problems
from .harvest.settings import HarvestSource, parse_sources
from .licences import LICENCES, gdc_title, licence
from .package.parts import DEFAULT_MAX_UPLOAD_BYTES, PARTITIONS
from .problems import ConfigError
from .record import RELEASE_FIELDS
from .sources.profiles import SiteProfile, SiteProfiles, combine, parse_profiles
from .sources.registry import source_choices

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_NAME = "datasets.toml"
OUTPUT_FOLDER = "datapackages"  # packages of configured datasets go here, beside their datasets.toml

EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+")  # enough to catch a name typed where the address goes
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")
_KNOWN_KEYS = {
    "title", "title_en", "description", "organization", "organization_title", "license",
    "inputs", "source", "keywords", "version", "maintainer", "maintainer_email", "url",
    "max_quarantine_ratio", "gdc", "homepage", "ckan_name", "max_input_bytes", "harvest", "quality",
    "partition", "max_upload_bytes", "private", "files_url",
}
_REQUIRED_KEYS = ("title", "title_en", "description", "organization", "license", "inputs", "maintainer", "maintainer_email")


@dataclass(frozen=True)
class DatasetConfig:
    """One configured dataset: what to build from which inputs, and how to describe it."""

    name: str
    title: str
    title_en: str
    description: str
    organization: str
    organization_title: str
    license: str
    inputs: tuple[Path | str, ...]  # folders and files, or fsspec URLs of object storage (s3://bucket/prefix/)
    maintainer: str
    maintainer_email: str
    source: str = "auto"
    keywords: tuple[str, ...] = ()
    version: str = "1.0.0"
    url: str | None = None
    max_quarantine_ratio: float = 0.05
    gdc: dict[str, Any] = field(default_factory=dict)
    ckan_name: str | None = None  # the dataset's name on the portal, when not the package name
    config_dir: Path | None = None  # the folder of the datasets.toml that declares it (None: ad hoc)
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES  # an input over this is quarantined unread (too-large)
    harvest: tuple[HarvestSource, ...] = ()  # [[datasets.NAME.harvest]]: the websites `ogd harvest` walks
    # [datasets.NAME.quality] min_filled: field -> the share of records that must fill it, or the build fails.
    min_filled: dict[str, float] = field(default_factory=dict)
    # [[profiles]] of the file (every dataset's): how the html source reads the sites the team names.
    profiles: tuple[SiteProfile, ...] = ()
    # Parts of the table (pipeline/package/parts.py): "auto" splits by year when the whole CSV would not fit one
    # upload of max_upload_bytes (the portal's cap: CKAN's ckan.max_resource_size).
    partition: str = "auto"
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    private: bool = False  # keep the dataset private on the portal on purpose (default: public once complete)
    # [organizations.NAME] description: what the organization's page on the portal says (publish keeps it so).
    organization_description: str | None = None
    # Where the team hosts the package's files (the same layout below it): a file over the upload cap is linked
    # there instead of uploaded, its size and hash checked first.
    files_url: str | None = None

    def site_profiles(self) -> SiteProfiles:
        """The team's site profiles, then the bundled ones (with the digest that keys the build's cache)."""
        return combine(self.profiles)

    def output_dir(self) -> Path:
        """``datapackages/NAME`` beside the configuration file that declares the dataset."""
        return (self.config_dir or Path.cwd()) / OUTPUT_FOLDER / self.name


def default_config_path() -> Path:
    """The configuration a command uses without ``--config``.

    ``datasets.toml`` in the current folder (the project root of a team's own
    folder, as ``ogd init`` writes it); else, in a source checkout of
    ogd-pipeline, the checkout's own (the bundled sample datasets).
    """
    here = Path.cwd() / CONFIG_NAME
    if here.is_file():
        return here
    checkout = REPO_ROOT / CONFIG_NAME
    if checkout.is_file() and (REPO_ROOT / "pyproject.toml").is_file():
        return checkout
    return here  # missing: load_config says so, and how to create it


#: What ``ogd build PATH... --out DIR`` may be told about its package (the flags ``--title`` and friends).
AD_HOC_KEYS = ("title", "title_en", "description", "organization", "organization_title", "license", "maintainer",
               "maintainer_email", "keywords")


def ad_hoc_dataset(name: str, inputs: list[Path | str], source: str, max_quarantine_ratio: float,
                   max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES, *, metadata: dict[str, Any] | None = None,
                   config_path: Path | None = None, gdc: dict[str, Any] | None = None) -> DatasetConfig:
    """A dataset for ``ogd build PATH... --out DIR`` (no configuration entry).

    Its description comes from ``metadata`` and ``gdc`` (the command's flags), then from
    ``[defaults]`` and ``[defaults.gdc]`` of the configuration when there is
    one (``config_path``, else ``./datasets.toml`` when present), then from
    placeholders; so a team's licence, maintainer and GDC values apply to
    ad-hoc builds too.
    """
    defaults: dict[str, Any] = {}
    profiles: tuple[SiteProfile, ...] = ()
    # Only a configuration the user names or stands in: not the checkout's fallback of default_config_path(),
    # whose samples' defaults would creep into a build made elsewhere.
    path = config_path or Path.cwd() / CONFIG_NAME
    if path.is_file():
        try:
            with open(path, "rb") as handle:
                raw = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML", [str(exc)]) from None
        defaults = raw.get("defaults", {})
        # The team's site profiles describe websites, not a dataset: an ad-hoc build of those pages uses them too.
        profiles, problems = parse_profiles(raw.get("profiles", []))
        if problems:
            raise ConfigError(f"configuration file {path} has {len(problems)} problem(s)", problems)
    given = {k: v for k, v in (metadata or {}).items() if v not in (None, "", (), [])}
    merged = {**{k: v for k, v in defaults.items() if k in AD_HOC_KEYS}, **given}
    return DatasetConfig(
        name=name,
        title=merged.get("title", f"ข่าวประชาสัมพันธ์ภาครัฐ: {name}"),
        title_en=merged.get("title_en", f"Thai government releases: {name}"),
        description=merged.get("description", "Releases built ad hoc with `ogd build` from the listed inputs."),
        organization=merged.get("organization", ""),
        organization_title=merged.get("organization_title", merged.get("organization", "")),
        license=merged.get("license", "notspecified"),
        inputs=tuple(inputs),
        maintainer=merged.get("maintainer", ""),
        maintainer_email=merged.get("maintainer_email", ""),
        source=source,
        keywords=tuple(merged.get("keywords", ())),
        max_quarantine_ratio=max_quarantine_ratio,
        max_input_bytes=max_input_bytes,
        gdc={**defaults.get("gdc", {}), **(gdc or {})},
        profiles=profiles,
    )


def load_config(path: Path | None = None) -> dict[str, DatasetConfig]:
    """Read and check the dataset configuration; raise :class:`ConfigError` listing every problem.

    Paths in it (``inputs``, and the ``datapackages/`` output folder) are relative to the file.
    """
    path = (path or default_config_path()).absolute()
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found",
                          ["create it with `ogd init NAME …` (see README: Quick start), or pass --config FILE"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML", [str(exc)]) from None
    defaults = raw.get("defaults", {})
    datasets = raw.get("datasets", {})
    problems: list[str] = []
    configs: dict[str, DatasetConfig] = {}
    if not datasets:
        problems.append("no [datasets.NAME] table: declare at least one dataset")
    # Top level, not per dataset: a profile describes a website, and every dataset reading its pages needs it.
    profiles, profile_problems = parse_profiles(raw.get("profiles", []))
    problems.extend(profile_problems)
    organizations = raw.get("organizations", {})
    if not isinstance(organizations, dict) or not all(isinstance(t, dict) for t in organizations.values()):
        problems.append("[organizations]: each organization is a table [organizations.NAME] with a description")
        organizations = {}
    for org, table in organizations.items():
        for key in sorted(set(table) - {"description"}):
            problems.append(f"[organizations.{org}]: unknown key {key!r} (known: description)")
        if not isinstance(table.get("description", ""), str):
            problems.append(f"[organizations.{org}]: description must be text (Thai, then English)")
    for name, table in datasets.items():
        merged = {**{k: v for k, v in defaults.items() if k != "gdc"}, **table}
        merged["gdc"] = {**defaults.get("gdc", {}), **table.get("gdc", {})}
        where = f"[datasets.{name}]"
        if merged.get("ckan_name") and not NAME_PATTERN.match(str(merged["ckan_name"])):
            problems.append(f"{where}: ckan_name must be 2-100 characters of a-z, 0-9, '-' or '_'")
        if not NAME_PATTERN.match(name):
            problems.append(f"{where}: the name must be 2-100 characters of a-z, 0-9, '-' or '_' (it becomes the CKAN dataset URL)")
        for key in sorted(set(merged) - _KNOWN_KEYS):
            if key == "profiles":
                problems.append(f"{where}: site profiles go at the top of the file, as [[profiles]] tables (they "
                                "describe websites and apply to every dataset; README: Site profiles)")
                continue
            problems.append(f"{where}: unknown key {key!r} (known: {', '.join(sorted(_KNOWN_KEYS))})")
        for key in _REQUIRED_KEYS:
            if not merged.get(key):
                problems.append(f"{where}: {key} is required")
        source = merged.get("source", "auto")
        if source not in source_choices():
            problems.append(f"{where}: source {source!r} is not one of {', '.join(source_choices())}")
        inputs = merged.get("inputs", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        # A URL (s3://bucket/prefix/) is kept as written: the workers read it; a path is relative to the file.
        resolved = tuple(entry if is_url(entry) else (path.parent / entry).resolve() for entry in inputs)
        ratio = merged.get("max_quarantine_ratio", 0.05)
        if not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            problems.append(f"{where}: max_quarantine_ratio must be a number from 0 to 1")
        max_input_bytes = merged.get("max_input_bytes", DEFAULT_MAX_INPUT_BYTES)
        if isinstance(max_input_bytes, bool) or not isinstance(max_input_bytes, int) or max_input_bytes < 1:
            problems.append(f"{where}: max_input_bytes must be a whole number of bytes, at least 1 "
                            f"(default {DEFAULT_MAX_INPUT_BYTES})")
            max_input_bytes = DEFAULT_MAX_INPUT_BYTES
        partition = merged.get("partition", "auto")
        if partition not in PARTITIONS:
            problems.append(f"{where}: partition {partition!r} is not one of {', '.join(PARTITIONS)} (auto: by year when "
                            "the whole table would not fit one upload)")
        max_upload_bytes = merged.get("max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES)
        if isinstance(max_upload_bytes, bool) or not isinstance(max_upload_bytes, int) or max_upload_bytes < 1:
            problems.append(f"{where}: max_upload_bytes must be a whole number of bytes (the portal's upload cap, "
                            f"ckan.max_resource_size; default {DEFAULT_MAX_UPLOAD_BYTES})")
            max_upload_bytes = DEFAULT_MAX_UPLOAD_BYTES
        files_url = merged.get("files_url")
        if files_url is not None and not (isinstance(files_url, str) and files_url.startswith(("https://", "http://"))):
            problems.append(f"{where}: files_url must be an http(s) address where the package's files are hosted "
                            "(for example \"https://opendata.agency.go.th/packages/NAME/\")")
            files_url = None
        if not isinstance(merged.get("private", False), bool):
            problems.append(f"{where}: private must be true or false (true keeps the dataset private on the portal)")
        if not VERSION_PATTERN.match(str(merged.get("version", "1.0.0"))):
            problems.append(f"{where}: version {merged.get('version')!r} is not MAJOR.MINOR.PATCH (for example "
                            "\"1.0.0\"); builds move it by the README's rules (Versions)")
        harvest_sources, harvest_problems = parse_sources(table.get("harvest", []), where)
        min_filled, quality_problems = _quality_floors(defaults.get("quality", {}), table.get("quality", {}), where)
        problems.extend(quality_problems)
        problems.extend(harvest_problems)
        gdc_values = dict(merged["gdc"])
        gdc_values.setdefault("license_id", gdc_title(str(merged.get("license", ""))))
        for key in ("title", "notes", "maintainer", "maintainer_email", "tag_string"):
            gdc_values.setdefault(key, merged.get({"notes": "description", "tag_string": "keywords"}.get(key, key)))
        licence_id = str(merged.get("license", ""))
        unknown_licence = bool(licence_id) and licence(licence_id) is None and not gdc_values.get("license_id_other")
        if unknown_licence:
            known = ", ".join(entry.id for entry in LICENCES)
            problems.append(f"{where}: license {licence_id!r} is not a licence id ogd-pipeline knows ({known}); use "
                            f"one of them, or say what it is in [datasets.{name}.gdc] license_id_other")
        for problem in check_values(gdc_values):
            if unknown_licence and problem["field"] == "license_id_other":
                continue  # said above, in the words of the key that was given
            problems.append(f"{where} gdc.{problem['field']}: {problem['message']}")
        keywords = merged.get("keywords", [])
        for keyword in keywords if isinstance(keywords, list) else [keywords]:
            problems.extend(f"{where}: keywords: {problem}" for problem in tag_problems(str(keyword).replace(",", " ")))
        email = merged.get("maintainer_email")
        if email and not EMAIL.fullmatch(str(email)):
            problems.append(f"{where}: maintainer_email {email!r} is not an e-mail address (name@agency.go.th)")
        if any(not merged.get(key) for key in _REQUIRED_KEYS):
            continue
        configs[name] = DatasetConfig(
            name=name,
            title=merged["title"],
            title_en=merged["title_en"],
            description=merged["description"],
            organization=merged["organization"],
            organization_title=merged.get("organization_title", merged["organization"]),
            license=merged["license"],
            inputs=resolved,
            maintainer=merged["maintainer"],
            maintainer_email=merged["maintainer_email"],
            source=source,
            keywords=tuple(merged.get("keywords", ())),
            version=str(merged.get("version", "1.0.0")),
            url=merged.get("url") or merged.get("homepage"),
            max_quarantine_ratio=float(ratio),
            gdc={k: v for k, v in merged["gdc"].items()},
            ckan_name=merged.get("ckan_name"),
            config_dir=path.parent,
            max_input_bytes=max_input_bytes,
            harvest=harvest_sources,
            min_filled=min_filled,
            profiles=profiles,
            partition=str(partition),
            max_upload_bytes=max_upload_bytes,
            private=merged.get("private") is True,
            organization_description=(organizations.get(merged["organization"]) or {}).get("description") or None,
            files_url=files_url,
        )
    if problems:
        raise ConfigError(f"configuration file {path} has {len(problems)} problem(s)", problems)
    return configs


def _quality_floors(defaults: Any, table: Any, where: str) -> tuple[dict[str, float], list[str]]:
    """``min_filled`` of ``[defaults.quality]`` and ``[datasets.NAME.quality]`` (the dataset's win per field),
    checked: every key a field of the Table Schema, every floor a share from 0 to 1."""
    problems: list[str] = []
    floors: dict[str, float] = {}
    for origin, quality in (("[defaults.quality]", defaults), (f"{where[:-1]}.quality]", table)):
        if not isinstance(quality, dict):
            problems.append(f"{origin} must be a table (min_filled = {{title = 1.0, category = 0.9}})")
            continue
        for key in sorted(set(quality) - {"min_filled"}):
            problems.append(f"{origin}: unknown key {key!r} (known: min_filled)")
        given = quality.get("min_filled", {})
        if not isinstance(given, dict):
            problems.append(f"{origin}: min_filled must be a table of field = share, e.g. {{title = 1.0}}")
            continue
        for name, floor in given.items():
            if name not in RELEASE_FIELDS:
                problems.append(f"{origin} min_filled: {name!r} is not a field of the records "
                                f"(fields: {', '.join(RELEASE_FIELDS)})")
            elif isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor <= 1:
                problems.append(f"{origin} min_filled.{name} must be a share from 0 to 1 (1.0 = every record)")
            else:
                floors[name] = float(floor)
    return dict(sorted(floors.items())), problems
