"""The one licence table (pipeline/licences.py): what the descriptor, the GDC schema and a stock CKAN get."""

from __future__ import annotations

import pytest

from pipeline.gdc import bundled_schema
from pipeline.licences import LICENCES, ckan_candidates, descriptor_licence, gdc_title


def test_the_descriptor_entry_is_what_packages_have_always_carried() -> None:
    assert descriptor_licence("CC-BY-4.0") == {"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0",
                                               "path": "https://creativecommons.org/licenses/by/4.0/"}
    assert descriptor_licence("CC0-1.0") == {"name": "CC0-1.0", "title": "CC0 1.0",
                                             "path": "https://creativecommons.org/publicdomain/zero/1.0/"}
    # Not described by the table: the id is its own title, without a path (also for a known id in another case).
    assert descriptor_licence("notspecified") == {"name": "notspecified", "title": "notspecified"}
    assert descriptor_licence("my-own-licence") == {"name": "my-own-licence", "title": "my-own-licence"}
    assert descriptor_licence("cc-by-4.0") == {"name": "cc-by-4.0", "title": "cc-by-4.0"}


@pytest.mark.parametrize("given, gdc, ckan", [
    ("CC-BY-4.0", "Creative Commons Attributions", ("cc-by",)),
    ("cc-by-4.0", "Creative Commons Attributions", ("cc-by",)),
    ("cc-by", "Creative Commons Attributions", ("cc-by",)),
    ("CC-BY-3.0", "Creative Commons Attributions", ("cc-by",)),
    ("CC-BY-SA-4.0", "Creative Commons Attribution Share-Alike", ("cc-by-sa",)),
    ("CC-BY-NC-4.0", "Creative Commons Non-Commercial (Any)", ("cc-nc",)),
    ("ODbL-1.0", "Open Data Common", ("odc-odbl",)),
    ("odc-pddl", "Open Data Common", ("odc-pddl",)),
    ("CC0-1.0", "อื่นๆ", ("cc-zero",)),
    ("GFDL-1.3", "GNU Free Documentation License", ("gfdl",)),
    ("notspecified", "License not specified", ("notspecified",)),
    ("some-custom", "อื่นๆ", ()),
])
def test_gdc_title_and_ckan_ids_come_from_the_one_table(given: str, gdc: str, ckan: tuple[str, ...]) -> None:
    assert gdc_title(given) == gdc
    assert ckan_candidates(given) == ckan


def test_every_gdc_title_in_the_table_is_a_choice_of_the_bundled_gdc_schema() -> None:
    field = next(f for f in bundled_schema()["dataset_fields"] if f["field_name"] == "license_id")
    choices = {str(choice["value"]) for choice in field["choices"]}
    assert {entry.gdc for entry in LICENCES} <= choices
