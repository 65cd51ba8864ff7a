"""Parquet footers, read and re-written, so that row groups can be reused byte for byte.

An incremental build copies the leading row groups of the previous Parquet
file unchanged and lets pyarrow encode only the rows after them. pyarrow
cannot append to a file, so its output for those rows (whose page offsets
count from its own start) is placed after the copied bytes and the footer is
re-written: the copied row groups, then the new ones with their offsets
shifted, and the total row count.

The footer is Thrift's compact protocol (``FileMetaData`` of parquet.thrift).
This module reads it into plain lists and writes it back with the same rules
the Thrift library uses; :func:`decode` refuses any footer that does not
come back byte for byte, so a spliced file is exactly what pyarrow would have
written for the same rows (the incremental tests compare the bytes).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

MAGIC = b"PAR1"

# Thrift compact protocol type codes.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
_INTEGERS = (_I16, _I32, _I64)

# Field ids of parquet.thrift used here.
_FILE_NUM_ROWS, _FILE_ROW_GROUPS, _FILE_ENCRYPTION = 3, 4, 8
_GROUP_COLUMNS, _GROUP_NUM_ROWS, _GROUP_FILE_OFFSET, _GROUP_ORDINAL = 1, 3, 5, 7
_CHUNK_FILE_PATH, _CHUNK_FILE_OFFSET, _CHUNK_META = 1, 2, 3
_CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX, _CHUNK_CRYPTO = 4, 6, 8
_META_COMPRESSED_SIZE, _META_DATA_PAGE, _META_INDEX_PAGE, _META_DICTIONARY_PAGE, _META_BLOOM = 7, 9, 10, 11, 14

Fields = list[list[Any]]  # a struct: [field id, type code, value] in written order


class FooterError(ValueError):
    """A footer this module does not handle (encrypted, external columns, or an unknown encoding)."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def byte(self) -> int:
        value = self.data[self.position]
        self.position += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            value = self.byte()
            result |= (value & 0x7F) << shift
            shift += 7
            if not value & 0x80:
                return result

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def value(self, kind: int) -> Any:
        if kind in _INTEGERS:
            return self.zigzag()
        if kind == _BYTE:
            return self.byte()
        if kind in (_DOUBLE, _BINARY):
            size = 8 if kind == _DOUBLE else self.varint()
            value = self.data[self.position:self.position + size]
            self.position += size
            return bytes(value)
        if kind in (_LIST, _SET):
            header = self.byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            if element in (_TRUE, _FALSE):
                return element, [self.byte() for _ in range(size)]
            return element, [self.value(element) for _ in range(size)]
        if kind == _MAP:
            size = self.varint()
            if not size:
                return 0, []
            types = self.byte()
            return types, [(self.value(types >> 4), self.value(types & 0x0F)) for _ in range(size)]
        if kind == _STRUCT:
            return self.struct()
        raise FooterError(f"unknown Thrift type {kind} at byte {self.position}")

    def struct(self) -> Fields:
        fields: Fields = []
        last = 0
        while True:
            header = self.byte()
            if header == 0:
                return fields
            delta, kind = header >> 4, header & 0x0F
            field_id = last + delta if delta else self.zigzag()
            fields.append([field_id, kind, kind == _TRUE if kind in (_TRUE, _FALSE) else self.value(kind)])
            last = field_id


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, value: int) -> None:
        while True:
            low, value = value & 0x7F, value >> 7
            if value:
                self.out.append(low | 0x80)
            else:
                self.out.append(low)
                return

    def zigzag(self, value: int) -> None:
        self.varint((value << 1) ^ (value >> 63))

    def value(self, kind: int, value: Any) -> None:
        if kind in _INTEGERS:
            self.zigzag(value)
        elif kind == _BYTE:
            self.out.append(value)
        elif kind == _DOUBLE:
            self.out += value
        elif kind == _BINARY:
            self.varint(len(value))
            self.out += value
        elif kind in (_LIST, _SET):
            element, items = value
            if len(items) < 15:
                self.out.append(len(items) << 4 | element)
            else:
                self.out.append(0xF0 | element)
                self.varint(len(items))
            for item in items:
                if element in (_TRUE, _FALSE):
                    self.out.append(item)
                else:
                    self.value(element, item)
        elif kind == _MAP:
            types, items = value
            self.varint(len(items))
            if items:
                self.out.append(types)
                for key, item in items:
                    self.value(types >> 4, key)
                    self.value(types & 0x0F, item)
        elif kind == _STRUCT:
            self.struct(value)
        else:
            raise FooterError(f"unknown Thrift type {kind}")

    def struct(self, fields: Fields) -> None:
        last = 0
        for field_id, kind, value in fields:
            if kind in (_TRUE, _FALSE):
                kind = _TRUE if value else _FALSE
            delta = field_id - last
            if 0 < delta <= 15:
                self.out.append(delta << 4 | kind)
            else:
                self.out.append(kind)
                self.zigzag(field_id)
            if kind not in (_TRUE, _FALSE):
                self.value(kind, value)
            last = field_id
        self.out.append(0)


