"""Site profiles: what the html source is told about one website, as data, where its generic reading is
not good enough (the wrong headline, a banner in the body, a listing it cannot split).

A profile names its hosts and, all optional, CSS selectors (selectolax/Lexbor) for the title, the date,
the body and the byline, selectors of parts to remove before anything is read, patterns of lines to drop
from the body, the agency (and office) that overrides the host table, and ``items``: the selector of a
listing page's items (each then read with the other selectors, relative to the item).

Profiles come from two places, the team's first so that it can override a bundled one:

- ``[[profiles]]`` tables of ``datasets.toml`` (every dataset of the file; checked by
  :func:`pipeline.config.load_config` with :func:`parse_profiles`);
- ``profiles.json`` beside this module: bundled defaults for CMS families where measurement
  (``bench/pages.py``) shows the generic reader needs help.

A :class:`SiteProfiles` is frozen and picklable: the build hands it to every worker with the inputs,
and its :attr:`~SiteProfiles.digest` keys the incremental cache (a changed profile changes outcomes).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

#: Keys a profile may have; ``host`` is required, and at least one of the others.
SELECTOR_KEYS = ("title", "date", "body", "byline", "items")
PROFILE_KEYS = ("name", "host", *SELECTOR_KEYS, "drop", "drop_lines", "agency", "office")
_HOST = re.compile(r"^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
_PROBE = LexborHTMLParser("<html><body><p>probe</p></body></html>")  # to check selectors once, when read


@dataclass(frozen=True, slots=True)
class SiteProfile:
    """One website's profile (see the module docstring); selectors are CSS, ``drop_lines`` regular expressions."""

    hosts: tuple[str, ...]
    name: str = ""
    title: str | None = None
    date: str | None = None
    body: str | None = None
    byline: str | None = None
    items: str | None = None
    drop: tuple[str, ...] = ()
    drop_lines: tuple[str, ...] = ()
    agency: str | None = None
    office: str | None = None

    def matches(self, host: str) -> bool:
        """Whether ``host`` (lower case, without "www.") is one of this profile's: a name, or ``*.domain``
        for any host under the domain (not the domain itself, as in the host table agencies.json)."""
        return any(host.endswith(pattern[1:]) if pattern.startswith("*.") else host == pattern
                   for pattern in self.hosts)

    @property
    def dropped_line(self) -> re.Pattern[str] | None:
        """One pattern for every ``drop_lines`` entry (a line matching any is not body text)."""
        return _combined(self.drop_lines)


@cache
def _combined(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.I) if patterns else None


@dataclass(frozen=True, slots=True)
class SiteProfiles:
    """The profiles in force for a build, the first matching a host wins (the team's before the bundled)."""

    entries: tuple[SiteProfile, ...] = ()
    digest: str = field(default="", compare=False)

    def for_url(self, url: str | None) -> SiteProfile | None:
        host = host_of(url)
        if not host:
            return None
        return next((profile for profile in self.entries if profile.matches(host)), None)


def host_of(url: str | None) -> str:
    """The lower-case host of ``url`` without a leading "www." ("" for none)."""
    if not url:
        return ""
    host = (urlsplit(url if "//" in url else "//" + url).hostname or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _digest(entries: tuple[SiteProfile, ...]) -> str:
    canonical = json.dumps([asdict(entry) for entry in entries], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def combine(team: tuple[SiteProfile, ...] = ()) -> SiteProfiles:
    """The team's profiles, then the bundled ones, with the digest of the whole (the cache key)."""
    entries = (*team, *bundled_profiles())
    return SiteProfiles(entries, _digest(entries))


def _strings(value: Any) -> tuple[str, ...] | None:
    """A string or a list of strings as a tuple, None for anything else."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(entry, str) for entry in value):
        return tuple(value)
    return None


def parse_profiles(raw: Any, where: str = "[[profiles]]") -> tuple[tuple[SiteProfile, ...], list[str]]:
    """Check a list of profile tables (``[[profiles]]`` of datasets.toml, or the bundled file's ``profiles``);
    return the profiles and every problem, each naming the table (its number from 1, and its name) and key."""
    if not isinstance(raw, list) or not all(isinstance(table, dict) for table in raw):
        return (), [f"{where} must be an array of tables: [[profiles]] host = \"news.example.go.th\" title = \"h2.topic\""]
    profiles: list[SiteProfile] = []
    problems: list[str] = []
    for number, table in enumerate(raw, start=1):
        label = f"{where} #{number}" + (f" ({table['name']})" if isinstance(table.get("name"), str) else "")
        found: list[str] = []
        for key in sorted(set(table) - set(PROFILE_KEYS)):
            found.append(f"{label}: unknown key {key!r} (known: {', '.join(PROFILE_KEYS)})")
        hosts = _strings(table.get("host"))
        if not hosts:
            found.append(f"{label}: host is required: a host name (\"mfa.go.th\") or \"*.\" and a domain "
                         "(\"*.prd.go.th\"), or a list of them")
        else:
            for host in hosts:
                if not _HOST.match(host):
                    found.append(f"{label}: host {host!r} is not a host name (lower case, no scheme or path: "
                                 "\"news.example.go.th\" or \"*.example.go.th\")")
        for key in ("name", *SELECTOR_KEYS, "agency", "office"):
            if key in table and (not isinstance(table[key], str) or not table[key].strip()):
                found.append(f"{label}: {key} must be a non-empty string")
        for key in ("drop", "drop_lines"):
            if key in table and _strings(table[key]) is None:
                found.append(f"{label}: {key} must be a string or a list of strings")
        for key in SELECTOR_KEYS:
            if isinstance(table.get(key), str) and table[key].strip():
                found.extend(f"{label}: {key}: {problem}" for problem in _selector_problems(table[key]))
        for selector in _strings(table.get("drop")) or ():
            found.extend(f"{label}: drop: {problem}" for problem in _selector_problems(selector))
        for pattern in _strings(table.get("drop_lines")) or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                found.append(f"{label}: drop_lines: {pattern!r} is not a regular expression ({exc})")
        if "office" in table and "agency" not in table:
            found.append(f"{label}: office needs agency (the office is a part of the agency)")
        if not set(table) - {"name", "host"}:
            found.append(f"{label}: a profile must change something: give at least one of "
                         f"{', '.join(k for k in PROFILE_KEYS if k not in ('name', 'host'))}")
        problems.extend(found)
        if not found:
            profiles.append(SiteProfile(
                hosts=hosts or (), name=table.get("name", ""),
                **{key: table[key].strip() for key in (*SELECTOR_KEYS, "agency", "office") if key in table},
                drop=_strings(table.get("drop")) or (), drop_lines=_strings(table.get("drop_lines")) or ()))
    return tuple(profiles), problems


def _selector_problems(selector: str) -> list[str]:
    try:
        _PROBE.css(selector)
    except (SelectolaxError, ValueError) as exc:
        return [f"{selector!r} is not a CSS selector ({exc})"]
    return []


@cache
def bundled_profiles() -> tuple[SiteProfile, ...]:
    """The bundled defaults of ``profiles.json`` (package data), checked as a team's are."""
    data = json.loads(resources.files(__package__).joinpath("profiles.json").read_text(encoding="utf-8"))
    profiles, problems = parse_profiles(data.get("profiles", []), "profiles.json profiles")
    if problems:  # a defect of this package, not of the team's configuration
        raise ValueError("; ".join(problems))
    return profiles


@cache
def default_profiles() -> SiteProfiles:
    """The bundled profiles alone (a build without ``[[profiles]]``, a test, the bench)."""
    return combine(())
