"""The ``ogd`` command: the only layer that prints or exits.

Progress goes to stderr (silent when stderr is not a terminal or with
``--quiet``); ``--json`` puts a machine-readable summary on stdout. Exit codes
are listed in :class:`pipeline.problems.ExitCode` and in the README.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from . import __version__
from .problems import (
    ConfigError,
    DataError,
    ExitCode,
    PipelineError,
    PortalRejected,
    UsageError,
)

CONTEXT = {"help_option_names": ["-h", "--help"]}


class SourceChoice(click.Choice):
    """``--source``: auto or a registered source, read from the registry when the option is used, so a
    source module added to pipeline/sources/ is offered without editing this file."""

    def __init__(self) -> None:
        # Not Choice.__init__: it would store a fixed list of choices.
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        # Imported here, like every stage in this file, so that `ogd --help` stays fast.
        from .sources.registry import source_choices

        return source_choices()


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _fail(error: PipelineError) -> None:
    click.echo(f"error: {error.message}", err=True)
    if isinstance(error, ConfigError):
        for problem in error.problems:
            click.echo(f"  - {problem}", err=True)
    field_errors = getattr(error, "field_errors", None)
    if field_errors:
        for name, messages in field_errors.items():
            click.echo(f"  - {name}: {messages}", err=True)
    if error.hint:
        click.echo(f"hint: {error.hint}", err=True)
    sys.exit(int(error.exit_code))


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Any]:
    """A rich progress bar on stderr, or a no-op callback."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
    )

    with Progress(
        f"[bold]{label}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="ogd")
def cli() -> None:
    """ogd-pipeline: publish Thai government releases as open data (Frictionless + CKAN).

    \b
    Example (a folder of releases to a portal; README: Quick start):
      ogd init my-news --title … --org … --maintainer … --input releases/
      ogd build --dataset my-news && ogd publish --dataset my-news

    Every command has --help with an example; exit codes: README, Exit codes.
    """


def _secrets() -> list[str]:
    """Values that must never be printed: every token the process could have read."""
    import os

    from .ckan.client import SECRETS_IN_USE, local_portal_env, read_env_file

    values = [v for k, v in os.environ.items() if "TOKEN" in k.upper() and len(v) >= 8] + list(SECRETS_IN_USE)
    try:
        values += [v for k, v in read_env_file(local_portal_env()).items() if "TOKEN" in k.upper() and len(v) >= 8]
    except OSError:
        pass
    # Also the token without the white space a paste error adds: an error message may hold either form.
    return sorted({form for v in values for form in (v, v.strip())}, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[REDACTED]")
    return text


def main() -> None:
    """The console command: a bug ends with its traceback (exit 1), with every token in it redacted."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except SystemExit:
        raise
    except BaseException as error:  # noqa: BLE001 — the last line of defence: print without secrets
        import traceback

        if isinstance(error, KeyboardInterrupt):
            click.echo("Interrupted.", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        text = "".join(traceback.format_exception(error))
        click.echo(redact(text, _secrets()), err=True)
        click.echo("error: an internal error (a bug); please report it with the output above", err=True)
        sys.exit(int(ExitCode.INTERNAL))


def _description_options(scope: str, licence_default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options that describe a dataset: ogd init and ad-hoc builds take the same ones (``scope`` prefixes the help)."""

    def said(text: str) -> str:
        return f"{scope}{text}" if scope else text[0].upper() + text[1:]

    options = [
        click.option("--title", help=said("Thai title (default: [defaults] of the configuration).")),
        click.option("--title-en", help=said("English title.")),
        click.option("--description", help=said("what the dataset is (Thai and/or English).")),
        click.option("--org", "organization", help=said("CKAN organization name (slug) that publishes it.")),
        click.option("--org-title", "organization_title", help=said("the organization's display name.")),
        click.option("--license", "license_id", help=said(f"licence id, e.g. CC-BY-4.0 (default: [defaults] of the "
                                                          f"configuration, else {licence_default}).")),
        click.option("--maintainer", help=said("contact person or team.")),
        click.option("--maintainer-email", help=said("contact e-mail.")),
        click.option("--keyword", "keywords", multiple=True, help=said("tag (repeatable; Thai allowed).")),
        click.option("--gdc", "gdc_options", multiple=True, metavar="KEY=VALUE",
                     help=said("a GDC field (repeatable); several choices separated by ';', "
                               "e.g. --gdc 'data_language=ไทย;อังกฤษ'.")),
    ]

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), help="Package folder to write (ad-hoc builds).")
@click.option("--source", type=SourceChoice(), default="auto", show_default=True,
              help="Input format; auto detects it per file.")
