"""Extract: find input files and decode them, without ever guessing into mojibake.

Supported encodings: UTF-8 (with or without BOM), UTF-16 with a BOM, and
TIS-620 / CP874 (common in Thai government files). Bytes that fit none of
these are a quarantine reason, never a best-effort decode.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .record import InputProblem


class DecodeProblem(InputProblem):
    """An input that cannot be turned into text (reason code + message + details)."""


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input: its absolute path and its path relative to the input root (POSIX)."""

    path: str
    relative: str


def discover(paths: list[str | Path]) -> tuple[Path, list[InputFile]]:
    """List every regular file under ``paths``, sorted, with paths relative to one root.

    The root is the deepest folder containing every given path, so two inputs
    never share a relative path. Hidden files and folders (``.name``) are
    skipped: they are editor and OS litter, not releases.
    """
    resolved = [Path(p).resolve() for p in paths]
    for path in resolved:
        if not path.exists():
            raise FileNotFoundError(f"input path {str(path)!r} does not exist")
    folders = [p if p.is_dir() else p.parent for p in resolved]
    root = Path(os.path.commonpath([str(f) for f in folders]))
    found: list[str] = []
    seen: set[str] = set()
    for path in resolved:
        if path.is_file():
            if str(path) not in seen:
                seen.add(str(path))
                found.append(str(path))
            continue
        stack = [str(path)]
        while stack:  # scandir knows the entry types: no stat call per file
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):  # as os.walk: linked folders are not entered
                        stack.append(entry.path)
                    elif entry.is_file() and entry.path not in seen:
                        seen.add(entry.path)
                        found.append(entry.path)
    prefix = len(str(root).rstrip(os.sep)) + 1  # every path found is below root: cut the prefix
    relative = (p[prefix:] if os.sep == "/" else p[prefix:].replace(os.sep, "/") for p in found)
    files = sorted((InputFile(path, rel) for path, rel in zip(found, relative)), key=lambda f: f.relative)
    return root, files


_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0e, 0x1b), *range(0x1c, 0x20), 0x7f])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
# Thai combining marks (above/below vowels, tone marks) must follow a Thai
# letter: text decoded from the wrong code page breaks this constantly.
_ORPHAN_THAI_MARK = re.compile(r"(?:^|[^\u0e01-\u0e4e])[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e]")
_THAI = re.compile(r"[\u0e01-\u0e5b]")


def decode(data: bytes) -> tuple[str, str]:
    """Decode raw bytes; return ``(text, encoding)`` or raise :class:`DecodeProblem`."""
    if not data.strip():
        raise DecodeProblem(
            "empty-file",
            "the file is empty (or holds only white space); re-export the release or remove the file",
            size=len(data),
        )
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data[len(codecs.BOM_UTF8):], "utf-8", "utf-8-sig"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(data, "utf-16", "utf-16"), "utf-16"
    sample = data[:65536]
    controls = len(sample.translate(None, _NOT_CONTROL))  # counts control bytes, in C
    if b"\x00" in sample or controls > max(8, len(sample) // 100):
        raise DecodeProblem(
            "binary-content",
            "the file holds binary data (NUL or control bytes), not text; "
            "it is probably an image, archive or office document saved under a text name",
            control_bytes_in_first_64k=controls,
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        text = _as_thai_code_page(data)
        if text is not None:
            return text, "tis-620"
        raise DecodeProblem(
            "undecodable",
            f"the bytes are not valid UTF-8 (byte 0x{data[utf8_error.start]:02x} at offset "
            f"{utf8_error.start}) and do not read as Thai TIS-620/CP874 text either; "
            "re-save the file as UTF-8",
            offset=utf8_error.start,
        ) from None


def _strict(data: bytes, codec: str, label: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise DecodeProblem(
            "undecodable",
            f"the file starts with a {label} byte-order mark but byte offset {exc.start} "
            f"is not valid {codec}; re-save the file as UTF-8",
            offset=exc.start,
            declared=label,
        ) from None


def _as_thai_code_page(data: bytes) -> str | None:
    """Decode as CP874 (a superset of TIS-620) only when the result is plausible Thai."""
    try:
        text = data.decode("cp874")
    except UnicodeDecodeError:
        return None
    if not _THAI.search(text):
        return None
    if _ORPHAN_THAI_MARK.search(text):
        return None
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    thai = len(_THAI.findall(text))
    # Nearly every non-ASCII character of a real Thai file is Thai.
    return text if thai >= 0.95 * non_ascii else None


def read_bytes(item: InputFile) -> bytes:
    try:
        with open(item.path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise DecodeProblem("read-error", f"the file could not be read: {exc.strerror}", errno=exc.errno) from None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
