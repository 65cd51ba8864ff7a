"""Hashes of files: the one helper below every stage that checks what a package holds (package, validate, ckan)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
