"""Builds on a Dask cluster: the transform runs as ``dask.distributed`` tasks (``Client.get_executor()``, a
``concurrent.futures`` executor) while this process, the client, writes the package in input order.

Only the inputs' names travel (an :class:`~pipeline.extract.discover.InputFile`:
a path on shared storage or an fsspec URL, and its relative path), in chunks,
with a bounded number in flight (:func:`pipeline.build.executor.transform_all`);
the workers read and hash the bytes where they are, and send each chunk's
outcomes straight back to the client (``direct_to_workers``: results never pass
through the scheduler). A worker that dies has its tasks run again elsewhere by
the scheduler (Dask's ``allowed-failures``); the outcomes are those of a local
build, so the package is byte-identical.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..problems import ClusterUnavailable, UsageError
from .executor import WorkerDied, WorkerPool

SCHEDULER_ENV = "OGD_DASK_SCHEDULER"
TIMEOUT_ENV = "OGD_DASK_TIMEOUT"
DEFAULT_TIMEOUT = 30.0  # seconds to reach the scheduler, and for a first worker to be there
# A chunk of 32 inputs is ~0.1 s of work: scheduling overhead (a few ms a task) stays small, and a dead worker's
# chunks are few to run again.
DASK_CHUNK_INPUTS = 32
# Task errors are bugs or a store that failed mid-read (s3fs retries its own requests first): one more try on
# another worker. A worker's death is not an error: the scheduler re-runs its tasks by itself.
TASK_RETRIES = 1


def dask_setup(worker: Any) -> None:
    """``dask worker --preload pipeline.build.cluster``: load the pipeline and the word segmenter's dictionary
    when the worker starts, not in its first task (seconds a build would wait for every new worker)."""
    from ..thaitext import load_segmenter
    from . import executor  # noqa: F401 — the module every task runs

    load_segmenter()


def scheduler_timeout() -> float:
    """``OGD_DASK_TIMEOUT`` seconds (default 30)."""
    value = os.environ.get(TIMEOUT_ENV)
    try:
        return float(value) if value else DEFAULT_TIMEOUT
    except ValueError:
        raise UsageError(f"{TIMEOUT_ENV}={value!r} is not a number of seconds", f"unset {TIMEOUT_ENV} or give "
                         "a number such as 30") from None


class DaskWorkers(WorkerPool):
    """The workers of a connected Dask client (see :func:`connect`)."""

    chunk_inputs = DASK_CHUNK_INPUTS

    def __init__(self, client: Any) -> None:
        self.client = client
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        self._width = max(1, sum(int(worker.get("nthreads", 1)) for worker in workers.values()))

    @property
    def width(self) -> int:
        return self._width

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address)

    @property
    def dashboard(self) -> str | None:
        """The scheduler's dashboard link, when it serves one."""
        services = self.client.scheduler_info(n_workers=0).get("services", {})
        return str(self.client.dashboard_link) if services.get("dashboard") else None

    def worth_starting(self, jobs: int) -> bool:
        # Always the cluster: its workers, not this machine, are where the inputs are read.
        return jobs > 0

    def start(self) -> concurrent.futures.Executor:
        return self.client.get_executor(pure=False, retries=TASK_RETRIES)

    def stop(self, executor: concurrent.futures.Executor) -> None:
        executor.shutdown(wait=False)  # cancels every task still queued or running (Ctrl-C, an error)

    def failure(self, error: BaseException) -> BaseException | None:
        from distributed import KilledWorker
        from distributed.comm import CommClosedError

        if isinstance(error, KilledWorker):
            return WorkerDied(
                f"the Dask workers running one task kept dying ({error}); the build stopped and the previous "
                "package is unchanged",
                "look at the workers' logs (memory limits, crashes); run the build again, or with --executor "
                "local to see the input it dies on",
            )
        if isinstance(error, (CommClosedError, concurrent.futures.CancelledError, OSError, TimeoutError)):
            return ClusterUnavailable(
                f"the connection to the Dask scheduler {self.address} was lost mid-build ({type(error).__name__}); "
                "the build stopped and the previous package is unchanged",
                "check that the scheduler still runs, then build again (safe to re-run)",
            )
        return None

    def scheduler_bytes(self) -> dict[str, int]:
        """Bytes of this client's stream to the scheduler (task graphs) and back (key updates): what the
        scheduler carried for this client (results come from the workers directly)."""
        sent = int(getattr(self.client.scheduler_comm, "byte_count", 0) or 0)
        client_id = self.client.id

        def back(dask_scheduler: Any) -> int:
            comm = dask_scheduler.client_comms.get(client_id)
            return int(getattr(comm, "byte_count", 0) or 0)

        return {"to_scheduler": sent, "from_scheduler": int(self.client.run_on_scheduler(back))}


