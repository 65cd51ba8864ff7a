"""Build: extract -> transform -> validate -> package, for one dataset.

Inputs are transformed and their rows checked against the Table Schema by
worker processes (one per core), streamed back in input order, de-duplicated
and written in batches; memory stays bounded by the batch size plus one id set.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import PARSER_VERSION, __version__
from ..changes.versioning import previous_version, record_version
from ..config import DatasetConfig
from ..extract.archive_inputs import discover_with_archives
from ..extract.decode import DecodeProblem, read_bytes
from ..extract.discover import Discovery, InputFile, is_url
from ..extract.remote import discover_remote, split_inputs
from ..incremental.previous import PreviousPackage, save_inputs_cache
from ..licences import gdc_title
from ..hashing import file_digest
from ..package.descriptor import build_descriptor, descriptor_table_schema
from ..package.files import write_json
from ..package.layout import (
    BATCH_ROWS,
    CHANGES_PATH,
    CSV_PATH,
    DESCRIPTOR_PATH,
    PARQUET_PATH,
    REPORT_PATH,
)
from ..package.parts import resolve_partition, write_parts
from ..package.output import (
    check_output,
    keep_failed,
    output_lock,
    publish_folder,
    recover,
    staging_folder,
)
from ..package.quarantine import NOT_COPIED
from ..package.writer import PackageWriter
from ..problems import OutputError, Problem, UsageError
from ..quality import floor_failure, profile_package, with_floors
from ..sources.registry import AUTO, UnknownSource, get_source, source_descriptions, sources_in_detection_order
from ..spreadsheet import DESCRIPTION as SPREADSHEET_DESCRIPTION
from ..spreadsheet import SPREADSHEET_PATH
from ..validate.records import RecordValidator
from .executor import WorkerPool, _stat, transform_all
from .report import BuildReport, Counts, Reuse, Spreadsheet, Timings, Validation

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class BuildResult:
    """Where the build left its package (the output, or ``DIR.failed`` when it failed) and its typed report."""

    output: Path
    build_report: BuildReport

    @property
    def name(self) -> str:
        return self.build_report.name

    @property
    def ok(self) -> bool:
        return self.build_report.ok

    @property
    def failure(self) -> str | None:
        return self.build_report.failure

    @property
    def counts(self) -> dict[str, int]:
        return asdict(self.build_report.counts)

    @property
    def report(self) -> dict[str, Any]:
        """The report as ``report.json`` holds it."""
        return self.build_report.as_dict()


def build_dataset(
    dataset: DatasetConfig,
    output: Path,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    incremental: bool = True,
    batch_rows: int = BATCH_ROWS,
    force: bool = False,
    wait: bool = False,
    max_input_bytes: int | None = None,
    published: Path | None = None,
    pool: WorkerPool | None = None,
) -> BuildResult:
    """Build one dataset into ``output`` atomically; return its result (never raises for bad input).

    Raises :class:`pipeline.problems.UsageError` for an output that would destroy
    what the build did not write (see :func:`pipeline.package.output.check_output`;
    ``force`` replaces a non-empty folder that is not a package),
    :class:`pipeline.problems.Busy` when another build holds the output's lock
    (``wait`` waits for it), :class:`pipeline.problems.OutputError` when the
    output cannot be written (disk full, read-only): no staging folder is left.
    ``max_input_bytes`` overrides the dataset's cap per input. ``published``: a pulled copy of the published
    package, the version this build follows when ``output`` holds no package (a fresh work tree).
    ``pool``: where the inputs are transformed (default: ``workers`` processes of this machine; a
    :class:`pipeline.build.cluster.DaskWorkers` for a Dask cluster): the package is the same bytes either way.
    """
    output = output.resolve()
    # Local inputs, file:// URLs among them (a path by another name): an output must never replace one.
    check_output(output, dataset.name, split_inputs(list(dataset.inputs))[0], force=force)
    with _output_errors(output):
        output.parent.mkdir(parents=True, exist_ok=True)
        with output_lock(output, wait=wait):
            recover(output, dataset.name)
            staging = staging_folder(output)
            try:
                return _build_locked(dataset, output, staging, workers=workers, progress=progress,
                                     incremental=incremental, batch_rows=batch_rows,
                                     max_bytes=dataset.max_input_bytes if max_input_bytes is None else max_input_bytes,
                                     published=published, pool=pool)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)  # a half-written package helps no one (nor a full disk)
                raise


# Errors of the output's file system, whatever file they hit.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
_PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM}


@contextmanager
def _output_errors(output: Path) -> Iterator[None]:
    """Turn a failure to write the output into :class:`OutputError` (exit 8) that says what to do."""
    try:
        yield
    except OSError as exc:
        filename = exc.filename if isinstance(exc.filename, str) else None
        inside = filename is None or Path(filename).is_relative_to(output.parent)
        if not (exc.errno in _OUTPUT_ERRNOS or (exc.errno in _PERMISSION_ERRNOS and inside)):
            raise
        what = {
            errno.ENOSPC: "the disk holding it is full",
            errno.EDQUOT: "your disk quota there is used up",
            errno.EROFS: "it is on a read-only file system",
            errno.EFBIG: "a file grew over the file system's size limit",
        }.get(exc.errno, "the build's user has no permission to write there")
        fix = {
            errno.ENOSPC: "free some space there (or choose another --out) and build again",
            errno.EDQUOT: "free some space (or choose another --out) and build again",
            errno.EROFS: "choose an --out folder on a writable file system",
        }.get(exc.errno, "choose another --out folder, or give the build's user write permission on it")
        raise OutputError(
            f"the output {output} could not be written: {what} ({errno.errorcode.get(exc.errno or 0, '?')}: "
            f"{exc.strerror}{f', at {filename}' if filename else ''}); the staging folder was removed and the "
            "previous package, if any, is unchanged",
            fix,
        ) from None


def _build_locked(dataset: DatasetConfig, output: Path, staging: Path, *, workers: int | None,
                  progress: ProgressCallback | None, incremental: bool, batch_rows: int,
                  max_bytes: int | None, published: Path | None = None,
                  pool: WorkerPool | None = None) -> BuildResult:
    """The build proper, holding the output's lock; the caller removes ``staging`` if this raises."""
    started = time.time()
    found = _discover(list(dataset.inputs), _reads_feeds(dataset.source))
    root, files = found.root, found.files
    if staging.exists():
        shutil.rmtree(staging)  # this very process's folder (a pid reused): recover() spares folders it did not make
    staging.mkdir(parents=True)

    # The site profiles travel with the inputs to the workers; their digest keys the cache (a changed profile
    # changes outcomes, as a new parser does).
    site_profiles = dataset.site_profiles()
    previous = PreviousPackage(output if incremental else None, dataset.source, profiles_digest=site_profiles.digest)
    previous_package = previous_version(output) or (previous_version(published) if published is not None else None)
    stats = [_stat(item) for item in files]  # before any file is read: a file changed meanwhile is hashed next time
    # The content hash of each input, for the next build's inputs cache: those transform_all hashed to
    # decide reuse (every input of an incremental build), else the hash made as the input was read or copied.
    hashed: dict[str, str] = {}
    input_hashes: dict[str, str] = {}
    writer = PackageWriter(staging, batch_size=batch_rows, reusable=previous.files, read_previous=previous.rows)
    validator = RecordValidator(writer.table_schema)
    kept_by_content: dict[str, str] = {}
    reasons: Counter[str] = Counter()
    sources_seen: set[str] = set()
    duplicates = 0
    transform_started = time.time()
    outcomes = transform_all(files, dataset.source, workers, previous, stats, max_bytes, hashed,
                             profiles=site_profiles, pool=pool)
    completed = False
    scratch = tempfile.TemporaryDirectory(prefix=".ogd-objects-")  # quarantined objects of object storage
    try:
        for index, (item, item_outcomes) in enumerate(zip(files, outcomes), start=1):
            input_hash = hashed.get(item.relative)
            for outcome in item_outcomes:  # one per input, or one per item of a feed
                problem = outcome.problem
                row = outcome.row
                if row is not None:
                    problem = _check_duplicate(_unique_keys(row, validator.unique_fields), row["content_sha256"],
                                               item, validator, kept_by_content, row["item"])
                    input_hash = input_hash or row["source_sha256"]
                    if problem is None:
                        writer.add_row(row)
                        sources_seen.add(row["source"])
                elif outcome.reused is not None:
                    # Valid under this schema and parser already; only duplicates are decided again, on the
                    # previous package's values of every unique field (as a new row's).
                    reused = outcome.reused
                    keys = {"release_id": reused.release_id, **previous.unique_values(reused.position)}
                    problem = _check_duplicate(keys, reused.content_sha256, item, validator, kept_by_content,
                                               reused.item)
                    if problem is None:
                        writer.add_previous(reused.position, reused.published_date)
                        sources_seen.add(reused.source)
                if problem is not None:
                    reasons[problem.reason] += 1
                    duplicates += problem.reason == "duplicate"
                    # A reused quarantine entry links the previous package's copy of the same bytes.
                    copy_from, payload = _quarantine_source(item, problem, scratch.name)
                    # An archived record's cache key may cover more than its bytes (a feed entry's evidence).
                    kept_sha256 = writer.add_problem(problem, copy_from, outcome.kept_copy, payload=payload,
                                                     input_key=item.record.sha256 if item.record is not None else None)
                    input_hash = input_hash or kept_sha256
            if input_hash:
                input_hashes[item.relative] = input_hash
            if progress:
                progress(index, len(files))
        for problem in found.refused:  # inputs refused unread by discovery (a link out of the inputs...)
            reasons[problem.reason] += 1
            writer.add_problem(problem, found.copyable.get(problem.path))
        completed = True
    finally:
        outcomes.close()  # stops the workers now, not when the generator is collected
        scratch.cleanup()
        if completed:
            writer.close()
        else:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 — the error that stopped the loop is the one to report
                pass
    transform_seconds = time.time() - transform_started

    digests = writer.digests
    # Read back from the Parquet file just written: an incremental and a full build give the same profile.
    # When those bytes are the previous package's, so is the profile (only today's floors are applied again).
    quality = None
    if writer.rows:
        reused_quality = previous.quality_of(digests[str(staging / PARQUET_PATH)][1])
        quality = (with_floors(reused_quality, dataset.min_filled) if reused_quality is not None
                   else profile_package(staging / PARQUET_PATH, dataset.min_filled))
    # The version follows the data: compared with the package this build replaces (whatever --full says: the
    # cache is an optimisation, the version is about what consumers see).
    versioning = None
    if writer.rows or previous_package is not None:
        versioning = record_version(staging, previous_package, dataset.version, where=f"[datasets.{dataset.name}]",
                                    title=dataset.title, fields=descriptor_table_schema()["fields"])
        for path in (CHANGES_PATH,):
            digests[str(staging / path)] = file_digest(staging / path)
    # Parts that fit a portal's upload cap and that a consumer wants anyway: one per year (or month).
    partition = resolve_partition(dataset.partition, digests[str(staging / CSV_PATH)][0], dataset.max_upload_bytes)
    parts = write_parts(staging, writer.table_schema, writer.schema, partition) if writer.rows else []
    descriptor = build_descriptor(
        staging,
        digests=digests,
        parts=tuple(parts),
        name=dataset.name,
        title=dataset.title,
        title_en=dataset.title_en,
        description=dataset.description,
        version=versioning.version if versioning is not None else dataset.version,
        license_id=dataset.license,
        keywords=dataset.keywords,
        sources=source_descriptions(sorted(sources_seen)),
        contributors=_contributors(dataset),
        homepage=dataset.url,
        temporal=(
            {"start": writer.min_date.isoformat(), "end": writer.max_date.isoformat()} if writer.rows else None
        ),
        extra={"x_ogd": {**_extra_metadata(dataset, writer.rows),
                         "spreadsheet": _spreadsheet_entry(digests[str(staging / SPREADSHEET_PATH)]),
                         **({"quality": quality} if quality is not None else {}),
                         **({"changes": versioning.summary} if versioning is not None else {}),
                         "partition": partition, "max_upload_bytes": dataset.max_upload_bytes,
                         **({"parts": parts} if parts else {})}},
    )
    descriptor_sha256 = write_json(staging / DESCRIPTOR_PATH, descriptor)

    # Every new row was checked against the Table Schema once, by its worker (RecordValidator: a row that
    # breaks it is quarantined, never written); reused rows passed the same schema's check in the build that
    # made them; unique keys are decided by the de-duplication above; sizes and hashes as the files were written.
    validation = Validation(valid=True, validator="ogd-fast (each new record, before writing)", rows=writer.rows,
                            rows_checked=writer.rows_checked, rows_reused=writer.rows - writer.rows_checked,
                            error_count=0, errors=[])

    quarantined = sum(reasons.values()) - duplicates
    inputs = len(files) + len(found.refused)
    # A feed is one input of many items: the ratio is over items (for inputs of one release, items == inputs).
    items = writer.rows + sum(reasons.values())
    ratio = quarantined / items if items else 0.0
    failure = None
    if not inputs:
        failure = "no input files were found under " + ", ".join(str(p) for p in dataset.inputs)
    elif ratio > dataset.max_quarantine_ratio:
        failure = (
            f"{quarantined} of {items} {'inputs' if items == inputs else 'items'} ({ratio:.1%}) were quarantined, more than the "
            f"threshold {dataset.max_quarantine_ratio:.1%}; see quarantine.jsonl for the reasons"
        )
    elif quality is not None and (below := floor_failure(quality)):
        failure = below  # a parser regression caught before publishing

    report = BuildReport(
        name=dataset.name,
        ok=failure is None,
        failure=failure,
        input_root=str(root),
        descriptor_sha256=descriptor_sha256,
        counts=Counts(inputs=inputs, items=items, records=writer.rows, quarantined=quarantined, duplicates=duplicates,
                      reused=previous.hits, skipped=len(found.skipped)),
        quarantine_ratio=round(ratio, 6),
        max_quarantine_ratio=dataset.max_quarantine_ratio,
        per_reason=dict(sorted(reasons.items())),
        spreadsheet=Spreadsheet(**writer.spreadsheet_counts),
        skipped=[entry.as_dict() for entry in found.skipped],
        max_input_bytes=max_bytes,
        validation=validation,
        reuse=Reuse(inputs_reused=previous.hits, batches_copied=writer.chunks_copied, rows_copied=writer.rows_copied,
                    copy_refused=None if writer.chunks_copied else (previous.copy_refused or writer.copy_refused
                                                                    or "the first batch changed")),
        parser_version=PARSER_VERSION,
        tool_version=__version__,
        timings=Timings(started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                        transform_seconds=round(transform_seconds, 3),
                        total_seconds=round(time.time() - started, 3)),
        quality=quality,
        archive=found.archive,
    )
    report.write(staging / REPORT_PATH)

    if failure is None:
        publish_folder(staging, output)
        csv_bytes, csv_sha256 = digests[str(staging / CSV_PATH)]
        excel_bytes, excel_sha256 = digests[str(staging / SPREADSHEET_PATH)]
        save_inputs_cache(output, {item.relative: [*stat, input_hashes[item.relative]]
                                   for item, stat in zip(files, stats)
                                   if stat is not None and input_hashes.get(item.relative)},
                          {"batch_size": writer.batch_size, "csv_ends": writer.csv_ends,
                           "csv_bytes": csv_bytes, "csv_sha256": csv_sha256,
                           "excel_ends": writer.excel_ends, "excel_counts": writer.excel_counts,
                           "excel_bytes": excel_bytes, "excel_sha256": excel_sha256})
        final = output
    else:
        # Fail closed: the previous package stays; the rejected build is kept for inspection.
        final = keep_failed(staging, output)
    return BuildResult(final, report)