@click.option("--name", help="Package and dataset name for ad-hoc builds (default: the --out folder name).")
@click.option("--dataset", "datasets", multiple=True, help="Build this configured dataset (repeatable).")
@click.option("--all", "build_all", is_flag=True, help="Build every configured dataset into datapackages/.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Dataset configuration file (default: ./datasets.toml; paths in it are relative to it).")
@click.option("--max-quarantine-ratio", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Ad-hoc builds fail when more inputs than this share are quarantined.")
@click.option("--workers", type=click.IntRange(1, 256), help="Worker processes (default: all cores).")
@click.option("--full", is_flag=True, help="Transform every input again (default: reuse the previous package's "
              "outcome for inputs whose bytes did not change).")
@click.option("--max-input-bytes", type=click.IntRange(1), help="Quarantine an input larger than this, unread "
              "(too-large; default: max_input_bytes of the dataset, else 5 MiB).")
@click.option("--force", is_flag=True, help="Replace an --out folder that is not empty and not a package of this "
              "name (its files are deleted). Never allows an --out that is, holds or lies inside an input.")
@click.option("--wait", is_flag=True, help="Wait for another build of the same --out to finish (default: exit 7).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (the one summary line per dataset, and any failure, are still printed: they are the build's result).")
@_description_options("Ad-hoc builds: ", "notspecified")
def build(
    paths: tuple[Path, ...], out: Path | None, source: str, name: str | None, datasets: tuple[str, ...],
    build_all: bool, config_path: Path | None, max_quarantine_ratio: float, workers: int | None,
    full: bool, max_input_bytes: int | None, force: bool, wait: bool, as_json: bool, quiet: bool,
    **metadata: Any,
) -> None:
    """Build data packages from release files (PATH... --out DIR) or configured datasets.

    An ad-hoc build takes its description from the flags, then from [defaults]
    and [defaults.gdc] of the configuration (--config, else ./datasets.toml
    when present). Configured datasets take theirs from datasets.toml.

    \b
    Examples:
      ogd build releases/ --out pkg --name my-news --title "ข่าวของเรา" --org my-agency
      ogd build --dataset thaigov-news-sample
    """
    from .build.run import build_dataset
    from .config import AD_HOC_KEYS, ad_hoc_dataset, load_config
    from .quality import summary_lines

    metadata["license"] = metadata.pop("license_id")  # --license: the configuration's key is `license`
    gdc_options = metadata.pop("gdc_options")

    try:
        jobs = []
        if paths:
            if datasets or build_all:
                raise click.UsageError("give either PATH... --out DIR, or --dataset/--all, not both")
            if out is None:
                raise click.UsageError("ad-hoc builds need --out DIR (the package folder to write)")
            for path in paths:
                if not path.exists():
                    raise click.BadParameter(f"{path} does not exist", param_hint="PATH")
            package_name = name or out.resolve().name
            from .config import NAME_PATTERN

            if not NAME_PATTERN.match(package_name):
                raise click.BadParameter(
                    f"{package_name!r} is not a valid package name: use 2-100 of a-z, 0-9, '-', '_'",
                    param_hint="--name",
                )
            from .gdc import bundled_schema
            from .init import parse_gdc_option

            gdc = dict(parse_gdc_option(text, bundled_schema()) for text in gdc_options)
            jobs.append((ad_hoc_dataset(package_name, list(paths), source, max_quarantine_ratio,
                                        metadata=metadata, config_path=config_path, gdc=gdc), out))
        else:
            flags = {"organization": "--org", "organization_title": "--org-title", "keywords": "--keyword"}
            given = sorted([flags.get(k, f"--{k.replace('_', '-')}") for k, v in metadata.items()
                            if k in AD_HOC_KEYS and v] + (["--gdc"] if gdc_options else []))
            if given:
                raise click.UsageError(f"{', '.join(given)} describe ad-hoc builds only: a configured dataset's "
                                       "description is in datasets.toml (edit it there)")
            configs = load_config(config_path)
            if not datasets and not build_all:
                raise click.UsageError("nothing to build: give PATH... --out DIR, --dataset NAME or --all")
            names = list(configs) if build_all else list(datasets)
            for dataset_name in names:
                if dataset_name not in configs:
                    raise click.BadParameter(
                        f"no dataset {dataset_name!r} in the configuration; known: {', '.join(configs)}",
                        param_hint="--dataset",
                    )
                dataset = configs[dataset_name]
                jobs.append((dataset, out / dataset_name if out and len(names) > 1 else out or dataset.output_dir()))
        from .package.output import check_output

        # Every output against every job's inputs, before anything is built: the second dataset's
        # output must not replace the first one's inputs either.
        all_inputs = [path for dataset, _target in jobs for path in dataset.inputs]
        for dataset, target in jobs:
            check_output(target.resolve(), dataset.name, all_inputs, force=force)
        results = []
        for dataset, target in jobs:
            with _progress(not quiet, f"build {dataset.name}") as progress:
                result = build_dataset(dataset, target, workers=workers, progress=progress, incremental=not full,
                                       force=force, wait=wait, max_input_bytes=max_input_bytes)
            results.append(result)
            counts = result.counts
            status = "ok" if result.ok else "FAILED"
            click.echo(
                f"{dataset.name}: {status}: {counts['records']} records, {counts['quarantined']} quarantined, "
                f"{counts['duplicates']} duplicates of {counts['inputs']} inputs ({counts['reused']} unchanged, "
                f"reused) -> {result.output}",
                err=True,
            )
            if result.failure:
                click.echo(f"  {result.failure}", err=True)
            if counts.get("skipped"):
                click.echo(f"  {counts['skipped']} entries skipped (not inputs: hidden, FIFOs, dangling links...); "
                           "see skipped in report.json", err=True)
            for line in summary_lines(result.report.get("quality") or {}):
                click.echo(f"  {line}", err=True)
        if as_json:
            _emit_json([{"name": r.name, "ok": r.ok, "output": str(r.output), "failure": r.failure,
                         "counts": r.counts, "per_reason": r.report["per_reason"]} for r in results])
        if not all(r.ok for r in results):
            sys.exit(int(ExitCode.DATA))
    except PipelineError as error:
        _fail(error)
    except FileNotFoundError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(int(ExitCode.USAGE))


@cli.command()
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
    from .validate.reference import validate_package
    from .validate.tables import validate_package_fast

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


@cli.command()
@click.argument("name")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=Path("datasets.toml"),
              show_default=True, help="Configuration file to add the dataset to (created when missing; default: "
              "datasets.toml in the current folder).")
