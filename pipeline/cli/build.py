"""``ogd build``: packages from release files (ad hoc) or configured datasets."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..problems import ExitCode, PipelineError
from .common import SourceChoice, _description_options, _emit_json, _fail, _progress


@click.command()
@click.argument("paths", nargs=-1, type=str)  # paths, or URLs of object storage (a Path would fold s3:// to s3:/)
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
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where inputs are transformed: worker processes here, or a Dask cluster (--scheduler); "
                   "the package is the same bytes.")
@click.option("--scheduler", envvar="OGD_DASK_SCHEDULER", metavar="tcp://HOST:8786",
              help="The Dask scheduler of --executor dask (default: OGD_DASK_SCHEDULER).")
@click.option("--full", is_flag=True, help="Transform every input again (default: reuse the previous package's "
              "outcome for inputs whose bytes did not change).")
@click.option("--max-input-bytes", type=click.IntRange(1), help="Quarantine an input larger than this, unread "
              "(too-large; default: max_input_bytes of the dataset, else 5 MiB).")
@click.option("--force", is_flag=True, help="Replace an --out folder that is not empty and not a package of this "
              "name (its files are deleted). Never allows an --out that is, holds or lies inside an input.")
@click.option("--wait", is_flag=True, help="Wait for another build of the same --out to finish (default: exit 7).")
@click.option("--published/--no-published", "against_published", default=None,
              help="When the output holds no package (a fresh work tree), follow the version published on the "
                   "portal (pulled: its version moves, only this build's changes are logged). Default: on when "
                   "CKAN_URL is set.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (the one summary line per dataset, and any failure, are still printed: they are the build's result).")
@_description_options("Ad-hoc builds: ", "notspecified")
def build(
    paths: tuple[str, ...], out: Path | None, source: str, name: str | None, datasets: tuple[str, ...],
    build_all: bool, config_path: Path | None, max_quarantine_ratio: float, workers: int | None,
    executor: str, scheduler: str | None,
    full: bool, max_input_bytes: int | None, force: bool, wait: bool, as_json: bool, quiet: bool,
    against_published: bool | None, **metadata: Any,
) -> None:
    """Build data packages from release files (PATH... --out DIR) or configured datasets.

    An ad-hoc build takes its description from the flags, then from [defaults]
    and [defaults.gdc] of the configuration (--config, else ./datasets.toml
    when present). Configured datasets take theirs from datasets.toml.

    \b
    Examples:
      ogd build releases/ --out pkg --name my-news --title "ข่าวของเรา" --org my-agency
      ogd build --dataset thaigov-news-sample
      ogd build s3://bucket/releases/ --out pkg --executor dask --scheduler tcp://HOST:8786
    """
    from ..build.run import build_dataset
    from ..config import AD_HOC_KEYS, ad_hoc_dataset, load_config
    from ..quality import summary_lines

    metadata["license"] = metadata.pop("license_id")  # --license: the configuration's key is `license`
    gdc_options = metadata.pop("gdc_options")

    try:
        if executor == "dask" and not scheduler:
            raise click.UsageError("--executor dask needs the scheduler's address: --scheduler tcp://HOST:8786 "
                                   "(or OGD_DASK_SCHEDULER)")
        # An exported OGD_DASK_SCHEDULER may stay set for local builds; a --scheduler typed without
        # --executor dask means a cluster build was wanted, and building here instead would hide that.
        if (executor != "dask" and scheduler and click.get_current_context().get_parameter_source("scheduler")
                == click.core.ParameterSource.COMMANDLINE):
            raise click.UsageError("--scheduler is the address of --executor dask's scheduler: add --executor dask "
                                   "to build on that cluster (without it the build runs on this machine)")
        if executor == "dask" and workers is not None:
            raise click.UsageError("--workers sets processes of this machine; with --executor dask the cluster's "
                                   "workers run the build (start more of them to go faster)")
        source_paths = _input_paths(paths)
        jobs = []
        if paths:
            if datasets or build_all:
                raise click.UsageError("give either PATH... --out DIR, or --dataset/--all, not both")
            if out is None:
                raise click.UsageError("ad-hoc builds need --out DIR (the package folder to write)")
            for path in source_paths:
                if isinstance(path, Path) and not path.exists():
                    raise click.BadParameter(f"{path} does not exist", param_hint="PATH")
            package_name = name or out.resolve().name
            from ..config import NAME_PATTERN

            if not NAME_PATTERN.match(package_name):
                raise click.BadParameter(
                    f"{package_name!r} is not a valid package name: use 2-100 of a-z, 0-9, '-', '_'",
                    param_hint="--name",
                )
            from ..gdc import bundled_schema
            from ..init import parse_gdc_option

            gdc = dict(parse_gdc_option(text, bundled_schema()) for text in gdc_options)
            jobs.append((ad_hoc_dataset(package_name, source_paths, source, max_quarantine_ratio,
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
        from ..package.output import check_output

        # Every output against every job's inputs, before anything is built: the second dataset's
        # output must not replace the first one's inputs either.
        from ..extract.remote import split_inputs

        # Local inputs, file:// URLs among them (a path by another name): no output may replace one.
        all_inputs = [path for dataset, _target in jobs for path in split_inputs(list(dataset.inputs))[0]]
        for dataset, target in jobs:
            check_output(target.resolve(), dataset.name, all_inputs, force=force)
        results = []
        explicit = against_published is not None
        if against_published is None:
            from ..ckan.published import portal_configured

            # Configured datasets are the ones a portal publishes (the scheduled workflow); ad-hoc builds ask.
            against_published = portal_configured() and bool(datasets or build_all)
        with _worker_pool(executor, scheduler, quiet) as pool:
            for dataset, target in jobs:
                with _published_version(dataset, target, against_published, explicit, quiet) as published, \
                        _progress(not quiet, f"build {dataset.name}") as progress:
                    result = build_dataset(dataset, target, workers=workers, progress=progress, incremental=not full,
                                           force=force, wait=wait, max_input_bytes=max_input_bytes, published=published,
                                           pool=pool)
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


def _input_paths(given: tuple[str, ...]) -> list[Path | str]:
    """PATH arguments: fsspec URLs (s3://bucket/prefix/) as written, everything else a path."""
    from ..extract.discover import is_url

    return [text if is_url(text) else Path(text) for text in given]


@contextlib.contextmanager
def _worker_pool(executor: str, scheduler: str | None, quiet: bool) -> Iterator[Any]:
    """None (worker processes of this machine), or the workers of the Dask cluster at ``scheduler``, connected
    for every dataset of this command and closed afterwards."""
    if executor != "dask":
        yield None
        return
    assert scheduler is not None
    from ..build.cluster import connect

    with connect(scheduler) as pool:
        if not quiet:
            dashboard = pool.dashboard
            click.echo(f"cluster {pool.address}: {pool.width} worker threads"
                       + (f"; dashboard {dashboard}" if dashboard else "; no dashboard"), err=True)
        yield pool


@contextlib.contextmanager
def _published_version(dataset: Any, target: Path, wanted: bool, explicit: bool,
                       quiet: bool) -> Iterator[Path | None]:
    """A pulled copy of the published package when the output holds none (removed afterwards), else None.

    Asked for by default (not ``explicit``), a portal that cannot be reached only costs the comparison: the
    build goes on from the configured version, and says so."""
    from ..changes.versioning import previous_version

    if not wanted or previous_version(target) is not None:
        yield None
        return
    from ..ckan.published import fetch_published
    from ..problems import PortalUnavailable

    name = dataset.ckan_name or dataset.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.published-", dir=target.parent) as folder:
        try:
            published = fetch_published(name, Path(folder) / name)
        except PortalUnavailable as error:
            if explicit:
                raise
            click.echo(f"{dataset.name}: warning: the published version could not be read ({error.message}); "
                       "versions start from datasets.toml's (--published makes this an error)", err=True)
            yield None
            return
        if not quiet:
            held = previous_version(published) if published is not None else None  # the build reads it again
            click.echo(f"{dataset.name}: no package in {target}: " + (
                f"following the published version {held.version} of {name}" if held is not None
                else f"{name} is not published yet: this is its first version"), err=True)
        yield published

