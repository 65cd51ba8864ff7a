"""Publish: a data package to a CKAN portal, safely and incrementally.

The order of work makes every interruption recoverable by simply running
again:

1. read only: check the package (valid report, file hashes), the token and
   the organization, the dataset and its resources;
2. the dataset metadata (create, or update when it differs);
3. each resource whose file hash differs from the portal's ``hash`` is
   uploaded (our sha256 is kept in ``hash``, so unchanged files are skipped;
   a resource is found again by its ``ogd_key``, so there are never two);
4. the DataStore table of the CSV resource: created with types from the
   Table Schema, then only changed rows upserted and vanished rows deleted,
   found by comparing ``content_sha256`` per ``release_id``;
5. the table's preview (:mod:`pipeline.ckan.views`: ``datatables_view`` on a
   portal that offers it, one view, never two);
6. last, the CSV resource records ``ogd_datastore_hash`` and ``ogd_preview``:
   until then the next run re-checks the DataStore rows and the preview, so a
   run stopped midway is finished by the next one.

Publishing is plan, then apply: :mod:`pipeline.ckan.plan` computes the plan,
a pure value, from the package and what the portal says (``--dry-run``
prints it); :func:`apply_plan` executes it. The modules: ``package`` (the
local package), ``metadata`` (the dataset dict, GDC, checks), ``resources``
(the files, by ``ogd_key``), ``datastore`` (fields, row hashes, loading),
``plan`` and this one (apply; lock; verify).

An unchanged package costs two API calls (token check + ``package_show``)
when its metadata comes from its datapackage.json; metadata read from
datasets.toml is compared each time (one call more: the portal's schema).

Safety (issue #11):

* the organization must be one the token may publish in; one is created
  only with ``create_org`` (a mistyped name never becomes a public
  organization); a dataset another organization owns is never moved;
* writes are serialised per dataset (:mod:`pipeline.ckan.lock`: a lock
  the portal sees, plus one per machine); after taking the lock the plan is
  made again from what the portal holds, so a publish that waited for
  another finds its work done;
* a create whose answer was lost is never re-sent blindly: the dataset, or
  the resource by its ``ogd_key`` and hash, is looked for first; a
  uniqueness conflict of concurrent DataStore upserts is retried, not
  reported as a metadata error;
* ``verify`` downloads what the portal serves (the token goes only to the
  portal's own origin), compares size and sha256 with the package and
  re-uploads what differs.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping

import ckanapi

from ..config import DatasetConfig
from ..problems import AuthError, DataError, PortalRejected, UploadTooLarge, UsageError
from .client import PortalClient
from . import xloader
from .datastore import (
    column_types,
    create_table,
    create_xloader_table,
    loader_fields,
    portal_fields,
    portal_table,
    requests_in_flight,
    send_rows,
    table_mark,
    xloader_table_fields,
)
from .lock import DEFAULT_TTL, DEFAULT_WAIT, PortalLock, extras_with_lock, local_lock
from .metadata import (
    DatasetMetadata,
    dataset_name,
    metadata_from_config,
    metadata_from_descriptor,
)
from .package import UPLOAD_CAP_VARIABLE, LocalPackage, load_package
from .plan import DataStoreStep, PublishPlan, ResourceStep, make_plan, read_portal, show_dataset, table_step
from .progress import Progress, no_progress
from .resources import CSV_KEY, DESCRIPTOR_KEY, ResourceSpec, recorded_sha256, resource_fields, resources_by_key
from .views import PREVIEW_MARK, ensure_preview


@dataclass
class PublishResult:
    """A publish (or its dry run): the plan, and what was done."""

    plan: PublishPlan
    dry_run: bool = False
    dataset_action: str = "skip"  # the plan's; "create" when this run created the dataset before re-planning
    rows_upserted: int = 0  # a dry run: the plan's counts; a publish: the rows sent
    rows_deleted: int = 0
    api_calls: int = 0
    http_requests: int = 0
    uploads: int = 0
    notes: list[str] = field(default_factory=list)
    # Wall seconds of the files (uploads and their resources) and of the DataStore load, when written: where a
    # publish spends its time (``--json``; the benchmark's rows/s into the DataStore).
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def dataset(self) -> str:
        return self.plan.dataset

    @property
    def url(self) -> str:
        return self.plan.url

    @property
    def resources(self) -> tuple[ResourceStep, ...]:
        return self.plan.resources

    @property
    def datastore_action(self) -> str:
        return self.plan.datastore.action

    @property
    def rows_added(self) -> int:
        return self.plan.datastore.rows_added

    @property
    def rows_updated(self) -> int:
        return self.plan.datastore.rows_updated

    @property
    def verified(self) -> list[str]:
        return list(self.plan.verified)

    @property
    def repaired(self) -> list[str]:
        return list(self.plan.repaired)

    @property
    def changed(self) -> bool:
        return self.plan.changed or self.dataset_action != "skip"

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "url": self.url, "dry_run": self.dry_run, "changed": self.changed,
            "dataset_action": self.dataset_action,
            "resources": [{"key": r.key, "name": r.name, "action": r.action, "reason": r.reason}
                          for r in self.resources],
            "datastore_action": self.datastore_action, "rows_upserted": self.rows_upserted,
            "rows_added": self.rows_added, "rows_updated": self.rows_updated, "rows_deleted": self.rows_deleted,
            "api_calls": self.api_calls, "http_requests": self.http_requests, "uploads": self.uploads,
            "verified": self.verified, "repaired": self.repaired, "plan": self.plan.as_dict(),
            "datastore_loader": self.plan.datastore.loader, "seconds": dict(self.seconds),
        }


# ------------------------------------------------------------------ checks before any write


def check_token_and_org(client: PortalClient, org: str, *, dry_run: bool,
                        create_org: bool = False) -> dict[str, Any] | None:
    """Refuse, before any write, a token that may not publish in ``org``; one call in the usual case. Returns
    the organization as the portal listed it (None when this run created it).

    An organization is created only when asked (``create_org``): a mistyped
    ``--org`` must not become a new public organization.
    """
    if not client.apikey:
        raise AuthError("no API token: CKAN_API_TOKEN is not set",
                        "create a token in the portal (user menu → API tokens) and export CKAN_API_TOKEN")
    answer = client.call_action("organization_list_for_user", {"permission": "create_dataset"})
    if not isinstance(answer, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in answer):
        raise client.not_ckan("organization_list_for_user")  # JSON of another API: the client's one check
    allowed = sorted(o["name"] for o in answer)
    if org in allowed:
        return next(o for o in answer if o["name"] == org)
    if not allowed and not create_org:
        raise AuthError(
            f"the portal at {client.url} does not accept this API token for publishing: the token is unknown, "
            "expired or revoked, or its user is an editor of no organization",
            "create a new API token for a user with the editor role in the organization, and export CKAN_API_TOKEN",
        )
    may_publish_in = ", ".join(allowed) if allowed else "none"
    try:
        client.call_action("organization_show", {"id": org, "include_datasets": False})
        exists = True
    except ckanapi.NotFound:
        exists = False
    if exists:
        raise AuthError(f"this token's user may not publish in organization {org!r} on {client.url} (needs the editor "
                        f"or admin role); it may publish in: {may_publish_in}",
                        f"ask an admin of {org!r} to add the user as editor, or use --org with one of those")
    if not create_org:
        raise AuthError(f"organization {org!r} does not exist on {client.url}; this token may publish in: "
                        f"{may_publish_in}",
                        "check the spelling of --org (or organization in datasets.toml); to create a new "
                        "organization, add --create-org")
    if dry_run:
        return None
    try:
        client.call_action("organization_create", {"name": org, "title": org},
                           lookup=lambda: _find_organization(client, org))
    except ckanapi.NotAuthorized:
        raise AuthError(f"organization {org!r} does not exist on {client.url} and this token may not create it",
                        "ask a portal sysadmin to create it, or publish with --org to an existing one") from None
    return None


def _find_organization(client: PortalClient, org: str) -> dict[str, Any] | None:
    try:
        return client.call_action("organization_show", {"id": org, "include_datasets": False})
    except ckanapi.NotFound:
        return None


def check_owner(dataset: dict[str, Any] | None, org: str, client: PortalClient) -> None:
    """Refuse to publish into a dataset another organization owns: an update would move it (never take what is not ours)."""
    if dataset is None:
        return
    owner = (dataset.get("organization") or {}).get("name")
    if owner and owner != org and dataset.get("owner_org") != org:
        raise PortalRejected(
            f"dataset {dataset['name']!r} on {client.url} belongs to organization {owner!r}, not {org!r}; "
            "publishing would move it, so nothing was written",
            {"name": [f"in use by organization {owner!r}"]},
            f"publish with --org {owner} if it is the same dataset, or give the package another name "
            "(ckan_name in datasets.toml)",
        )


# ------------------------------------------------------------------ publishing


def publish_package(package_folder: Path, client: PortalClient, *, org: str | None = None, dry_run: bool = False,
                    create_org: bool = False, verify: bool = False, lock_wait: float = DEFAULT_WAIT,
                    lock_ttl: float = DEFAULT_TTL, say: Callable[[str], None] = lambda _: None,
                    configuration: tuple[Mapping[str, DatasetConfig], Path] | None = None,
                    progress: Progress = no_progress) -> PublishResult:
    """Publish one package: plan, then (unless ``dry_run``) apply (see the module docstring).

    ``configuration`` is the dataset configuration and its file
    (:func:`pipeline.ckan.metadata.load_configuration`): when it declares a
    dataset of the package's name, the dataset metadata is read from that
    entry instead of the package's datapackage.json (the files uploaded stay
    the built ones).

    CKAN's refusals become pipeline errors with CKAN's per-field messages kept:
    a validation error is :class:`PortalRejected` (exit 6), a refused write
    :class:`AuthError` (exit 4). ``verify`` downloads the portal's files and
    repairs those that differ from the package. ``say`` receives messages
    meant for the user (waiting for a lock, where the metadata comes from);
    ``progress`` the bytes uploaded and rows sent.
    """
    options = _Options(org, dry_run, create_org, verify, lock_wait, lock_ttl, say, progress)
    try:
        return _publish(package_folder, client, options, configuration)
    except ckanapi.ValidationError as error:
        fields = {k: v for k, v in (error.error_dict or {}).items() if k != "__type"}
        hint = "fix the named fields (datasets.toml, or ckan_name for a name in use) and run again"
        if "alphanumeric" in str(fields.get("tag_string", "")):
            # CKAN core's tag check takes Thai vowel and tone marks (Unicode Mn) for punctuation; GDC portals relax it.
            hint = ("this portal's tag check (CKAN core's) refuses Thai vowel and tone marks: give keywords in "
                    "datasets.toml this portal accepts, or have it use a Thai-aware tag check (as GDC portals and the "
                    "project's ogd_portal plugin do)")
        raise PortalRejected(client.scrub(f"the portal refused {package_folder.name}: {fields}"), fields,
                             hint) from None
    except ckanapi.NotAuthorized as error:
        raise AuthError(client.scrub(f"the portal refused a write for {package_folder.name}: {error}"),
                        "the token's user needs the editor role in the organization") from None
    except ckanapi.CKANAPIError as error:
        raise PortalRejected(client.scrub(f"the portal answered an unexpected error for {package_folder.name}: "
                                          f"{str(error)[:500]}"),
                             hint="see the portal's logs; publishing is safe to re-run") from None


@dataclass(frozen=True)
class _Options:
    org: str | None
    dry_run: bool
    create_org: bool
    verify: bool
    lock_wait: float
    lock_ttl: float
    say: Callable[[str], None]
    progress: Progress


def package_metadata(package: LocalPackage,
                     configuration: tuple[Mapping[str, DatasetConfig], Path] | None) -> DatasetMetadata:
    """The configuration's metadata when it declares this package's name, else the package's own."""
    if configuration is not None and package.name in configuration[0]:
        return metadata_from_config(configuration[0][package.name], package.descriptor, configuration[1])
    return metadata_from_descriptor(package.descriptor)


