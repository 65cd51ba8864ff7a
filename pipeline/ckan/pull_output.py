"""The folder a pull writes: which --out folders it may replace, the lock on its staging folder, and the swap.

A pull never deletes what it did not write: ``--out DIR`` must be absent, empty, or a package of the same
dataset holding only package files (else ``force``); the current folder and its parents are refused. The
new copy is downloaded into ``.DIR.pulling`` beside DIR (locked, so that a second pull into DIR is refused)
and replaces the old copy only once it verified (:func:`swap_in`); a copy that does not verify is kept as
``DIR.unverified`` (:func:`keep_unverified`) and the old copy is untouched.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..package.layout import (
    CSV_PATH,
    DESCRIPTOR_PATH,
    PARQUET_PATH,
    QUARANTINE_FILES,
    QUARANTINE_PATH,
    REPORT_PATH,
)
from ..problems import Busy, OutputError, UsageError
from ..spreadsheet import SPREADSHEET_PATH

# Files a build or a pull writes into a package folder (plus the paths its datapackage.json names): an
# existing --out folder holding anything else holds something of the user's, and a pull would delete it.
PACKAGE_FILES = {DESCRIPTOR_PATH, REPORT_PATH, QUARANTINE_PATH, CSV_PATH, PARQUET_PATH, SPREADSHEET_PATH}


def unverified_folder(out: Path) -> Path:
    """Where a download that did not verify is kept (the old copy in ``out`` stays as it was)."""
    return out.with_name(out.name + ".unverified")


def _staging_folder(out: Path) -> Path:
    return out.with_name(f".{out.name}.pulling")


def _replaced_folder(out: Path) -> Path:
    return out.with_name(f".{out.name}.replaced")


def descriptor_name(folder: Path) -> str | None:
    try:
        descriptor = json.loads((folder / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = descriptor.get("name") if isinstance(descriptor, dict) else None
    return name if isinstance(name, str) and name else None


def foreign_files(folder: Path) -> list[str]:
    """Files in a package folder that neither a build nor a pull writes (relative paths, sorted)."""
    owned = set(PACKAGE_FILES)
    try:
        descriptor = json.loads((folder / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
        for resource in descriptor.get("resources", []) if isinstance(descriptor, dict) else []:
            if isinstance(resource, dict) and isinstance(resource.get("path"), str):
                owned.add(resource["path"])
    except (OSError, ValueError):
        pass
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        relative = path.relative_to(folder).as_posix()
        if relative not in owned and not relative.startswith(QUARANTINE_FILES + "/"):
            found.append(relative)
    return found


def check_out_folder(out: Path, *, force: bool = False, cwd: Path | None = None) -> None:
    """Refuse an --out folder a pull could not replace without losing something of the user's.

    Checked before any request; the dataset name is compared later, once the
    new ``datapackage.json`` is known (:func:`check_same_dataset`).
    """
    here = (cwd or Path.cwd()).resolve()
    target = out.resolve()
    if target == here or target in here.parents:
        what = f"the current folder ({here})" if target == here else f"a parent of the current folder ({here})"
        raise UsageError(
            f"--out {out} is {what}: a pull replaces its --out folder as a whole, so it never writes into the "
            "folder you are in or one that contains it (not even with --force)",
            "pull into a new folder, e.g. --out ./NAME, and cd into it afterwards")
    if out.is_symlink():
        raise UsageError(f"--out {out} is a symbolic link: a pull would replace the link, not the folder it points to",
                         f"give the folder itself: --out {target}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder", "give a folder to write the package to")
    if force or not out.is_dir() or not any(out.iterdir()):
        return
    if descriptor_name(out) is None:
        raise UsageError(
            f"--out {out} is not empty and is not a data package (no readable datapackage.json with a name): "
            "a pull replaces the whole folder, which would delete its files",
            "give a new or empty folder, or add --force to replace this folder and everything in it")
    extra = foreign_files(out)
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise UsageError(
            f"--out {out} holds files that are not part of a data package ({shown}): a pull replaces the whole "
            "folder, which would delete them",
            "move them out of the folder, give another --out, or add --force to replace everything in it")


def check_same_dataset(out: Path, dataset_name: str, package_name: str | None, force: bool) -> None:
    if force or not out.is_dir() or not any(out.iterdir()):
        return
    existing = descriptor_name(out)
    if existing not in {dataset_name, package_name}:
        raise UsageError(
            f"--out {out} holds the package {existing!r}, not dataset {dataset_name!r}"
            + (f" (package {package_name!r})" if package_name and package_name != dataset_name else "")
            + ": a pull replaces a previous copy of the same dataset only",
            "give another --out, or add --force to replace that package")


@dataclass
class Staging:
    """``.DIR.pulling``, locked (flock) so that a second pull into the same DIR is refused, not interleaved."""

    path: Path
    descriptor: int

    def release(self) -> None:
        os.close(self.descriptor)


def lock_staging(out: Path) -> Staging:
    staging = _staging_folder(out)
    for _ in range(5):  # the folder can be renamed away between mkdir and lock by a pull that just finished
        try:
            staging.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise OutputError(f"cannot create the staging folder {staging}: {error.strerror}",
                              "check that the folder beside --out is writable and has free space") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise Busy(f"another ogd pull is writing {out} (its staging folder {staging} is locked)",
                       "wait for it to finish, or pull into another --out") from None
        try:
            same = os.path.samestat(os.fstat(descriptor), os.stat(staging))
        except FileNotFoundError:
            same = False
        if same:
            # Left by a pull that died (we hold its lock now): our own folder, cleared for this run.
            for leftover in list(staging.iterdir()):
                shutil.rmtree(leftover) if leftover.is_dir() and not leftover.is_symlink() else leftover.unlink()
            return Staging(staging, descriptor)
        os.close(descriptor)
    raise Busy(f"the staging folder {staging} keeps changing: another ogd pull is writing {out}",
               "wait for it to finish, or pull into another --out")


def recover_swap(out: Path) -> None:
    """Finish or undo a swap a killed pull left half done (we hold the staging lock)."""
    replaced = _replaced_folder(out)
    if replaced.exists():
        if out.exists():
            shutil.rmtree(replaced)
        else:
            os.rename(replaced, out)


def swap_in(staging: Path, out: Path) -> bool:
    """Replace ``out`` by the verified ``staging``; True when a previous copy was replaced."""
    replaced = _replaced_folder(out)
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()  # an empty folder: nothing to keep
    previous = out.exists()
    if previous:
        os.rename(out, replaced)
    os.rename(staging, out)
    if previous:
        shutil.rmtree(replaced)
    return previous


def keep_unverified(staging: Path, out: Path) -> Path:
    """Move the download that did not verify to ``DIR.unverified`` (replacing only an earlier one of ours)."""
    kept = unverified_folder(out)
    if os.path.lexists(kept) and (kept.is_symlink() or not kept.is_dir() or foreign_files(kept)):
        number = 2
        while os.path.lexists(kept.with_name(f"{kept.name}-{number}")):
            number += 1
        kept = kept.with_name(f"{kept.name}-{number}")
    elif kept.exists():
        shutil.rmtree(kept)
    os.rename(staging, kept)
    return kept
