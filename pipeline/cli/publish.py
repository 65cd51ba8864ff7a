"""``ogd publish`` (packages to CKAN) and ``ogd summarize`` (its summary as Markdown)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..problems import ConfigError, DataError, PipelineError, PortalRejected, UsageError
from .common import _emit_json, _fail, _transfer_progress


@click.command()
@click.argument("package_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dataset", "datasets", multiple=True, help="Publish this configured dataset's package (repeatable).")
@click.option("--all", "publish_all", is_flag=True, help="Publish every configured dataset (datapackages/NAME).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Dataset configuration file (default: ./datasets.toml; paths in it are relative to it).")
@click.option("--org", help="CKAN organization to publish in (default: the package's own).")
@click.option("--dry-run", is_flag=True, help="Print the plan (create / update / skip, rows) and write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--summary-file", type=click.Path(path_type=Path), help="Also write the JSON summary to this file.")
@click.option("--url", "portal_url", help="The portal's URL (default: CKAN_URL, else the local portal).")
@click.option("--token-env", metavar="NAME", help="Environment variable holding the API token (default: "
              "CKAN_API_TOKEN); a token never goes on the command line.")
@click.option("--create-org", is_flag=True, help="Create the organization when it does not exist (never otherwise).")
@click.option("--verify", is_flag=True, help="Download the portal's files, check size and sha256 against the "
              "package, and repair (re-upload) those that differ.")
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds of silence (connecting, or between bytes) "
              "before a request is retried (default: OGD_HTTP_TIMEOUT, else 30; uploads wait 4 times as long).")
@click.option("--deadline", type=click.FloatRange(min=1), help="Seconds after which the command stops retrying "
              "and exits 5 (default: OGD_DEADLINE, else 3600).")
@click.option("--lock-wait", type=click.FloatRange(min=0), default=120, show_default=True,
              help="Seconds to wait for another publish of the same dataset before exiting 7.")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors: no progress, no plan or summary lines.")
def publish(package_dirs: tuple[Path, ...], datasets: tuple[str, ...], publish_all: bool, config_path: Path | None,
            org: str | None, dry_run: bool, as_json: bool, summary_file: Path | None, portal_url: str | None,
            token_env: str | None, create_org: bool, verify: bool, timeout: float | None, deadline: float | None,
            lock_wait: float, quiet: bool) -> None:
    """Publish data packages to CKAN (CKAN_URL, CKAN_API_TOKEN): plan, then apply; incremental, safe to re-run.

    The plan (create / update / skip for the dataset, each file and the
    DataStore table; rows to upsert and delete) is printed by --dry-run. When
    the configuration (--config, else ./datasets.toml) declares a dataset of
    the package's name, its metadata (titles, keywords, licence, maintainer,
    organization, GDC values) is read from there: a metadata fix needs no
    rebuild. Progress (bytes, rows) goes to stderr on a terminal.

    \b
    Example:
      ogd publish --dataset my-news --dry-run     # the plan, nothing written
      ogd publish datapackages/my-news            # publish a package folder
    """

    from ..ckan.client import PortalClient, portal_settings
    from ..ckan.metadata import load_configuration
    from ..ckan.publish import publish_package
    from ..config import load_config

    say = (lambda message: None) if quiet else (lambda message: click.echo(message, err=True))

    results: list[dict[str, Any]] = []
    failure: PipelineError | None = None
    reported = False  # a package's own failure is printed where it happens, with its field errors
    try:
        folders = list(package_dirs)
        if datasets or publish_all:
            configs = load_config(config_path)
            for name in (list(configs) if publish_all else datasets):
                if name not in configs:
                    raise click.BadParameter(f"no dataset {name!r} in the configuration; known: {', '.join(configs)}",
                                             param_hint="--dataset")
                folders.append(configs[name].output_dir())
        if not folders:
            raise click.UsageError("nothing to publish: give package folders, --dataset NAME or --all")
        try:
            configuration = load_configuration(config_path)
        except ConfigError as error:
            if config_path is not None or datasets or publish_all:
                raise
            # The implicit ./datasets.toml only lends metadata: one that does not load is said, not fatal.
            say(f"note: dataset metadata is read from each package's datapackage.json: {error.message}")
            configuration = None
        settings = portal_settings(url=portal_url, token_env=token_env, command="publish")
        say(settings.describe())
        # Not a package at all is a usage error, as in `ogd validate` (exit 2), found before the portal is asked;
        # a package that is broken (a linked or edited descriptor, changed files) is refused later (exit 3).
        not_packages = [str(folder) for folder in folders
                        if not (folder / "datapackage.json").is_file() and not (folder / "datapackage.json").is_symlink()]
        if not_packages:
            raise UsageError(f"not a data package (no datapackage.json): {', '.join(not_packages)}",
                             "give package folders written by ogd build or ogd pull, or build them first "
                             "(ogd build --dataset NAME, make etl)")
        client = PortalClient(settings.url, settings.token, timeout=timeout, deadline=deadline, command="publish")
        for folder in folders:
            try:
                with _transfer_progress(not quiet, f"publish {folder.name}") as progress:
                    result = publish_package(folder, client, org=org, dry_run=dry_run, create_org=create_org,
                                             verify=verify, lock_wait=lock_wait, say=say,
                                             configuration=configuration, progress=progress)
            except (DataError, PortalRejected) as error:
                # This package only: report it and go on with the others; the run still fails.
                failure, reported = failure or error, True
                results.append({"package": str(folder), "ok": False, "error": error.message,
                                 "exit_code": int(error.exit_code),
                                 "field_errors": getattr(error, "field_errors", {})})
                click.echo(f"{folder}: FAILED: {error.message}", err=True)
                for name, messages in getattr(error, "field_errors", {}).items():
                    click.echo(f"  - {name}: {messages}", err=True)
                if error.hint:
                    click.echo(f"  hint: {error.hint}", err=True)
                continue
            summary = result.as_dict()
            summary["package"] = str(folder)
            summary["ok"] = True
            summary.update(_version_of(folder))
            results.append(summary)
            if dry_run:
                for line in _plan_lines(result.plan.as_dict()):
                    say(line)
            else:
                say(f"{result.dataset}: {'changed' if result.changed else 'unchanged'} (dataset "
                    f"{result.dataset_action}, resources " + ", ".join(f"{r.name} {r.action}" for r in result.resources)
                    + f", DataStore {result.datastore_action}"
                    + (" by the portal's xloader" if result.plan.datastore.loader == "xloader" else "")
                    + f": +{result.rows_added} ~{result.rows_updated} "
                    f"-{result.rows_deleted} rows) {result.url}")
                if summary.get("version"):
                    say(f"  version {summary['version']}{_changes_text(summary.get('changes'))}")
            if verify and not quiet:
                click.echo(f"{result.dataset}: verified {', '.join(result.verified) or 'nothing (all re-sent)'}; "
                           + (f"{'would repair' if dry_run else 'repaired'} {', '.join(result.repaired)}"
                              if result.repaired else "all matched the package"), err=True)
    except PipelineError as error:
        failure, reported = error, False
    summary_doc = {"ok": failure is None, "dry_run": dry_run, "datasets": results,
                   "error": None if failure is None else {"message": failure.message, "exit_code": int(failure.exit_code)}}
    if summary_file:
        summary_file.parent.mkdir(parents=True, exist_ok=True)
        summary_file.write_text(json.dumps(summary_doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if as_json:
        _emit_json(summary_doc)
    if failure is not None:
        if reported:
            sys.exit(int(failure.exit_code))
        _fail(failure)


def _version_of(folder: Path) -> dict[str, Any]:
    """The package's version and the changes that made it (x_ogd.changes), for the summaries."""
    try:
        descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    changes = (descriptor.get("x_ogd") or {}).get("changes") if isinstance(descriptor, dict) else None
    return {"version": descriptor.get("version"), "changes": changes if isinstance(changes, dict) else None}


