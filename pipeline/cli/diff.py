"""``ogd diff OLD NEW``: what changed between two versions of a package: package folders, or a folder and the
version published on a portal (pulled and verified into a temporary folder first)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

from ..problems import PipelineError
from .common import _emit_json, _fail


def _package_folder(given: Path, hint: str) -> Path:
    folder = given.parent if given.name == "datapackage.json" else given
    if not (folder / "datapackage.json").is_file() or not (folder / "data" / "releases.parquet").is_file():
        what = "does not exist" if not given.exists() else "is not a data package (no datapackage.json and data/releases.parquet)"
        raise click.BadParameter(f"{given} {what}; give a package folder as written by ogd build or ogd pull "
                                 "(a published dataset: ogd pull NAME --out DIR first)", param_hint=hint)
    return folder


@contextlib.contextmanager
def _published(name: str, url: str | None) -> Iterator[Path]:
    """The version of dataset ``name`` published on the portal, pulled and verified into a temporary folder."""
    from ..ckan.client import PortalClient, portal_settings
    from ..ckan.pull import pull_dataset
    from ..problems import DataError

    settings = portal_settings(url=url, use_local_token=False, command="pull")
    with tempfile.TemporaryDirectory(prefix="ogd-diff-") as folder:
        result = pull_dataset(PortalClient(settings.url, settings.token, command="pull"), name, Path(folder) / name)
        if not result.ok:
            raise DataError(f"the published {name} on {settings.url} did not verify: "
                            + "; ".join(result.mismatches or ["invalid package"]), "publish it again")
        from ..changes.versioning import whole_table_from_parts

        whole_table_from_parts(result.folder)  # published in parts without the whole Parquet file (over the cap)
        yield result.folder


@click.command()
@click.argument("old")
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--published", "old_is_published", is_flag=True,
              help="OLD is a dataset name on the portal (CKAN_URL, or --url): its published version is pulled and "
                   "verified first.")
@click.option("--url", help="The portal of --published (default: CKAN_URL, else the local portal).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts and every change as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the counts.")
def diff(old: str, new: Path, old_is_published: bool, url: str | None, as_json: bool, quiet: bool) -> None:
    """Releases added, changed (with the changed fields) and removed from package OLD to package NEW.

    OLD and NEW are package folders (or their datapackage.json); with
    --published, OLD is the name of a dataset on the portal (what a build
    about to be published changes). Releases are matched by release_id; where
    a release was read from (its file, item, bytes, encoding, parser version)
    is not a change. Exit 0 whether or not anything changed; 2 when an
    argument is not a package.

    \b
    Examples:
      ogd diff old-copy datapackages/thaigov-news-sample
      ogd diff --published thaigov-news-sample datapackages/thaigov-news-sample
    """
    try:
        with (_published(old, url) if old_is_published else contextlib.nullcontext(Path(old))) as old_folder:
            _diff(old_folder, new, as_json, quiet, old_label=f"{old} (published)" if old_is_published else None)
    except PipelineError as error:
        _fail(error)


def _diff(old: Path, new: Path, as_json: bool, quiet: bool, old_label: str | None) -> None:
    from ..changes.detect import compare_tables
    from ..changes.versioning import previous_version
    from ..package.layout import PARQUET_PATH

    old_folder, new_folder = _package_folder(old, "OLD"), _package_folder(new, "NEW")
    changes = compare_tables(old_folder / PARQUET_PATH, new_folder / PARQUET_PATH)
    versions = [held.version if (held := previous_version(folder)) is not None else None
                for folder in (old_folder, new_folder)]
    if as_json:
        _emit_json({"old": {"package": old_label or str(old_folder), "version": versions[0]},
                    "new": {"package": str(new_folder), "version": versions[1]},
                    "counts": changes.counts(),
                    "changes": [{"release_id": release, "change": change, "changed_fields": fields.split()}
                                for release, change, fields in changes.rows()]})
        return
    counts = changes.counts()
    click.echo(f"{old_label or old_folder} ({versions[0]}) -> {new_folder} ({versions[1]}): {counts['added']} added, "
               f"{counts['changed']} changed, {counts['removed']} removed")
    if not quiet:
        for release, change, fields in changes.rows():
            click.echo(f"  {change:8} {release}{f'  ({fields})' if fields else ''}")
