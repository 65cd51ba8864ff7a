"""Copy the previous package's unchanged leading batches: where each batch lies in its files,
and a Parquet sink that writes new row groups after the copied ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..package.files import HashingFile
from ..package.layout import CSV_PATH, PARQUET_PATH
from ..spreadsheet import SPREADSHEET_PATH
from . import parquet_footer


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

    # What the package writer calls (pipeline.package.writer.CopiedBatches): the writer knows nothing of
    # the previous package, so that package/ never imports incremental/ (data flows one way).

    def copy_csv(self, chunk: int, target: HashingFile) -> None:
        """Append chunk ``chunk`` of the previous CSV (chunk 0 with its header) to ``target``."""
        target.copy_from(self.csv, *self.csv_span(chunk))

    def copy_parquet(self, chunk: int, target: HashingFile) -> None:
        """Append row group ``chunk`` of the previous Parquet file (group 0 with the magic) to ``target``."""
        target.copy_from(self.parquet, *self.parquet_span(chunk))

    def copy_excel(self, chunk: int, target: HashingFile) -> tuple[int, int]:
        """Append chunk ``chunk`` of the previous spreadsheet CSV to ``target``; return the cells it had
        (neutralised, cut)."""
        target.copy_from(self.excel, *self.excel_span(chunk))
        return self.excel_counts[chunk]

    def parquet_sink(self, target: HashingFile) -> ParquetAfterCopiedGroups:
        """The sink for a ParquetWriter whose row groups follow the copied ones in ``target``."""
        return ParquetAfterCopiedGroups(target)

    def closing_bytes(self, chunks_copied: int, written_footer: bytes | None) -> bytes:
        """The footer (and its length and magic) of a file made of the first ``chunks_copied`` row groups
        copied from the previous file, then the row groups of ``written_footer`` (what pyarrow wrote when
        closing the sink, held back by it; None when nothing was written after the copy)."""
        appended = None
        shift = 0
        if written_footer is not None:
            footer_length = int.from_bytes(written_footer[-8:-4], "little")
            if written_footer[-4:] != parquet_footer.MAGIC or footer_length != len(written_footer) - 8:
                raise RuntimeError("pyarrow wrote more than a footer when closing a Parquet file")
            appended = parquet_footer.decode(written_footer[:-8])
            # The new row groups' offsets count from pyarrow's own magic, which the sink dropped.
            shift = self.parquet_span(chunks_copied - 1)[1] - len(parquet_footer.MAGIC)
        footer = parquet_footer.splice(self.footer, chunks_copied, appended, shift)
        return parquet_footer.closing_bytes(footer)

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


class ParquetAfterCopiedGroups:
    """The sink of a ParquetWriter whose file starts with row groups copied from the previous package.

    pyarrow writes a whole file: its leading magic is already in the copy and
    is dropped; its footer is held back (:attr:`footer`) to be spliced with
    the copied row groups' (:func:`pipeline.incremental.parquet_footer.splice`).
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
