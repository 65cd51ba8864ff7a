"""Files written once and hashed as they are written; JSON written atomically; copies no wider than their source."""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from pathlib import Path
from typing import Any


def copy_no_wider(source_fd: int, target: Path) -> tuple[int, str]:
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