class _NoDaskAnswer(Exception):
    """A connection opened but no Dask handshake came back in time."""


# Seconds given to Client() beyond its own connect timeout before the address counts as no scheduler: a refused
# connection must still end in Client's own OSError (its retries end at the timeout), even on a loaded machine.
_HANDSHAKE_GRACE = 10.0


def _client_within(address: str, timeout: float) -> Any:
    """``Client(address)``, or :class:`_NoDaskAnswer` after ``timeout`` (+ a grace).

    Dask's own timeout covers opening the connection, not its handshake: a port
    that accepts and never answers in Dask's protocol (the dashboard's 8787, any
    web server) makes ``Client()`` wait forever (dask/distributed#8071). The
    client is therefore made in a daemon thread that this process may abandon.
    The address is checked first: Dask raises for an unknown scheme only after
    creating the client, whose finalizer then waits and prints a traceback.
    """
    from distributed import Client
    from distributed.comm import parse_address
    from distributed.comm.registry import get_backend

    get_backend(parse_address(address)[0])  # ValueError: unknown address scheme (http://…)
    made: dict[str, Any] = {}

    def make() -> None:
        try:
            made["client"] = Client(address, timeout=timeout, direct_to_workers=True, set_as_default=False)
        except BaseException as exc:  # handed to the caller's thread
            made["error"] = exc

    thread = threading.Thread(target=make, name="ogd-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + _HANDSHAKE_GRACE)
    if thread.is_alive():
        raise _NoDaskAnswer(address)
    if "error" in made:
        raise made["error"]
    return made["client"]


@contextmanager
def connect(address: str, timeout: float | None = None) -> Iterator[DaskWorkers]:
    """A client of the scheduler at ``address`` (``tcp://HOST:8786``) with at least one worker; closed
    afterwards. Raises :class:`pipeline.problems.ClusterUnavailable` when the scheduler cannot be reached or
    has no worker within ``timeout`` seconds (default: ``OGD_DASK_TIMEOUT``, else 30)."""
    try:
        import distributed  # noqa: F401 — is Dask installed (the cluster extra)?
    except ImportError:
        raise UsageError("--executor dask needs Dask's distributed scheduler, which is not installed",
                         "pip install 'ogd-pipeline[cluster]' (make setup installs it)") from None

    timeout = scheduler_timeout() if timeout is None else timeout
    hint = (f"start the scheduler (dask scheduler) and its workers, or check the address and the network; "
            f"--scheduler or {SCHEDULER_ENV} gives it ({TIMEOUT_ENV} seconds to wait, now {timeout:g})")
    try:
        client = _client_within(address, timeout)
    except ValueError as exc:  # not an address
        raise UsageError(f"--scheduler {address!r} is not a Dask scheduler address: {exc}",
                         "give it as tcp://HOST:8786") from None
    except _NoDaskAnswer:
        raise ClusterUnavailable(f"the Dask scheduler {address} did not answer as a Dask scheduler within "
                                 f"{timeout:g} s (something listens there, but not a scheduler); nothing was built",
                                 "give the scheduler's port (dask scheduler listens on 8786 by default; 8787 is "
                                 "its dashboard), or check that the address is the scheduler's") from None
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailable(f"the Dask scheduler {address} could not be reached within {timeout:g} s "
                                 f"({type(exc).__name__}); nothing was built", hint) from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            raise ClusterUnavailable(f"the Dask scheduler {address} has no worker (waited {timeout:g} s); "
                                     "nothing was built", "start workers: dask worker " + address) from None
        yield DaskWorkers(client)
    finally:
        client.close()