def _publish(package_folder: Path, client: PortalClient, options: _Options,
             configuration: tuple[Mapping[str, DatasetConfig], Path] | None) -> PublishResult:
    package = load_package(package_folder)
    # The publishing variables are checked before any write (a bad one found after the uploads would leave a first
    # publish half done).
    requests_in_flight()
    xloader.timeout_seconds()
    for note in package.notes:
        options.say(note)
    metadata = package_metadata(package, configuration)
    if metadata.config_path is not None:
        options.say(f"{package_folder.name}: dataset metadata from {metadata.source} (the files are the built ones)")
    organization = options.org or metadata.organization
    if not organization:
        raise UsageError(f"no organization for {package_folder}: the package names none",
                         "pass --org NAME (an organization the token may publish in); to give the dataset its "
                         f"organization and the rest of its catalogue metadata once, run `ogd init "
                         f"{metadata.package_name or 'NAME'} …` (it writes [datasets.{metadata.package_name or 'NAME'}] "
                         "of datasets.toml, which publishing reads: no rebuild)")
    name = dataset_name(metadata)
    # Counters are per package: the client may serve several packages in one run.
    start = (client.api_calls, client.http_requests, client.uploads)
    listed_org = check_token_and_org(client, organization, dry_run=options.dry_run, create_org=options.create_org)
    current = show_dataset(client, name)
    check_owner(current, organization, client)
    verify_now = options.verify and options.dry_run  # a publish verifies once, holding the lock
    state = read_portal(client, package, metadata, dataset=current, verify=verify_now)
    plan = make_plan(package, metadata, organization, state, client.url, verify=verify_now)
    result = PublishResult(plan, options.dry_run, plan.dataset_action, notes=list(package.notes))
    if options.dry_run:
        result.rows_upserted, result.rows_deleted = len(plan.datastore.upsert), len(plan.datastore.delete)
        _organization_description(client, organization, listed_org, metadata, options)  # says what it would do
        return _count(result, client, start)
    if not plan.changed and not options.verify:
        _organization_description(client, organization, listed_org, metadata, options)
        return _count(result, client, start)  # nothing to write: no lock, two calls
    _check_hosted(client, package, plan)

    with local_lock(client.url, name, wait=options.lock_wait, say=options.say):
        lock = PortalLock(client, name, ttl=options.lock_ttl, wait=options.lock_wait, say=options.say)
        try:
            created = False
            if current is None and plan.dataset_action == "create":
                assert plan.metadata is not None
                created = _create_dataset(client, plan.metadata, lock)
            current = _acquire(lock, client)
            check_owner(current, organization, client)
            # Plan again from what the portal holds now: another publish may have done part of the work.
            state = read_portal(client, package, metadata, dataset=current, verify=options.verify)
            plan = make_plan(package, metadata, organization, state, client.url, verify=options.verify)
            result.plan = plan
            result.dataset_action = "create" if created else plan.dataset_action
            result.rows_upserted, result.rows_deleted = apply_plan(client, package, plan, current, lock,
                                                                   options.progress, result.seconds)
        finally:
            lock.release()
    _organization_description(client, organization, listed_org, metadata, options)  # after the dataset's writes
    return _count(result, client, start)


