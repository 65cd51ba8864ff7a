"""``ogd harvest``: releases from agency websites into a web archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..problems import ConfigError, DataError, PipelineError, UsageError
from .common import _emit_json, _fail, _progress


@click.command()
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
    from ..config import default_config_path, load_config
    from ..harvest.run import harvest as run_harvest
    from ..harvest.settings import (
        Etiquette,
        HarvestSource,
        contact_form,
        load_etiquette,
        parse_since,
        parse_sources,
    )
    from ..harvest.outcomes import OUTCOMES
    from ..problems import SourceUnreachable

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
        results = []
        for name, sources, root in jobs:
            with _progress(not quiet, f"harvest {name}") as progress:
                # On a terminal the bar shows the progress; the per-source lines would break it.
                log = (lambda message: None) if quiet or progress is not None else (
                    lambda message: click.echo(message, err=True))
                result = run_harvest(sources, root, etiquette, refetch=refetch, log=log, progress=progress)
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
        unreachable = [s for _name, r in results for s in r.unreachable_sources]
        if unreachable:
            # Each source's own cause and hint: a page --kind auto does not recognise, or a robots.txt refusal,
            # is not cured by running again later as a site that is down is.
            causes = [OUTCOMES.get(s.failure or "") for s in unreachable]
            named = ", ".join(f"{s.url} ({s.failure}: {cause.message})" if cause else s.url
                              for s, cause in zip(unreachable, causes))
            hints = list(dict.fromkeys(cause.hint for cause in causes if cause)) or ["see the errors above"]
            raise SourceUnreachable(f"{len(unreachable)} source(s) could not be harvested: {named}",
                                    "; ".join(hints) + "; the other sources were harvested")
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
