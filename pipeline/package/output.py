"""The output folder of a build: may it be written at all, its lock, and the swap that puts a finished build in place.

A build never replaces a folder that holds an input, nor a folder it did not
write (unless forced); its staging, ``.previous`` and ``.failed`` folders are
touched only when a build wrote them. A build writes to a staging folder and
swaps it in with renames, so a build that dies leaves the previous package
intact (:func:`recover` undoes a swap cut short).
"""

from __future__ import annotations

import errno
import fcntl
import glob
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..problems import Busy, UsageError
from .layout import CHANGES_PATH, DESCRIPTOR_PATH, PACKAGE_ENTRIES, PARTS_DIR


def _entries(folder: Path) -> set[str]:
    with os.scandir(folder) as listing:
        return {entry.name for entry in listing}


def is_own_package(folder: Path, name: str) -> bool:
    """Whether ``folder`` is a package ``ogd build`` wrote for ``name``, holding nothing else.

    Its ``datapackage.json`` names the package, and it holds only the entries a
    build writes (a ``notes.txt`` added by hand makes it someone's folder).
    """
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        with open(folder / DESCRIPTOR_PATH, encoding="utf-8") as handle:
            descriptor = json.load(handle)
        entries = _entries(folder)
        data = _entries(folder / "data") if (folder / "data").is_dir() else set()
    except (OSError, ValueError):
        return False
    return (isinstance(descriptor, dict) and descriptor.get("name") == name and entries <= PACKAGE_ENTRIES
            and not (folder / "data").is_symlink()
            and all(entry.startswith("releases") or f"data/{entry}" in (CHANGES_PATH, PARTS_DIR) for entry in data))


def _is_staging_folder(folder: Path) -> bool:
    """A staging folder a build left: a real folder holding only what a build writes (or nothing yet)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        entries = _entries(folder)
    except OSError:
        return False
    return all(entry in PACKAGE_ENTRIES or entry.endswith(".tmp") for entry in entries)


def staging_folder(target: Path) -> Path:
    return target.parent / f".{target.name}.building-{os.getpid()}"


def previous_folder(target: Path) -> Path:
    return target.with_name(target.name + ".previous")


def failed_folder(target: Path) -> Path:
    return target.with_name(target.name + ".failed")


def lock_path(target: Path) -> Path:
    """Beside the package, hidden, never inside it: the lock outlives every swap of the folder."""
    return target.parent / f".{target.name}.lock"


def _relation(path: Path, other: Path) -> str | None:
    if path == other:
        return "is"
    if other.is_relative_to(path):
        return "contains"
    if path.is_relative_to(other):
        return "lies inside"
    return None


def check_output(target: Path, name: str, inputs: list[Path], *, force: bool = False,
                 also_written: list[Path] | None = None) -> None:
    """Refuse an output folder whose replacement would delete what ``ogd build`` did not write.

    ``target`` is resolved (a link given as --out is judged by what it points to).
    Never overridable: an output that is, contains or lies inside an input (nor
    may an input be one of the folders and files the build writes beside it:
    ``.previous``, ``.failed``, staging, lock, input cache). With ``force``: a
    non-empty folder that is not a previous package of ``name``.
    """

    written = [target, previous_folder(target), failed_folder(target), lock_path(target),
               target.parent / f".{target.name}.inputs.json", *(also_written or [])]
    for given in inputs:
        source = Path(given).resolve()
        for path in written:
            relation = _relation(path, source)
            if relation is not None:
                raise UsageError(
                    f"the output {path} {relation} the input {source}: a build replaces its output folder, "
                    "so the inputs would be deleted; nothing was written",
                    "choose an --out folder outside the input folders (for example a sibling folder)",
                )
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise UsageError(f"the output {target} is not a folder (a file or a link); nothing was written",
                         "give --out a folder path (new, empty, or a package written by ogd build)")
    if target.is_dir() and _entries(target) and not is_own_package(target, name):
        if not force:
            raise UsageError(
                f"the output folder {target} is not empty and is not a package named {name!r} written by ogd "
                "build (or holds files a build does not write); a build would replace it and delete its files",
                "choose another --out folder, or add --force to replace that folder and everything in it",
            )
    for kept in (previous_folder(target), failed_folder(target)):
        if (kept.exists() or kept.is_symlink()) and not (kept.is_dir() and not kept.is_symlink()
                                                         and (not _entries(kept) or is_own_package(kept, name))):
            raise UsageError(
                f"{kept} exists and is not a package named {name!r} written by ogd build; a build may replace "
                "that folder (it keeps the previous package there during the swap, and a rejected build there), "
                "so it would delete its files; nothing was written",
                f"rename or move {kept} and build again",
            )


@contextmanager
def output_lock(target: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` for a whole build; :class:`Busy` if another run holds it.

    The lock is the ``flock`` of a hidden file beside the folder (a folder that
    is swapped away cannot carry it). The kernel releases it when the holder
    dies, so a killed build never leaves a stale lock; the file stays.
    """

    path = lock_path(target)
    if path.is_symlink():
        raise _lock_is_a_link(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        # ELOOP: made a link since the check above. EACCES from a world-writable sticky folder
        # (fs.protected_symlinks) is also what a planted link gives there: name the link, not a permission.
        if exc.errno in (errno.ELOOP, errno.EACCES) and path.is_symlink():
            raise _lock_is_a_link(path) from None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise Busy(
                f"another ogd build{f' (pid {holder})' if holder.isdigit() else ''} is writing {target} "
                f"(it holds {path}); nothing was changed",
                "wait for it to finish and build again, or add --wait to wait for it",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _lock_is_a_link(path: Path) -> Exception:

    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return UsageError(
        f"the build's lock file {path} is a symbolic link (to {target!r}), not a file ogd build wrote; a build "
        "never opens or writes through a link there (it could overwrite the link's target); nothing was written",
        f"remove the link {path} (it is not part of any package) and build again",
    )


def publish_folder(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` so that a crash never leaves a half package.

    Both are renames within one parent folder. Between them the previous
    package sits at ``<target>.previous``; :func:`recover` puts it back if a
    run died right there. (:func:`check_output` made sure ``target`` and
    ``<target>.previous`` hold nothing the user would miss.)
    """
    previous = previous_folder(target)
    if previous.exists():
        shutil.rmtree(previous)
    if target.exists():
        os.rename(target, previous)
    os.rename(staging, target)
    if previous.exists():
        shutil.rmtree(previous)


def keep_failed(staging: Path, target: Path) -> Path:
    """Keep a rejected build as ``<target>.failed`` (replacing the last rejected one)."""
    failed = failed_folder(target)
    if failed.exists():
        shutil.rmtree(failed)
    os.rename(staging, failed)
    return failed


def recover(target: Path, name: str | None = None) -> None:
    """Undo an interrupted swap and clear stale staging folders of ``target``.

    Call it holding :func:`output_lock`: a staging folder then belongs to a
    build that died (a live build would hold the lock). Only folders that look
    like what a build writes are touched.
    """
    previous = previous_folder(target)
    if previous.is_dir() and not target.exists() and (name is None or is_own_package(previous, name)):
        os.rename(previous, target)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.building-*"):
        if _is_staging_folder(stale):
            shutil.rmtree(stale, ignore_errors=True)
