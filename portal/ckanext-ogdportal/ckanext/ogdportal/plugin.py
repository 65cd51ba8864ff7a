"""CKAN plugin for ogd-pipeline's local preview portal.

GDC portals such as data.go.th accept Thai tags ("ข่าว"), but CKAN core's tag
validator only allows ``\\w`` characters, and Python's ``\\w`` excludes Thai
vowel and tone marks (Unicode category Mn). This plugin replaces the tag
validators with versions that also accept the Thai block, and adds
``ogd_other_required``: a GDC ``<field>_other`` text is required when its
choice field is "อื่นๆ" (other).

For visitors (templates/ and the helpers below): a home page that says what
the portal holds; the GDC table without empty fields, with ใช่/ไม่ใช่ for
True/False and dates in both calendars (ค.ศ. and พ.ศ.), and the date the
dataset was last published on the portal; a resource's "Additional
information" without the publisher's internal fields (``ogd_*``, the raw
Table Schema JSON, which is in the data dictionary and datapackage.json).
Only looks: a stock CKAN receives the same data.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from itertools import count
from typing import Any, Callable, Iterable

import ckan.plugins as plugins
import ckan.plugins.toolkit as toolkit
from ckan.lib.navl.dictization_functions import Invalid, missing
from ckan.logic.validators import tag_length_validator

_TAG = re.compile(r"[\w \-.\u0e00-\u0e7f]*$", re.UNICODE)
OTHER = "อื่นๆ"


def thai_tag_name_validator(value: Any, context: Any) -> Any:
    if not _TAG.match(value):
        raise Invalid(
            'Tag "%s" can only contain letters (Thai included), digits, spaces (" "), '
            'hyphens ("-"), underscores ("_") or dots (".")' % value
        )
    return value


def thai_tag_string_convert(key: Any, data: Any, errors: Any, context: Any) -> Any:
    """CKAN's tag_string_convert, validating with the Thai-aware tag name check."""
    value = data[key]
    if isinstance(value, str):
        tags = [tag.strip() for tag in value.split(",") if tag.strip()]
    else:
        tags = value
    current = max([int(k[1]) for k in data.keys() if len(k) == 3 and k[0] == "tags"] + [-1])
    for number, tag in zip(count(current + 1), tags):
        data[("tags", number, "name")] = tag
    for tag in tags:
        tag_length_validator(tag, context)
        thai_tag_name_validator(tag, context)


def ogd_other_required(key: Any, data: Any, errors: Any, context: Any) -> Any:
    """``<field>_other`` must be filled when ``<field>`` is (or includes) "อื่นๆ"."""
    name = key[-1]
    if not isinstance(name, str) or not name.endswith("_other"):
        return
    choice = data.get(key[:-1] + (name[: -len("_other")],))
    if isinstance(choice, str) and choice.startswith("["):
        try:  # multiple-choice fields are already JSON-encoded (with \u escapes) here
            choice = json.loads(choice)
        except ValueError:
            pass
    chosen = choice if isinstance(choice, (list, tuple)) else [choice]
    value = data.get(key)
    if OTHER in [str(c) for c in chosen] and (value in (None, missing) or not str(value).strip()):
        errors[key].append(f"required when {name[: -len('_other')]} is {OTHER}: say what it is")


THAI_MONTHS = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
YES_NO = {"true": "ใช่ (yes)", "false": "ไม่ใช่ (no)"}
# Resource fields a visitor has no use for: the publisher's bookkeeping and the Table Schema as raw JSON.
HIDDEN_RESOURCE_FIELDS = ("schema",)


def ogd_has_value(value: Any) -> bool:
    """A field worth a row: not empty, not an empty list (scheming stores multiple choices as JSON text)."""
    if value is None:
        return False
    if isinstance(value, (list, tuple, dict)):
        return bool(value)
    return str(value).strip() not in ("", "[]", "{}")


def ogd_yes_no(value: Any) -> str:
    """ใช่/ไม่ใช่ for GDC's True/False choices; "" for anything else."""
    return YES_NO.get(str(value).strip().lower(), "") if value is not None else ""


def ogd_both_calendars(value: Any) -> str:
    """An ISO date or timestamp as "2024-05-01 (1 พ.ค. 2567)": Gregorian, and the Buddhist Era Thai readers use."""
    text = str(value or "").strip()
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        return text
    return f"{day.isoformat()} ({day.day} {THAI_MONTHS[day.month - 1]} {day.year + 543})"


@toolkit.chained_helper
def format_resource_items(next_helper: Callable[..., Any], items: Iterable[tuple[str, Any]]) -> Any:
    """CKAN's resource "Additional information" rows without the publisher's internal fields."""
    return next_helper([(key, value) for key, value in items
                        if not str(key).startswith("ogd_") and key not in HIDDEN_RESOURCE_FIELDS])


class OgdPortalPlugin(plugins.SingletonPlugin):
    plugins.implements(plugins.IValidators)
    plugins.implements(plugins.IConfigurer)
    plugins.implements(plugins.ITemplateHelpers)

    def update_config(self, config: Any) -> None:
        toolkit.add_template_directory(config, "templates")

    def get_helpers(self) -> dict[str, Any]:
        return {"ogd_has_value": ogd_has_value, "ogd_yes_no": ogd_yes_no, "ogd_both_calendars": ogd_both_calendars,
                "format_resource_items": format_resource_items}

    def get_validators(self) -> dict[str, Any]:
        return {
            "tag_name_validator": thai_tag_name_validator,
            "tag_string_convert": thai_tag_string_convert,
            "ogd_other_required": ogd_other_required,
        }
