"""Progress of a publish or pull, reported to whoever shows it (the CLI's bars on stderr), never printed here."""

from __future__ import annotations

from typing import Callable

#: progress(what, done, total): what is "bytes" (uploaded or downloaded) or "rows" (DataStore rows upserted and
#: deleted); total 0 when not known.
Progress = Callable[[str, int, int], None]


def no_progress(what: str, done: int, total: int) -> None:
    """The default: nobody is watching."""