def apply_plan(client: PortalClient, package: LocalPackage, plan: PublishPlan, current: dict[str, Any],
               lock: PortalLock, progress: Progress = no_progress,
               seconds: dict[str, float] | None = None) -> tuple[int, int]:
    """Execute the plan, in the order that makes any interruption finished by a re-run: dataset, files,
    DataStore rows, and last the mark that the rows are complete. Returns (rows upserted, rows deleted);
    ``seconds`` receives the wall time of the files (``files``) and of the DataStore load (``datastore``)."""
    seconds = {} if seconds is None else seconds
    started = time.perf_counter()
    if plan.dataset_action == "update":
        assert plan.metadata is not None
        patch = {**plan.metadata, "id": current["id"], "state": "active"}
        if "extras" in plan.metadata:  # package_patch replaces the list: keep our lock in it
            patch["extras"] = extras_with_lock(plan.metadata["extras"], lock.value.render())
        current = client.call_action("package_patch", patch)
    dataset_id = current["id"]
    csv_step = plan.step(CSV_KEY)
    csv_resource_id = csv_step.resource_id if csv_step else None

    specs = {spec.key: spec for spec in package.specs}
    datastore, preview = plan.datastore, plan.preview
    by_xloader = datastore.loader == "xloader"
    # xloader loads the file as soon as it is uploaded: its table must have the Table Schema's types before then.
    prepare_table = by_xloader and datastore.action in ("create", "recreate")
    total_bytes = sum(package.sizes[step.key] for step in plan.resources
                      if step.action in ("create", "update") and specs[step.key].upload)
    sent_bytes = 0
    for step in plan.resources:
        for duplicate in step.duplicates:  # left by an interrupted run: never two resources for one file
            _delete_resource(client, duplicate)
        if step.action == "delete" and step.resource_id:
            _delete_resource(client, step.resource_id)
        if step.action in ("skip", "delete"):
            continue
        lock.renew()
        spec = specs[step.key]
        file_hash = package.hashes[step.key]
        fields = resource_fields(spec, file_hash, package.sizes[step.key], package.table_schema, plan.dataset)
        resource_id = step.resource_id
        if step.key == CSV_KEY and prepare_table:
            resource_id = _xloader_table(client, package, dataset_id, resource_id, fields, lock)
            prepare_table = False
        with _upload(package, spec) as upload:
            files = {"upload": (fields["name"], upload)} if upload is not None else None
            try:
                if resource_id:
                    resource = client.call_action("resource_patch", {**fields, "id": resource_id}, files=files)
                else:
                    resource = client.call_action(
                        "resource_create", {**fields, "package_id": dataset_id}, files=files,
                        lookup=lambda key=step.key, digest=file_hash: _find_resource(client, dataset_id, key, digest))
            except ckanapi.ValidationError as error:
                raise _too_large(error, spec, package) or error
        if step.key == CSV_KEY:
            csv_resource_id = resource["id"]
        if spec.upload:
            sent_bytes += package.sizes[step.key]
            progress("bytes", sent_bytes, total_bytes)

    seconds["files"] = round(time.perf_counter() - started, 3)
    if datastore.action == "skip" and preview.action == "skip":
        _make_public(client, plan, dataset_id)
        return 0, 0
    started = time.perf_counter()
    assert csv_resource_id is not None
    counts = (0, 0)
    marks: dict[str, str] = {}
    csv_sent = any(step.key == CSV_KEY and step.action in ("create", "update") for step in plan.resources)
    if datastore.action != "skip" and by_xloader:
        md5 = xloader.file_md5(package.folder / specs[CSV_KEY].path)
        if not csv_sent:
            # The file is on the portal already: its table is made here (after any job of an earlier run has
            # ended), and xloader asked to load it unless its last job completed this very file with its rows (a
            # job that failed after its COPY, or an interrupted one, is asked for again).
            if prepare_table:
                csv_resource_id = _xloader_table(client, package, dataset_id, csv_resource_id, None, lock)
            else:
                xloader.wait_for_end(client, csv_resource_id, label=specs[CSV_KEY].path, after_poll=lock.renew)
            if prepare_table or datastore.upsert or datastore.delete or datastore.action != "update" \
                    or not xloader.loaded_this_file(client, csv_resource_id, md5):
                xloader.submit(client, csv_resource_id)
        xloader.wait_for_load(client, csv_resource_id, md5=md5,
                              rows=len(package.row_hashes),
                              columns=column_types(loader_fields(package.table_schema, "xloader")),
                              label=specs[CSV_KEY].path, after_poll=lock.renew)
        counts = (len(datastore.upsert), len(datastore.delete))
        progress("rows", sum(counts), sum(counts))
        marks["ogd_datastore_hash"] = table_mark(package.hashes[CSV_KEY], package.table_schema, "xloader")
    elif datastore.action != "skip":
        if datastore.portal_loader:
            # The portal's xloader loads this file whenever it is uploaded (in this run, or an interrupted one whose
            # job may still be queued) and cannot read it: it may empty or drop the table before it fails. The
            # table is read again once its job has ended, and loaded from what it holds.
            xloader.wait_for_end(client, csv_resource_id, label=specs[CSV_KEY].path, after_poll=lock.renew)
            datastore = _table_again(client, package, csv_resource_id, datastore)
        if datastore.action in ("create", "recreate"):
            create_table(client, csv_resource_id, package.table_schema, replace=datastore.action == "recreate")
        total_rows = len(datastore.upsert) + len(datastore.delete)

        def after_chunk(upserted: int, deleted: int) -> None:
            lock.renew()
            progress("rows", upserted + deleted, total_rows)

        counts = send_rows(client, package, csv_resource_id, set(datastore.upsert), datastore.delete,
                           insert_ids=frozenset(datastore.insert),
                           after_chunk=after_chunk)
        marks["ogd_datastore_hash"] = table_mark(package.hashes[CSV_KEY], package.table_schema)
    if datastore.action != "skip":
        seconds["datastore"] = round(time.perf_counter() - started, 3)
    if preview.action == "create":  # after the rows: the view shows the table, and CKAN may have made one with it
        ensure_preview(client, csv_resource_id)
    if preview.action != "skip":
        marks[PREVIEW_MARK] = preview.mark
    # Every file and row is in place: public now, then the mark that the load is complete (a run killed between
    # the two leaves complete data public, and the next run checks the rows and marks them).
    _make_public(client, plan, dataset_id)
    client.call_action("resource_patch", {"id": csv_resource_id, **marks})  # last: the rows and the view are done
    return counts


