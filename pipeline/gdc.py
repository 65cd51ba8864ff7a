"""Thai Government Data Catalog (GDC) metadata: the fields, their choices, and checks.

The same ckanext-scheming schema serves two purposes: the local portal loads
it (``pipeline/schemas/thai_gdc_dataset.json``), and the pipeline checks dataset
configuration against it. At publish time the pipeline checks against the
schema the *portal* serves (``scheming_dataset_schema_show``) instead, so a
portal with other choices is respected.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from .licences import GDC_OTHER

BUNDLED_SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "thai_gdc_dataset.json"
OTHER = GDC_OTHER

#: Fields every GDC dataset carries that CKAN core already has; the rest are GDC's own.
CORE_FIELDS = {
    "title", "name", "owner_org", "notes", "tag_string", "url", "version",
    "maintainer", "maintainer_email", "license_id",
}

@lru_cache(maxsize=1)
def bundled_schema() -> dict[str, Any]:
    with open(BUNDLED_SCHEMA_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def field_specs(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {field["field_name"]: field for field in schema.get("dataset_fields", [])}


def is_multiple(spec: dict[str, Any]) -> bool:
    return spec.get("preset") == "multiple_checkbox" or "multiple" in str(spec.get("validators", ""))


def check_values(values: dict[str, Any], schema: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Check dataset values against a scheming schema; return every problem at once.

    Each problem is ``{"field", "message"}``: a required field missing, a
    value outside the field's choices, or a choice ``อื่นๆ`` without its
    ``<field>_other`` text.
    """
    specs = field_specs(schema or bundled_schema())
    problems: list[dict[str, str]] = []
    for name, spec in specs.items():
        value = values.get(name)
        empty = value is None or value == "" or value == []
        if spec.get("required") and empty and name not in {"name", "owner_org"}:
            problems.append({"field": name, "message": f"{name} is required ({spec.get('label', name)})"})
            continue
        choices = spec.get("choices")
        if empty or not choices:
            continue
        allowed = [str(choice["value"]) for choice in choices]
        given = value if isinstance(value, list) else [value]
        if not is_multiple(spec) and isinstance(value, list):
            problems.append({"field": name, "message": f"{name} takes one value, not a list"})
            continue
        for item in given:
            if str(item) not in allowed:
                problems.append(
                    {"field": name, "message": f"{name}: {item!r} is not an allowed choice; allowed: {', '.join(allowed)}"}
                )
        if OTHER in [str(item) for item in given] and f"{name}_other" in specs and not values.get(f"{name}_other"):
            problems.append(
                {"field": f"{name}_other", "message": f"{name} is {OTHER!r}: say what it is in {name}_other"}
            )
    return problems


# CKAN's tag rules: ckan.logic.validators tag_length_validator (2-100 characters) and tag_name_validator, as the
# project's portal plugin (portal/ckanext-ogdportal) widens it to the Thai block (vowel and tone marks are not \w).
# A stock CKAN refuses Thai marks; data.go.th-style GDC portals accept them.
TAG_MIN, TAG_MAX = 2, 100
TAG_CHARACTERS = re.compile(r"[\w \-.\u0e00-\u0e7f]*", re.UNICODE)


def tag_problems(tag_string: str) -> list[str]:
    """What CKAN would refuse in each tag of ``tag_string`` (comma-separated), naming the tag."""
    problems = []
    for tag in (t.strip() for t in tag_string.split(",")):
        if not tag:
            continue
        if not TAG_MIN <= len(tag) <= TAG_MAX:
            problems.append(f"tag {tag!r} has {len(tag)} character(s); CKAN allows {TAG_MIN} to {TAG_MAX}")
        bad = sorted({ch for ch in tag if not TAG_CHARACTERS.fullmatch(ch)})
        if bad:
            shown = ", ".join(repr(ch) for ch in bad)
            problems.append(f"tag {tag!r} has character(s) CKAN refuses in tags ({shown}); allowed: letters (Thai "
                            "included), digits, spaces, '-', '_' and '.'")
    return problems
