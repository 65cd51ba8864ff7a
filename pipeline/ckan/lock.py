"""Locks that serialise publishes of one dataset: one the portal sees, and one per machine.

Two publishes of the same dataset at once would each create the resources
the other has not yet created (two per file). So a publish takes, before its
first write:

* a **local lock** (``fcntl.flock`` on a file named after the portal and the
  dataset, in a per-user folder): a second publish on this machine waits for
  the first and then finds its work done;
* a **portal lock**: the dataset field (extra) ``ogd_publish_lock`` =
  ``<holder-uuid> <expiry UTC ISO time> <host-id> <pid>``, written with
  ``package_revise`` matched on the ``metadata_modified`` just read (a
  compare-and-set: CKAN reads the dataset ``FOR UPDATE``), then re-read to
  confirm. A dataset that does not exist yet is created with the lock in it,
  so ``package_create``'s name uniqueness decides the first holder.

A live lock of another holder is waited for (a bound, then :class:`Busy`,
exit 7); an expired lock, or one held by a process of this machine that is
gone (a killed run), is taken over with a message. The lock is removed at the
end, also when the publish fails. ``host-id`` is a hash of the host name: the
lock is public metadata while it is held.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import os
import socket
import stat
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import ckanapi

from ..problems import Busy, OutputError, PortalRejected
from .client import PortalClient

LOCK_FIELD = "ogd_publish_lock"
DEFAULT_TTL = 900.0  # seconds a lock stays live without renewal; renewed while the publish works
DEFAULT_WAIT = 120.0  # seconds a publish waits for another holder before exit 7
POLL = 1.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def host_id() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12]


@dataclass(frozen=True)
class LockValue:
    holder: str
    expires: dt.datetime
    host: str
    pid: int

    def render(self) -> str:
        return f"{self.holder} {self.expires.strftime('%Y-%m-%dT%H:%M:%SZ')} {self.host} {self.pid}"

    @classmethod
    def parse(cls, text: str | None) -> "LockValue | None":
        """The lock in a field value; None for no lock. A value we cannot read counts as expired (taken over)."""
        if not text or not text.strip():
            return None
        parts = text.split()
        try:
            expires = dt.datetime.strptime(parts[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
            return cls(parts[0], expires, parts[2] if len(parts) > 2 else "", int(parts[3]) if len(parts) > 3 else 0)
        except (IndexError, ValueError):
            return cls(parts[0], dt.datetime.min.replace(tzinfo=dt.timezone.utc), "", 0)

    def expired(self) -> bool:
        return self.expires <= _now()

    def holder_gone(self) -> bool:
        """A holder on this machine whose process no longer runs (a killed or crashed publish)."""
        if self.host != host_id() or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def describe(self) -> str:
        return f"holder {self.holder[:8]} (process {self.pid}), until {self.expires.strftime('%Y-%m-%d %H:%M:%S')} UTC"


def lock_of(dataset: dict[str, Any] | None) -> LockValue | None:
    for extra in (dataset or {}).get("extras", []) or []:
        if extra.get("key") == LOCK_FIELD:
            return LockValue.parse(extra.get("value"))
    return None


def extras_with_lock(extras: list[dict[str, Any]] | None, value: str | None) -> list[dict[str, Any]]:
    """The dataset's extras with our lock field set to ``value`` (removed for None), the others kept."""
    kept = [{"key": e["key"], "value": e["value"]} for e in (extras or []) if e.get("key") != LOCK_FIELD]
    return kept + ([{"key": LOCK_FIELD, "value": value}] if value is not None else [])


