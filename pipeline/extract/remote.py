"""Inputs on object storage (``s3://bucket/prefix/``, ``gs://...``): listed and read through fsspec.

A build on a cluster sends its workers only each input's URL and relative path
(:class:`~pipeline.extract.discover.InputFile`); every worker reads the bytes
itself, where they live, with its own credentials (the environment, as s3fs and
gcsfs read it: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_PROFILE``,
an S3-compatible endpoint from ``FSSPEC_S3_ENDPOINT_URL`` or
``AWS_ENDPOINT_URL_S3``). Credentials never appear in a message or a report.

Every object under a prefix is accounted for as local discovery accounts for
files: a hidden name (any part of its key starting with ``.``) is skipped with
its reason; an object larger than ``max_input_bytes`` is quarantined unread by
:func:`pipeline.extract.decode.read_bytes` (its size comes from the listing).
``file://`` URLs are local paths (shared storage mounted at the same path on
every machine): they are discovered as folders are, with the same checks.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import unquote, urlsplit

from ..problems import UsageError
from .archive_inputs import archive_record_inputs, empty_account
from .discover import Discovery, InputFile, Skipped, is_url


class ObjectTooLarge(Exception):
    """An object over the size cap: not read (decode turns it into ``too-large``)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def local_path(url: str) -> Path | None:
    """The path of a ``file://`` URL (None for any other URL): read as a local input."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return None
    return Path(unquote(parts.path))


def split_inputs(paths: list[str | Path]) -> tuple[list[str | Path], list[str]]:
    """Local inputs (``file://`` URLs made paths) and object-storage URLs, in the order given."""
    local: list[str | Path] = []
    remote: list[str] = []
    for given in paths:
        if is_url(given):
            as_path = local_path(str(given))
            if as_path is not None:
                local.append(as_path)
            else:
                remote.append(str(given))
        else:
            local.append(given)
    return local, remote


def _filesystem(url: str) -> tuple[Any, str]:
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:  # an unknown protocol, or its package (gcsfs...) not installed
        raise UsageError(f"the input {url} cannot be read: {exc}",
                         "install the fsspec package of that protocol: pip install 'ogd-pipeline[cluster]' "
                         "for s3:// (s3fs), gcsfs for gs://") from None


def listed_stat(info: dict[str, Any]) -> tuple[int, int]:
    """An object's cache key from its listing: its size and a number made from its ETag (a new upload changes
    it), else from its modification time."""
    version = info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("LastModified") \
        or info.get("mtime") or info.get("updated") or ""
    return int(info.get("size") or 0), int(hashlib.sha256(str(version).encode("utf-8")).hexdigest()[:15], 16)


def discover_remote(urls: list[str], *, read_feeds: bool = False) -> Discovery:
    """Every object under ``urls`` (one protocol), sorted by the path below their common prefix; a URL that
    is a harvest archive (its ``index.sqlite3`` and ``warc/``) gives its records, as a local archive does
    (:mod:`pipeline.extract.archive_inputs`): the client reads the index, the workers the WARC records.

    Raises :class:`FileNotFoundError` for a URL under which nothing is stored (as for a path that does not
    exist), :class:`pipeline.problems.UsageError` for URLs of several protocols or an unknown protocol.
    """
    resolved = []
    for url in urls:
        fs, path = _filesystem(url)
        resolved.append((url, fs, path.rstrip("/")))
    protocols = {fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0] for _, fs, _ in resolved}
    if len(protocols) > 1:
        raise UsageError(f"inputs on several kinds of storage ({', '.join(sorted(protocols))}): a build reads one",
                         "copy them to one store, or build them as separate datasets")
    folders = []
    objects: list[tuple[Any, str, dict[str, Any]]] = []
    archives = [(url, fs, path) for url, fs, path in resolved if _is_remote_archive(fs, path)]
    if archives:
        return _discover_remote_archives(archives, resolved, read_feeds)
    for url, fs, path in resolved:
        try:
            fs.invalidate_cache(path)  # a listing cached by an earlier build of this process would hide changes
            found = fs.find(path, detail=True, withdirs=False)
        except FileNotFoundError:
            found = {}
        except OSError as exc:  # a bucket that refuses us, a store that does not answer: nothing can be built
            raise FileNotFoundError(f"input URL {url!r} cannot be listed: {exc}") from None
        if not found:
            raise FileNotFoundError(f"input URL {url!r} holds no object (nothing is stored under it)")
        single = list(found) == [path]  # the URL names one object, not a prefix
        folders.append(path.rsplit("/", 1)[0] if single else path)
        objects.extend((fs, key, info) for key, info in found.items())
    root = _common_prefix(folders)
    fs = resolved[0][1]
    files: list[InputFile] = []
    skipped: dict[str, Skipped] = {}
    seen: set[str] = set()
    for _, key, info in objects:
        if key in seen or info.get("type") == "directory" or key.endswith("/"):
            continue  # a "folder" marker object holds no release
        seen.add(key)
        relative = key[len(root) + 1:] if root else key
        parts = relative.split("/")
        hidden = next((index for index, part in enumerate(parts) if part.startswith(".")), None)
        if hidden is not None:
            # Like a hidden folder on disk, reported once (the first hidden part), its objects never read.
            shown = "/".join(parts[:hidden + 1])
            skipped.setdefault(shown, Skipped(shown, "hidden", "a hidden object or prefix (a name that starts "
                                                              "with '.'): editor and OS litter, not a release"))
            continue
        files.append(InputFile(fs.unstrip_protocol(key), relative, listed=listed_stat(info)))
    files.sort(key=lambda item: item.relative)
    return Discovery(fs.unstrip_protocol(root) if root else resolved[0][0], files, [],
                     sorted(skipped.values(), key=lambda entry: entry.path))


