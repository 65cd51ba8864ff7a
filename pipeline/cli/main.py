"""The ``ogd`` command group and its console entry: the only layer that prints or exits.

Progress goes to stderr (silent when stderr is not a terminal or with
``--quiet``); ``--json`` puts a machine-readable summary on stdout. Exit codes
are listed in :class:`pipeline.problems.ExitCode` and in the README. Each
command is a module of this package; this one puts them together.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..problems import ExitCode
from .build import build
from .common import CONTEXT
from .diff import diff
from .harvest import harvest
from .init import init
from .publish import publish, summarize
from .pull import pull
from .validate import list_datasets, validate


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

    from ..ckan.client import SECRETS_IN_USE, local_portal_env, read_env_file

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


for _command in (build, validate, init, list_datasets, publish, summarize, pull, harvest, diff):
    cli.add_command(_command)
