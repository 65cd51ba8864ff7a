"""Pull: download a dataset from any CKAN as a local data package, and verify it.

Every file is checked against the portal's metadata (``size`` and, where the
publisher kept one, ``hash``) and against the hashes inside the downloaded
``datapackage.json``; then the package is validated with Frictionless. A
package pulled from a portal that ogd-pipeline published to equals the
published one byte for byte.

Safety (issue #11):

* the tool never deletes what it did not write: ``--out DIR`` must be absent,
  empty, or a package of the same dataset holding only package files (else
  ``force``); the current folder and its parents are refused;
* the new copy is downloaded into ``.DIR.pulling`` beside DIR and replaces the
  old copy only once it verified; a copy that does not verify is kept as
  ``DIR.unverified`` and the old copy is untouched; a failed download leaves
  no staging folder;
* the API token is sent only to the portal's own origin (scheme, host, port),
  never to a resource URL elsewhere nor across a redirect;
* downloads are retried like API calls (connection errors, timeouts, 429,
  5xx) and stop when a server sends far more than the size it declared.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import urljoin, urlsplit

import ckanapi
import requests

from ..package.layout import (
    CSV_PATH,
    DESCRIPTOR_PATH,
    PARQUET_PATH,
    QUARANTINE_FILES,
    QUARANTINE_PATH,
    REPORT_PATH,
)
from ..problems import (
    AuthError,
    Busy,
    DataError,
    OutputError,
    PortalUnavailable,
    UsageError,
)
from ..retry import TRANSIENT_STATUS, parse_retry_after
from ..spreadsheet import SPREADSHEET_PATH
from ..validate.reference import validate_package
from .client import PortalClient, TransientHTTPError
from .progress import Progress, no_progress
from .resources import RESOURCES, SPREADSHEET_KEY, resources_by_key

# A server may add a little (a header, a trailing newline re-encoded) but not fill the disk: past the declared
# size plus this margin, a download is stopped and the pull fails.
SIZE_MARGIN = 1 << 20
MAX_REDIRECTS = 5
CHUNK = 1 << 20
# Files a build or a pull writes into a package folder (plus the paths its datapackage.json names): an
# existing --out folder holding anything else holds something of the user's, and a pull would delete it.
PACKAGE_FILES = {DESCRIPTOR_PATH, REPORT_PATH, QUARANTINE_PATH, CSV_PATH, PARQUET_PATH, SPREADSHEET_PATH}
RETRIABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, TransientHTTPError)


@dataclass
class PullResult:
    dataset: str
    folder: Path
    files: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # resources of the dataset that are not part of the package
    validation: dict[str, Any] = field(default_factory=dict)
    replaced_previous: bool = False  # a previous copy in --out was replaced by this verified one

    @property
    def ok(self) -> bool:
        return not self.mismatches and bool(self.validation.get("valid"))

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "folder": str(self.folder), "ok": self.ok, "files": self.files,
                "mismatches": self.mismatches, "skipped": self.skipped, "replaced_previous": self.replaced_previous,
                "validation": {k: self.validation.get(k) for k in ("valid", "error_count", "errors")}}


# --------------------------------------------------------------------------- the output folder


def unverified_folder(out: Path) -> Path:
    """Where a download that did not verify is kept (the old copy in ``out`` stays as it was)."""
    return out.with_name(out.name + ".unverified")


def _staging_folder(out: Path) -> Path:
    return out.with_name(f".{out.name}.pulling")


def _replaced_folder(out: Path) -> Path:
    return out.with_name(f".{out.name}.replaced")


def _descriptor_name(folder: Path) -> str | None:
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
    new ``datapackage.json`` is known (:func:`_check_same_dataset`).
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
    if _descriptor_name(out) is None:
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


def _check_same_dataset(out: Path, dataset_name: str, package_name: str | None, force: bool) -> None:
    if force or not out.is_dir() or not any(out.iterdir()):
        return
    existing = _descriptor_name(out)
    if existing not in {dataset_name, package_name}:
        raise UsageError(
            f"--out {out} holds the package {existing!r}, not dataset {dataset_name!r}"
            + (f" (package {package_name!r})" if package_name and package_name != dataset_name else "")
            + ": a pull replaces a previous copy of the same dataset only",
            "give another --out, or add --force to replace that package")


@dataclass
class _Staging:
    """``.DIR.pulling``, locked (flock) so that a second pull into the same DIR is refused, not interleaved."""

    path: Path
    descriptor: int

    def release(self) -> None:
        os.close(self.descriptor)


def _lock_staging(out: Path) -> _Staging:
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
            return _Staging(staging, descriptor)
        os.close(descriptor)
    raise Busy(f"the staging folder {staging} keeps changing: another ogd pull is writing {out}",
               "wait for it to finish, or pull into another --out")


def _recover_swap(out: Path) -> None:
    """Finish or undo a swap a killed pull left half done (we hold the staging lock)."""
    replaced = _replaced_folder(out)
    if replaced.exists():
        if out.exists():
            shutil.rmtree(replaced)
        else:
            os.rename(replaced, out)


def _swap_in(staging: Path, out: Path) -> bool:
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


def _keep_unverified(staging: Path, out: Path) -> Path:
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


# --------------------------------------------------------------------------- talking to the portal


def _show_dataset(client: PortalClient, name: str, token_given: bool) -> dict[str, Any]:
    try:
        dataset = client.call_action("package_show", {"id": name})
    except ckanapi.NotFound:
        hint = "check the name (the last part of its /dataset/ URL)"
        if not token_given:
            hint += "; a private dataset is not shown without a token: --token-env NAME_OF_A_VARIABLE (or CKAN_API_TOKEN)"
        raise DataError(f"no dataset {name!r} on {client.url}", hint) from None
    except ckanapi.NotAuthorized:
        if token_given:
            raise AuthError(f"dataset {name!r} on {client.url} is private and this token may not read it",
                            "use the token of a member of the dataset's organization") from None
        raise AuthError(f"dataset {name!r} on {client.url} is private: pulling it needs an API token",
                        "put a token of a member of its organization in an environment variable and give "
                        "--token-env NAME (or export CKAN_API_TOKEN)") from None
    except ckanapi.CKANAPIError as error:  # CKAN's own error answer, of a type ckanapi does not know
        raise PortalUnavailable(client.scrub(f"the portal at {client.url} answered an error to package_show of "
                                             f"{name!r}: {str(error)[:300]}"),
                                f"see the portal's logs; {client.rerun_note}") from None
    if not isinstance(dataset, dict) or not isinstance(dataset.get("resources"), list) \
            or not all(isinstance(r, dict) for r in dataset["resources"]):
        raise client.not_ckan("package_show")  # JSON, but not a CKAN dataset: the client's one check
    return dataset


def _declared_size(value: Any) -> int | None:
    try:
        size = int(value)
    except (TypeError, ValueError):
        return None
    return size if size >= 0 else None


class _TooLarge(Exception):
    """The server sent (or announced) more than the declared size allows."""


class _HTTPRefused(Exception):
    """A final, non-transient HTTP status for a download (404, 403...)."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status, self.url = status, url