@_description_options("", "CC-BY-4.0")
@click.option("--input", "inputs", multiple=True, type=click.Path(path_type=Path),
              help="Folder or file of releases (repeatable); stored relative to the configuration file.")
@click.option("--source", type=SourceChoice(), default="auto", show_default=True,
              help="Input format.")
@click.option("--homepage", help="The agency's page for these releases.")
@click.option("--no-input", is_flag=True, help="Never prompt (the default when stdin is not a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the written entry as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def init(name: str, config_path: Path, title: str | None, title_en: str | None, description: str | None,
         organization: str | None, organization_title: str | None, license_id: str | None, maintainer: str | None,
         maintainer_email: str | None, inputs: tuple[Path, ...], source: str, keywords: tuple[str, ...],
         homepage: str | None, gdc_options: tuple[str, ...], no_input: bool, as_json: bool, quiet: bool) -> None:
    """Add dataset NAME to datasets.toml; then `ogd build --dataset NAME` and `ogd publish --dataset NAME` work.

    On a terminal it asks for what the flags do not give, offering the GDC
    choices of the portal (CKAN_URL, when it answers) or of the bundled GDC
    schema; otherwise every missing value is listed at once (exit 2).

    Example: ogd init my-news --title "ข่าวของเรา" --title-en "Our news" --description "..." --org my-agency
    --maintainer "Data team" --maintainer-email data@example.go.th --input releases/
    """
    import tomllib

    from .config import NAME_PATTERN
    from .gdc import bundled_schema
    from .init import (
        DatasetEntry,
        default_gdc,
        gdc_questions,
        parse_gdc_option,
        relative_inputs,
        write_entry,
    )

    try:
        interactive = not no_input and sys.stdin.isatty()
        schema, schema_source = bundled_schema(), "the bundled GDC schema"
        portal_schema_found = _portal_gdc_schema()
        if portal_schema_found is not None:
            schema, schema_source = portal_schema_found
        defaults: dict[str, Any] = {}
        if config_path.exists():
            with open(config_path, "rb") as handle:
                try:
                    defaults = tomllib.load(handle).get("defaults", {})
                except tomllib.TOMLDecodeError as exc:
                    raise ConfigError(f"configuration file {config_path} is not valid TOML", [str(exc)]) from None
        wanted = {"title": title, "title_en": title_en, "description": description, "organization": organization,
                  "maintainer": maintainer, "maintainer_email": maintainer_email}
        prompts = {"title": "Thai title (ชื่อชุดข้อมูล)", "title_en": "English title",
                   "description": "Description (คำอธิบาย)", "organization": "CKAN organization (slug)",
                   "maintainer": "Maintainer (ผู้ดูแล)", "maintainer_email": "Maintainer e-mail"}
        flags = {"title_en": "--title-en", "organization": "--org", "maintainer_email": "--maintainer-email"}
        missing = []
        if not NAME_PATTERN.match(name):  # said with everything else, not in a second round
            missing.append(f"NAME {name!r} is not a valid dataset name: use 2-100 characters of a-z, 0-9, '-' or '_' "
                           "(it becomes the dataset's URL)")
        for key, value in wanted.items():
            if value or defaults.get(key):
                continue
            if interactive:
                wanted[key] = click.prompt(prompts[key])
            else:
                missing.append(f"{flags.get(key, '--' + key)} is required ({prompts[key]})")
        if not keywords and not defaults.get("keywords"):
            if interactive:
                keywords = tuple(k.strip() for k in click.prompt("Keywords, separated by commas (คำสำคัญ)").split(",")
                                 if k.strip())
            else:
                missing.append("--keyword is required (a tag; repeatable; the GDC requires at least one)")
        if not inputs:
            if interactive:
                inputs = (Path(click.prompt("Folder of releases", type=click.Path(exists=True))),)
            else:
                missing.append("--input is required (a folder or file of releases; repeatable)")
        for item in inputs:
            if not item.exists():
                missing.append(f"--input {item}: no such file or folder")
        gdc_given = dict(parse_gdc_option(text, schema) for text in gdc_options)
        gdc = default_gdc(schema, organization_title or wanted["organization"] or "", gdc_given,
                          defaults.get("gdc", {}))
        for question in gdc_questions(schema, {**defaults.get("gdc", {}), **gdc}):
            if interactive:
                gdc[question["field"]] = _ask_choice(question)
            else:
                allowed = f"choices: {', '.join(question['choices'])}" if question["choices"] else "free text"
                missing.append(f"--gdc {question['field']}=… is required ({question['label']}; {allowed})")
        if missing:
            raise ConfigError(f"ogd init {name}: {len(missing)} problem(s); nothing was written", missing)
        entry = DatasetEntry(name, {
            **{k: v for k, v in wanted.items() if v},
            "organization_title": organization_title,
            "license": license_id or ("" if defaults.get("license") else "CC-BY-4.0"),
            "inputs": relative_inputs(list(inputs), config_path),
            "source": source,
            "keywords": list(keywords),
            "url": homepage,
        }, gdc)
        write_entry(config_path, entry)
    except PipelineError as error:
        _fail(error)
    if as_json:
        _emit_json({"config": str(config_path), "name": name, **entry.values, "gdc": entry.gdc,
                    "gdc_checked_against": schema_source})
    if not quiet:
        click.echo(f"added [datasets.{name}] to {config_path} (GDC values checked against {schema_source}).\n"
                   f"next: ogd build --dataset {name} --config {config_path}   then   "
                   f"ogd publish --dataset {name} --config {config_path}", err=True)