def _changes_text(changes: dict[str, Any] | None) -> str:
    if not changes or "added" not in changes:
        return ""
    since = f" since {changes['previous_version']}" if changes.get("previous_version") else " (first version)"
    return (f"{since}: {changes['added']} added, {changes['changed']} changed, {changes['removed']} removed "
            f"(built {changes.get('date')})")


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    """A publish plan (PublishPlan.as_dict) as the lines --dry-run prints."""
    store = plan["datastore"]
    lines = [f"{plan['dataset']}: plan: {'changes' if plan['changed'] else 'nothing to change'} ({plan['url']}; "
             f"organization {plan['organization']}; metadata from {plan['metadata_source']})",
             f"  dataset: {plan['dataset_action']} ({plan['dataset_reason']})"]
    for step in plan["resources"]:
        extra = f"; {step['duplicates_to_delete']} duplicate(s) to delete" if step["duplicates_to_delete"] else ""
        lines.append(f"  {step['name']}: {step['action']} ({step['reason']}{extra})")
    lines.append(f"  DataStore: {store['action']} ({store['reason']}): {store['rows_to_upsert']} row(s) to upsert "
                 f"({store['rows_added']} new, {store['rows_updated']} changed), {store['rows_to_delete']} to delete")
    return lines


@click.command()
@click.argument("summary_file", type=click.Path(exists=True, path_type=Path))
def summarize(summary_file: Path) -> None:
    """Render a publish summary (--summary-file) as Markdown, e.g. for a CI job summary.

    Example: ogd publish --all --summary-file summary.json; ogd summarize summary.json >> "$GITHUB_STEP_SUMMARY"
    """
    try:
        data = json.loads(summary_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise click.BadParameter(f"{summary_file} is not a publish summary (not JSON: {error})",
                                 param_hint="SUMMARY_FILE") from None
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), list):
        raise click.BadParameter(f"{summary_file} is not a publish summary (no list of datasets): write one with "
                                 "ogd publish --summary-file FILE", param_hint="SUMMARY_FILE")
    click.echo(_markdown_summary(data))


def _markdown_summary(data: dict[str, Any]) -> str:
    datasets = data.get("datasets", [])
    status = lambda d: ("failed" if not d.get("ok", True) else  # noqa: E731
                        "created" if d.get("dataset_action") == "create" else
                        "updated" if d.get("changed") else "unchanged")
    counts = {kind: sum(1 for d in datasets if status(d) == kind) for kind in ("created", "updated", "unchanged", "failed")}
    lines = ["## Open data publishing" + (" (dry run)" if data.get("dry_run") else ""), "",
             ", ".join(f"{n} {kind}" for kind, n in counts.items()) + ".", "",
             "| dataset | version | result | rows added | rows updated | rows removed | files uploaded |",
             "|---|---|---|---:|---:|---:|---:|"]
    for d in datasets:
        name = d.get("dataset") or d.get("package")
        link = f"[{name}]({d['url']})" if d.get("url") else name
        version = f"{d['version']}{_changes_text(d.get('changes'))}" if d.get("version") else ""
        lines.append(f"| {link} | {version} | {status(d)} | {d.get('rows_added', 0)} | {d.get('rows_updated', 0)} | "
                     f"{d.get('rows_deleted', 0)} | {d.get('uploads', 0)} |")
        if d.get("error"):
            lines.append(f"|  |  | {d['error']} | | | | |")
    if data.get("error"):
        lines += ["", f"**Failed:** {data['error']['message']} (exit {data['error']['exit_code']})"]
    return "\n".join(lines)
