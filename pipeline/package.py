"""Package: write a Frictionless data package, streaming, atomically.

Layout of a package folder::

    datapackage.json          descriptor (resources carry bytes + sha256 hash)
    data/releases.csv         UTF-8, RFC 4180 (CRLF, quoted where needed)
    data/releases.parquet     the same rows, Arrow types from the schema, zstd
    data/releases-excel.csv   the same rows for spreadsheets (pipeline/spreadsheet.py; x_ogd.spreadsheet, not a resource)
    quarantine.jsonl          one line per input that is not a record
    quarantine/files/...      the quarantined inputs themselves, byte for byte
    quarantine/renamed/N/...  a copy whose own path was taken by another (the entry says so)
    report.json               counts, per-reason counts, validation, timings

Everything but ``report.json`` is a pure function of the inputs (no
wall-clock times), so two builds of the same inputs are byte-identical.
"""

from __future__ import annotations

import codecs
import errno
import fcntl
import glob
import hashlib
import json
import mmap
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from . import PARSER_VERSION, extract, parquet_footer
from .record import RELEASE_FIELDS, Problem, load_table_schema
from .spreadsheet import (
    SPREADSHEET_PATH,
    WRITE_OPTIONS,
    spreadsheet_table,
    text_fields_of,
    text_schema,
)

CSV_PATH = "data/releases.csv"
PARQUET_PATH = "data/releases.parquet"
QUARANTINE_PATH = "quarantine.jsonl"
QUARANTINE_FILES = "quarantine/files"
QUARANTINE_RENAMED = "quarantine/renamed"  # copies whose own path under quarantine/files was taken
REPORT_PATH = "report.json"
DESCRIPTOR_PATH = "datapackage.json"

BATCH_ROWS = 2000  # rows per write: one CSV chunk and one Parquet row group each

LONG_TEXT_FIELDS = {"title", "subtitle", "body", "body_words", "source_url", "source_file", "published_date_text"}

_ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
}


def arrow_schema(table_schema: dict[str, Any]) -> pa.Schema:
    """Arrow schema matching a Table Schema (required fields are non-nullable)."""
    return pa.schema(
        [
            pa.field(
                f["name"],
                _ARROW_TYPES[f["type"]],
                nullable=not f.get("constraints", {}).get("required", False),
            )
            for f in table_schema["fields"]
        ]
    )


_NAME_MAX = 255  # bytes in one file name (ext4, xfs, btrfs...)

# Reasons whose input is not copied into the package: its target lies outside the inputs
# (never read), or its path cannot be opened or written at all.
NOT_COPIED = frozenset({"symlink-outside-root", "path-too-long", "unreadable-folder"})


