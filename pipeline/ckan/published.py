"""The published version of a dataset, fetched with the pull machinery when the output holds no package.

A fresh work tree (a CI runner without the previous packages) still moves the
version from the published one and records only its own changes; a dataset
the portal does not have yet starts at the configured first version.
"""

from __future__ import annotations

from pathlib import Path

import ckanapi

from .client import PortalClient, portal_settings
from .pull import pull_dataset
from ..changes.versioning import whole_table_from_parts
from ..problems import DataError


def portal_configured() -> bool:
    """Whether builds compare with the published version by default: a portal named in the environment."""
    import os

    return bool(os.environ.get("CKAN_URL"))


def fetch_published(ckan_name: str, into: Path, *, url: str | None = None) -> Path | None:
    """Pull the published package of ``ckan_name`` into the folder ``into`` (absent or empty); None when the
    portal has no such dataset. The copy is verified as every pull's; one that does not verify is an error."""
    settings = portal_settings(url=url, use_local_token=False, command="pull")
    client = PortalClient(settings.url, settings.token, command="pull")
    try:
        client.call_action("package_show", {"id": ckan_name})
    except ckanapi.NotFound:
        return None  # not published yet: this build is the first version
    result = pull_dataset(client, ckan_name, into)
    if not result.ok:
        raise DataError(f"the published version of {ckan_name} on {settings.url} did not verify "
                        f"({'; '.join(result.mismatches) or 'invalid package'}): the build cannot tell what changed",
                        "publish the dataset again, or build with --no-published to start its versions from "
                        "datasets.toml")
    whole_table_from_parts(into)  # published in parts without the whole Parquet file (over the portal's cap)
    return into
