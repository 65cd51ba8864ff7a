"""Stream rows into the package's CSV, Parquet and spreadsheet files, batch by batch, and keep the quarantine."""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from .. import PARSER_VERSION
from ..extract.decode import open_regular
from ..problems import Problem
from ..record import RELEASE_FIELDS, load_table_schema
from ..spreadsheet import (
    SPREADSHEET_PATH,
    WRITE_OPTIONS,
    spreadsheet_table,
    text_fields_of,
    text_schema,
)
from ..validate.rules import arrow_schema
from .files import HashingFile, copy_no_wider
from .layout import (
    BATCH_ROWS,
    CSV_PATH,
    LONG_TEXT_FIELDS,
    PARQUET_PATH,
    QUARANTINE_FILES,
    QUARANTINE_PATH,
    QUARANTINE_RENAMED,
)
from .quarantine import NAME_MAX, NOT_COPIED, KeptCopy


class ParquetSink(Protocol):
    """Where a ParquetWriter writes after copied row groups: its footer is held back, not written."""

    footer: bytearray | None  # set to bytearray() before closing the writer: the footer collects there

    def write(self, data: Any) -> int: ...
    def flush(self) -> None: ...
    def tell(self) -> int: ...
    def close(self) -> None: ...


class CopiedBatches(Protocol):
    """The previous package's data files, cut into the batches its writer wrote, as the writer uses them.

    The build hands one in (:class:`pipeline.incremental.reuse.ReusableFiles`): the writer knows nothing
    of the previous package, so package/ never imports incremental/.
    """

    batch_size: int

    @property
    def chunks(self) -> int: ...
    def chunk_rows(self, chunk: int) -> int: ...
    def copy_csv(self, chunk: int, target: HashingFile) -> None: ...
    def copy_parquet(self, chunk: int, target: HashingFile) -> None: ...
    def copy_excel(self, chunk: int, target: HashingFile) -> tuple[int, int]: ...
    def parquet_sink(self, target: HashingFile) -> ParquetSink: ...
    def closing_bytes(self, chunks_copied: int, written_footer: bytes | None) -> bytes: ...


def _key_unless_bytes(entry: dict[str, Any], input_key: str | None) -> None:
    """Record the input's cache key in its quarantine entry when it is not the hash of the bytes kept (the next
    build's cache compares it: pipeline.incremental.previous)."""
    if input_key is not None and input_key != entry.get("sha256"):
        entry["input_key"] = input_key


# What a quarantine entry says about the copy of its input's bytes (shared by the entries of one input's items).
_COPY_KEYS = ("kept_copy", "bytes", "sha256", "copy_error", "kept_copy_renamed")