def _portal_gdc_schema() -> tuple[dict[str, Any], str] | None:
    """The configured portal's scheming schema (read anonymously), or None when no portal is set or answers."""
    import os

    from .ckan.client import local_portal_env

    if not os.environ.get("CKAN_URL") and not local_portal_env().exists():
        return None
    import ckanapi

    from .ckan.client import PortalClient, portal_settings
    from .ckan.metadata import portal_schema

    try:
        settings = portal_settings(use_local_token=False)
        client = PortalClient(settings.url, None, attempts=1, timeout=10)
        found = portal_schema(client)
    except (PipelineError, ckanapi.CKANAPIError):  # a portal that is down or not CKAN: the bundled schema is used
        return None
    return (found, f"the schema of {settings.url}") if found else None


def _ask_choice(question: dict[str, Any]) -> Any:
    if not question["choices"]:
        return click.prompt(f"{question['label']} ({question['field']})")
    click.echo(f"{question['label']} ({question['field']}):", err=True)
    for number, choice in enumerate(question["choices"], start=1):
        click.echo(f"  {number}. {choice}", err=True)
    hint = "numbers separated by commas" if question["multiple"] else "a number"
    while True:
        answer = click.prompt(f"choose ({hint})")
        try:
            picked = [question["choices"][int(part) - 1] for part in answer.split(",") if part.strip()]
        except (ValueError, IndexError):
            click.echo("  not a number from the list; try again", err=True)
            continue
        if picked and (question["multiple"] or len(picked) == 1):
            return picked if question["multiple"] else picked[0]
        click.echo("  choose exactly one" if not question["multiple"] else "  choose at least one", err=True)


