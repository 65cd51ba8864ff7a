"""What every command shares: how errors, JSON and progress reach the terminal."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click

from ..problems import ConfigError, PipelineError

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
        from ..sources.registry import source_choices

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
