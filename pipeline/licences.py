"""Licences: the one table from a package's licence id to what each place that names a licence wants.

A dataset names its licence once (``license`` in datasets.toml, an SPDX-like
id such as ``CC-BY-4.0``). From that id come:

* the ``licenses`` entry of ``datapackage.json`` (title and path);
* the GDC licence title the Thai Government Data Catalog schema offers as
  ``license_id`` (``อื่นๆ``, "other", for a licence it does not list);
* the licence ids a stock CKAN portal knows it by (``license_list``), the
  first one found on the portal being used.

An id not in the table is its own descriptor title (no path), GDC ``อื่นๆ``,
and ``notspecified`` on a portal that does not list it by id or title.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The GDC schema's choice for a licence it does not list ("other").
GDC_OTHER = "อื่นๆ"


@dataclass(frozen=True)
class Licence:
    id: str  # the package's licence id (SPDX where there is one)
    title: str | None  # datapackage.json's title; None: the id is its own title and there is no path
    path: str | None  # datapackage.json's path (the licence text)
    gdc: str  # the GDC licence title (license_id on a GDC portal)
    ckan: tuple[str, ...]  # CKAN licence ids, preferred first; also accepted as this licence's id


LICENCES: tuple[Licence, ...] = (
    Licence("CC-BY-4.0", "Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/",
            "Creative Commons Attributions", ("cc-by",)),
    Licence("CC-BY-3.0", None, None, "Creative Commons Attributions", ("cc-by",)),
    Licence("CC-BY-SA-4.0", "Creative Commons Attribution Share-Alike 4.0",
            "https://creativecommons.org/licenses/by-sa/4.0/", "Creative Commons Attribution Share-Alike",
            ("cc-by-sa",)),
    Licence("CC-BY-NC-4.0", None, None, "Creative Commons Non-Commercial (Any)", ("cc-nc",)),
    Licence("CC0-1.0", "CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/", GDC_OTHER, ("cc-zero",)),
    Licence("ODC-BY-1.0", "Open Data Commons Attribution License 1.0", "https://opendatacommons.org/licenses/by/1-0/",
            "Open Data Common", ("odc-by",)),
    Licence("ODbL-1.0", "Open Data Commons Open Database License 1.0",
            "https://opendatacommons.org/licenses/odbl/1-0/", "Open Data Common", ("odc-odbl",)),
    Licence("PDDL-1.0", "Open Data Commons Public Domain Dedication and License 1.0",
            "https://opendatacommons.org/licenses/pddl/1-0/", "Open Data Common", ("odc-pddl",)),
    Licence("GFDL-1.3", None, None, "GNU Free Documentation License", ("gfdl",)),
    Licence("notspecified", None, None, "License not specified", ("notspecified",)),
)

_BY_ID = {licence.id: licence for licence in LICENCES}
_BY_FOLDED_ID = {licence.id.lower(): licence for licence in LICENCES}
# A CKAN id given as the package's licence (``cc-by``, any case) names the first licence that lists it.
_BY_CKAN_ID: dict[str, Licence] = {}
for _licence in LICENCES:
    for _ckan_id in _licence.ckan:
        _BY_CKAN_ID.setdefault(_ckan_id, _licence)


def licence(licence_id: str) -> Licence | None:
    """The table's entry for a package licence id, or for a CKAN licence id (either in any case)."""
    folded = licence_id.lower()
    return _BY_ID.get(licence_id) or _BY_FOLDED_ID.get(folded) or _BY_CKAN_ID.get(folded)


def descriptor_licence(licence_id: str) -> dict[str, str]:
    """The ``licenses`` entry of datapackage.json: name, title and (when known) path."""
    entry = _BY_ID.get(licence_id)  # by exact id only: what the descriptor has always said
    if entry is None or entry.title is None:
        return {"name": licence_id, "title": licence_id}
    described = {"name": licence_id, "title": entry.title}
    if entry.path:
        described["path"] = entry.path
    return described


def gdc_title(licence_id: str) -> str:
    """The GDC licence title (the GDC schema's ``license_id`` choice); ``อื่นๆ`` when the table does not know it."""
    entry = licence(licence_id)
    return entry.gdc if entry else GDC_OTHER


def ckan_candidates(licence_id: str) -> tuple[str, ...]:
    """CKAN licence ids a stock portal may know this licence by, preferred first (empty when unknown)."""
    entry = licence(licence_id)
    return entry.ckan if entry else ()