def _write_new(target: Path, data: bytes, mode: int) -> tuple[int, str]:
    """Write ``data`` to a new file (never through a link, never over a file); return its size and sha256."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    with open(fd, "wb", closefd=True) as handle:
        handle.write(data)
    return len(data), hashlib.sha256(data).hexdigest()


class PackageWriter:
    """Streams rows into CSV and Parquet in batches; memory stays bounded by the batch.

    Rows come checked against the Table Schema already (one check per record,
    :class:`pipeline.validate.records.RecordValidator`, which quarantines a row
    that breaks it): the writer does not check them again. With ``reusable``, leading batches that are the previous package's own
    are copied byte for byte (see :class:`CopiedBatches`); other reused rows
    are read back with ``read_previous(start, end)``.
    """

    def __init__(self, folder: Path, *, batch_size: int = BATCH_ROWS, reusable: CopiedBatches | None = None,
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
        self._parquet_sink: ParquetSink | None = None
        self._reusable = reusable if reusable is not None and reusable.batch_size == batch_size else None
        self.copy_refused = (None if self._reusable is not None or reusable is None else
                             f"the previous package was written in batches of {reusable.batch_size} rows, not {batch_size}")
        self._read_previous = read_previous
        self.chunks_copied = 0
        self.rows_copied = 0
        self.csv_ends: list[int] = []  # where each batch ends in the CSV, for the next build's copy
        self._quarantine = open(folder / QUARANTINE_PATH, "w", encoding="utf-8", newline="\n")
        # ((its path, the path read), where its copy is) of the last quarantined input: the items of one input
        # are consecutive. (Two inputs may share a printable path: an escaped name and a real one.)
        self._last_copy: tuple[tuple[str, str | None], dict[str, Any]] | None = None
        self._executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="package-writer")
        self._writes: list[Any] = []
        self._columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self._python_rows = 0  # rows waiting in self._columns
        # In order: transformed rows (a table, to check) and previous rows (a range of their positions).
        self._parts: list[pa.Table | range] = []

        self.rows_checked = 0  # new rows (checked by their worker), as opposed to rows of the previous package
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

    def add_problem(self, problem: Problem, input_path: str | None, previous_copy: KeptCopy | None = None,
                    payload: Callable[[], bytes] | None = None, input_key: str | None = None) -> str | None:
        """Record a quarantined input and keep a copy of its bytes beside the package; return its sha256.

        ``previous_copy``: the previous package's copy of the same bytes, linked
        instead of copied and hashed again (an incremental build keeps hundreds).
        ``payload``: the input's bytes when they are not the whole file at
        ``input_path`` (a record of a WARC file: its payload is kept, not the
        WARC file; OSError when it cannot be read). ``input_key``: the input's cache key when it is not the
        hash of those bytes (an archived page a feed entry gives evidence for: the key covers the entry too).
        """
        entry = {"path": problem.path, "reason": problem.reason, "message": problem.message,
                 "stage": problem.stage, "details": problem.details, "parser_version": PARSER_VERSION}
        if problem.item is not None:
            entry["item"] = problem.item
        last = self._last_copy
        if last is not None and last[0] == (problem.path, input_path):
            # Another item of the same input (a feed's second bad entry): its one copy serves every entry.
            entry.update(last[1])
            _key_unless_bytes(entry, input_key)
            self._quarantine.write(json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str) + "\n")
            return entry.get("sha256")
        kept_copy: str | None = None
        note: dict[str, str] = {}
        linked = False
        if previous_copy is not None and self._no_wider(previous_copy.path, input_path):
            kept_copy, note = self._copy_target(problem.path)
            linked = self._link(previous_copy.path, self.folder / kept_copy)
            if linked:
                entry.update({"kept_copy": kept_copy, "bytes": previous_copy.size, "sha256": previous_copy.sha256,
                              **note})
        if not linked and input_path is not None and problem.reason not in NOT_COPIED and payload is not None:
            try:
                data = payload()
                mode = os.stat(input_path).st_mode & 0o666  # no wider than the archive file holding it
            except OSError as exc:
                entry["kept_copy"] = None
                entry["copy_error"] = exc.strerror or str(exc)
            else:
                if kept_copy is None:
                    kept_copy, note = self._copy_target(problem.path)
                size, sha = _write_new(self.folder / kept_copy, data, mode)
                entry.update({"kept_copy": kept_copy, "bytes": size, "sha256": sha, **note})
        elif not linked and input_path is not None and problem.reason not in NOT_COPIED:
            try:
                source = open_regular(input_path)
            except OSError as exc:  # an unreadable input (read-error) stays listed, with why no copy exists
                entry["kept_copy"] = None
                entry["copy_error"] = exc.strerror
            else:
                if kept_copy is None:
                    kept_copy, note = self._copy_target(problem.path)
                # Errors writing the copy are the output's (disk full...): they stop the build.
                size, sha = copy_no_wider(source, self.folder / kept_copy)
                entry.update({"kept_copy": kept_copy, "bytes": size, "sha256": sha, **note})
        _key_unless_bytes(entry, input_key)
        self._quarantine.write(json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str) + "\n")
        self._last_copy = ((problem.path, input_path), {key: entry[key] for key in _COPY_KEYS if key in entry})
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
        if any(len(os.fsencode(part)) > NAME_MAX for part in target.parts):
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
        if len(os.fsencode(name)) > NAME_MAX - 8:  # cut at a character, visibly
            name = os.fsencode(name)[:NAME_MAX - 16].decode("utf-8", "ignore") + "…"
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
        self.rows_checked += sum(part.num_rows for part in parts if isinstance(part, pa.Table))

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
        self._writes = [self._executor.submit(files.copy_parquet, chunk, self._parquet_file),
                        self._executor.submit(self._then_mark_csv_end, files.copy_csv, chunk, self._csv_file),
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
        counts = files.copy_excel(chunk, self._excel_file)
        self.excel_ends.append(self._excel_file.size)
        self.excel_counts.append(counts)

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
            assert self._reusable is not None
            self._parquet_sink = self._reusable.parquet_sink(self._parquet_file)
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
        written = None
        if self._parquet is not None and self._parquet_sink is not None:
            self._parquet_sink.footer = bytearray()
            self._parquet.close()
            written = bytes(self._parquet_sink.footer)
        self._parquet_file.write(files.closing_bytes(self.chunks_copied, written))

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