def _xloader_table(client: PortalClient, package: LocalPackage, dataset_id: str, resource_id: str | None,
                   fields: dict[str, Any] | None, lock: PortalLock) -> str:
    """The CSV resource's empty table with the Table Schema's types, for xloader to fill; a new resource is
    created with it (as CKAN's DataStore-only resource until its file is uploaded: xloader leaves those alone).
    An existing resource's table is replaced once any xloader job on it has ended. Returns the resource's id."""
    if resource_id is None:
        assert fields is not None
        answer = client.call_action("datastore_create", {
            # No url: CKAN gives a DataStore-only resource its own (a url here asks for the DataPusher).
            "resource": {**{k: v for k, v in fields.items() if k != "url"}, "package_id": dataset_id,
                         "url_type": "datastore"},
            "force": True, "fields": xloader_table_fields(package.table_schema),
        }, lookup=lambda: _table_of(client, dataset_id, fields))
        return str(answer["resource_id"])
    xloader.wait_for_end(client, resource_id, label=CSV_KEY, after_poll=lock.renew)
    exists = portal_fields(client, resource_id) is not None
    create_xloader_table(client, resource_id, package.table_schema, replace=exists)
    return resource_id


def _table_again(client: PortalClient, package: LocalPackage, resource_id: str, planned: DataStoreStep) -> DataStoreStep:
    """The DataStore step for the table as the portal holds it now (after a job of its own loader ended)."""
    fields, rows = portal_table(client, resource_id, package.table_schema, "api")
    return table_step(package, fields, rows, "api", planned.portal_loader,
                      " (the table as the portal holds it once its xloader job ended)")


