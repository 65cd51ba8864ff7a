"""Harvest sources (``[[datasets.NAME.harvest]]``) and the crawler's etiquette (``[harvest]``), checked as data.

Every problem of a source entry is returned, not raised, so ``load_config``
reports them with the dataset's other problems in one pass.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import __version__

KINDS = ("auto", "feed", "wordpress", "sitemap", "listing")

SOURCE_KEYS = {
    "kind", "url", "link_pattern", "selector", "page_param", "page_start", "method", "form", "json_html_key",
    "since", "include", "exclude", "delay", "max_pages", "verify_tls", "per_page",
}


@dataclass(frozen=True)
class HarvestSource:
    """Where a dataset's releases are published and how to walk it.

    ``kind`` auto | feed | wordpress | sitemap | listing. Listings: releases are
    the links matching ``link_pattern`` (a regular expression on the absolute
    URL) or ``selector`` (CSS, the ``a`` elements or elements holding them);
    pages are ``url`` with ``{page}`` replaced, or ``page_param=N`` added, from
    ``page_start``; ``method = "POST"`` sends ``form`` (values may hold
    ``{page}``) and, with ``json_html_key``, reads the HTML from that key of a
    JSON answer (the new PRD CMS answers ``{"html": …}``). ``include`` /
    ``exclude``: regular expressions a release URL must / must not match.
    ``delay``: seconds between requests to this source's host (more when
    robots.txt asks). ``verify_tls = false`` is for broken certificate chains
    and is reported by every run.
    """

    url: str
    kind: str = "auto"
    link_pattern: str | None = None
    selector: str | None = None
    page_param: str | None = None
    page_start: int = 1
    method: str = "GET"
    form: dict[str, str] = field(default_factory=dict)
    json_html_key: str | None = None
    since: datetime | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    delay: float | None = None
    max_pages: int | None = None
    verify_tls: bool = True
    per_page: int = 100

    @property
    def paginated(self) -> bool:
        return "{page}" in self.url or bool(self.page_param) or any("{page}" in v for v in self.form.values())

    def wants(self, url: str) -> bool:
        """Whether a release URL passes ``include`` / ``exclude``."""
        if self.include and not any(re.search(pattern, url) for pattern in self.include):
            return False
        return not any(re.search(pattern, url) for pattern in self.exclude)


def parse_since(value: Any) -> datetime:
    """A date or date-time (TOML date, or ISO text) as an aware UTC datetime; raise ValueError."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_sources(entries: Any, where: str) -> tuple[tuple[HarvestSource, ...], list[str]]:
    """``[[datasets.NAME.harvest]]`` entries as sources, and every problem found (each naming ``where``)."""
    problems: list[str] = []
    sources: list[HarvestSource] = []
    if not isinstance(entries, list):
        return (), [f"{where}: harvest must be an array of tables ([[datasets.NAME.harvest]])"]
    for index, entry in enumerate(entries, 1):
        here = f"{where} harvest #{index}"
        if not isinstance(entry, dict):
            problems.append(f"{here}: must be a table with at least url")
            continue
        found = _check_source(entry, here)
        if isinstance(found, HarvestSource):
            sources.append(found)
        else:
            problems.extend(found)
    return tuple(sources), problems


