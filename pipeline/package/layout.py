"""The files of a package folder, and the batch size they are written in."""

from __future__ import annotations

CSV_PATH = "data/releases.csv"
PARQUET_PATH = "data/releases.parquet"
QUARANTINE_PATH = "quarantine.jsonl"
QUARANTINE_FILES = "quarantine/files"
QUARANTINE_RENAMED = "quarantine/renamed"  # copies whose own path under quarantine/files was taken
REPORT_PATH = "report.json"
DESCRIPTOR_PATH = "datapackage.json"
CHANGES_PATH = "data/changes.csv"  # every version's changes (pipeline.changes.log)
CHANGELOG_PATH = "CHANGELOG.md"  # the same, for people
PARTS_DIR = "data/parts"  # the table's parts by year or month (pipeline.package.parts)

BATCH_ROWS = 2000  # rows per write: one CSV chunk and one Parquet row group each

LONG_TEXT_FIELDS = {"title", "subtitle", "body", "body_words", "source_url", "source_file", "published_date_text"}


# What a package folder holds at its top level (ogd build writes nothing else there).
PACKAGE_ENTRIES = frozenset({DESCRIPTOR_PATH, "data", QUARANTINE_PATH, "quarantine", REPORT_PATH, CHANGELOG_PATH})
