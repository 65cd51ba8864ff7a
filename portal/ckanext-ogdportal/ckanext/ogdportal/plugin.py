"""CKAN plugin for ogd-pipeline's local preview portal.

GDC portals such as data.go.th accept Thai tags ("ข่าว"), but CKAN core's tag
validator only allows ``\\w`` characters, and Python's ``\\w`` excludes Thai
vowel and tone marks (Unicode category Mn). This plugin replaces the tag
validators with versions that also accept the Thai block, and adds
``ogd_other_required``: a GDC ``<field>_other`` text is required when its
choice field is "อื่นๆ" (other).
"""

from __future__ import annotations

import json
import re
from itertools import count
from typing import Any

import ckan.plugins as plugins
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


class OgdPortalPlugin(plugins.SingletonPlugin):
    plugins.implements(plugins.IValidators)

    def get_validators(self) -> dict[str, Any]:
        return {
            "tag_name_validator": thai_tag_name_validator,
            "tag_string_convert": thai_tag_string_convert,
            "ogd_other_required": ogd_other_required,
        }
