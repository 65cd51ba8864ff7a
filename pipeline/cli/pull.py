"""``ogd pull``: a dataset from CKAN as a verified package."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..problems import ExitCode, PipelineError
from .common import _emit_json, _fail, _transfer_progress


@click.command()
@click.argument("name")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), metavar="DIR",
              help="Folder to write the package to: new, empty, or a previous copy of the same dataset.")
@click.option("--url", help="The portal (default: CKAN_URL, else the local portal).")
@click.option("--token-env", metavar="VARIABLE",
              help="Name of the environment variable holding an API token (for private datasets; default: "
                   "CKAN_API_TOKEN when set, else anonymous). The token itself is never an option.")
@click.option("--force", is_flag=True, help="Replace --out even when it holds other files or another package.")
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds of silence (connecting, or between bytes) "
              "before a request is retried (default: OGD_HTTP_TIMEOUT, else 30).")
@click.option("--deadline", type=click.FloatRange(min=1), help="Seconds after which the command stops retrying "
              "and exits 5 (default: OGD_DEADLINE, else 3600).")
@click.option("--json", "as_json", is_flag=True, help="Print the verification summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors: no progress, no per-file lines.")
@click.option("--since", metavar="VERSION", help="DIR holds this version (pulled before): download only the files "
              "that changed since, and list the change log's releases added, changed and removed after it.")
def pull(name: str, out: Path, url: str | None, token_env: str | None, force: bool, timeout: float | None,
         deadline: float | None, as_json: bool, quiet: bool, since: str | None) -> None:
    """Download dataset NAME from a CKAN portal as a data package and verify sizes, hashes and schema.

    DIR is replaced only by a copy that verified; one that does not is kept in DIR.unverified (exit 3).
    Progress (bytes) goes to stderr on a terminal.

    \b
    Example:
      ogd pull my-news --out copies/my-news --url https://data.example.go.th
      ogd pull my-news --out copies/my-news --since 1.2.0   # catch up from 1.2.0
    """

    from ..ckan.client import PortalClient, portal_settings
    from ..ckan.pull import pull_dataset

    try:
        # Pulling never takes the local portal's sysadmin token: anonymous unless a token is given.
        settings = portal_settings(url=url, token_env=token_env, use_local_token=False, command="pull")
        if not quiet:
            click.echo(settings.describe(), err=True)
        client = PortalClient(settings.url, settings.token, timeout=timeout, deadline=deadline, command="pull")
        out_existed = out.is_symlink() or out.exists()  # "was not changed" only of a folder that was there
        with _transfer_progress(not quiet, f"pull {name}") as progress:
            result = pull_dataset(client, name, out, force=force, progress=progress, since=since)
    except PipelineError as error:
        _fail(error)
    for entry in [] if quiet else result.files:
        how = " (unchanged: kept from the local copy)" if entry.get("reused") else ""
        click.echo(f"{entry['path']}: {entry['bytes']} bytes, sha256 {entry['sha256'][:16]}…{how}", err=True)
    if since is not None and not quiet:
        counts = {kind: sum(1 for row in result.changes if row["change"] == kind)
                  for kind in ("added", "changed", "removed")}
        click.echo(f"{name}: {since} -> {result.version}: {counts['added']} added, {counts['changed']} changed, "
                   f"{counts['removed']} removed (data/changes.csv)", err=True)
    for mismatch in result.mismatches:
        click.echo(f"MISMATCH {mismatch}", err=True)
    for skipped in [] if quiet else result.skipped:
        click.echo(f"skipped {skipped}", err=True)
    if result.ok:
        replaced = " (replaced the previous copy)" if result.replaced_previous else ""
        if not quiet:
            click.echo(f"{name}: verified -> {result.folder}{replaced}", err=True)
    else:
        click.echo(f"{name}: NOT verified: the download is kept in {result.folder} for inspection; "
                   + (f"{out} was not changed" if out_existed else f"{out} was not created"), err=True)
    if as_json:
        _emit_json(result.as_dict())
    if not result.ok:
        sys.exit(int(ExitCode.DATA))
