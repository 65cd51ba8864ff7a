"""``ogd validate`` (packages against their schemas) and ``ogd datasets`` (the configuration)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..problems import ExitCode, PipelineError
from .common import _emit_json, _fail


@click.command()
@click.argument("packages", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--frictionless", "use_frictionless", is_flag=True,
              help="Validate with Frictionless itself (the reference; slower) instead of the fast check.")
@click.option("--json", "as_json", is_flag=True, help="Print the validation summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors.")
def validate(packages: tuple[Path, ...], use_frictionless: bool, as_json: bool, quiet: bool) -> None:
    """Re-validate data packages against their schemas (exit 3 when any is invalid).

    PACKAGES are package folders or their datapackage.json files. The default
    check reports the same errors as Frictionless, faster; packages it does not
    cover are handed to Frictionless.

    Example: ogd validate datapackages/thaigov-news-sample
    """
    from ..validate.reference import validate_package
    from ..validate.tables import validate_package_fast

    folders = []
    for given in packages:
        # The Frictionless habit: `validate path/datapackage.json` names the descriptor, not the folder.
        folder = given.parent if given.name == "datapackage.json" else given
        # A datapackage.json that is a link, or not JSON, is a package that fails validation (exit 3,
        # "a package failed validation"), refused before anything is opened; exit 2 is for an argument
        # that names no package at all.
        descriptor = folder / "datapackage.json"
        if not (descriptor.is_file() or descriptor.is_symlink()):
            what = "does not exist" if not given.exists() else "is not a data package (it has no datapackage.json)"
            raise click.BadParameter(f"{given} {what}; give a package folder (as written by ogd build or ogd pull) "
                                     "or its datapackage.json", param_hint="PACKAGES")
        folders.append(folder)
    summaries = []
    for folder in folders:
        summary = validate_package(folder) if use_frictionless else validate_package_fast(folder)
        summary["package"] = str(folder)
        summaries.append(summary)
        verdict = "valid" if summary["valid"] else f"INVALID ({summary['error_count']} errors)"
        per_file = ", ".join(f"{n} in {name}" for name, n in summary.get("rows_by_resource", {}).items())
        if not quiet or not summary["valid"]:
            click.echo(f"{folder}: {verdict}: {summary['rows']} rows ({per_file}) checked by {summary['validator']}",
                       err=True)
        for error in summary["errors"][:20]:
            where = f"row {error['row']} field {error['field']}" if error["row"] else (error["resource"] or "package")
            click.echo(f"  - [{error['type']}] {where}: {error['message']}", err=True)
    if as_json:
        _emit_json(summaries)
    if not all(s["valid"] for s in summaries):
        sys.exit(int(ExitCode.DATA))


@click.command("datasets")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Dataset configuration file (default: ./datasets.toml; paths in it are relative to it).")
@click.option("--json", "as_json", is_flag=True, help="Print the datasets as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Names only, one a line (for scripts).")
def list_datasets(config_path: Path | None, as_json: bool, quiet: bool) -> None:
    """List the configured datasets (and check the configuration: exit 2 lists every problem).

    Example: ogd datasets --config datasets.toml
    """
    from ..config import load_config

    try:
        configs = load_config(config_path)
    except PipelineError as error:
        _fail(error)
    if as_json:
        _emit_json([{"name": d.name, "organization": d.organization, "title": d.title, "title_en": d.title_en,
                     "inputs": [str(p) for p in d.inputs], "output": str(d.output_dir())} for d in configs.values()])
        return
    if quiet:
        for dataset in configs.values():
            click.echo(dataset.name)
        return
    click.echo("name\torganization\ttitle")
    for dataset in configs.values():
        click.echo(f"{dataset.name}\t{dataset.organization}\t{dataset.title}")
