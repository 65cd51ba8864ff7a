"""The quality profile of a built package: how complete and how clean its records are.

Read from the package's Parquet file in batches after the build wrote it, so an
incremental build and a full build of the same inputs (byte-identical Parquet)
give the same profile, and memory stays bounded whatever the archive's size:
counters of fields, categories, languages and years, and a capped counter of
short body lines.

What it holds (README: Quality profile):

- ``fields``: per column of the Table Schema, how many records fill it and
  the share; for a column most records fill (half or more) but some lack, the
  first inputs that lack it (``missing``): a column the source gives nearly
  always is a parser gap where it is empty.
- ``by_category``, ``by_language``, ``by_year``: record counts.
- ``chrome``: bodies that still hold page furniture of a known kind
  (:data:`pipeline.sources.base.CHROME_LINES`: player notices, spacer lines,
  box-drawing frames, drawn rules), and the short lines repeated across many
  records, found by frequency (menu items, share buttons, sign-offs: a line in
  many bodies is rarely news).
- ``title_in_body``: bodies whose first line is the title (or the whole
  headline) again, and bodies that hold the title as a line anywhere.
- ``min_filled`` and ``below_floor``: the floors of ``datasets.toml`` and the
  fields under them; a build with a field under its floor fails.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .sources.base import CHROME_LINES, chrome_kind, squash
from .streaming import open_parquet

BATCH_ROWS = 2000  # rows read at a time: a few MB of text
TOP_CATEGORIES = 30  # categories listed by name; the rest are counted together
TOP_REPEATED_LINES = 10
MISSING_EXAMPLES = 5  # inputs named per field that lacks a value
TITLE_EXAMPLES = 5
# A repeated line longer than this is a quoted paragraph or a boilerplate sentence, not page furniture.
LINE_MAX_CHARS = 120
# A line is "repeated" when it is in at least this many bodies, and in at least MIN_LINE_SHARE of them.
MIN_LINE_RECORDS = 3
MIN_LINE_SHARE = 0.005
# Distinct short lines counted at once. Beyond it the rarest are dropped (counts of lines seen again
# afterwards may then fall short by at most `undercount_at_most`); 60,000 releases stay well inside.
LINE_COUNTER_CAP = 200_000

#: The fields the summary prints when the dataset sets no floors (the ones a consumer relies on).
KEY_FIELDS = ("title", "published_date", "source_url", "category", "body")
_TEXT_COLUMNS = ("source_file", "title", "subtitle", "body")


class RepeatedLines:
    """A capped counter of lines, each counted once per record it is in.

    When more than ``cap`` distinct lines are held, the rarest are dropped until half the cap is
    left (lossy counting): a line dropped and seen again starts afresh, so a count may fall short
    by at most :attr:`undercount_at_most`, and a line that appears in many records is never lost.
    Deterministic: the same records in the same order give the same counts.
    """

    def __init__(self, cap: int = LINE_COUNTER_CAP) -> None:
        self.cap = cap
        self.counts: dict[str, int] = {}
        self.undercount_at_most = 0

    def add_record(self, lines: Iterable[str]) -> None:
        counts = self.counts
        for line in set(lines):
            counts[line] = counts.get(line, 0) + 1
        if len(counts) > self.cap:
            self._prune()

    def _prune(self) -> None:
        threshold = 0
        while len(self.counts) > self.cap // 2:
            threshold += 1
            self.counts = {line: count for line, count in self.counts.items() if count > threshold}
        self.undercount_at_most += threshold

    def most_common(self, limit: int, min_count: int) -> list[tuple[str, int]]:
        """The ``limit`` lines in most records (at least ``min_count``), ties by text."""
        kept = [(line, count) for line, count in self.counts.items() if count >= min_count]
        kept.sort(key=lambda item: (-item[1], item[0]))
        return kept[:limit]


def _filled_mask(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """True where a value is present (for text: present and not empty)."""
    mask = pc.is_valid(column)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        mask = pc.and_(mask, pc.fill_null(pc.greater(pc.utf8_length(column), 0), False))
    return mask


def _batches(parquet_path: Path) -> Iterator[pa.RecordBatch]:
    parquet = open_parquet(parquet_path)
    yield from parquet.iter_batches(batch_size=BATCH_ROWS)


def profile_package(parquet_path: Path, min_filled: dict[str, float] | None = None) -> dict[str, Any]:
    """The quality profile of the package whose rows ``parquet_path`` holds (a JSON-ready dict).

    ``min_filled`` (field -> share from 0 to 1) are the dataset's floors: each field whose share
    filled is below its floor is listed in ``below_floor``.
    """
    min_filled = dict(min_filled or {})
    names = pq.read_schema(parquet_path).names
    filled: Counter[str] = Counter()
    missing: dict[str, list[str]] = {name: [] for name in names}
    categories: Counter[str | None] = Counter()
    languages: Counter[str] = Counter()
    years: Counter[int] = Counter()
    chrome_bodies: Counter[str] = Counter({kind: 0 for kind in CHROME_LINES})
    lines = RepeatedLines()
    title_first = title_anywhere = 0
    title_examples: list[str] = []
    records = 0

    for batch in _batches(parquet_path):
        records += batch.num_rows
        source_files = batch.column("source_file")
        for name in names:
            mask = _filled_mask(batch.column(name))
            count = pc.sum(mask).as_py() or 0
            filled[name] += count
            if count < batch.num_rows and len(missing[name]) < MISSING_EXAMPLES:
                lacking = pc.filter(source_files, pc.invert(mask)).slice(0, MISSING_EXAMPLES)
                missing[name].extend(lacking.to_pylist()[: MISSING_EXAMPLES - len(missing[name])])
        categories.update(batch.column("category").to_pylist())
        languages.update(batch.column("language").to_pylist())
        years.update(pc.year(batch.column("published_date")).to_pylist())
        texts = {name: batch.column(name).to_pylist() for name in _TEXT_COLUMNS}
        for source_file, title, subtitle, body in zip(*(texts[name] for name in _TEXT_COLUMNS)):
            body_lines = (body or "").split("\n")
            kinds = {kind for kind in map(chrome_kind, body_lines) if kind}
            chrome_bodies.update(kinds)
            lines.add_record(line for line in body_lines if line and len(line) <= LINE_MAX_CHARS)
            headline_keys = {squash(title or "")} | ({squash(subtitle)} if subtitle else set())
            headline_keys.discard("")
            if headline_keys and squash(body_lines[0]) in headline_keys:
                title_first += 1
                if len(title_examples) < TITLE_EXAMPLES:
                    title_examples.append(source_file)
            longest = 2 * len(title or "") + 20
            title_key = squash(title or "")
            if title_key and any(len(line) <= longest and squash(line) == title_key for line in body_lines):
                title_anywhere += 1

    min_records = max(MIN_LINE_RECORDS, math.ceil(MIN_LINE_SHARE * records))
    fields: dict[str, dict[str, Any]] = {}
    for name in names:
        share = round(filled[name] / records, 4) if records else None
        entry: dict[str, Any] = {"filled": filled[name], "share": share}
        if records and filled[name] < records and filled[name] * 2 >= records:
            entry["missing"] = missing[name]
        fields[name] = entry
    below = _below_floor(fields, records, min_filled)
    by_category = sorted(categories.items(), key=lambda item: (-item[1], item[0] is None, item[0] or ""))
    return {
        "records": records,
        "fields": fields,
        "by_category": [{"category": name, "records": count} for name, count in by_category[:TOP_CATEGORIES]],
        "other_categories": {"categories": max(0, len(by_category) - TOP_CATEGORIES),
                             "records": sum(count for _, count in by_category[TOP_CATEGORIES:])},
        "by_language": dict(sorted(languages.items())),
        "by_year": {str(year): count for year, count in sorted(years.items())},
        "chrome": {
            "bodies_with": dict(chrome_bodies),
            "repeated_lines": [{"line": line, "records": count}
                               for line, count in lines.most_common(TOP_REPEATED_LINES, min_records)],
            "repeated_min_records": min_records,
            "undercount_at_most": lines.undercount_at_most,
        },
        "title_in_body": {"first_line": title_first, "any_line": title_anywhere, "examples": title_examples},
        "min_filled": dict(sorted(min_filled.items())),
        "below_floor": below,
    }


def _below_floor(fields: dict[str, Any], records: int, min_filled: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"field": name, "share": fields[name]["share"], "floor": floor}
        for name, floor in sorted(min_filled.items())
        if name in fields and records and fields[name]["filled"] / records < floor
    ]


def with_floors(profile: dict[str, Any], min_filled: dict[str, float] | None) -> dict[str, Any]:
    """A profile of the same rows held against today's floors (the floors may change without the data)."""
    floors = dict(sorted((min_filled or {}).items()))
    return {**profile, "min_filled": floors, "below_floor": _below_floor(profile["fields"], profile["records"], floors)}


