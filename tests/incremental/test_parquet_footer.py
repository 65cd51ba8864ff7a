"""Parquet footers are read and re-written byte for byte; spliced files are what pyarrow writes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.incremental import parquet_footer
from pipeline.incremental.parquet_footer import FooterError


def sample_table(first: int, count: int) -> pa.Table:
    return pa.table({
        "release_id": [f"thaigov-{n}" for n in range(first, first + count)],
        "published_date": [dt.date(2024, 1, 1) + dt.timedelta(days=n) for n in range(first, first + count)],
        "word_count": [n * 7 if n % 5 else None for n in range(first, first + count)],
        "body": [f"ข่าวที่ {n} " * (n % 13 + 1) for n in range(first, first + count)],
    })


def write(path: Path, tables: list[pa.Table], **options: object) -> None:
    with pq.ParquetWriter(path, tables[0].schema, compression="zstd", use_dictionary=["release_id"],
                          write_statistics=["release_id", "published_date"], **options) as writer:
        for table in tables:
            writer.write_table(table)  # one row group each


def test_a_footer_decodes_and_encodes_back_to_the_same_bytes(tmp_path: Path) -> None:
    write(tmp_path / "a.parquet", [sample_table(0, 50), sample_table(50, 50), sample_table(100, 7)])
    start, raw = parquet_footer.read_footer(tmp_path / "a.parquet")
    footer = parquet_footer.decode(raw)
    assert parquet_footer.encode(footer) == raw
    spans = parquet_footer.row_group_spans(footer, start)
    assert [rows for _start, _end, rows in spans] == [50, 50, 7]
    assert spans[0][0] == 4 and spans[-1][1] == start


@pytest.mark.parametrize("kept", [0, 1, 2, 3])
def test_kept_row_groups_and_appended_ones_make_the_file_pyarrow_writes(tmp_path: Path, kept: int) -> None:
    batches = [sample_table(0, 40), sample_table(40, 40), sample_table(80, 40), sample_table(120, 40), sample_table(160, 9)]
    write(tmp_path / "whole.parquet", batches)
    write(tmp_path / "previous.parquet", batches[:3] + [sample_table(500, 3)])  # its 4th group is replaced
    previous_start, previous_raw = parquet_footer.read_footer(tmp_path / "previous.parquet")
    previous = parquet_footer.decode(previous_raw)
    spans = parquet_footer.row_group_spans(previous, previous_start)

    prefix_end = spans[kept - 1][1] if kept else 0
    appended_bytes = b""
    appended = None
    if kept < len(batches):
        write(tmp_path / "appended.parquet", batches[kept:])
        appended_start, appended_raw = parquet_footer.read_footer(tmp_path / "appended.parquet")
        appended = parquet_footer.decode(appended_raw)
        skip = 4 if kept else 0  # the magic is in the copied prefix already
        appended_bytes = (tmp_path / "appended.parquet").read_bytes()[skip:appended_start]
    footer = parquet_footer.splice(previous, kept, appended, max(prefix_end - 4, 0))
    spliced = (tmp_path / "previous.parquet").read_bytes()[:prefix_end] + appended_bytes + parquet_footer.closing_bytes(footer)

    assert spliced == (tmp_path / "whole.parquet").read_bytes()
    (tmp_path / "spliced.parquet").write_bytes(spliced)
    assert pq.read_table(tmp_path / "spliced.parquet").equals(pa.concat_tables(batches))


def test_without_appended_groups_the_file_ends_after_the_kept_ones(tmp_path: Path) -> None:
    batches = [sample_table(0, 30), sample_table(30, 30), sample_table(60, 30)]
    write(tmp_path / "previous.parquet", batches)
    write(tmp_path / "first-two.parquet", batches[:2])
    start, raw = parquet_footer.read_footer(tmp_path / "previous.parquet")
    previous = parquet_footer.decode(raw)
    end = parquet_footer.row_group_spans(previous, start)[1][1]
    spliced = (tmp_path / "previous.parquet").read_bytes()[:end] + parquet_footer.closing_bytes(
        parquet_footer.splice(previous, 2, None, 0))
    assert spliced == (tmp_path / "first-two.parquet").read_bytes()


def test_files_that_cannot_be_cut_are_refused_with_the_reason(tmp_path: Path) -> None:
    write(tmp_path / "indexed.parquet", [sample_table(0, 20), sample_table(20, 20)], write_page_index=True)
    start, raw = parquet_footer.read_footer(tmp_path / "indexed.parquet")
    with pytest.raises(FooterError, match="ends at byte"):
        # The page index sits between the last row group and the footer.
        parquet_footer.row_group_spans(parquet_footer.decode(raw), start)
    with pytest.raises(FooterError, match="ends in the middle"):
        parquet_footer.decode(raw[: len(raw) // 2])
    (tmp_path / "not.parquet").write_bytes("release_id,title\r\n1,ข่าว\r\n".encode("utf-8"))
    with pytest.raises(FooterError, match="magic"):
        parquet_footer.read_footer(tmp_path / "not.parquet")