def encode(footer: Fields) -> bytes:
    writer = _Writer()
    writer.struct(footer)
    return bytes(writer.out)


def decode(raw: bytes) -> Fields:
    """The footer as nested field lists; only footers that encode back to the same bytes are accepted."""
    try:
        footer = _Reader(raw).struct()
    except IndexError as exc:
        raise FooterError("the footer ends in the middle of a value") from exc
    if encode(footer) != raw:
        raise FooterError("the footer does not encode back to the same bytes")
    if _field(footer, _FILE_ENCRYPTION) is not None:
        raise FooterError("encrypted Parquet files are not spliced")
    for group in row_groups(footer):
        for chunk in _field(group, _GROUP_COLUMNS, (0, []))[1]:
            if _field(chunk, _CHUNK_FILE_PATH) is not None or _field(chunk, _CHUNK_CRYPTO) is not None:
                raise FooterError("columns stored in other files or encrypted are not spliced")
    return footer


def read_footer(path: Path) -> tuple[int, bytes]:
    """(byte offset where the footer starts, the footer's Thrift bytes) of a Parquet file."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size < 12:
            raise FooterError(f"{path} is too short to be a Parquet file")
        handle.seek(size - 8)
        tail = handle.read(8)
        if tail[4:] != MAGIC:
            raise FooterError(f"{path} does not end with the Parquet magic bytes")
        (length,) = struct.unpack("<i", tail[:4])
        start = size - 8 - length
        if length <= 0 or start < 4:
            raise FooterError(f"{path} has an impossible footer length {length}")
        handle.seek(start)
        return start, handle.read(length)


def _field(fields: Fields, field_id: int, default: Any = None) -> Any:
    for entry in fields:
        if entry[0] == field_id:
            return entry[2]
    return default


def row_groups(footer: Fields) -> list[Fields]:
    return _field(footer, _FILE_ROW_GROUPS, (0, []))[1]


def row_group_spans(footer: Fields, footer_start: int) -> list[tuple[int, int, int]]:
    """(first byte, end byte, rows) of every row group, which must follow each other from byte 4 to the footer."""
    spans = []
    for group in row_groups(footer):
        starts, ends = [], []
        for chunk in _field(group, _GROUP_COLUMNS, (0, []))[1]:
            meta = _field(chunk, _CHUNK_META)
            if meta is None:
                raise FooterError("a column chunk has no metadata")
            start = _field(meta, _META_DICTIONARY_PAGE) or _field(meta, _META_DATA_PAGE)
            starts.append(start)
            ends.append(start + _field(meta, _META_COMPRESSED_SIZE))
        if not starts:
            raise FooterError("a row group has no columns")
        spans.append((min(starts), max(ends), _field(group, _GROUP_NUM_ROWS)))
    position = len(MAGIC)
    for start, end, _rows in spans:
        if start != position:
            # Page indexes or bloom filters sit between row groups: not a layout that can be cut.
            raise FooterError(f"row groups are not contiguous (one starts at byte {start}, expected {position})")
        position = end
    if position != footer_start:
        raise FooterError(f"the last row group ends at byte {position}, the footer starts at {footer_start}")
    return spans


def _shift(fields: Fields, shifted_ids: tuple[int, ...], by: int) -> None:
    for entry in fields:
        # Arrow writes the deprecated ColumnChunk.file_offset as 0: a 0 stays 0.
        if entry[0] in shifted_ids and entry[2]:
            entry[2] += by


def splice(previous: Fields, kept: int, appended: Fields | None, shift: int) -> bytes:
    """The footer of a file made of ``previous``'s first ``kept`` row groups, then ``appended``'s row groups.

    ``appended`` is the footer of a file written on its own whose bytes after
    the leading magic now start ``shift`` bytes further on. Without it, the
    file ends after the kept row groups.
    """
    base = appended if appended is not None else previous
    groups = [group for group in row_groups(previous)[:kept]]
    for ordinal, group in enumerate(row_groups(appended) if appended is not None else [], start=kept):
        _shift(group, (_GROUP_FILE_OFFSET,), shift)
        for entry in group:
            if entry[0] == _GROUP_ORDINAL:
                entry[2] = ordinal
        for chunk in _field(group, _GROUP_COLUMNS, (0, []))[1]:
            _shift(chunk, (_CHUNK_FILE_OFFSET, _CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX), shift)
            _shift(_field(chunk, _CHUNK_META), (_META_DATA_PAGE, _META_INDEX_PAGE, _META_DICTIONARY_PAGE, _META_BLOOM), shift)
        groups.append(group)
    footer: Fields = []
    for field_id, kind, value in base:
        if field_id == _FILE_NUM_ROWS:
            value = sum(_field(group, _GROUP_NUM_ROWS) for group in groups)
        elif field_id == _FILE_ROW_GROUPS:
            value = (value[0], groups)
        footer.append([field_id, kind, value])
    return encode(footer)


def closing_bytes(footer: bytes) -> bytes:
    """What ends a Parquet file after its row groups: the footer, its length, the magic."""
    return footer + struct.pack("<i", len(footer)) + MAGIC
