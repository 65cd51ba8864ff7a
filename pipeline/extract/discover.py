"""Discover the inputs under the given paths, and account for every entry that is not one.

Discovery never follows a link out of the inputs and never opens anything
but a regular file (a FIFO would block the build). An input it cannot take is
refused with its own reason (:attr:`Discovery.refused`: a link out of the
inputs, an over-long path, a folder it cannot list, a name that is not
UTF-8); an entry that is not an input at all (hidden, a FIFO, a dangling link,
a loop) is skipped with why (:attr:`Discovery.skipped`).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..problems import Problem, check_skipped_reason

try:
    PATH_MAX = os.pathconf("/", "PC_PATH_MAX")
except (OSError, ValueError, AttributeError):  # not POSIX
    PATH_MAX = 4096


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    """Where an input lies inside a WARC file of a harvest archive (see :mod:`pipeline.extract.archive_inputs`)."""

    offset: int  # of the response record in the WARC file (the index's)
    # The input's content key, known without reading it (a WARC record is never rewritten): the index's sha256
    # of the archived body, and for a feed the entry links read from this copy. It is the records' source_sha256.
    sha256: str
    links: tuple[str, ...] | None = None  # a feed: only the entries with these links are read from it
    # A page a feed entry links: the entry's (title, day of publication in Bangkok, ISO), evidence for the page
    # (its date and title when the page itself gives none); part of ``sha256`` above, the cache key.
    feed_entry: tuple[str | None, str | None] | None = None


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input: the path to read (a link's target, checked to lie inside the inputs) and its
    path relative to the input root (POSIX; the link's own path for a link). A record of a harvest archive
    has the WARC file as ``path``, ``relative`` = ``warc/FILE.warc.gz#OFFSET`` and its place in ``record``."""

    path: str
    relative: str
    url: str | None = None  # the address it was fetched from, when known (a harvested page)
    record: ArchivedRecord | None = None
    # An object on object storage (``path`` is its fsspec URL): its size and a number made from its ETag (else its
    # modification time), from the listing: the inputs cache's key, as size and mtime are for a file.
    listed: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry under the inputs that is not an input (hidden, a FIFO, a dangling link...), and why."""

    path: str
    reason: str  # a code of pipeline.problems.SKIPPED_REASONS
    why: str

    def __post_init__(self) -> None:
        check_skipped_reason(self.reason)

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "why": self.why}


@dataclass
class Discovery:
    """What :func:`discover_inputs` found: inputs to read, inputs refused unread, entries skipped."""

    root: Path | str  # a URL for inputs on object storage (pipeline.extract.remote)
    files: list[InputFile]
    refused: list[Problem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # Refused inputs that can still be copied into the quarantine: printable path -> path to read.
    copyable: dict[str, str] = field(default_factory=dict)
    # Harvest archives among the inputs: how every indexed record was accounted for (report.json ``archive``).
    archive: dict[str, Any] | None = None


URL_PATTERN = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def is_url(path: str | Path) -> bool:
    """Whether an input is an fsspec URL (``s3://bucket/prefix/``, ``gs://...``, ``file:///shared/...``), read
    through fsspec (pipeline.extract.remote), rather than a path on this machine. A ``Path`` never is one."""
    return isinstance(path, str) and URL_PATTERN.match(path) is not None


def printable_path(path: str) -> str:
    """A path as valid UTF-8 text: a path that is valid UTF-8 is unchanged; in any other, every byte that is
    not UTF-8 becomes ``\\xNN`` and so does every backslash (``\\x5c``).

    ``os`` gives such bytes as lone surrogates (surrogateescape), which neither
    JSON files nor Arrow strings can hold. Escaping the backslash too makes the
    escaped form decode to exactly one name: a file whose name holds the byte
    0xff is ``\\xff``, one literally named with the four characters ``\\xff``
    (among bytes that are not UTF-8) is ``\\x5cxff``. A UTF-8 name is never
    escaped, so an escaped path is told apart by its reason, ``undecodable-name``.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raw = path.encode("utf-8", "surrogateescape")
        # 0x5c never occurs inside a multi-byte UTF-8 sequence: splitting on it cuts no character.
        return "\\x5c".join(part.decode("utf-8", "backslashreplace") for part in raw.split(b"\\"))
    return path


def unescape_path(printable: str) -> bytes:
    """The name's bytes back from an escaped path (the inverse of :func:`printable_path` for escaped paths)."""
    return re.sub(rb"\\x([0-9a-f]{2})", lambda match: bytes([int(match.group(1), 16)]), printable.encode("utf-8"))


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _kind_of(mode: int) -> tuple[str, str]:
    """What a link points to: a short code and words (from a stat of the target, which is never opened)."""
    if stat.S_ISDIR(mode):
        return "folder", "a folder"
    if stat.S_ISREG(mode):
        return "file", "a file"
    if stat.S_ISFIFO(mode):
        return "fifo", "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket", "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device", "a device"
    return "other", "an entry that is neither a file nor a folder"


def discover(paths: list[str | Path]) -> tuple[Path, list[InputFile]]:
    """The input root and the readable inputs under ``paths`` (see :func:`discover_inputs`)."""
    found = discover_inputs(paths)
    return found.root, found.files


def discover_inputs(paths: list[str | Path]) -> Discovery:
    """List every input under ``paths``, sorted, with paths relative to one root.

    The root is the deepest folder containing every given path, so two inputs
    never share a relative path. Hidden files and folders (``.name``) are
    skipped: they are editor and OS litter, not releases. A link is read only
    when its target lies inside one of ``paths``; linked folders are not
    entered (as ``os.walk``). Raises :class:`FileNotFoundError` for a given
    path that does not exist.
    """
    resolved: list[Path] = []
    for given in paths:
        try:
            path = Path(given).resolve(strict=True)
        except FileNotFoundError:
            raise FileNotFoundError(f"input path {str(given)!r} does not exist") from None
        except (OSError, RuntimeError) as exc:  # a symlink loop, a path too long...
            raise FileNotFoundError(f"input path {str(given)!r} cannot be used: {getattr(exc, 'strerror', None) or exc}") from None
        resolved.append(path)
    folders = [p if p.is_dir() else p.parent for p in resolved]
    root = Path(os.path.commonpath([str(f) for f in folders]))
    prefix = len(str(root).rstrip(os.sep)) + 1  # every path found is below root: cut the prefix

    def relative_of(path: str) -> str:
        relative = path[prefix:] if len(path) >= prefix else os.path.basename(path)
        return relative if os.sep == "/" else relative.replace(os.sep, "/")

    allowed_folders = [str(p) for p in resolved if p.is_dir()]
    allowed_files = {str(p) for p in resolved if not p.is_dir()}
    found: list[tuple[str, str]] = []  # (path to read, path found)
    seen: set[str] = set()
    refused: list[Problem] = []
    skipped: list[Skipped] = []
    copyable: dict[str, str] = {}

    def refuse(path: str, reason: str, message: str, **details: Any) -> None:
        refused.append(Problem(printable_path(relative_of(path)), reason, message, "extract", details))

    def skip(path: str, reason: str, why: str) -> None:
        skipped.append(Skipped(printable_path(relative_of(path)), reason, why))

    def take(path: str, target: str) -> None:
        if path in seen:
            return
        seen.add(path)
        relative = relative_of(path)
        if printable_path(relative) != relative:
            copyable[printable_path(relative)] = target
            refuse(path, "undecodable-name",
                   "the file name is not valid UTF-8 (its bytes are shown as \\xNN escapes in this path); "
                   "rename the file with a UTF-8 name and build again")
        elif len(os.fsencode(target)) >= PATH_MAX:
            refuse(path, "path-too-long", f"the path is longer than the system's limit of {PATH_MAX} bytes and "
                   "cannot be opened; move the file to a shorter path", limit=PATH_MAX)
        else:
            found.append((target, path))

    def classify_other(path: str, mode: int) -> None:
        if stat.S_ISFIFO(mode):
            skip(path, "fifo", "a named pipe (FIFO), not a file: it is never opened (reading it could block)")
        elif stat.S_ISSOCK(mode):
            skip(path, "socket", "a socket, not a file")
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            skip(path, "device", "a device, not a file")
        else:
            skip(path, "not-a-file", "neither a file nor a folder")

    def follow_link(path: str) -> None:
        target = os.path.realpath(path)  # resolves the link's text only: the target is not opened
        try:
            target_stat = os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                skip(path, "symlink-loop", "a symbolic link that loops (points back to itself through other links)")
            elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
                skip(path, "dangling-symlink", f"a symbolic link to {printable_path(os.readlink(path))!r}, "
                     "which does not exist")
            else:
                skip(path, "unreadable-symlink", f"a symbolic link whose target cannot be checked: {exc.strerror}")
            return
        inside = target in allowed_files or any(_is_within(target, folder) for folder in allowed_folders)
        if not inside:
            # Not read, not copied: a link in the inputs to /etc/shadow or to another team's files
            # must not end up in a package.
            kind, what = _kind_of(target_stat.st_mode)
            refuse(path, "symlink-outside-root",
                   f"a symbolic link to {what} outside the input folders; it was not read. Copy it into the "
                   "inputs if it belongs there, or remove the link", target=printable_path(target), target_kind=kind)
        elif stat.S_ISDIR(target_stat.st_mode):
            skip(path, "linked-folder", "a symbolic link to a folder: linked folders are not entered "
                 "(give the folder itself as an input)")
        elif stat.S_ISREG(target_stat.st_mode):
            take(path, target)
        else:
            classify_other(path, target_stat.st_mode)

    for path in resolved:
        if not path.is_dir():
            if path.is_file():
                take(str(path), str(path))
            else:
                classify_other(str(path), path.stat().st_mode)
            continue
        stack = [str(path)]
        while stack:  # scandir knows the entry types: no stat call per file
            folder = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = list(listing)
            except OSError as exc:
                if exc.errno == errno.ENAMETOOLONG:
                    refuse(folder, "path-too-long", f"a folder whose path is longer than the system's limit of "
                           f"{PATH_MAX} bytes: its files cannot be opened; move them to a shorter path",
                           limit=PATH_MAX)
                else:
                    refuse(folder, "unreadable-folder", f"the folder could not be listed: {exc.strerror}; its files "
                           "(if any) were not read. Give the build's user read and execute permission on it",
                           errno=exc.errno)
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    skip(entry.path, "hidden", "a hidden file or folder (name starts with '.'): editor and OS "
                         "litter, not a release")
                elif entry.is_symlink():
                    follow_link(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    take(entry.path, entry.path)
                else:
                    try:
                        mode = entry.stat(follow_symlinks=False).st_mode
                    except OSError:
                        mode = 0
                    classify_other(entry.path, mode)
    files = sorted((InputFile(target, relative_of(path)) for target, path in found), key=lambda f: f.relative)
    refused.sort(key=lambda problem: problem.path)
    skipped.sort(key=lambda entry: entry.path)
    return Discovery(root, files, refused, skipped, copyable)
