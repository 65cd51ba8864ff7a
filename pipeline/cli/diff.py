"""``ogd diff OLD NEW``: what changed between two versions of a package (folders, or a folder and a pulled copy)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import _emit_json


def _package_folder(given: Path, hint: str) -> Path:
    folder = given.parent if given.name == "datapackage.json" else given
    if not (folder / "datapackage.json").is_file() or not (folder / "data" / "releases.parquet").is_file():
        what = "does not exist" if not given.exists() else "is not a data package (no datapackage.json and data/releases.parquet)"
        raise click.BadParameter(f"{given} {what}; give a package folder as written by ogd build or ogd pull "
                                 "(a published dataset: ogd pull NAME --out DIR first)", param_hint=hint)
    return folder


@click.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the counts and every change as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the counts.")
def diff(old: Path, new: Path, as_json: bool, quiet: bool) -> None:
    """Releases added, changed (with the changed fields) and removed from package OLD to package NEW.

    OLD and NEW are package folders (or their datapackage.json). Releases are
    matched by release_id; where a release was read from (its file, item,
    bytes, encoding, parser version) is not a change. Exit 0 whether or not
    anything changed; 2 when an argument is not a package.

    Example: ogd pull thaigov-news-sample --out old && ogd diff old datapackages/thaigov-news-sample
    """
    import json

    from ..changes.detect import compare_tables
    from ..package.layout import DESCRIPTOR_PATH, PARQUET_PATH

    old_folder, new_folder = _package_folder(old, "OLD"), _package_folder(new, "NEW")
    changes = compare_tables(old_folder / PARQUET_PATH, new_folder / PARQUET_PATH)
    versions = [json.loads((folder / DESCRIPTOR_PATH).read_text(encoding="utf-8")).get("version")
                for folder in (old_folder, new_folder)]
    if as_json:
        _emit_json({"old": {"package": str(old_folder), "version": versions[0]},
                    "new": {"package": str(new_folder), "version": versions[1]},
                    "counts": changes.counts(),
                    "changes": [{"release_id": release, "change": change, "changed_fields": fields.split()}
                                for release, change, fields in changes.rows()]})
        return
    counts = changes.counts()
    click.echo(f"{old_folder} ({versions[0]}) -> {new_folder} ({versions[1]}): {counts['added']} added, "
               f"{counts['changed']} changed, {counts['removed']} removed")
    if not quiet:
        for release, change, fields in changes.rows():
            click.echo(f"  {change:8} {release}{f'  ({fields})' if fields else ''}")