def _is_remote_archive(fs: Any, path: str) -> bool:
    try:
        return bool(fs.isfile(f"{path}/index.sqlite3") and fs.isdir(f"{path}/warc"))
    except Exception:  # noqa: BLE001 — a store that refuses the question holds no archive we can read
        return False


def _discover_remote_archives(archives: list[tuple[str, Any, str]], resolved: list[tuple[str, Any, str]],
                              read_feeds: bool) -> Discovery:
    """Harvest archives on object storage: each index copied to a temporary folder and read there; every
    input a record of a WARC file read where it lives."""
    if len(archives) != len(resolved):
        raise UsageError("inputs on object storage that mix harvest archives and other objects",
                         "build the archives and the other objects as separate inputs of separate builds")
    root = _common_prefix([path for _, _, path in archives])
    fs = archives[0][1]
    account = empty_account()
    not_inputs: Counter[str] = Counter()
    files: list[InputFile] = []
    for url, fs, path in archives:
        prefix = path[len(root) + 1:] + "/" if path != root else ""
        with TemporaryDirectory(prefix="ogd-archive-index-") as scratch:
            fs.get_file(f"{path}/index.sqlite3", str(Path(scratch) / "index.sqlite3"))
            files.extend(archive_record_inputs(Path(scratch), prefix, read_feeds, account, not_inputs,
                                         warc_base=fs.unstrip_protocol(f"{path}/warc")))
        account["archives"].append(url)
    account["not_inputs"] = dict(sorted(not_inputs.items()))
    found = Discovery(fs.unstrip_protocol(root) if root else archives[0][0], sorted(files, key=lambda i: i.relative))
    found.archive = account
    return found


def _common_prefix(paths: list[str]) -> str:
    split = [path.split("/") for path in paths]
    common = []
    for parts in zip(*split):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common)


def read_url(url: str, max_bytes: int | None, listed_size: int | None = None) -> bytes:
    """An object's bytes, read where it lives; :class:`ObjectTooLarge` when it is over ``max_bytes`` (by its
    listed size, unread; or when more than ``max_bytes`` come), :class:`OSError` when it cannot be read."""
    if max_bytes is not None and listed_size is not None and listed_size > max_bytes:
        raise ObjectTooLarge(listed_size)
    fs, path = _filesystem(url)
    try:
        if max_bytes is None:
            data = fs.cat_file(path)
        elif listed_size == 0 or listed_size is None:
            # A range of an empty object is refused (416): open it (its size first), read up to the cap.
            with fs.open(path, "rb") as handle:
                data = handle.read(max_bytes + 1)
        else:
            # One ranged GET: never more than the cap (+1, to tell an object that grew since the listing).
            data = fs.cat_file(path, start=0, end=max_bytes + 1)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 — botocore and aiohttp errors are no OSError: the input is unreadable
        raise OSError(f"{type(exc).__name__}: {exc}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise ObjectTooLarge(len(data))
    return bytes(data)