@cli.command("datasets")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Dataset configuration file (default: ./datasets.toml; paths in it are relative to it).")
@click.option("--json", "as_json", is_flag=True, help="Print the datasets as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Names only, one a line (for scripts).")
def list_datasets(config_path: Path | None, as_json: bool, quiet: bool) -> None:
    """List the configured datasets (and check the configuration: exit 2 lists every problem).

    Example: ogd datasets --config datasets.toml
    """
    from .config import load_config

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


@cli.command()
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

    from .ckan.client import PortalClient, portal_settings
    from .ckan.metadata import load_configuration
    from .ckan.publish import publish_package
    from .config import load_config

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
            results.append(summary)
            if dry_run:
                for line in _plan_lines(result.plan.as_dict()):
                    say(line)
            else:
                say(f"{result.dataset}: {'changed' if result.changed else 'unchanged'} (dataset "
                    f"{result.dataset_action}, resources " + ", ".join(f"{r.name} {r.action}" for r in result.resources)
                    + f", DataStore {result.datastore_action}: +{result.rows_added} ~{result.rows_updated} "
                    f"-{result.rows_deleted} rows) {result.url}")
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


@contextmanager
def _transfer_progress(enabled: bool, label: str) -> Iterator[Any]:
    """Progress bars on stderr for bytes sent or received and DataStore rows; a no-op callback when off."""
    if not enabled or not sys.stderr.isatty():
        yield lambda what, done, total: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TransferSpeedColumn,
    )

    with Progress("[bold]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=Console(stderr=True), transient=True) as bytes_bar, \
            Progress("[bold]{task.description}", BarColumn(), MofNCompleteColumn(),
                     console=Console(stderr=True), transient=True) as rows_bar:
        tasks: dict[str, Any] = {}

        def update(what: str, done: int, total: int) -> None:
            bar = rows_bar if what == "rows" else bytes_bar
            if what not in tasks:
                tasks[what] = bar.add_task(f"{label}: {what}", total=total or None)
            bar.update(tasks[what], completed=done, total=total or None)

        yield update


@cli.command()
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
             "| dataset | result | rows added | rows updated | rows removed | files uploaded |",
             "|---|---|---:|---:|---:|---:|"]
    for d in datasets:
        name = d.get("dataset") or d.get("package")
        link = f"[{name}]({d['url']})" if d.get("url") else name
        lines.append(f"| {link} | {status(d)} | {d.get('rows_added', 0)} | {d.get('rows_updated', 0)} | "
                     f"{d.get('rows_deleted', 0)} | {d.get('uploads', 0)} |")
        if d.get("error"):
            lines.append(f"|  | {d['error']} | | | | |")
    if data.get("error"):
        lines += ["", f"**Failed:** {data['error']['message']} (exit {data['error']['exit_code']})"]
    return "\n".join(lines)