def _copy_no_wider(source_fd: int, target: Path) -> tuple[int, str]:
    """Copy an open input to ``target`` (new), hashing it; the copy is never more readable than the input.

    A quarantined input may be private (a key, a personal file dropped in the
    inputs): its copy gets the input's read and write bits (never execute), which
    the umask may narrow further, never widen.
    """
    digest = hashlib.sha256()
    size = 0
    with open(source_fd, "rb", closefd=True) as source:
        mode = os.fstat(source_fd).st_mode & 0o666
        target_fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
        with open(target_fd, "wb", closefd=True) as copy:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
                copy.write(chunk)
    return size, digest.hexdigest()


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class HashingFile:
    """A binary file that counts and hashes what is written to it (no second read afterwards)."""

    def __init__(self, path: Path) -> None:
        self._handle = open(path, "wb")
        self._digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._digest.update(view)
        self.size += view.nbytes
        return self._handle.write(view)

    def flush(self) -> None:
        self._handle.flush()

    def tell(self) -> int:
        return self.size

    def copy_from(self, source: Path, start: int, end: int) -> None:
        """Append bytes ``[start, end)`` of another file, hashed as they are written.

        The kernel copies them (``copy_file_range``) and the hash reads them
        through a memory map: a gigabyte never passes through Python objects.
        """
        if start >= end:
            return
        self._handle.flush()  # the copy goes to the descriptor's position, after what was written
        target = self._handle.fileno()
        with open(source, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if len(mapped) < end:
                raise RuntimeError(f"{source} has {len(mapped)} bytes, fewer than {end}: it changed during the build")
            with memoryview(mapped) as view:
                position = start
                while position < end:
                    try:
                        copied = os.copy_file_range(handle.fileno(), target, min(end - position, 64 << 20), position)
                    except (AttributeError, OSError):  # not Linux, or a file system without it
                        copied = 0
                    if not copied:
                        self._handle.write(view[position:end])
                        self._handle.flush()
                        copied = end - position
                    self._digest.update(view[position:position + copied])
                    position += copied
        self.size += end - start

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
            self.closed = True

    @property
    def digest(self) -> tuple[int, str]:
        return self.size, self._digest.hexdigest()


@dataclass
class ReusableFiles:
    """The data files of the previous package, cut where its writer wrote each batch.

    Chunk ``c`` holds rows ``[c * batch_size, ...)``: one stretch of the CSV
    (chunk 0 from byte 0, with the header) and row group ``c`` of the
    Parquet file (group 0 from byte 0, with the magic). A new build whose
    first rows are the same rows copies those chunks instead of encoding
    them again; archives organised by date only ever append, so a daily
    build copies all but the last chunk.
    """

    csv: Path
    parquet: Path
    batch_size: int
    csv_ends: list[int]
    group_spans: list[tuple[int, int, int]]
    footer: parquet_footer.Fields
    # The spreadsheet CSV, cut at the same batches, and the cells each batch neutralised and cut.
    excel: Path
    excel_ends: list[int]
    excel_counts: list[tuple[int, int]]

    @property
    def chunks(self) -> int:
        return len(self.group_spans)

    def chunk_rows(self, chunk: int) -> int:
        return self.group_spans[chunk][2]

    def csv_span(self, chunk: int) -> tuple[int, int]:
        return (self.csv_ends[chunk - 1] if chunk else 0), self.csv_ends[chunk]

    def excel_span(self, chunk: int) -> tuple[int, int]:
        return (self.excel_ends[chunk - 1] if chunk else 0), self.excel_ends[chunk]

    def parquet_span(self, chunk: int) -> tuple[int, int]:
        return (self.group_spans[chunk][0] if chunk else 0), self.group_spans[chunk][1]

    @classmethod
    def open(cls, folder: Path, descriptor: dict[str, Any],
             layout: dict[str, Any] | None) -> tuple[ReusableFiles | None, str | None]:
        """The previous package's files if they can be cut as ``layout`` (kept by the last build) says; else why not."""
        if not layout:
            return None, "no layout of the previous files was kept (first build, or built by an older version)"
        try:
            resources = {resource["name"]: resource for resource in descriptor["resources"]}
            csv_path, parquet_path = folder / CSV_PATH, folder / PARQUET_PATH
            csv_size = csv_path.stat().st_size
            if (resources["releases"]["hash"] != f"sha256:{layout['csv_sha256']}"
                    or csv_size != resources["releases"]["bytes"] or csv_size != layout["csv_bytes"]):
                return None, "the kept layout is not that of the previous CSV file"
            if parquet_path.stat().st_size != resources["releases-parquet"]["x_bytes"]:
                return None, "the previous Parquet file is not the size its descriptor gives"
            if "excel_ends" not in layout:
                return None, "no layout of the previous spreadsheet file was kept (built by an older version)"
            excel_path = folder / SPREADSHEET_PATH
            excel_size = excel_path.stat().st_size
            spreadsheet = descriptor["x_ogd"]["spreadsheet"]
            if (spreadsheet["hash"] != f"sha256:{layout['excel_sha256']}" or excel_size != spreadsheet["bytes"]
                    or excel_size != layout["excel_bytes"]):
                return None, "the kept layout is not that of the previous spreadsheet file"
            footer_start, raw = parquet_footer.read_footer(parquet_path)
            footer = parquet_footer.decode(raw)
            spans = parquet_footer.row_group_spans(footer, footer_start)
            batch_size, csv_ends = int(layout["batch_size"]), [int(end) for end in layout["csv_ends"]]
            excel_ends = [int(end) for end in layout["excel_ends"]]
            excel_counts = [(int(neutralised), int(cut)) for neutralised, cut in layout["excel_counts"]]
        except (OSError, KeyError, TypeError, ValueError) as exc:  # FooterError is a ValueError
            return None, f"the previous files cannot be cut: {exc}"
        if (len(csv_ends) != len(spans) or any(rows != batch_size for _start, _end, rows in spans[:-1])
                or (spans and not 0 < spans[-1][2] <= batch_size)
                or any(b <= a for a, b in zip(csv_ends, csv_ends[1:])) or (csv_ends and csv_ends[-1] != csv_size)
                or len(excel_ends) != len(spans) or len(excel_counts) != len(spans)
                or any(b <= a for a, b in zip(excel_ends, excel_ends[1:]))
                or (excel_ends and excel_ends[-1] != excel_size)):
            return None, "the previous files were not written in batches of the kept size"
        return cls(csv_path, parquet_path, batch_size, csv_ends, spans, footer, excel_path, excel_ends,
                   excel_counts), None


class _ParquetAfterCopiedGroups:
    """The sink of a ParquetWriter whose file starts with row groups copied from the previous package.

    pyarrow writes a whole file: its leading magic is already in the copy and
    is dropped; its footer is held back (:attr:`footer`) to be spliced with
    the copied row groups' (:func:`pipeline.parquet_footer.splice`).
    """

    def __init__(self, target: HashingFile) -> None:
        self.target = target
        self.magic_left = len(parquet_footer.MAGIC)
        self.footer: bytearray | None = None
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        written = view.nbytes
        if self.magic_left:
            cut = min(self.magic_left, view.nbytes)
            view, self.magic_left = view[cut:], self.magic_left - cut
        if self.footer is not None:
            self.footer += view
        elif view.nbytes:
            self.target.write(view)
        return written

    def flush(self) -> None:
        pass

    def tell(self) -> int:
        return self.target.size

    def close(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class KeptCopy:
    """A quarantined input's copy in a package: where, and its size and sha256 as recorded."""

    path: Path
    size: int
    sha256: str


class PackageWriter:
    """Streams rows into CSV and Parquet in batches; memory stays bounded by the batch.

    Each batch is checked against the Table Schema as it is written
    (:class:`pipeline.tablecheck.TableChecker`, Frictionless' rules), except
    rows reused unchanged from a previous package that passed the same checks.
    With ``reusable``, leading batches that are the previous package's own
    are copied byte for byte (see :class:`ReusableFiles`); other reused rows
    are read back with ``read_previous(start, end)``.
    """

    def __init__(self, folder: Path, *, batch_size: int = BATCH_ROWS, reusable: ReusableFiles | None = None,
                 read_previous: Callable[[int, int], pa.Table] | None = None) -> None:
        self.folder = folder
        self.table_schema = load_table_schema()
        names = tuple(f["name"] for f in self.table_schema["fields"])
        if names != RELEASE_FIELDS:
            raise RuntimeError("pipeline/schemas/releases.schema.json and pipeline.record.Release disagree on fields")
        self.schema = arrow_schema(self.table_schema)
        (folder / "data").mkdir(parents=True, exist_ok=True)
        self._csv_file = HashingFile(folder / CSV_PATH)
        # The spreadsheet-facing CSV (pipeline/spreadsheet.py), written batch by batch with the others.
        self._excel_file = HashingFile(folder / SPREADSHEET_PATH)
        self._excel: pa_csv.CSVWriter | None = None
        self._excel_schema = text_schema(self.table_schema)
        self._text_fields = text_fields_of(self.table_schema)
        self.excel_ends: list[int] = []
        self.excel_counts: list[tuple[int, int]] = []  # (neutralised, cut) per batch
        self._parquet_file = HashingFile(folder / PARQUET_PATH)
        # Opened at the first batch that is not copied (the CSV header and the Parquet
        # magic may come from the copy).
        self._csv: pa_csv.CSVWriter | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._parquet_sink: _ParquetAfterCopiedGroups | None = None
        self._reusable = reusable if reusable is not None and reusable.batch_size == batch_size else None
        self.copy_refused = (None if self._reusable is not None or reusable is None else
                             f"the previous package was written in batches of {reusable.batch_size} rows, not {batch_size}")
        self._read_previous = read_previous
        self.chunks_copied = 0
        self.rows_copied = 0
        self.csv_ends: list[int] = []  # where each batch ends in the CSV, for the next build's copy
        self._quarantine = open(folder / QUARANTINE_PATH, "w", encoding="utf-8", newline="\n")
        self._executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="package-writer")
        self._writes: list[Any] = []
        self._columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self._python_rows = 0  # rows waiting in self._columns
        # In order: transformed rows (a table, to check) and previous rows (a range of their positions).
        self._parts: list[pa.Table | range] = []
        from .tablecheck import TableChecker

        self.checker = TableChecker(self.table_schema, check_keys=False)
        self.rows_checked = 0
        self._run: list[int] | None = None  # [start, end): positions of previous rows not yet in _parts
        self._pending = 0
        self.batch_size = batch_size
        self.rows = 0
        self.min_date: Any = None
        self.max_date: Any = None
        self._quarantine_folders: set[Path] = set()
        self._renamed = 0  # copies kept under quarantine/renamed/N/ (their own path was taken)

    def add_row(self, row: dict[str, Any]) -> None:
        """A new row, in the schema's types (a string may also be given as its UTF-8 bytes)."""
        self._close_run()
        for name, values in self._columns.items():
            values.append(row[name])
        self._python_rows += 1
        self._count(row["published_date"])

    def add_previous(self, position: int, published_date: Any) -> None:
        """Row ``position`` of the previous package, reused as it is (no Python objects)."""
        self._close_python_rows()
        run = self._run
        if run is not None and run[1] == position:
            run[1] += 1
        else:
            self._close_run()
            self._run = [position, position + 1]
        self._count(published_date)

    def _count(self, date: Any) -> None:
        self._pending += 1
        self.rows += 1
        self.min_date = date if self.min_date is None or date < self.min_date else self.min_date
        self.max_date = date if self.max_date is None or date > self.max_date else self.max_date
        if self._pending >= self.batch_size:
            self._flush()

    def _close_run(self) -> None:
        if self._run is not None:
            self._parts.append(range(*self._run))
            self._run = None

    def _close_python_rows(self) -> None:
        if self._python_rows:
            # Column by column: much faster than converting a list of row dicts.
            self._parts.append(pa.table({name: _arrow_column(values, self.schema.field(name).type)
                                         for name, values in self._columns.items()}, schema=self.schema))
            self._columns = {name: [] for name in self.schema.names}
            self._python_rows = 0

    def add_problem(self, problem: Problem, input_path: str | None, previous_copy: KeptCopy | None = None) -> str | None:
        """Record a quarantined input and keep a copy of its bytes beside the package; return its sha256.

        ``previous_copy``: the previous package's copy of the same bytes, linked
        instead of copied and hashed again (an incremental build keeps hundreds).
        """
        entry = {"path": problem.path, "reason": problem.reason, "message": problem.message,
                 "stage": problem.stage, "details": problem.details, "parser_version": PARSER_VERSION}
        kept_copy: str | None = None
        note: dict[str, str] = {}
        linked = False
        if previous_copy is not None and self._no_wider(previous_copy.path, input_path):
            kept_copy, note = self._copy_target(problem.path)
            linked = self._link(previous_copy.path, self.folder / kept_copy)
            if linked:
                entry.update({"kept_copy": kept_copy, "bytes": previous_copy.size, "sha256": previous_copy.sha256,
                              **note})
        if not linked and input_path is not None and problem.reason not in NOT_COPIED:
            try:
                source = extract.open_regular(input_path)
            except OSError as exc:  # an unreadable input (read-error) stays listed, with why no copy exists
                entry["kept_copy"] = None
                entry["copy_error"] = exc.strerror
            else:
                if kept_copy is None:
                    kept_copy, note = self._copy_target(problem.path)
                # Errors writing the copy are the output's (disk full...): they stop the build.
                size, sha = _copy_no_wider(source, self.folder / kept_copy)
                entry.update({"kept_copy": kept_copy, "bytes": size, "sha256": sha, **note})
        self._quarantine.write(json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str) + "\n")
        return entry.get("sha256")

    def _copy_target(self, path: str) -> tuple[str, dict[str, str]]:
        """Where to keep the copy of the input at ``path``: ``quarantine/files/PATH``, or a unique path when
        that one is taken, and a note saying so (entries to add to the quarantine line).

        Two inputs can claim one copy path: an input whose name is not UTF-8 is kept under its escaped
        name (``bad-\\xff.txt``), which may be another input's real name; a file's path may be another
        copy's folder. The later one (in the order of quarantine.jsonl) goes to
        ``quarantine/renamed/N/NAME``: nothing is overwritten, nothing lost, and the entry says where.
        """
        kept_copy = f"{QUARANTINE_FILES}/{path}"
        target = self.folder / kept_copy
        why = None
        if any(len(os.fsencode(part)) > _NAME_MAX for part in target.parts):
            why = "its escaped name is longer than a file name may be"
        else:
            try:
                self._make_folder(target.parent)
                if os.path.lexists(target):
                    why = "another quarantined input's copy (or folder of copies) is already there"
            except (FileExistsError, NotADirectoryError):
                why = "another quarantined input's copy is already where its folder would be"
        if why is None:
            return kept_copy, {}
        self._renamed += 1
        name = PurePosixPath(path).name
        if len(os.fsencode(name)) > _NAME_MAX - 8:  # cut at a character, visibly
            name = os.fsencode(name)[:_NAME_MAX - 16].decode("utf-8", "ignore") + "…"
        unique = f"{QUARANTINE_RENAMED}/{self._renamed}/{name}"
        self._make_folder((self.folder / unique).parent)
        return unique, {"kept_copy_renamed": f"the copy could not be kept at {kept_copy}: {why}; it is kept at "
                                             f"{unique} instead"}

    @staticmethod
    def _no_wider(copy: Path, input_path: str | None) -> bool:
        """Whether the previous copy's permissions are no wider than the input's now (else copy afresh)."""
        if input_path is None:
            return True
        try:
            return not (os.stat(copy).st_mode & 0o777 & ~os.stat(input_path).st_mode)
        except OSError:
            return False

    def _link(self, source: Path, target: Path) -> bool:
        """Hard-link ``source`` as ``target``; False when it cannot be (gone, another file system...).

        Safe because a build never writes into a package's files: it writes a new
        package and swaps it in, so the linked bytes never change.
        """
        self._make_folder(target.parent)
        try:
            os.link(source, target)
        except OSError:
            return False
        return True

    def _make_folder(self, folder: Path) -> None:
        """mkdir once per folder (quarantined inputs are spread over one folder per day, and mkdir is slow)."""
        missing = []
        while folder not in self._quarantine_folders and folder != self.folder:
            missing.append(folder)
            folder = folder.parent
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)
            self._quarantine_folders.add(folder)

    def _flush(self, *, final: bool = False) -> None:
        self._close_run()
        self._close_python_rows()
        if not self._parts:
            return
        parts, rows = self._parts, self._pending
        self._parts, self._pending = [], 0
        if self._copyable(parts, final):
            self._copy_chunk(self.chunks_copied)
            self.checker.skip(rows)
            self.chunks_copied += 1
            self.rows_copied += rows
            return
        self._open_writers()
        assert self._csv is not None and self._parquet is not None
        tables = [part if isinstance(part, pa.Table) else self._previous_rows(part) for part in parts]
        table = pa.concat_tables(tables)
        if any(column.num_chunks > 1 for column in table.columns):
            # Parquet pages are cut at chunk boundaries too: one chunk per column, as in a
            # full build, keeps the bytes independent of where the rows came from.
            table = table.combine_chunks()
        # Both writers release the GIL and run in threads: this batch is written while the
        # next one is prepared (double buffering: one batch written at a time, in order).
        self._wait_for_writes()
        self._writes = [self._executor.submit(self._parquet.write_table, table),
                        self._executor.submit(self._then_mark_csv_end, self._csv.write_table, table),
                        self._executor.submit(self._write_excel, table)]
        for part, rows_table in zip(parts, tables):
            if isinstance(part, range):
                self.checker.skip(rows_table.num_rows)
            else:
                self.checker.check(as_text(rows_table))
                self.rows_checked += rows_table.num_rows

    def _previous_rows(self, positions: range) -> pa.Table:
        if self._read_previous is None:
            raise RuntimeError("previous rows were added to a writer that cannot read them")
        return self._read_previous(positions.start, positions.stop).cast(self.schema)

    def _copyable(self, parts: list[pa.Table | range], final: bool) -> bool:
        """Whether this batch is the previous package's next chunk, all of it, and every batch before was copied."""
        files, chunk = self._reusable, self.chunks_copied
        if files is None or self._csv is not None or chunk >= files.chunks:
            return False
        if len(parts) != 1 or not isinstance(parts[0], range):
            return False
        positions, rows = parts[0], files.chunk_rows(chunk)
        # A batch shorter than the others is only ever the last one, in both builds.
        return positions.start == chunk * files.batch_size and len(positions) == rows and (rows == files.batch_size or final)

    def _copy_chunk(self, chunk: int) -> None:
        files = self._reusable
        assert files is not None
        self._wait_for_writes()
        self._writes = [self._executor.submit(self._parquet_file.copy_from, files.parquet, *files.parquet_span(chunk)),
                        self._executor.submit(self._then_mark_csv_end, self._csv_file.copy_from, files.csv,
                                              *files.csv_span(chunk)),
                        self._executor.submit(self._copy_excel, chunk)]

    def _write_excel(self, table: pa.Table) -> None:
        assert self._excel is not None
        counts = {"neutralised": 0, "cut": 0}
        self._excel.write_table(spreadsheet_table(table, self._text_fields, counts).cast(self._excel_schema))
        self.excel_ends.append(self._excel_file.size)
        self.excel_counts.append((counts["neutralised"], counts["cut"]))

    def _copy_excel(self, chunk: int) -> None:
        files = self._reusable
        assert files is not None
        self._excel_file.copy_from(files.excel, *files.excel_span(chunk))
        self.excel_ends.append(self._excel_file.size)
        self.excel_counts.append(files.excel_counts[chunk])

    @property
    def spreadsheet_counts(self) -> dict[str, int]:
        """Cells of the spreadsheet CSV given the text marker, and cut (copied batches included), once closed."""
        return {"neutralised": sum(n for n, _ in self.excel_counts), "cut": sum(c for _, c in self.excel_counts)}

    def _then_mark_csv_end(self, write: Callable[..., Any], *args: Any) -> None:
        write(*args)
        self.csv_ends.append(self._csv_file.size)

    def _open_writers(self) -> None:
        """Start encoding: from here on no batch is copied."""
        if self._csv is not None:
            return
        self._wait_for_writes()  # a copy may still be writing the same files
        copied = self.chunks_copied > 0
        self._csv = pa_csv.CSVWriter(
            self._csv_file,
            self.schema,
            write_options=pa_csv.WriteOptions(include_header=not copied, eol="\r\n", quoting_style="all_valid"),
        )
        if not copied:
            self._excel_file.write(codecs.BOM_UTF8)  # Excel reads a CSV without it in the ANSI code page
        self._excel = pa_csv.CSVWriter(self._excel_file, self._excel_schema,
                                       write_options=pa_csv.WriteOptions(include_header=not copied, **WRITE_OPTIONS))
        if copied:
            self._parquet_sink = _ParquetAfterCopiedGroups(self._parquet_file)
        # Statistics and dictionaries help the short columns (ids, dates, categories);
        # on long unique texts (title, body, body_words...) they only cost time.
        short = [f["name"] for f in self.table_schema["fields"] if f["name"] not in LONG_TEXT_FIELDS]
        self._parquet = pq.ParquetWriter(
            self._parquet_sink or self._parquet_file, self.schema, compression="zstd",
            write_statistics=short, use_dictionary=short,
            # No page index: it would sit between the row groups and the footer, where
            # the next build could not cut the file into reusable row groups.
            write_page_index=False,
        )

    def _finish_parquet(self) -> None:
        """Write the Parquet footer; with copied row groups, the footer of them all."""
        files = self._reusable
        if self._parquet is not None and self._parquet_sink is None:
            self._parquet.close()
            return
        assert files is not None and self.chunks_copied
        appended = None
        shift = 0
        if self._parquet is not None and self._parquet_sink is not None:
            self._parquet_sink.footer = bytearray()
            self._parquet.close()
            written = bytes(self._parquet_sink.footer)
            footer_length = int.from_bytes(written[-8:-4], "little")
            if written[-4:] != parquet_footer.MAGIC or footer_length != len(written) - 8:
                raise RuntimeError("pyarrow wrote more than a footer when closing a Parquet file")
            appended = parquet_footer.decode(written[:-8])
            shift = files.parquet_span(self.chunks_copied - 1)[1] - len(parquet_footer.MAGIC)
        footer = parquet_footer.splice(files.footer, self.chunks_copied, appended, shift)
        self._parquet_file.write(parquet_footer.closing_bytes(footer))

    def _wait_for_writes(self) -> None:
        writes, self._writes = self._writes, []
        for write in writes:
            write.result()

    def close(self) -> None:
        try:
            self._flush(final=True)
            if self._csv is None and not self.chunks_copied:
                self._open_writers()  # no rows at all: still a header and a valid empty Parquet file
            self._wait_for_writes()
            if self._csv is not None:
                self._csv.close()
            if self._excel is not None:
                self._excel.close()
            self._finish_parquet()
        finally:
            self._executor.shutdown()
            for writer in (self._csv, self._excel, self._parquet):
                if writer is not None:
                    writer.close()
            self._csv_file.close()
            self._excel_file.close()
            self._parquet_file.close()
            self._quarantine.close()

    @property
    def digests(self) -> dict[str, tuple[int, str]]:
        """(size, sha256) of the data files, keyed by their path, once closed."""
        return {str(self.folder / CSV_PATH): self._csv_file.digest,
                str(self.folder / PARQUET_PATH): self._parquet_file.digest,
                str(self.folder / SPREADSHEET_PATH): self._excel_file.digest}


