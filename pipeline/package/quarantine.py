"""Kept copies of quarantined inputs: what is copied, and how long a name may be."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..problems import QUARANTINE_REASONS

NAME_MAX = 255  # bytes in one file name (ext4, xfs, btrfs...)

# Reasons whose input is not copied into the package: its target lies outside the inputs
# (never read), or its path cannot be opened or written at all.
NOT_COPIED = frozenset(code for code, kind in QUARANTINE_REASONS.items() if not kind.copy_kept)


@dataclass(frozen=True)
class KeptCopy:
    """A quarantined input's copy in a package: where, and its size and sha256 as recorded."""

    path: Path
    size: int
    sha256: str