T = TypeVar("T")


def _with_retries(client: PortalClient, attempt_once: Callable[[], T]) -> T:
    """Run ``attempt_once`` with the client's retry policy (attempts, backoff, deadline) on transient failures.

    The error that ended the retries gets ``attempts`` (how many were made) for the message.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return attempt_once()
        except RETRIABLE as error:
            wait = client.next_wait(attempt, error)  # the one retry policy, for API calls and downloads alike
            if wait is None:
                error.attempts = attempt  # type: ignore[union-attr]
                raise
            time.sleep(wait)


def _fetch(client: PortalClient, url: str, target: Path, limit: int | None,
           on_bytes: Callable[[int], None]) -> tuple[int, str]:
    """One attempt: GET ``url`` (redirects followed by hand, the token only on the portal's origin) into ``target``."""
    send_token = bool(client.apikey)
    for _ in range(MAX_REDIRECTS + 1):
        # Once a hop leaves the portal's origin the token is never sent again, even if a redirect comes back.
        send_token = send_token and client.on_portal_origin(url)
        headers = {"Authorization": client.apikey} if send_token else {}
        client.http_requests += 1
        with client.session.get(url, headers=headers, stream=True, timeout=client.request_timeout(),
                                allow_redirects=False) as response:
            if response.is_redirect and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                if urlsplit(url).scheme not in ("http", "https"):
                    raise DataError(f"a download was redirected to {url}, which is not an http(s) URL")
                continue
            if response.status_code in TRANSIENT_STATUS:
                raise TransientHTTPError(response.status_code, url, parse_retry_after(response.headers.get("Retry-After")))
            if response.status_code != 200:
                raise _HTTPRefused(response.status_code, url)
            length = _declared_size(response.headers.get("Content-Length"))
            if limit is not None and length is not None and length > limit:
                raise _TooLarge(length)
            digest = hashlib.sha256()
            size = 0
            with open(target, "wb") as handle:
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise _TooLarge(size)
                    handle.write(chunk)
                    digest.update(chunk)
                    on_bytes(size)
            return size, digest.hexdigest()
    raise DataError(f"downloading {url} was redirected more than {MAX_REDIRECTS} times")


def download(client: PortalClient, resource: dict[str, Any], path: str, target: Path,
             described_size: int | None = None, on_bytes: Callable[[int], None] = lambda _: None) -> tuple[int, str]:
    """Download one resource file with the client's retry policy; return (bytes, sha256 hex).

    The size the portal declares (else ``described_size``, from datapackage.json) bounds what is accepted.
    ``on_bytes`` receives the bytes of this file received so far (a retry starts again from 0).
    """
    url = resource.get("url")
    label = f"resource {resource.get('name') or path!r} ({path})"
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise DataError(f"{label} has no http(s) download URL ({url!r})",
                        "the dataset's resource must be an uploaded file or an http(s) link")
    declared, declarer = _declared_size(resource.get("size")), "the portal declares"
    if declared is None:
        declared, declarer = described_size, "its datapackage.json declares"
    limit = None if declared is None else declared + SIZE_MARGIN
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _with_retries(client, lambda: _fetch(client, url, target, limit, on_bytes))
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
        raise PortalUnavailable(
            f"downloading {label} from {origin_text(url)} failed ({type(error).__name__}); "
            f"{client.gave_up_when(error, error.attempts)}",
            "check that the portal is up and reachable, then pull again (nothing was changed in --out)") from None
    except TransientHTTPError as error:
        raise PortalUnavailable(
            f"downloading {label} from {origin_text(url)} kept answering HTTP {error.status}; "
            f"{client.gave_up_when(error, error.attempts)}",
            "the server is overloaded or failing; pull again later (nothing was changed in --out)") from None
    except _TooLarge as error:
        raise DataError(
            f"{label}: the server sent at least {error.args[0]} bytes, far more than the {declared} bytes {declarer}; "
            "the download was stopped", "the file on the portal is not the published one; tell its publisher") from None
    except _HTTPRefused as error:
        if error.status in (401, 403):
            raise AuthError(f"{label}: HTTP {error.status} from {origin_text(error.url)}: the file may not be read "
                            "with this token (or without one)",
                            "give the token of a member of the dataset's organization with --token-env NAME") from None
        raise DataError(f"{label}: HTTP {error.status} from {error.url}: the file the portal lists cannot be downloaded",
                        "the dataset is incomplete on the portal; tell its publisher") from None
    except requests.RequestException as error:  # an invalid URL and the like: the resource's fault
        raise DataError(f"{label}: cannot download {url!r} ({type(error).__name__})") from None


def origin_text(url: str) -> str:
    """scheme://host[:port] of a URL: where a download went, without its path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


# --------------------------------------------------------------------------- the pull


def _ordered_resources(dataset: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(ogd_key, path, resource) of the package files, datapackage.json first: its name is checked against --out
    before the big files, and it says whether the package has a spreadsheet file."""
    by_key = resources_by_key(dataset)
    ordered = sorted(RESOURCES, key=lambda entry: entry[1] != DESCRIPTOR_PATH)
    for key, path, *_ in ordered:
        for resource in by_key.get(key, [])[:1]:
            yield key, path, resource


def _spreadsheet_entry(staging: Path) -> dict[str, Any] | None:
    """x_ogd.spreadsheet of the downloaded datapackage.json ({path, bytes, hash, ...}), or None (an older package)."""
    try:
        descriptor = json.loads((staging / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
        entry = descriptor["x_ogd"]["spreadsheet"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return entry if isinstance(entry, dict) else None


def _described_sizes(staging: Path) -> dict[str, int]:
    """{path: bytes} as the downloaded datapackage.json declares them (a bound for servers that declare none)."""
    try:
        descriptor = json.loads((staging / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
        resources = descriptor.get("resources", [])
        sizes = {r["path"]: _declared_size(r.get("bytes") or r.get("x_bytes")) for r in resources
                 if isinstance(r, dict) and isinstance(r.get("path"), str)}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
    spreadsheet = _spreadsheet_entry(staging)
    if spreadsheet is not None:
        sizes[SPREADSHEET_PATH] = _declared_size(spreadsheet.get("bytes"))
    return {path: size for path, size in sizes.items() if size is not None}


def _verify_against_descriptor(staging: Path, result: PullResult) -> bool:
    """Compare the files with datapackage.json; False when it names files we did not download (not validated then)."""
    try:
        descriptor = json.loads((staging / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        result.mismatches.append(f"{DESCRIPTOR_PATH}: not readable JSON ({type(error).__name__})")
        return False
    declared_resources = descriptor.get("resources") if isinstance(descriptor, dict) else None
    if not isinstance(declared_resources, list):
        result.mismatches.append(f"{DESCRIPTOR_PATH}: no list of resources")
        return False
    downloaded = {entry["path"]: entry for entry in result.files}
    complete = True
    for declared in declared_resources:
        path = declared.get("path") if isinstance(declared, dict) else None
        entry = downloaded.get(path) if isinstance(path, str) else None
        if entry is None:
            # Also keeps Frictionless from opening a path or URL the descriptor names outside the package.
            result.mismatches.append(f"{path!r}: named in datapackage.json but not a resource of the dataset")
            complete = False
            continue
        expected_hash = declared.get("hash") or declared.get("x_hash")
        expected_bytes = declared.get("bytes") or declared.get("x_bytes")
        if expected_hash and str(expected_hash).removeprefix("sha256:") != entry["sha256"]:
            result.mismatches.append(f"{path}: sha256 differs from datapackage.json")
        if expected_bytes and _declared_size(expected_bytes) != entry["bytes"]:
            result.mismatches.append(f"{path}: size differs from datapackage.json")
    spreadsheet = _spreadsheet_entry(staging)
    if spreadsheet is not None:
        # Not a Frictionless resource (its values are deliberately not the exact ones): checked here, by x_ogd.
        entry = downloaded.get(SPREADSHEET_PATH)
        if spreadsheet.get("path") != SPREADSHEET_PATH:
            result.mismatches.append(f"x_ogd.spreadsheet in {DESCRIPTOR_PATH} names {spreadsheet.get('path')!r}, "
                                     f"not {SPREADSHEET_PATH!r}")
        elif entry is None:
            result.mismatches.append(f"{SPREADSHEET_PATH}: named in datapackage.json (x_ogd.spreadsheet) but not a "
                                     "resource of the dataset")
        else:
            if str(spreadsheet.get("hash") or "").removeprefix("sha256:") != entry["sha256"]:
                result.mismatches.append(f"{SPREADSHEET_PATH}: sha256 differs from datapackage.json (x_ogd.spreadsheet)")
            if _declared_size(spreadsheet.get("bytes")) != entry["bytes"]:
                result.mismatches.append(f"{SPREADSHEET_PATH}: size differs from datapackage.json (x_ogd.spreadsheet)")
    return complete


def pull_dataset(client: PortalClient, name: str, out: Path, *, force: bool = False,
                 progress: Progress = no_progress) -> PullResult:
    """Download dataset ``name`` into ``out`` and verify it; ``out`` is replaced only by a verified copy.

    A copy that does not verify is kept in ``DIR.unverified`` (``result.folder``). ``progress`` receives the
    bytes downloaded, of the sizes the portal declares (0: not declared).
    """
    check_out_folder(out, force=force)  # with the path as given: the messages quote what the user typed
    out = Path(os.path.abspath(out))
    dataset = _show_dataset(client, name, bool(client.apikey))
    if not resources_by_key(dataset).get("datapackage"):
        raise DataError(f"dataset {name!r} has no datapackage.json resource: it was not published as a data package",
                        "only datasets published by ogd-pipeline (or with a datapackage.json resource) can be pulled")
    staging = _lock_staging(out)
    moved = False
    try:
        _recover_swap(out)
        result = PullResult(name, out)
        described: dict[str, int] = {}
        total = sum(_declared_size(resource.get("size")) or 0 for _, _, resource in _ordered_resources(dataset))
        done = 0
        for key, path, resource in _ordered_resources(dataset):
            if key == SPREADSHEET_KEY and _spreadsheet_entry(staging.path) is None:
                # The package (datapackage.json, downloaded first) has no spreadsheet file: not part of it.
                result.skipped.append(f"{resource.get('name') or path}: a resource of the dataset that "
                                      "datapackage.json does not describe (x_ogd.spreadsheet); not downloaded")
                continue
            size, digest = download(client, resource, path, staging.path / path, described.get(path),
                                    on_bytes=lambda received, before=done: progress("bytes", before + received, total))
            done += size
            if path == DESCRIPTOR_PATH:
                _check_same_dataset(out, str(dataset.get("name") or name), _descriptor_name(staging.path), force)
                described = _described_sizes(staging.path)
            result.files.append({"path": path, "bytes": size, "sha256": digest, "resource_id": resource.get("id")})
            declared = resource.get("size")
            if declared not in (None, "") and _declared_size(declared) != size:
                result.mismatches.append(f"{path}: {size} bytes downloaded, the portal says {declared}")
            portal_hash = str(resource.get("hash") or "")
            if portal_hash and portal_hash.removeprefix("sha256:") != digest:
                result.mismatches.append(f"{path}: sha256 {digest} differs from the portal's hash {portal_hash}")
        if _verify_against_descriptor(staging.path, result):
            result.validation = validate_package(staging.path)
        else:
            result.validation = {"valid": False, "error_count": 0, "errors": [],
                                 "skipped": "datapackage.json does not describe the downloaded files"}
        try:
            if result.ok:
                check_out_folder(out, force=force)  # again: files may have been added to DIR while we downloaded
                result.replaced_previous = _swap_in(staging.path, out)
            else:
                result.folder = _keep_unverified(staging.path, out)
        except OSError as error:
            raise OutputError(f"cannot move the pulled package into place at {out}: {error.strerror}",
                              "check the folder's permissions and free space") from None
        moved = True
        return result
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT):
            raise OutputError(f"cannot write the pulled files beside {out}: {error.strerror}",
                              "free some space or choose a writable --out") from None
        raise
    finally:
        if not moved:
            shutil.rmtree(staging.path, ignore_errors=True)  # a failed pull leaves nothing behind
        staging.release()