class PortalLock:
    """One publisher's hold on a dataset's ``ogd_publish_lock`` field (see the module docstring)."""

    def __init__(self, client: PortalClient, name: str, *, ttl: float = DEFAULT_TTL, wait: float = DEFAULT_WAIT,
                 say: Callable[[str], None] = lambda _: None) -> None:
        self.client, self.name, self.ttl, self.wait, self.say = client, name, ttl, wait, say
        self.holder = uuid.uuid4().hex
        self.value = self._new_value()
        self.held = False

    def _new_value(self) -> LockValue:
        return LockValue(self.holder, _now() + dt.timedelta(seconds=self.ttl), host_id(), os.getpid())

    def owns(self, dataset: dict[str, Any] | None) -> bool:
        current = lock_of(dataset)
        return current is not None and current.holder == self.holder

    def acquire(self) -> dict[str, Any]:
        """Hold the lock of the existing dataset; returns the dataset as read after confirming the hold."""
        give_up_at = time.monotonic() + self.wait
        announced = written = False
        while True:
            dataset = self.client.call_action("package_show", {"id": self.name})
            if self.owns(dataset):
                self.held = True
                return dataset
            current = lock_of(dataset)
            if current is not None and not current.expired() and not current.holder_gone():
                if time.monotonic() >= give_up_at:
                    raise Busy(
                        f"another publish of dataset {self.name!r} on {self.client.url} holds its lock "
                        f"({current.describe()}); nothing was changed",
                        "wait for it to finish and run again (a crashed run's lock expires at the time shown; "
                        "--lock-wait SECONDS waits longer)",
                    )
                if not announced:
                    self.say(f"{self.name}: waiting for another publish ({current.describe()})")
                    announced = True
                time.sleep(min(POLL, max(give_up_at - time.monotonic(), 0.05)))
                continue
            if current is None and written:
                raise PortalRejected(
                    f"the portal at {self.client.url} does not keep the dataset field {LOCK_FIELD} (an extra) of "
                    f"{self.name!r}, so publishes of it cannot be serialised; nothing else was changed",
                    {"extras": [f"{LOCK_FIELD} was written but not kept"]},
                    "allow free extras in the portal's dataset schema (ckanext-scheming keeps them by default)")
            if time.monotonic() >= give_up_at + self.wait + 30:
                raise Busy(f"the publish lock of {self.name!r} kept changing hands on {self.client.url}",
                           "run again when the other publishes have finished")
            if current is not None:
                why = "expired" if current.expired() else "left by a process of this machine that is gone"
                self.say(f"{self.name}: taking over a publish lock {why} ({current.describe()})")
            written = self._compare_and_set(dataset, self.value.render())

    def _compare_and_set(self, dataset: dict[str, Any], value: str | None) -> bool:
        """Write the lock field unless the dataset changed since ``dataset`` was read; True when written."""
        try:
            self.client.call_action("package_revise", {
                "match": {"id": dataset["id"], "metadata_modified": dataset["metadata_modified"]},
                # package_revise merges lists item by item: drop the extras, then give them all again.
                "filter": ["-extras"],
                "update": {"extras": extras_with_lock(dataset.get("extras"), value)},
            })
            return True
        except ckanapi.ValidationError:
            return False  # someone wrote in between: read again

    def renew(self) -> None:
        """Push the expiry forward when half the time is used (a long upload or upsert)."""
        if not self.held or (self.value.expires - _now()).total_seconds() > self.ttl / 2:
            return
        for _ in range(5):
            dataset = self.client.call_action("package_show", {"id": self.name})
            if not self.owns(dataset):
                raise Busy(f"the publish lock of {self.name!r} was taken over by another publish while this one "
                           "worked (it had expired)", "run again; a lock expires after --lock-ttl seconds")
            renewed = self._new_value()
            if self._compare_and_set(dataset, renewed.render()):
                self.value = renewed
                return

    def release(self) -> None:
        """Remove our lock field (never another holder's); a failure only leaves a lock that expires."""
        if not self.held:
            return
        try:
            for _ in range(5):
                dataset = self.client.call_action("package_show", {"id": self.name})
                if not self.owns(dataset) or self._compare_and_set(dataset, None):
                    break
        except Exception as error:  # noqa: BLE001 — the publish's own outcome matters more than the unlock
            self.say(f"{self.name}: could not remove the publish lock ({type(error).__name__}); it expires at "
                     f"{self.value.expires.strftime('%Y-%m-%d %H:%M:%S')} UTC")
        self.held = False