def _reads_feeds(source: str) -> bool:
    """Whether the build's source reads feeds: then feed entries of an archive not archived as pages are inputs."""
    if source == AUTO:
        return any(candidate.kind in ("feed", "wordpress") for candidate in sources_in_detection_order())
    try:
        return get_source(source).kind in ("feed", "wordpress")
    except UnknownSource:  # reported for every input by the transform
        return False


def _discover(paths: list[str | Path], read_feeds: bool) -> Discovery:
    """The inputs: folders, files and archives of this machine (``file://`` URLs among them), or objects under
    URLs of object storage (``s3://bucket/prefix/``), not both in one build."""
    local, remote = split_inputs(paths)
    if remote and local:
        raise UsageError("inputs on this machine and on object storage in one build: " + ", ".join(map(str, paths)),
                         "put them in one place (copy the files to the store, or the objects here)")
    return (discover_remote(remote, read_feeds=read_feeds) if remote
            else discover_with_archives(local, read_feeds=read_feeds))


def _quarantine_source(item: InputFile, problem: Problem, scratch: str) -> tuple[str, Callable[[], bytes] | None]:
    """What the writer copies into the quarantine for ``item``: a path (whose permissions the copy takes) and,
    when the bytes are not that whole file, a reader of them. An object of object storage has no permissions:
    an empty file of mode 0644 stands for it, and its bytes are fetched only when a copy is made (not when the
    previous package's copy of the same bytes is linked)."""
    if item.record is not None and not is_url(item.path):
        return item.path, _payload(item)  # a record of a local WARC file: its payload, the file's permissions
    if not is_url(item.path) or problem.reason in NOT_COPIED:
        return item.path, None
    mode_of = os.path.join(scratch, "object-mode")
    if not os.path.exists(mode_of):
        with open(mode_of, "wb"):
            pass
        os.chmod(mode_of, 0o644)
    return mode_of, _payload(item)


