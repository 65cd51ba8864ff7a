"""Read one input's bytes (never more than the size cap) and decode them, without ever guessing into mojibake.

Supported encodings: UTF-8 (with or without BOM), UTF-16 with a BOM or
without one (little or big endian, recognised by the zero high bytes of its
ASCII and the 0x0E high bytes of its Thai), and TIS-620 / CP874 (common in
Thai government files). Bytes that fit none of these are a quarantine reason,
never a best-effort decode.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import re
import stat

from ..problems import InputProblem
from .discover import InputFile, is_url

# Real releases are under 200 kB; one input above this is quarantined unread, so that a
# stray 60 MB file cannot make a worker use gigabytes (see README: max_input_bytes).
DEFAULT_MAX_INPUT_BYTES = 5 * 1024 * 1024

class DecodeProblem(InputProblem):
    """An input that cannot be turned into text (reason code + message + details)."""


_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0e, 0x1b), *range(0x1c, 0x20), 0x7f])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
# Thai combining marks (above/below vowels, tone marks) must follow a Thai
# letter: text decoded from the wrong code page breaks this constantly.
_ORPHAN_THAI_MARK = re.compile(r"(?:^|[^\u0e01-\u0e4e])[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e]")
_THAI = re.compile(r"[\u0e01-\u0e5b]")
# What a release's text is made of: white space, ASCII, Latin-1 letters, Thai, general
# punctuation (dashes, quotes), and the odd BOM. Decoded binary data is mostly other planes.
_NOT_TEXT = re.compile(r"[^\t\n\r\x20-\x7e\u00a0-\u00ff\u0e00-\u0e7f\u2000-\u206f\ufeff]")


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
        utf16 = _utf16_without_bom(data)
        if utf16 is not None:
            return utf16
        raise DecodeProblem(
            "binary-content",
            "the file holds binary data (NUL or control bytes), not text, and does not read as UTF-16 "
            "text either; it is probably an image, archive or office document saved under a text name",
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


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """UTF-16 text saved without its byte-order mark, when the bytes say so unambiguously.

    In UTF-16 every character of a release is two bytes whose high byte is 0x00
    (ASCII: spaces, digits, line ends) or 0x0E (Thai): the high bytes sit on one
    parity (odd offsets for little endian, even for big endian). Only then is the
    whole file decoded, strictly, and kept if it reads as text.
    """
    sample = data[:65536]
    sample = sample[:len(sample) & ~1]
    if len(data) % 2 or len(sample) < 4:
        return None
    half = len(sample) // 2
    for codec, high in (("utf-16-le", sample[1::2]), ("utf-16-be", sample[0::2])):
        if high.count(0) + high.count(0x0E) < 0.9 * half:
            continue
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            return None
        if len(_NOT_TEXT.findall(text)) <= len(text) // 100:
            return text, codec
    return None


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


def open_regular(path: str) -> int:
    """A read-only descriptor of the regular file at ``path``, or OSError.

    The last component is not followed if it became a link since discovery, and a
    FIFO swapped in meanwhile is not waited on (O_NONBLOCK) but refused.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (it changed since the inputs were listed)", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(item: InputFile, max_bytes: int | None = DEFAULT_MAX_INPUT_BYTES) -> bytes:
    """The bytes of an input; an input over ``max_bytes`` is refused without being read.

    A record of a harvest archive gives its HTTP payload (chunking and gzip undone), read from its offset
    in the WARC file: never more than ``max_bytes`` + 1 bytes of it are decoded. An input whose path is a URL
    (object storage) is read through fsspec, by whichever process reads it (a worker of a cluster).
    """
    if item.record is not None:
        from ..harvest.archive import read_payload

        try:
            data = read_payload(item.path, item.record.offset, max_bytes)
        except OSError as exc:
            raise DecodeProblem("read-error", f"the archived record could not be read: {exc.strerror or exc}",
                                errno=exc.errno) from None
        if max_bytes is not None and len(data) > max_bytes:
            raise _too_large(len(data), max_bytes)
        return data
    if is_url(item.path):  # an object on object storage, read where it lives (pipeline.extract.remote)
        from .remote import ObjectTooLarge, read_url

        if max_bytes is not None and item.listed is not None and item.listed[0] > max_bytes:
            raise _too_large(item.listed[0], max_bytes)  # by its listed size: not fetched
        try:
            return read_url(item.path, max_bytes, item.listed[0] if item.listed is not None else None)
        except ObjectTooLarge as large:
            assert max_bytes is not None
            raise _too_large(large.size, max_bytes) from None
        except OSError as exc:
            raise DecodeProblem("read-error", f"the object could not be read: {exc.strerror or exc}",
                                errno=exc.errno) from None
    try:
        fd = open_regular(item.path)
    except OSError as exc:
        raise DecodeProblem("read-error", f"the file could not be read: {exc.strerror}", errno=exc.errno) from None
    with open(fd, "rb", closefd=True) as handle:
        try:
            size = os.fstat(fd).st_size
            if max_bytes is not None and size > max_bytes:
                raise _too_large(size, max_bytes)
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
        except OSError as exc:
            raise DecodeProblem("read-error", f"the file could not be read: {exc.strerror}", errno=exc.errno) from None
    if max_bytes is not None and len(data) > max_bytes:  # it grew since fstat
        raise _too_large(len(data), max_bytes)
    return data


def _too_large(size: int, max_bytes: int) -> DecodeProblem:
    return DecodeProblem(
        "too-large",
        f"the file has {size} bytes, more than the limit of {max_bytes} bytes per input; it was not read. "
        "Releases are under 200 kB: this is probably not one. If it is, raise the limit "
        "(--max-input-bytes, or max_input_bytes in datasets.toml)",
        bytes=size, max_input_bytes=max_bytes,
    )


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