def lock_folder() -> Path:
    """A folder only this user can write: OGD_LOCK_DIR, or ``ogd-locks-<uid>`` in the system's temporary folder.

    The temporary folder is shared by every local user, who could create our
    folder first (0777, with a symbolic link or a held lock file inside). So a
    missing folder is created 0700, and an existing one is used only when it
    is a real folder (no link), owned by this user and writable by no one
    else; anything else is refused (exit 8) rather than repaired, since it is
    not ours to change.
    """
    configured = os.environ.get("OGD_LOCK_DIR")
    folder = Path(configured) if configured else Path(tempfile.gettempdir()) / f"ogd-locks-{os.getuid()}"
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass  # checked below, whoever made it
    except OSError as error:
        raise OutputError(f"cannot create the publish lock folder {folder}: {error.strerror}",
                          "set OGD_LOCK_DIR to a folder of yours that only you can write") from None
    return folder


def _open_lock_folder(folder: Path) -> int:
    """A descriptor of ``folder`` after checking, on that very descriptor, that only this user can write it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        why = "it is a symbolic link" if error.errno in (errno.ELOOP, errno.ENOTDIR) and folder.is_symlink() else (
            "it is not a folder" if error.errno == errno.ENOTDIR else error.strerror)
        raise OutputError(f"refusing the publish lock folder {folder}: {why}",
                          "remove it if it is yours, or set OGD_LOCK_DIR to a folder of yours that only you can "
                          "write (e.g. ~/.cache/ogd-locks)") from None
    info = os.fstat(descriptor)
    problem = ""
    if info.st_uid != os.getuid():
        owner = _user_name(info.st_uid)
        problem = f"it belongs to {owner}, not to you: another user may have planted it"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"others may write in it (mode {stat.S_IMODE(info.st_mode):o})"
    if problem:
        os.close(descriptor)
        raise OutputError(f"refusing the publish lock folder {folder}: {problem}",
                          "remove it (or, if it is yours, chmod 700 it), or set OGD_LOCK_DIR to a folder of yours "
                          "that only you can write (e.g. ~/.cache/ogd-locks)")
    return descriptor


def _user_name(uid: int) -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def open_lock_file(folder: Path, name: str) -> int:
    """Open (create 0600) the lock file ``name`` in ``folder``, never through a symbolic link."""
    folder_descriptor = _open_lock_folder(folder)
    try:
        descriptor = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=folder_descriptor)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OutputError(f"refusing the publish lock file {folder / name}: it is a symbolic link (not made by "
                              "ogd)", f"remove {folder / name} and run again") from None
        raise OutputError(f"cannot create the publish lock file {folder / name}: {error.strerror}",
                          "set OGD_LOCK_DIR to a writable folder of yours") from None
    finally:
        os.close(folder_descriptor)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OutputError(f"refusing the publish lock file {folder / name}: it is not a regular file",
                          f"remove {folder / name} and run again")
    return descriptor


@contextlib.contextmanager
def local_lock(portal_url: str, name: str, *, wait: float = DEFAULT_WAIT,
               say: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    """Hold this machine's lock of (portal, dataset); wait up to ``wait`` seconds, then :class:`Busy`."""
    key = hashlib.sha256(f"{portal_url.rstrip('/')} {name}".encode()).hexdigest()[:24]
    handle = open_lock_file(lock_folder(), f"publish-{key}.lock")
    try:
        give_up_at = time.monotonic() + wait
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= give_up_at:
                raise Busy(f"another publish of dataset {name!r} to {portal_url} runs on this machine; nothing was changed",
                           "wait for it to finish and run again (--lock-wait SECONDS waits longer)")
            if not announced:
                say(f"{name}: waiting for another publish of the same dataset on this machine")
                announced = True
            time.sleep(min(POLL, max(give_up_at - time.monotonic(), 0.05)))
        yield
    finally:
        os.close(handle)  # closing releases the flock