def _table_of(client: PortalClient, dataset_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """A create of the CSV resource with its table whose answer was lost: the resource, if the portal made it."""
    found = _find_resource(client, dataset_id, fields["ogd_key"], fields["ogd_sha256"])
    return {"resource_id": found["id"]} if found else None


def _make_public(client: PortalClient, plan: PublishPlan, dataset_id: str) -> None:
    """A dataset created private by this publish, or left private by an interrupted first one, made public."""
    if plan.visibility == "public":
        client.call_action("package_patch", {"id": dataset_id, "private": False})


@contextlib.contextmanager
def _upload(package: LocalPackage, spec: ResourceSpec) -> Iterator[BinaryIO | None]:
    """The bytes to upload for ``spec``, streamed from disk (never read whole); None for a DataStore-only resource."""
    if not spec.upload:
        yield None
    elif spec.key == DESCRIPTOR_KEY and package.descriptor_bytes is not None:
        yield io.BytesIO(package.descriptor_bytes)  # the descriptor of what is published (a few kB)
    else:
        with open(package.folder / spec.path, "rb") as handle:
            yield handle


def _too_large(error: ckanapi.ValidationError, spec: ResourceSpec, package: LocalPackage) -> UploadTooLarge | None:
    """CKAN's refusal of an upload for its size (``{'upload': ['File upload too large']}``) as its own error."""
    messages = (error.error_dict or {}).get("upload") or []
    if not any("too large" in str(message).lower() for message in messages):
        return None
    size = package.sizes[spec.key]
    return UploadTooLarge(
        f"the portal refused {spec.path} ({size:,} bytes) as too large for one upload: its cap "
        f"(ckan.max_resource_size) is below that{f'; the package assumed {package.max_upload_bytes:,}' if package.max_upload_bytes else ''}",
        f"set max_upload_bytes below {size:,} in datasets.toml (or export {UPLOAD_CAP_VARIABLE}) and rebuild: the "
        "table is then published in parts (partition = \"year\", or \"month\"); or raise the portal's "
        "ckan.max_resource_size. Publishing is safe to re-run: the dataset stays private until complete")


def _check_hosted(client: PortalClient, package: LocalPackage, plan: PublishPlan) -> None:
    """Before any write: every file to be linked is the package's own, byte for byte, where the team hosts it."""
    to_send = {step.key for step in plan.resources if step.action in ("create", "update")}
    for spec in package.specs:
        if spec.link is None or spec.key not in to_send:
            continue
        served = client.file_digest(spec.link)
        expected = (package.sizes[spec.key], package.hashes[spec.key].removeprefix("sha256:"))
        if served != expected:
            what = (f"answers HTTP {served}" if isinstance(served, int)
                    else f"serves {served[0]:,} bytes that are not the package's {spec.path}")
            raise DataError(f"{spec.link} {what}: a linked file must be the package's own (size and sha256); "
                            "nothing was sent",
                            f"copy the package's files to files_url ({spec.path} to {spec.link}), then publish again")


def _organization_description(client: PortalClient, organization: str, listed: dict[str, Any] | None,
                              metadata: DatasetMetadata, options: _Options) -> None:
    """Keep the organization's description as datasets.toml's [organizations.NAME] gives it (compared with the
    organization as the token check listed it: no call of its own). Only an organization's admin may change
    it: for an editor's token the difference is said, not an error."""
    wanted = metadata.organization_description
    if not wanted or (listed is not None and (listed.get("description") or "") == wanted):
        return
    if options.dry_run:
        options.say(f"organization {organization}: description would be updated from [organizations.{organization}]")
        return
    try:
        client.call_action("organization_patch", {"id": organization, "description": wanted})
        options.say(f"organization {organization}: description updated from [organizations.{organization}]")
    except ckanapi.NotAuthorized:
        options.say(f"organization {organization}: its description on the portal differs from "
                    f"[organizations.{organization}] of datasets.toml; only an admin of the organization may change it")


def _create_dataset(client: PortalClient, wanted: dict[str, Any], lock: PortalLock) -> bool:
    """Create the dataset holding our lock; False when another publisher's create won the name."""
    # Private until complete: the plan makes it public last (an interrupted first publish leaves nothing visible).
    data = {**wanted, "private": True, "extras": extras_with_lock(wanted.get("extras"), lock.value.render())}

    def look_again() -> dict[str, Any] | None:
        # The answer was lost: the portal may have created it. Exists → done (by us or a rival: acquire() tells).
        try:
            return client.call_action("package_show", {"id": wanted["name"]})
        except ckanapi.NotFound:
            return None

    try:
        created = client.call_action("package_create", data, lookup=look_again)
    except ckanapi.ValidationError as error:
        # "That URL is already in use" (in the portal's language): a concurrent publish, or our own lost create.
        # Asking the portal again is language-independent; then compete for the dataset's lock.
        if "name" in (error.error_dict or {}) and look_again() is not None:
            return False
        raise
    return lock.owns(created)


def _acquire(lock: PortalLock, client: PortalClient) -> dict[str, Any]:
    try:
        return lock.acquire()
    except ckanapi.NotAuthorized:
        raise AuthError(f"dataset {lock.name!r} exists on {client.url} but this token may not read it (another "
                        "organization owns the name)", "publish under another name (ckan_name in datasets.toml)") from None


def _find_resource(client: PortalClient, dataset_id: str, key: str, file_hash: str) -> dict[str, Any] | None:
    """The resource of ``key`` the portal holds for this file, if a create whose answer was lost made it."""
    dataset = client.call_action("package_show", {"id": dataset_id})
    return next((r for r in resources_by_key(dataset).get(key, []) if recorded_sha256(r) == file_hash), None)


def _delete_resource(client: PortalClient, resource_id: str) -> None:
    try:
        client.call_action("resource_delete", {"id": resource_id})
    except ckanapi.NotFound:
        pass  # already gone (a retried delete whose first answer was lost)


def _count(result: PublishResult, client: PortalClient, start: tuple[int, int, int]) -> PublishResult:
    result.api_calls = client.api_calls - start[0]
    result.http_requests = client.http_requests - start[1]
    result.uploads = client.uploads - start[2]
    return result
