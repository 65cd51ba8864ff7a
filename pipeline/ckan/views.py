"""The preview of the DataStore-backed CSV resource: CKAN's ``datatables_view`` (a table to page, sort and filter).

A portal offers it when the ``datatables_view`` plugin is loaded (``status_show``
lists the plugins). CKAN itself may create the view when the DataStore table is
made (``ckan.views.default_views``); a publish therefore lists the resource's views
after loading the rows and creates one only when none is there: one view, never
two. The CSV resource records what was settled in ``ogd_preview``
(``datatables_view``, or ``unavailable`` on a portal without the plugin), so an
unchanged package costs no call for it; the check runs again whenever the
DataStore table is written, and on ``--verify`` (a portal that enabled the
plugin since gets its view then).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import PortalClient

PREVIEW_VIEW = "datatables_view"
PREVIEW_MARK = "ogd_preview"  # field of the CSV resource: the view type in place, or UNAVAILABLE
UNAVAILABLE = "unavailable"
PREVIEW_TITLE = "ตาราง / Table"
PREVIEW_DESCRIPTION = "ดู กรอง และเรียงข้อมูลก่อนดาวน์โหลด / Browse, filter and sort the rows before downloading."


@dataclass(frozen=True)
class PreviewStep:
    action: str  # create (after the rows: kept when CKAN made one) | mark (record what is settled) | skip
    reason: str
    mark: str = ""  # the ogd_preview value the CSV resource gets


def portal_plugins(client: PortalClient) -> list[str]:
    """The plugins the portal runs (``status_show``'s ``extensions``)."""
    answer = client.call_action("status_show", {})
    return [str(name) for name in (answer or {}).get("extensions") or []]


def resource_views(client: PortalClient, resource_id: str) -> list[dict[str, Any]]:
    return list(client.call_action("resource_view_list", {"id": resource_id}) or [])


def has_preview(views: list[dict[str, Any]]) -> bool:
    return any(view.get("view_type") == PREVIEW_VIEW for view in views)


def preview_step(csv_resource: dict[str, Any] | None, table_written: bool, plugins: list[str] | None,
                 views: list[dict[str, Any]] | None) -> PreviewStep:
    """What to do about the preview (pure). ``plugins`` is None when the portal was not asked: the CSV resource
    records a settled preview and its table is not written by this publish."""
    recorded = (csv_resource or {}).get(PREVIEW_MARK)
    if plugins is None:
        return PreviewStep("skip", f"settled ({recorded})", str(recorded or ""))
    if PREVIEW_VIEW not in plugins:
        if recorded == UNAVAILABLE and not table_written:
            return PreviewStep("skip", f"the portal offers no {PREVIEW_VIEW}", UNAVAILABLE)
        return PreviewStep("mark", f"the portal offers no {PREVIEW_VIEW}: no preview", UNAVAILABLE)
    if table_written or not views or not has_preview(views):
        return PreviewStep("create", f"{PREVIEW_VIEW} of the DataStore table, unless the portal made one",
                           PREVIEW_VIEW)
    if recorded != PREVIEW_VIEW:
        return PreviewStep("mark", f"{PREVIEW_VIEW} in place", PREVIEW_VIEW)
    return PreviewStep("skip", f"{PREVIEW_VIEW} in place", PREVIEW_VIEW)


def ensure_preview(client: PortalClient, resource_id: str) -> bool:
    """Create the table view unless the resource has one (CKAN may have made it with the table); True if created."""
    if has_preview(resource_views(client, resource_id)):
        return False
    def made_already() -> dict[str, Any] | None:  # an answer lost on the way: the view may exist; never a second
        return next((v for v in resource_views(client, resource_id) if v.get("view_type") == PREVIEW_VIEW), None)

    client.call_action("resource_view_create", {
        "resource_id": resource_id, "view_type": PREVIEW_VIEW, "title": PREVIEW_TITLE,
        "description": PREVIEW_DESCRIPTION,
    }, lookup=made_already)
    return True
