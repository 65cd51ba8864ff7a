"""The publish plan: a pure value computed from the local package and what the portal says.

:func:`read_portal` asks the portal (as few calls as the package allows);
:func:`make_plan` decides, without any I/O, what to create, update or skip:
the dataset, each resource (matched by ``ogd_key``), and the DataStore table
(created, re-created when a column type changed, or updated with the rows to
upsert and delete), and the table's preview view. ``--dry-run`` prints the plan; a publish executes it
(:mod:`pipeline.ckan.publish`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import ckanapi

from ..problems import AuthError
from .client import PortalClient
from .datastore import (
    column_types,
    loader_fields,
    portal_table,
    row_changes,
    table_mark,
)
from .metadata import (
    DatasetMetadata,
    check_metadata,
    dataset_metadata,
    dataset_name,
    metadata_differs,
    portal_schema,
    schema_lists_licences,
)
from .package import LocalPackage
from .resources import CSV_KEY, DESCRIPTOR_KEY, PART_PREFIX, RESOURCE_BY_KEY, recorded_sha256, resources_by_key
from .views import PREVIEW_MARK, PREVIEW_VIEW, PreviewStep, portal_plugins, preview_step, resource_views
from .xloader import CELL_LIMIT, runs_xloader

Served = tuple[int, str] | int  # what the portal serves for a file: (bytes, sha256 hex), or the HTTP status it answered


@dataclass(frozen=True)
class PortalState:
    """What the portal said, as far as the plan needs it (None: not asked, or not there)."""

    dataset: dict[str, Any] | None  # package_show (a deleted dataset too: its name is taken)
    schema: dict[str, Any] | None = None  # scheming_dataset_schema_show
    licences: list[dict[str, Any]] | None = None  # license_list (only when the schema offers no licence choices)
    table_fields: list[dict[str, Any]] | None = None  # the CSV resource's DataStore fields; None: no table
    row_hashes: dict[str, str] | None = None  # release_id -> content_sha256 on the portal; None: not read
    served: dict[str, Served] = field(default_factory=dict)  # --verify: ogd_key -> what the portal serves
    plugins: list[str] | None = None  # status_show's extensions; None: not asked (the preview is settled)
    views: list[dict[str, Any]] | None = None  # the CSV resource's views (resource_view_list); None: not asked

    @property
    def live_dataset(self) -> dict[str, Any] | None:
        """The dataset unless deleted (a deleted dataset's resources are not ours to keep)."""
        return None if self.dataset is None or self.dataset.get("state") == "deleted" else self.dataset


@dataclass(frozen=True)
class ResourceStep:
    key: str  # ogd_key
    name: str
    action: str  # create | update | skip | delete (a file the package no longer has: a part, a file now over the cap)
    reason: str
    resource_id: str | None  # the portal's resource to update or delete (None: create)
    duplicates: tuple[str, ...] = ()  # more resources for the same file (an interrupted run's): deleted


@dataclass(frozen=True)
class DataStoreStep:
    action: str  # create | recreate | update | skip
    reason: str
    upsert: tuple[str, ...] = ()  # release ids
    delete: tuple[str, ...] = ()
    rows_added: int = 0
    rows_updated: int = 0
    insert: tuple[str, ...] = ()  # of upsert: ids the table does not hold (a new table, or not on the portal)
    # "api": rows sent with datastore_upsert; "xloader": the portal's xloader loads the CSV file (pipeline.ckan.xloader)
    loader: str = "api"
    # "xloader": the portal's xloader also loads the CSV file when it is uploaded, and cannot (a cell over its
    # limit): the API load waits for that job to end and reads the table again first.
    portal_loader: str = ""


@dataclass(frozen=True)
class PublishPlan:
    dataset: str
    url: str
    organization: str
    metadata_source: str
    dataset_action: str  # create | update | skip
    dataset_reason: str
    metadata: dict[str, Any] | None  # the dataset dict to send (create / update), else None
    resources: tuple[ResourceStep, ...]
    datastore: DataStoreStep
    verified: tuple[str, ...] = ()  # --verify: what was compared with what the portal serves
    repaired: tuple[str, ...] = ()  # of those, what differs from the package (re-sent)
    preview: PreviewStep = PreviewStep("skip", "not asked")
    # "public": the dataset is (or will be created) private and is made public last, once everything is done.
    visibility: str = "keep"

    @property
    def changed(self) -> bool:
        return (self.dataset_action != "skip" or self.datastore.action != "skip" or self.preview.action != "skip"
                or self.visibility != "keep" or any(step.action != "skip" for step in self.resources))

    def step(self, key: str) -> ResourceStep | None:
        return next((step for step in self.resources if step.key == key), None)

    def as_dict(self) -> dict[str, Any]:
        datastore = asdict(self.datastore)
        datastore["rows_to_upsert"] = len(datastore.pop("upsert"))
        datastore["rows_to_delete"] = len(datastore.pop("delete"))
        datastore.pop("insert")  # a part of rows_to_upsert (rows_added counts them)
        return {
            "dataset": self.dataset, "url": self.url, "organization": self.organization,
            "metadata_source": self.metadata_source, "changed": self.changed,
            "dataset_action": self.dataset_action, "dataset_reason": self.dataset_reason,
            "resources": [{"key": s.key, "name": s.name, "action": s.action, "reason": s.reason,
                           "duplicates_to_delete": len(s.duplicates)} for s in self.resources],
            "datastore": datastore, "preview": asdict(self.preview), "verified": list(self.verified),
            "repaired": list(self.repaired), "visibility": self.visibility,
        }


# ------------------------------------------------------------------ deciding (pure)


def metadata_needs_check(package: LocalPackage, metadata: DatasetMetadata, dataset: dict[str, Any] | None) -> bool:
    """Whether the dataset metadata must be compared with the portal's (which needs the portal's schema).

    The datapackage.json resource's hash covers the whole descriptor (titles,
    description, keywords, licence, GDC values): when the metadata comes from
    it and that hash is unchanged, so is the metadata. Metadata read from
    datasets.toml is always compared.
    """
    if dataset is None or dataset.get("state") == "deleted" or metadata.config_path is not None:
        return True
    descriptor = (resources_by_key(dataset).get(DESCRIPTOR_KEY) or [None])[0]
    return not descriptor or recorded_sha256(descriptor) != package.hashes[DESCRIPTOR_KEY]


def resource_steps(package: LocalPackage, dataset: dict[str, Any] | None,
                   served: dict[str, Served] | None = None) -> tuple[tuple[ResourceStep, ...], tuple[str, ...]]:
    """Each file of the package against the portal's resource of the same ``ogd_key``; and the keys repaired.

    ``served`` (--verify) holds what the portal serves for files whose recorded hash matches: a file served
    other than the package's is re-sent.
    """
    by_key = resources_by_key(dataset)
    steps, repaired = [], []
    for spec in package.specs:
        if spec.key not in package.hashes:
            continue  # a file this (older) package does not have: see package.notes
        matched = by_key.get(spec.key) or []
        # Ours carry the ogd_key; a resource matched by its name only is ours only when none does (published by
        # a version before ogd_key). One someone added by hand is never taken for a duplicate and deleted.
        existing = [r for r in matched if r.get("ogd_key") == spec.key] or matched[:1]
        duplicates = tuple(r["id"] for r in existing[1:])
        resource_id = existing[0]["id"] if existing else None
        if not existing:
            steps.append(ResourceStep(spec.key, spec.name, "create", "new file", None))
            continue
        if recorded_sha256(existing[0]) != package.hashes[spec.key]:
            steps.append(ResourceStep(spec.key, spec.name, "update", "file changed", resource_id, duplicates))
            continue
        if spec.link is not None and (existing[0].get("url") != spec.link or existing[0].get("url_type") == "datastore"):
            steps.append(ResourceStep(spec.key, spec.name, "update", "linked to the team's copy now", resource_id,
                                      duplicates))
            continue
        if spec.link is None and (existing[0].get("url_type") == "datastore") == spec.upload:
            # The same file, but the cap of this publish differs from the last one's: uploaded now, or served from
            # the DataStore now (the datapackage.json sent names what the portal holds, so a pull must find it).
            how = "uploaded now (within the upload cap)" if spec.upload else "served from the DataStore only now"
            steps.append(ResourceStep(spec.key, spec.name, "update", how, resource_id, duplicates))
            continue
        why = served_difference(package, spec.key, (served or {}).get(spec.key))
        if why:
            repaired.append(spec.key)
            steps.append(ResourceStep(spec.key, spec.name, "update", why, resource_id, duplicates))
        elif duplicates:
            steps.append(ResourceStep(spec.key, spec.name, "update", "duplicate resources", resource_id, duplicates))
        else:
            steps.append(ResourceStep(spec.key, spec.name, "skip", "unchanged", resource_id))
    published = {spec.key for spec in package.specs}
    for key, resources in by_key.items():
        # A part of a year no longer in the table, or a whole file now over the cap: the portal must not go on
        # serving it as this dataset's data.
        if key not in published and (key.startswith(PART_PREFIX) or key in RESOURCE_BY_KEY):
            for resource in resources:
                if resource.get("ogd_key") != key:
                    continue  # matched by its name only: a resource someone added by hand is never deleted
                steps.append(ResourceStep(key, resource.get("name") or key, "delete", "no longer in the package",
                                          resource["id"]))
    return tuple(steps), tuple(repaired)


def served_difference(package: LocalPackage, key: str, served: Served | None) -> str:
    """Why the file the portal serves is not the package's ("" when it is, or was not downloaded)."""
    if served is None:
        return ""
    expected = (package.sizes[key], package.hashes[key].removeprefix("sha256:"))
    if served == expected:
        return ""
    if isinstance(served, int):
        return f"the portal answered HTTP {served} for the file"
    if served[0] != expected[0]:
        return f"the portal serves {served[0]} bytes, the package has {expected[0]}"
    return "the portal serves different bytes (sha256) under the same size"


def csv_has_file(package: LocalPackage) -> bool:
    """Whether the whole CSV is a file on the portal (uploaded or linked), not only its DataStore table."""
    spec = next(spec for spec in package.specs if spec.key == CSV_KEY)
    return spec.upload or spec.link is not None


def portal_loads_file(package: LocalPackage, plugins: list[str] | None) -> bool:
    """The portal's xloader loads the CSV file into the DataStore itself when it is uploaded."""
    return runs_xloader(plugins) and csv_has_file(package)


def reloads_on_upload(package: LocalPackage, csv_step: ResourceStep | None, plugins: list[str] | None) -> bool:
    """This publish sends the CSV file to a portal whose xloader loads every file uploaded."""
    return csv_step is not None and csv_step.action in ("create", "update") and portal_loads_file(package, plugins)


def table_loader(package: LocalPackage, plugins: list[str] | None) -> str:
    """Who loads the CSV's table: the portal's xloader when it runs one and the CSV is a file there (it would
    replace a table loaded through the API) that it can read; else this publish, through the API."""
    return "xloader" if portal_loads_file(package, plugins) and package.longest_cell <= CELL_LIMIT else "api"


def datastore_loaded(package: LocalPackage, csv_resource: dict[str, Any] | None) -> bool:
    """The CSV resource records that its DataStore rows were completed for this very file (the last write), by
    either loader; a table only in the DataStore must be the API's (it takes upserts)."""
    loaders = ("api", "xloader") if csv_has_file(package) else ("api",)
    marks = {table_mark(package.hashes[CSV_KEY], package.table_schema, loader) for loader in loaders}
    return bool(csv_resource and csv_resource.get("ogd_datastore_hash") in marks and csv_resource.get("datastore_active"))


def datastore_step(package: LocalPackage, state: PortalState, csv_step: ResourceStep, verify: bool) -> DataStoreStep:
    """The DataStore action, decided once: create, re-create (a column type changed), update (rows), or skip."""
    everything = row_changes(package.row_hashes, {})
    csv_resource = (resources_by_key(state.live_dataset).get(CSV_KEY) or [None])[0]
    loader = table_loader(package, state.plugins)
    by = " (the portal's xloader loads the file)" if loader == "xloader" else ""
    portal_loader = ""
    if loader == "api" and portal_loads_file(package, state.plugins):
        portal_loader = "xloader"
        by = (f" (through the API: a cell of {package.longest_cell:,} characters is over what the portal's xloader "
              f"reads, {CELL_LIMIT:,})")
    if csv_step.action == "create" or csv_resource is None:
        return DataStoreStep("create", f"new CSV resource{by}", everything.upsert, (), everything.added, 0,
                             everything.upsert, loader, portal_loader)
    # A file sent to a portal whose xloader loads every upload starts its job on the table: whatever loaded it
    # before, the table goes through this publish's loader again (wait, check, load what is missing).
    loaded = datastore_loaded(package, csv_resource) and not reloads_on_upload(package, csv_step, state.plugins)
    if loaded and not (verify and state.row_hashes is not None):
        return DataStoreStep("skip", "rows loaded for this file", loader=loader, portal_loader=portal_loader)
    if loaded:  # --verify of a loaded table
        step = table_step(package, state.table_fields, state.row_hashes, loader, portal_loader, by)
        if step.action == "update" and not (step.upsert or step.delete):
            return DataStoreStep("skip", "rows loaded for this file and verified", loader=loader,
                                 portal_loader=portal_loader)
        return step if step.action != "update" else replace(step, reason="the portal's rows differ from the package" + by)
    return table_step(package, state.table_fields, state.row_hashes, loader, portal_loader, by,
                      marked=bool(csv_resource.get("ogd_datastore_hash")))


def table_step(package: LocalPackage, table_fields: list[dict[str, Any]] | None, row_hashes: dict[str, str] | None,
               loader: str, portal_loader: str = "", by: str = "", *, marked: bool = True) -> DataStoreStep:
    """The DataStore action for the table as the portal holds it (its fields, and its row hashes when its columns
    are the wanted ones): create, re-create, or update with the rows that differ. ``marked``: a load of an earlier
    file completed (else the rows are an interrupted load's)."""
    everything = row_changes(package.row_hashes, {})
    if table_fields is None:
        return DataStoreStep("create", f"no DataStore table{by}", everything.upsert, (), everything.added, 0,
                             everything.upsert, loader, portal_loader)
    wanted, have = column_types(loader_fields(package.table_schema, loader)), column_types(table_fields)
    if wanted != have:
        changed = sorted({f"{c}: {t} -> {dict(wanted).get(c, 'gone')}" for c, t in have if dict(wanted).get(c) != t}
                         | {f"{c}: new ({t})" for c, t in wanted if c not in dict(have)})
        return DataStoreStep("recreate", "column types changed (" + "; ".join(changed) + f"){by}",
                             everything.upsert, (), everything.added, 0,
                             everything.upsert, loader, portal_loader)
    assert row_hashes is not None, "the rows of a table that may be updated are read"
    changes = row_changes(package.row_hashes, row_hashes)
    if changes.upsert or changes.delete:
        reason = "rows changed" if marked else "rows not loaded completely"
    else:
        reason = "rows match: the load is only marked complete"
    return DataStoreStep("update", reason + by, changes.upsert, changes.delete, changes.added, changes.updated,
                         changes.new, loader, portal_loader)


def preview_unsettled(package: LocalPackage, csv_resource: dict[str, Any] | None) -> bool:
    """Whether the portal must be asked about the preview: a new or re-loaded table, or no ``ogd_preview`` yet."""
    return csv_resource is None or not datastore_loaded(package, csv_resource) or not csv_resource.get(PREVIEW_MARK)


def make_plan(package: LocalPackage, metadata: DatasetMetadata, organization: str, state: PortalState,
              url: str, *, verify: bool = False) -> PublishPlan:
    """What a publish would do, from the package and what the portal said; no I/O.

    Refuses (PortalRejected, exit 6), before any write, metadata the portal
    would refuse, naming the datasets.toml key of each field.
    """
    name = dataset_name(metadata)
    current = state.dataset
    wanted = None
    action, reason = "skip", "metadata unchanged"
    if metadata_needs_check(package, metadata, current):
        wanted = dataset_metadata(metadata, organization, state.schema, state.licences)
        check_metadata(wanted, state.schema, metadata)
        if current is None:
            action, reason = "create", "new dataset"
        elif current.get("state") == "deleted":
            # A deleted dataset keeps its name: package_create would collide; an update revives it.
            action, reason = "update", "deleted dataset revived"
        else:
            different = metadata_differs(wanted, current)
            if different:
                action, reason = "update", "changed: " + ", ".join(different)
    if action == "skip":
        wanted = None
    steps, repaired = resource_steps(package, state.live_dataset, state.served if verify else None)
    csv_step = next(step for step in steps if step.key == CSV_KEY)
    datastore = datastore_step(package, state, csv_step, verify)
    verified = tuple(key for key in state.served) if verify else ()
    if verify and state.row_hashes is not None and datastore_loaded(
            package, (resources_by_key(state.live_dataset).get(CSV_KEY) or [None])[0]):
        verified += ("datastore",)
        if datastore.action != "skip":
            repaired += ("datastore",)
    csv_resource = (resources_by_key(state.live_dataset).get(CSV_KEY) or [None])[0]
    preview = preview_step(csv_resource if csv_step.action != "create" else None, datastore.action != "skip",
                           state.plugins, state.views)
    # A new dataset is created private; it (or one an interrupted first publish left private) is made public
    # only after every file and the DataStore load (unless the team keeps it private on purpose).
    # A dataset a publish completed once (its CSV resource carries the DataStore mark, the last write) and that
    # is private now was made so by hand: it stays private.
    csv_now = (resources_by_key(state.live_dataset).get(CSV_KEY) or [None])[0]
    never_completed = not (csv_now and csv_now.get("ogd_datastore_hash"))
    private_now = action == "create" or bool(state.live_dataset and state.live_dataset.get("private") and never_completed)
    visibility = "public" if private_now and not metadata.private else "keep"
    return PublishPlan(name, f"{url}/dataset/{name}", organization, metadata.source, action, reason, wanted,
                       steps, datastore, verified, repaired, preview, visibility)


# ------------------------------------------------------------------ asking the portal


def show_dataset(client: PortalClient, name: str) -> dict[str, Any] | None:
    try:
        return client.call_action("package_show", {"id": name})
    except ckanapi.NotFound:
        return None
    except ckanapi.NotAuthorized:
        raise AuthError(f"dataset {name!r} exists on {client.url} but this token may not read it (it is private to "
                        "an organization the token's user is not a member of)",
                        "publish under another name (ckan_name in datasets.toml), or use a token of a member of "
                        "the dataset's organization") from None


def read_portal(client: PortalClient, package: LocalPackage, metadata: DatasetMetadata, *,
                dataset: dict[str, Any] | None, verify: bool = False) -> PortalState:
    """Ask the portal what the plan needs, and no more: an unchanged package costs no call here beyond the
    ``dataset`` already shown (when its metadata comes from datapackage.json)."""
    schema = licences = table = rows = None
    if metadata_needs_check(package, metadata, dataset):
        schema = portal_schema(client)
        if not schema_lists_licences(schema):
            licences = client.call_action("license_list", {})
    live = None if dataset is None or dataset.get("state") == "deleted" else dataset
    csv_resource = (resources_by_key(live).get(CSV_KEY) or [None])[0]
    plugins = views = None
    steps, _ = resource_steps(package, live)
    csv_step = next((step for step in steps if step.key == CSV_KEY), None)
    sent = csv_step is not None and csv_step.action in ("create", "update")
    # Asked whenever the table is not loaded or the CSV file is sent (the loader depends on them: a portal's xloader
    # loads every upload), and on --verify (a plugin enabled since).
    if verify or sent or preview_unsettled(package, csv_resource):
        plugins = portal_plugins(client)
        if csv_resource is not None and PREVIEW_VIEW in plugins:
            views = resource_views(client, csv_resource["id"])
    if csv_resource is not None and (verify or not datastore_loaded(package, csv_resource)
                                     or reloads_on_upload(package, csv_step, plugins)):
        table, rows = portal_table(client, csv_resource["id"], package.table_schema, table_loader(package, plugins))
    served: dict[str, Served] = {}
    if verify:
        by_key = resources_by_key(live)
        uploaded = {spec.key for spec in package.specs if spec.upload}
        for step in steps:
            if step.action != "skip" or step.key not in uploaded:
                continue  # re-sent anyway, or no file (the DataStore serves the table: --verify checks its rows)
            served[step.key] = _served(client, by_key[step.key][0], step.name, metadata)
    return PortalState(dataset, schema, licences, table, rows, served, plugins, views)


def _served(client: PortalClient, resource: dict[str, Any], label: str, metadata: DatasetMetadata) -> Served:
    """Download what the portal serves for a resource (the token only to the portal's own origin)."""
    url = resource.get("url") or ""
    served = client.file_digest(url)
    if served in (401, 403):
        # Not a damaged file: re-uploading would not help and would repeat on every run.
        sent = "the token was sent" if client.apikey and client.on_portal_origin(url) else (
            "no token was sent: the file is not on the portal's own origin" if client.apikey else "no token given")
        raise AuthError(f"the portal refused to serve {label} of {dataset_name(metadata)} for --verify "
                        f"(HTTP {served}; {sent}): {url}",
                        "use a token that may read the dataset; if the portal's public address differs from "
                        "CKAN_URL, set CKAN_URL (or --url) to the address its resource URLs use")
    return served