def floor_failure(profile: dict[str, Any]) -> str | None:
    """Why the build fails on its floors (None when every field is at or above its floor)."""
    below = profile.get("below_floor") or []
    if not below:
        return None
    parts = ", ".join(f"{entry['field']} {entry['share']:.1%} filled (floor {entry['floor']:.1%})" for entry in below)
    return (f"fields below their quality floor: {parts}; see quality in report.json (the inputs that lack them "
            "under quality.fields.NAME.missing) and min_filled under [datasets.NAME.quality] in datasets.toml")


def summary_lines(profile: dict[str, Any]) -> list[str]:
    """A few lines for the build's printed summary."""
    if not profile.get("records"):
        return []
    fields = profile["fields"]
    shown = list(profile.get("min_filled") or ()) or [name for name in KEY_FIELDS if name in fields]
    filled = ", ".join(f"{name} {fields[name]['share']:.1%}" for name in shown if name in fields)
    chrome = profile["chrome"]["bodies_with"]
    furniture = ", ".join(f"{kind} {count}" for kind, count in chrome.items())
    out = [f"quality: filled {filled}",
           f"  bodies with page furniture: {furniture}; title as first body line: "
           f"{profile['title_in_body']['first_line']}"]
    repeated = profile["chrome"]["repeated_lines"][:3]
    if repeated:
        out.append("  most repeated body lines: " + "; ".join(
            f"{_short(entry['line'])!r} in {entry['records']}" for entry in repeated))
    return out


def _short(text: str, limit: int = 50) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