def _payload(item: InputFile) -> Callable[[], bytes]:
    """The bytes a quarantine copy of an archived record keeps (its payload, not the WARC file), or of an object
    of object storage."""
    def read() -> bytes:
        try:
            return read_bytes(item, None)
        except DecodeProblem as problem:
            raise OSError(errno.EIO, problem.message) from None
    return read


def _check_duplicate(keys: dict[str, Any], content_sha256: str, item: InputFile, validator: RecordValidator,
                     kept_by_content: dict[str, str], item_key: str | None = None) -> Problem | None:
    """A release already kept (same content, or same value of a unique field) is a duplicate; the first one in
    input order wins.

    ``keys`` holds ``release_id`` and the value of every other unique field of the schema.
    """
    release_id = keys["release_id"]
    kept = kept_by_content.get(content_sha256)
    if kept is not None:
        return _duplicate(item, item_key, f"same title, date and body as release {kept}, which is kept",
                          kept, release_id, "content_sha256")
    match = validator.kept_match(keys)
    if match is not None:
        field_name, kept = match
        if field_name == "release_id":
            message = f"release {release_id} was already read from another file, which is kept"
        else:
            message = (f"release {release_id} has the same {field_name} {keys[field_name]!r} as release {kept}, "
                       "read from another file, which is kept")
        return _duplicate(item, item_key, message, kept, release_id, field_name)
    kept_by_content[content_sha256] = release_id
    return None