def _check_source(entry: dict[str, Any], here: str) -> HarvestSource | list[str]:
    problems = [f"{here}: unknown key {key!r} (known: {', '.join(sorted(SOURCE_KEYS))})"
                for key in sorted(set(entry) - SOURCE_KEYS)]
    url = entry.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        problems.append(f"{here}: url must be an http(s) URL")
    kind = entry.get("kind", "auto")
    if kind not in KINDS:
        problems.append(f"{here}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind == "listing" and not (entry.get("link_pattern") or entry.get("selector")):
        problems.append(f"{here}: a listing needs link_pattern (a regular expression) or selector (CSS)")
    for pattern in [entry.get("link_pattern"), *_as_list(entry.get("include")), *_as_list(entry.get("exclude"))]:
        if pattern is None:
            continue
        try:
            re.compile(str(pattern))
        except re.error as exc:
            problems.append(f"{here}: {pattern!r} is not a valid regular expression ({exc})")
    method = str(entry.get("method", "GET")).upper()
    if method not in ("GET", "POST"):
        problems.append(f"{here}: method must be GET or POST")
    form = entry.get("form", {})
    if not isinstance(form, dict):
        problems.append(f"{here}: form must be a table of field = value")
        form = {}
    since = None
    if entry.get("since") is not None:
        try:
            since = parse_since(entry["since"])
        except ValueError:
            problems.append(f"{here}: since must be a date (2024-01-31) or date-time")
    delay = entry.get("delay")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0):
        problems.append(f"{here}: delay must be a number of seconds, 0 or more")
    for key in ("max_pages", "page_start", "per_page"):
        value = entry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "page_start" else 1)):
            problems.append(f"{here}: {key} must be a whole number")
    verify = entry.get("verify_tls", True)
    if not isinstance(verify, bool):
        problems.append(f"{here}: verify_tls must be true or false")
    if problems:
        return problems
    return HarvestSource(
        url=url, kind=kind, link_pattern=entry.get("link_pattern"), selector=entry.get("selector"),
        page_param=entry.get("page_param"), page_start=int(entry.get("page_start", 1)), method=method,
        form={str(k): str(v) for k, v in form.items()}, json_html_key=entry.get("json_html_key"), since=since,
        include=tuple(map(str, _as_list(entry.get("include")))), exclude=tuple(map(str, _as_list(entry.get("exclude")))),
        delay=float(delay) if delay is not None else None, max_pages=entry.get("max_pages"), verify_tls=verify,
        per_page=int(entry.get("per_page", 100)),
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


DEFAULT_PRODUCT = f"ogd-pipeline/{__version__}"
ROBOTS_TOKEN = "ogd-pipeline"  # the name robots.txt rules address (User-agent: ogd-pipeline)
ETIQUETTE_KEYS = {"user_agent", "contact", "delay", "connections_per_host", "timeout", "max_bytes", "attempts",
                  "backoff", "max_retry_after", "max_redirects", "max_failure_ratio", "archive"}


@dataclass(frozen=True)
class Etiquette:
    """How the crawler behaves on every site (``[harvest]`` of datasets.toml, or the command's flags).

    ``delay`` seconds between two requests to one host (robots.txt's
    Crawl-delay wins when longer); ``connections_per_host`` 1 or 2;
    ``timeout`` seconds of silence before a request is given up, and 4× that
    for a whole response; ``max_bytes`` per response.
    """

    contact: str
    user_agent: str = DEFAULT_PRODUCT
    delay: float = 1.0
    connections_per_host: int = 1
    timeout: float = 30.0
    max_bytes: int = 20 * 1024 * 1024
    attempts: int = 4
    backoff: float = 1.0
    max_retry_after: float = 120.0
    max_redirects: int = 10
    max_failure_ratio: float = 0.2
    archive: str | None = None  # the archive folder of configured datasets, relative to datasets.toml

    @property
    def header(self) -> str:
        """The User-Agent header: product, and the contact a webmaster can write to (+URL or mailto)."""
        return f"{self.user_agent} (+{self.contact})"

    def with_overrides(self, **values: Any) -> "Etiquette":
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def parse_etiquette(table: dict[str, Any], fallback_contact: str | None) -> tuple[Etiquette | None, list[str]]:
    """The ``[harvest]`` table as an :class:`Etiquette`, and every problem found."""
    problems = [f"[harvest]: unknown key {key!r} (known: {', '.join(sorted(ETIQUETTE_KEYS))})"
                for key in sorted(set(table) - ETIQUETTE_KEYS)]
    contact = table.get("contact") or (f"mailto:{fallback_contact}" if fallback_contact else None)
    if not contact:
        problems.append("[harvest]: contact is required (an e-mail or URL a webmaster can reach you at); "
                        "[defaults] maintainer_email is used when set")
    numbers = {"delay": (0, None), "timeout": (0.01, None), "backoff": (0, None), "max_retry_after": (0, None),
               "max_failure_ratio": (0, 1)}
    for key, (low, high) in numbers.items():
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < low
                                  or (high is not None and value > high)):
            problems.append(f"[harvest]: {key} must be a number from {low}" + (f" to {high}" if high is not None else ""))
    for key, low, high in (("connections_per_host", 1, 2), ("max_bytes", 1, None), ("attempts", 1, 20),
                           ("max_redirects", 0, 50)):
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low
                                  or (high is not None and value > high)):
            problems.append(f"[harvest]: {key} must be a whole number from {low}" + (f" to {high}" if high else ""))
    if problems:
        return None, problems
    values = {k: table[k] for k in ETIQUETTE_KEYS - {"contact"} if k in table}
    return Etiquette(contact=str(contact), **values), []


def load_etiquette(path: Path, contact: str | None = None) -> tuple[Etiquette | None, list[str]]:
    """``[harvest]`` of a datasets.toml; ``contact`` (the command's) wins over its contact and the maintainer's."""
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    table = dict(raw.get("harvest", {}))
    if contact:
        table["contact"] = contact
    return parse_etiquette(table, raw.get("defaults", {}).get("maintainer_email"))


def contact_form(contact: str) -> str:
    """An e-mail address as a mailto: URL; a URL as is."""
    return contact if ":" in contact else f"mailto:{contact}"
