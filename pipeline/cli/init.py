"""``ogd init``: a dataset's entry in datasets.toml, from flags or questions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..problems import ConfigError, PipelineError
from .common import SourceChoice, _description_options, _emit_json, _fail


@click.command()
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

    from ..config import NAME_PATTERN
    from ..gdc import bundled_schema
    from ..init import (
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

    from ..ckan.client import local_portal_env

    if not os.environ.get("CKAN_URL") and not local_portal_env().exists():
        return None
    import ckanapi

    from ..ckan.client import PortalClient, portal_settings
    from ..ckan.metadata import portal_schema

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