@cli.command()
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
def pull(name: str, out: Path, url: str | None, token_env: str | None, force: bool, timeout: float | None,
         deadline: float | None, as_json: bool, quiet: bool) -> None:
    """Download dataset NAME from a CKAN portal as a data package and verify sizes, hashes and schema.

    DIR is replaced only by a copy that verified; one that does not is kept in DIR.unverified (exit 3).
    Progress (bytes) goes to stderr on a terminal.

    \b
    Example:
      ogd pull my-news --out copies/my-news --url https://data.example.go.th
    """

    from .ckan.client import PortalClient, portal_settings
    from .ckan.pull import pull_dataset

    try:
        # Pulling never takes the local portal's sysadmin token: anonymous unless a token is given.
        settings = portal_settings(url=url, token_env=token_env, use_local_token=False, command="pull")
        if not quiet:
            click.echo(settings.describe(), err=True)
        client = PortalClient(settings.url, settings.token, timeout=timeout, deadline=deadline, command="pull")
        out_existed = out.is_symlink() or out.exists()  # "was not changed" only of a folder that was there
        with _transfer_progress(not quiet, f"pull {name}") as progress:
            result = pull_dataset(client, name, out, force=force, progress=progress)
    except PipelineError as error:
        _fail(error)
    for entry in [] if quiet else result.files:
        click.echo(f"{entry['path']}: {entry['bytes']} bytes, sha256 {entry['sha256'][:16]}…", err=True)
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


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("--out", "out", type=click.Path(path_type=Path), help="Archive folder (ad-hoc harvests; for "
              "--dataset it replaces [harvest] archive/NAME).")
@click.option("--kind", type=click.Choice(["auto", "feed", "wordpress", "sitemap", "listing"]), default="auto",
              show_default=True, help="What the URLs are; auto recognises a feed, a WordPress site or a sitemap.")
@click.option("--link-pattern", help="Listings: a regular expression release links match.")
@click.option("--selector", help="Listings: a CSS selector of the release links.")
@click.option("--since", help="Skip releases published before this date (YYYY-MM-DD).")
@click.option("--max-pages", type=click.IntRange(1), help="Walk at most this many listing / API pages per source.")
@click.option("--delay", type=click.FloatRange(0), help="Seconds between two requests to one host "
              "(default: [harvest] delay, else 1; robots.txt's Crawl-delay wins when longer).")
@click.option("--refetch", is_flag=True, help="Fetch every listed release again, archived or not.")
@click.option("--dataset", "datasets", multiple=True, help="Harvest this configured dataset's sources (repeatable).")
@click.option("--all", "harvest_all", is_flag=True, help="Harvest every configured dataset that has sources.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Dataset configuration file.")
@click.option("--contact", help="E-mail or URL put in the User-Agent for webmasters (default: [harvest] contact, "
              "else [defaults] maintainer_email).")