def _arrow_column(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    if arrow_type == pa.string():
        return _string_array([value.encode("utf-8") if isinstance(value, str) else value for value in values])
    return pa.array(values, type=arrow_type)


_MAX_STRING_BYTES = 2**31 - 1  # offsets of pa.string() are 32-bit


def _string_array(values: list[bytes | None]) -> pa.Array:
    """A string array straight from its Arrow buffers (UTF-8 bytes from ``str.encode``).

    pyarrow converts Thai str objects three times slower than this, and its
    cast from binary re-checks the UTF-8 that ``str.encode`` has just written.
    """
    present = np.fromiter((value is not None for value in values), dtype=np.bool_, count=len(values))
    sizes = np.fromiter((0 if value is None else len(value) for value in values), dtype=np.int64, count=len(values))
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    if offsets[-1] > _MAX_STRING_BYTES:
        return pa.array(values, type=pa.binary()).cast(pa.string())  # pyarrow says what does not fit
    data = b"".join(value for value in values if value is not None)
    nulls = len(values) - int(np.count_nonzero(present))
    validity = pa.py_buffer(np.packbits(present, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(pa.string(), len(values), [validity, pa.py_buffer(offsets.astype(np.int32)),
                                                            pa.py_buffer(data)], null_count=nulls)


def as_text(table: pa.Table) -> pa.Table:
    """Typed values as the text the CSV holds (dates ISO, integers in decimal, nulls empty)."""
    return pa.table({name: pc.fill_null(pc.cast(table.column(name), pa.string()), "") for name in table.column_names})


def descriptor_table_schema() -> dict[str, Any]:
    """The Table Schema as the descriptor carries it (without the ``$schema``-style keys)."""
    return {k: v for k, v in load_table_schema().items() if not k.startswith("$")}


def build_descriptor(
    folder: Path,
    *,
    digests: dict[str, tuple[int, str]],
    name: str,
    title: str,
    title_en: str,
    description: str,
    version: str,
    license_id: str,
    keywords: tuple[str, ...],
    sources: list[dict[str, str]],
    contributors: list[dict[str, str]],
    homepage: str | None,
    temporal: dict[str, str] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The ``datapackage.json`` descriptor for the files already written in ``folder``."""
    table_schema = descriptor_table_schema()
    resources = []
    for res_name, path, fmt, mediatype, res_title in (
        ("releases", CSV_PATH, "csv", "text/csv", "Releases (CSV)"),
        ("releases-parquet", PARQUET_PATH, "parquet", "application/vnd.apache.parquet", "Releases (Parquet)"),
    ):
        size, sha = digests[str(folder / path)]
        resource: dict[str, Any] = {
            "name": res_name,
            "title": res_title,
            "path": path,
            "profile": "tabular-data-resource",
            "format": fmt,
            "mediatype": mediatype,
            "bytes": size,
            "hash": f"sha256:{sha}",
            "schema": table_schema,
        }
        if fmt == "parquet":
            # Frictionless reads Parquet through pandas, where a null integer
            # becomes float NaN; "nan" as a missing value keeps those nulls null.
            resource["schema"] = {**table_schema, "missingValues": ["", "nan"]}
            # Nor does it count the bytes it reads through pandas, so a "bytes"
            # or "hash" property would always fail; ours are kept under x_ names
            # and checked by `ogd validate` and `ogd pull`.
            resource["x_bytes"] = resource.pop("bytes")
            resource["x_hash"] = resource.pop("hash")
        if fmt == "csv":
            resource["encoding"] = "utf-8"
            resource["dialect"] = {"delimiter": ",", "lineTerminator": "\r\n", "quoteChar": '"', "doubleQuote": True, "header": True}
        resources.append(resource)
    descriptor: dict[str, Any] = {
        "profile": "tabular-data-package",
        "name": name,
        "title": title,
        "title_en": title_en,
        "description": description,
        "version": version,
        "licenses": [_license(license_id)],
        "keywords": list(keywords),
        "sources": sources,
        "contributors": contributors,
    }
    if homepage:
        descriptor["homepage"] = homepage
    if temporal:
        descriptor["temporal"] = temporal
    descriptor.update(extra)
    descriptor["resources"] = resources
    return descriptor


_LICENSES = {
    "CC-BY-4.0": ("Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    "CC-BY-SA-4.0": ("Creative Commons Attribution Share-Alike 4.0", "https://creativecommons.org/licenses/by-sa/4.0/"),
    "CC0-1.0": ("CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
    "ODC-BY-1.0": ("Open Data Commons Attribution License 1.0", "https://opendatacommons.org/licenses/by/1-0/"),
    "ODbL-1.0": ("Open Data Commons Open Database License 1.0", "https://opendatacommons.org/licenses/odbl/1-0/"),
    "PDDL-1.0": ("Open Data Commons Public Domain Dedication and License 1.0", "https://opendatacommons.org/licenses/pddl/1-0/"),
}


def _license(license_id: str) -> dict[str, str]:
    title, path = _LICENSES.get(license_id, (license_id, ""))
    entry = {"name": license_id, "title": title}
    if path:
        entry["path"] = path
    return entry


def write_json(path: Path, data: dict[str, Any]) -> str:
    """Write JSON atomically (temp file + rename), UTF-8, stable key order; return the sha256 (hex) of its bytes.

    The hash is of the bytes as written, so that a reader (``ogd publish``) can
    tell a file edited after the build.
    """
    encoded = (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(encoded)
    os.replace(temporary, path)
    return hashlib.sha256(encoded).hexdigest()


# What a package folder holds at its top level (ogd build writes nothing else there).
PACKAGE_ENTRIES = frozenset({DESCRIPTOR_PATH, "data", QUARANTINE_PATH, "quarantine", REPORT_PATH})


def _entries(folder: Path) -> set[str]:
    with os.scandir(folder) as listing:
        return {entry.name for entry in listing}


def is_own_package(folder: Path, name: str) -> bool:
    """Whether ``folder`` is a package ``ogd build`` wrote for ``name``, holding nothing else.

    Its ``datapackage.json`` names the package, and it holds only the entries a
    build writes (a ``notes.txt`` added by hand makes it someone's folder).
    """
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        with open(folder / DESCRIPTOR_PATH, encoding="utf-8") as handle:
            descriptor = json.load(handle)
        entries = _entries(folder)
        data = _entries(folder / "data") if (folder / "data").is_dir() else set()
    except (OSError, ValueError):
        return False
    return (isinstance(descriptor, dict) and descriptor.get("name") == name and entries <= PACKAGE_ENTRIES
            and not (folder / "data").is_symlink() and all(entry.startswith("releases") for entry in data))


def _is_staging_folder(folder: Path) -> bool:
    """A staging folder a build left: a real folder holding only what a build writes (or nothing yet)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        entries = _entries(folder)
    except OSError:
        return False
    return all(entry in PACKAGE_ENTRIES or entry.endswith(".tmp") for entry in entries)


def staging_folder(target: Path) -> Path:
    return target.parent / f".{target.name}.building-{os.getpid()}"


def previous_folder(target: Path) -> Path:
    return target.with_name(target.name + ".previous")


def failed_folder(target: Path) -> Path:
    return target.with_name(target.name + ".failed")


def lock_path(target: Path) -> Path:
    """Beside the package, hidden, never inside it: the lock outlives every swap of the folder."""
    return target.parent / f".{target.name}.lock"


def _relation(path: Path, other: Path) -> str | None:
    if path == other:
        return "is"
    if other.is_relative_to(path):
        return "contains"
    if path.is_relative_to(other):
        return "lies inside"
    return None


def check_output(target: Path, name: str, inputs: list[Path], *, force: bool = False,
                 also_written: list[Path] | None = None) -> None:
    """Refuse an output folder whose replacement would delete what ``ogd build`` did not write.

    ``target`` is resolved (a link given as --out is judged by what it points to).
    Never overridable: an output that is, contains or lies inside an input (nor
    may an input be one of the folders and files the build writes beside it:
    ``.previous``, ``.failed``, staging, lock, input cache). With ``force``: a
    non-empty folder that is not a previous package of ``name``.
    """
    from .errors import UsageError

    written = [target, previous_folder(target), failed_folder(target), lock_path(target),
               target.parent / f".{target.name}.inputs.json", *(also_written or [])]
    for given in inputs:
        source = Path(given).resolve()
        for path in written:
            relation = _relation(path, source)
            if relation is not None:
                raise UsageError(
                    f"the output {path} {relation} the input {source}: a build replaces its output folder, "
                    "so the inputs would be deleted; nothing was written",
                    "choose an --out folder outside the input folders (for example a sibling folder)",
                )
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise UsageError(f"the output {target} is not a folder (a file or a link); nothing was written",
                         "give --out a folder path (new, empty, or a package written by ogd build)")
    if target.is_dir() and _entries(target) and not is_own_package(target, name):
        if not force:
            raise UsageError(
                f"the output folder {target} is not empty and is not a package named {name!r} written by ogd "
                "build (or holds files a build does not write); a build would replace it and delete its files",
                "choose another --out folder, or add --force to replace that folder and everything in it",
            )
    for kept in (previous_folder(target), failed_folder(target)):
        if (kept.exists() or kept.is_symlink()) and not (kept.is_dir() and not kept.is_symlink()
                                                         and (not _entries(kept) or is_own_package(kept, name))):
            raise UsageError(
                f"{kept} exists and is not a package named {name!r} written by ogd build; a build may replace "
                "that folder (it keeps the previous package there during the swap, and a rejected build there), "
                "so it would delete its files; nothing was written",
                f"rename or move {kept} and build again",
            )


@contextmanager
def output_lock(target: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` for a whole build; :class:`Busy` if another run holds it.

    The lock is the ``flock`` of a hidden file beside the folder (a folder that
    is swapped away cannot carry it). The kernel releases it when the holder
    dies, so a killed build never leaves a stale lock; the file stays.
    """
    from .errors import Busy

    path = lock_path(target)
    if path.is_symlink():
        raise _lock_is_a_link(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        # ELOOP: made a link since the check above. EACCES from a world-writable sticky folder
        # (fs.protected_symlinks) is also what a planted link gives there: name the link, not a permission.
        if exc.errno in (errno.ELOOP, errno.EACCES) and path.is_symlink():
            raise _lock_is_a_link(path) from None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise Busy(
                f"another ogd build{f' (pid {holder})' if holder.isdigit() else ''} is writing {target} "
                f"(it holds {path}); nothing was changed",
                "wait for it to finish and build again, or add --wait to wait for it",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _lock_is_a_link(path: Path) -> Exception:
    from .errors import UsageError

    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return UsageError(
        f"the build's lock file {path} is a symbolic link (to {target!r}), not a file ogd build wrote; a build "
        "never opens or writes through a link there (it could overwrite the link's target); nothing was written",
        f"remove the link {path} (it is not part of any package) and build again",
    )


def publish_folder(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` so that a crash never leaves a half package.

    Both are renames within one parent folder. Between them the previous
    package sits at ``<target>.previous``; :func:`recover` puts it back if a
    run died right there. (:func:`check_output` made sure ``target`` and
    ``<target>.previous`` hold nothing the user would miss.)
    """
    previous = previous_folder(target)
    if previous.exists():
        shutil.rmtree(previous)
    if target.exists():
        os.rename(target, previous)
    os.rename(staging, target)
    if previous.exists():
        shutil.rmtree(previous)


def keep_failed(staging: Path, target: Path) -> Path:
    """Keep a rejected build as ``<target>.failed`` (replacing the last rejected one)."""
    failed = failed_folder(target)
    if failed.exists():
        shutil.rmtree(failed)
    os.rename(staging, failed)
    return failed


def recover(target: Path, name: str | None = None) -> None:
    """Undo an interrupted swap and clear stale staging folders of ``target``.

    Call it holding :func:`output_lock`: a staging folder then belongs to a
    build that died (a live build would hold the lock). Only folders that look
    like what a build writes are touched.
    """
    previous = previous_folder(target)
    if previous.is_dir() and not target.exists() and (name is None or is_own_package(previous, name)):
        os.rename(previous, target)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.building-*"):
        if _is_staging_folder(stale):
            shutil.rmtree(stale, ignore_errors=True)
