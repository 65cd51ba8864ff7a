"""The typed result of one build, written as the package's ``report.json``.

Field names and their order are those of ``report.json`` (README: The
package): consumers read it, so a field is only ever added, never renamed or
moved. :meth:`BuildReport.as_dict` gives the JSON object as written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..package.files import write_json


@dataclass(frozen=True, slots=True)
class Counts:
    """How every input and entry was accounted for."""

    inputs: int  # inputs read or refused unread (skipped entries are not inputs)
    items: int  # outcomes: one per input, one per item of a multi-item input (= records + quarantined + duplicates)
    records: int
    quarantined: int  # duplicates not included
    duplicates: int
    reused: int  # inputs unchanged since the previous build, not transformed again
    skipped: int  # entries under the inputs that are not inputs


@dataclass(frozen=True, slots=True)
class Validation:
    """The check of the package's rows against the Table Schema, as the build made it."""

    valid: bool
    validator: str
    rows: int
    rows_checked: int
    rows_reused: int
    error_count: int
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Spreadsheet:
    """Cells of ``data/releases-excel.csv`` given the text marker ' (formula triggers) and cut (too long)."""

    neutralised: int
    cut: int


@dataclass(frozen=True, slots=True)
class Reuse:
    """What an incremental build took from the previous package."""

    inputs_reused: int
    batches_copied: int
    rows_copied: int
    copy_refused: str | None  # why no batch could be copied, when none was


@dataclass(frozen=True, slots=True)
class Timings:
    started_at: str  # UTC, ISO 8601
    transform_seconds: float
    total_seconds: float


@dataclass(frozen=True, slots=True)
class BuildReport:
    """``report.json``: what one build did, and whether its package may replace the previous one."""

    name: str
    ok: bool
    failure: str | None
    input_root: str
    # The descriptor as written: `ogd publish` refuses a datapackage.json edited after the build.
    descriptor_sha256: str
    counts: Counts
    quarantine_ratio: float
    max_quarantine_ratio: float
    per_reason: dict[str, int]  # quarantine reasons (pipeline.problems.QUARANTINE_REASONS), sorted
    spreadsheet: Spreadsheet
    # Entries under the inputs that are not inputs (hidden, FIFOs, dangling links...): listed, never read.
    skipped: list[dict[str, str]]
    max_input_bytes: int | None
    validation: Validation
    reuse: Reuse
    parser_version: str
    tool_version: str
    timings: Timings
    # The quality profile of the records written (pipeline.quality; README: Quality profile): fill rates,
    # counts per category, language and year, page furniture left in bodies, the title in the body, floors.
    quality: dict[str, Any] | None = None
    # Inputs given as harvest archives (pipeline.extract.archive_inputs): records indexed, inputs read from them
    # (pages, feeds), the other records counted by kind, feed entries archived as pages; None for files only.
    archive: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report as ``report.json`` holds it (keys in field order)."""
        return asdict(self)

    def write(self, path: Path) -> str:
        """Write ``report.json``; return its sha256."""
        return write_json(path, self.as_dict())