@click.option("--user-agent", help="Product token of the User-Agent (default: ogd-pipeline/VERSION).")
@click.option("--timeout", type=click.FloatRange(0.01), help="Seconds of silence before a request is given up.")
@click.option("--max-bytes", type=click.IntRange(1), help="Largest response kept (default 20 MiB).")
@click.option("--max-failure-ratio", type=click.FloatRange(0, 1),
              help="Exit 3 when more than this share of release pages failed (default 0.2).")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines (the summary per dataset and every error are still printed: they are the harvest's result).")
def harvest(urls: tuple[str, ...], out: Path | None, kind: str, link_pattern: str | None, selector: str | None,
            since: str | None, max_pages: int | None, delay: float | None, refetch: bool, datasets: tuple[str, ...],
            harvest_all: bool, config_path: Path | None, contact: str | None, user_agent: str | None,
            timeout: float | None, max_bytes: int | None, max_failure_ratio: float | None, as_json: bool,
            quiet: bool) -> None:
    """Fetch new releases from websites into a web archive (WARC files and an index), politely and incrementally.

    \b
    Examples:
      ogd harvest https://www.example.go.th/feed/ --out archive/example --contact opendata@example.go.th
      ogd harvest --dataset prd-releases
    """
    from .config import default_config_path, load_config
    from .harvest.run import harvest as run_harvest
    from .harvest.settings import (
        Etiquette,
        HarvestSource,
        contact_form,
        load_etiquette,
        parse_since,
        parse_sources,
    )
    from .problems import SourceUnreachable

    try:
        path = config_path or default_config_path()
        etiquette: Etiquette | None = None
        if path.is_file():
            etiquette, problems = load_etiquette(path, contact_form(contact) if contact else None)
            if problems:
                raise ConfigError(f"configuration file {path} has {len(problems)} problem(s)", problems)
        elif contact:
            etiquette = Etiquette(contact=contact_form(contact))
        if etiquette is None:
            raise UsageError("a polite crawler says who runs it: give --contact EMAIL-OR-URL",
                             "or set [harvest] contact (or [defaults] maintainer_email) in datasets.toml")
        etiquette = etiquette.with_overrides(user_agent=user_agent, delay=delay, timeout=timeout, max_bytes=max_bytes,
                                             max_failure_ratio=max_failure_ratio)
        jobs: list[tuple[str, list[HarvestSource], Path]] = []
        if urls:
            if datasets or harvest_all:
                raise click.UsageError("give either URL... --out DIR, or --dataset/--all, not both")
            if out is None:
                raise click.UsageError("ad-hoc harvests need --out DIR (the archive folder)")
            entry: dict[str, Any] = {"kind": kind}
            for key, value in (("link_pattern", link_pattern), ("selector", selector), ("since", since),
                               ("max_pages", max_pages)):
                if value is not None:
                    entry[key] = value
            sources, problems = parse_sources([{**entry, "url": url} for url in urls], "command line")
            if problems:
                raise ConfigError("the command line has problem(s)", problems)
            jobs.append(("ad hoc", list(sources), out))
        else:
            if not datasets and not harvest_all:
                raise click.UsageError("nothing to harvest: give URL... --out DIR, --dataset NAME or --all")
            configs = load_config(config_path)
            names = [n for n, c in configs.items() if c.harvest] if harvest_all else list(datasets)
            for name in names:
                if name not in configs:
                    raise click.BadParameter(f"no dataset {name!r} in the configuration; known: {', '.join(configs)}",
                                             param_hint="--dataset")
                dataset = configs[name]
                if not dataset.harvest:
                    raise UsageError(f"dataset {name!r} has no [[datasets.{name}.harvest]] source",
                                     "add one (README: Harvesting) or build it from files with ogd build")
                overrides = {k: v for k, v in (("since", parse_since(since) if since else None),
                                               ("max_pages", max_pages)) if v is not None}
                sources = [replace_source(s, **overrides) for s in dataset.harvest]
                root = out if out and len(names) == 1 else (
                    (out / name) if out else (dataset.config_dir or Path.cwd()) / (etiquette.archive or "archive") / name)
                jobs.append((name, sources, root))
        log = (lambda message: None) if quiet else (lambda message: click.echo(message, err=True))
        results = []
        for name, sources, root in jobs:
            result = run_harvest(sources, root, etiquette, refetch=refetch, log=log)
            results.append((name, result))
            summary = result.summary()
            click.echo(f"{name}: {summary['requests']} requests ({summary['not_modified']} not modified), "
                       f"{summary['new_releases']} new and {summary['changed_releases']} changed releases, "
                       f"{len(summary['errors'])} errors -> {result.warc}", err=True)
            for host, codes in summary["errors_by_host"].items():
                click.echo(f"  {host}: " + ", ".join(f"{code} x{count}" for code, count in codes.items()), err=True)
            for url in summary["tls_unverified"]:
                click.echo(f"  TLS NOT VERIFIED for {url} (verify_tls = false)", err=True)
        if as_json:
            _emit_json([{"name": name, **result.summary()} for name, result in results])
        unreachable = [s.url for _name, r in results for s in r.unreachable_sources]
        if unreachable:
            raise SourceUnreachable(f"{len(unreachable)} source(s) could not be harvested: {', '.join(unreachable)}",
                                    "see the errors above; the other sources were harvested; run again later")
        too_many = [name for name, r in results if r.failure_ratio() > etiquette.max_failure_ratio]
        if too_many:
            raise DataError(f"more than {etiquette.max_failure_ratio:.0%} of release pages failed for "
                            f"{', '.join(too_many)}", "see errors_by_host; raise --max-failure-ratio if expected")
    except PipelineError as error:
        _fail(error)


def replace_source(source: Any, **values: Any) -> Any:
    """A harvest source with command-line overrides (--since, --max-pages)."""
    from dataclasses import replace

    return replace(source, **values)


if __name__ == "__main__":  # pragma: no cover
    main()
