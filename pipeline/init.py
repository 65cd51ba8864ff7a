"""``ogd init``: write a dataset's entry into ``datasets.toml``, so build and publish need nothing more.

The entry is TOML text appended to the file (comments and layout of the
file are kept), and the whole resulting file is checked by
:func:`pipeline.config.load_config` before it replaces the old one: init
never leaves a configuration that ``ogd build`` would refuse.

GDC fields get the values a news-release dataset usually has (those of the
bundled ``datasets.toml``) unless given, and every value is checked against
the portal's own scheming schema when a portal answers, else against the
bundled GDC schema.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import NAME_PATTERN, load_config
from .gdc import OTHER, field_specs, is_multiple
from .problems import ConfigError

#: GDC values of a dataset of daily news releases; init offers them, a flag or a prompt overrides each.
NEWS_GDC_DEFAULTS: dict[str, Any] = {
    "data_type": "ข้อมูลระเบียน",
    "objective": ["เพื่อการให้บริการประชาชน", "พันธกิจหน่วยงาน"],
    "update_frequency_unit": "วัน",
    "update_frequency_interval": "1",
    "geo_coverage": "ประเทศ",
    "data_format": ["CSV", "JSON", OTHER],
    "data_format_other": "Parquet",
    "data_category": "ข้อมูลสาธารณะ",
    "data_classification": "เปิดเผย",
    "data_language": ["ไทย"],
    "allow_harvest": "True",
}

CONFIG_HEADER = """\
# Datasets that `ogd build --all` builds into datapackages/<name>/ (beside this
# file) and `ogd publish --all` publishes. Paths are relative to this file.
# Written by `ogd init`; edit freely (README: Configuration lists every key).
"""


@dataclass
class DatasetEntry:
    """What ``ogd init`` writes for one dataset (keys as in ``datasets.toml``)."""

    name: str
    values: dict[str, Any]
    gdc: dict[str, Any] = field(default_factory=dict)


def parse_gdc_option(text: str, schema: dict[str, Any]) -> tuple[str, Any]:
    """``KEY=VALUE`` (``KEY=A;B`` for a field with several choices) -> (key, value)."""
    if "=" not in text:
        raise ConfigError(f"--gdc {text!r} is not KEY=VALUE", ["write it as --gdc data_type=ข้อมูลระเบียน"])
    key, value = (part.strip() for part in text.split("=", 1))
    spec = field_specs(schema).get(key)
    if spec is not None and is_multiple(spec):
        return key, [item.strip() for item in value.split(";") if item.strip()]
    return key, value


def gdc_questions(schema: dict[str, Any], known: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema's required GDC fields with choices that ``known`` lacks: what an interactive init asks."""
    from .gdc import CORE_FIELDS

    questions = []
    for name, spec in field_specs(schema).items():
        if name in CORE_FIELDS or name in known or not spec.get("required"):
            continue
        questions.append({"field": name, "label": spec.get("label", name), "multiple": is_multiple(spec),
                          "choices": [str(choice["value"]) for choice in spec.get("choices", [])]})
    return questions


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def entry_text(entry: DatasetEntry) -> str:
    lines = ["", f"[datasets.{entry.name}]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in entry.values.items() if value not in (None, "", [])]
    if entry.gdc:
        lines += ["", f"[datasets.{entry.name}.gdc]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in entry.gdc.items() if value not in (None, "", [])]
    return "\n".join(lines) + "\n"


def relative_inputs(inputs: list[Path], config_path: Path) -> list[str]:
    """Input paths as the configuration stores them: relative to the file's folder when they can be."""
    base = config_path.resolve().parent
    stored = []
    for item in inputs:
        resolved = item.resolve()
        try:
            stored.append(os.path.relpath(resolved, base) if resolved.is_relative_to(base) else str(resolved))
        except ValueError:  # another drive (Windows)
            stored.append(str(resolved))
    return stored


def write_entry(config_path: Path, entry: DatasetEntry) -> None:
    """Append ``entry`` to ``config_path`` (created when missing) once the whole result checks out.

    Refuses a name already in the file; every problem of the resulting file is
    reported at once (exit 2) and the file is left as it was.
    """
    if not NAME_PATTERN.match(entry.name):
        raise ConfigError(f"{entry.name!r} is not a valid dataset name",
                          ["use 2-100 characters of a-z, 0-9, '-' or '_' (it becomes the dataset's URL)"])
    existing = config_path.read_text(encoding="utf-8") if config_path.exists() else CONFIG_HEADER
    if f"[datasets.{entry.name}]" in existing:
        raise ConfigError(f"{config_path} already has a dataset {entry.name!r}",
                          [f"edit its [datasets.{entry.name}] table, or choose another name"])
    text = existing.rstrip("\n") + "\n" + entry_text(entry)
    candidate = config_path.with_name(f".{config_path.name}.init-{os.getpid()}")
    candidate.write_text(text, encoding="utf-8")
    try:
        load_config(candidate)  # the whole file, as build and publish will read it
    except ConfigError as error:
        candidate.unlink(missing_ok=True)
        raise ConfigError(f"the entry for {entry.name!r} would not be a valid configuration; {config_path} is unchanged",
                          error.problems) from None
    os.replace(candidate, config_path)


def default_gdc(schema: dict[str, Any], organization_title: str, given: dict[str, Any],
                defaults_in_file: dict[str, Any]) -> dict[str, Any]:
    """GDC values for the entry: the news defaults for what neither the flags nor ``[defaults.gdc]`` give."""
    specs = field_specs(schema)
    values = {k: v for k, v in NEWS_GDC_DEFAULTS.items() if k in specs and k not in defaults_in_file}
    if "data_source" not in defaults_in_file and organization_title:
        values["data_source"] = organization_title
    values.update(given)
    return values