def _unique_keys(row: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A new row's values of the unique fields, as the previous package's reused rows give them: long texts
    cross from the workers as UTF-8 bytes (executor.PACKED_TEXT_FIELDS), and bytes never equal a str."""
    return {name: row[name].decode("utf-8") if isinstance(row[name], bytes) else row[name] for name in names}


def _duplicate(item: InputFile, item_key: str | None, message: str, kept_release_id: str, release_id: str,
               match: str) -> Problem:
    """A ``duplicate`` problem: its details have one shape (README: Quarantine), whatever matched."""
    return Problem(item.relative, "duplicate", message, "validate",
                   {"kept_release_id": kept_release_id, "release_id": release_id, "match": match}, item=item_key)


def _spreadsheet_entry(digest: tuple[int, str]) -> dict[str, Any]:
    """``x_ogd.spreadsheet``: the spreadsheet CSV, described beside the resources, not as one (its values are
    deliberately not the exact ones, so Frictionless must not check them against the Table Schema)."""
    size, sha256 = digest
    return {"path": SPREADSHEET_PATH, "bytes": size, "hash": f"sha256:{sha256}", "description": SPREADSHEET_DESCRIPTION}


def _contributors(dataset: DatasetConfig) -> list[dict[str, str]]:
    people = []
    if dataset.organization_title:
        people.append({"title": dataset.organization_title, "role": "publisher"})
    if dataset.maintainer:
        entry = {"title": dataset.maintainer, "role": "maintainer"}
        if dataset.maintainer_email:
            entry["email"] = dataset.maintainer_email
        people.append(entry)
    return people


def _extra_metadata(dataset: DatasetConfig, rows: int) -> dict[str, Any]:
    """Publishing metadata carried in the package (``x_ogd``), read by ``ogd publish``."""
    gdc = dict(dataset.gdc)
    if dataset.license:
        gdc.setdefault("license_id", gdc_title(dataset.license))
    return {
        "organization": dataset.organization,
        "organization_title": dataset.organization_title,
        "maintainer": dataset.maintainer,
        "maintainer_email": dataset.maintainer_email,
        "row_count": rows,
        "parser_version": PARSER_VERSION,
        "source_option": dataset.source,
        **({"private": True} if dataset.private else {}),
        **({"files_url": dataset.files_url} if dataset.files_url else {}),
        # What the html source read pages with ([[profiles]], then the bundled ones): the next build's cache key.
        "profiles_sha256": dataset.site_profiles().digest,
        **({"ckan_name": dataset.ckan_name} if dataset.ckan_name else {}),
        "gdc": gdc,
    }
