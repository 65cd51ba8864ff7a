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


@contextmanager
def connect(address: str, timeout: float | None = None) -> Iterator[DaskWorkers]:
    """A client of the scheduler at ``address`` (``tcp://HOST:8786``) with at least one worker; closed
    afterwards. Raises :class:`pipeline.problems.ClusterUnavailable` when the scheduler cannot be reached or
    has no worker within ``timeout`` seconds (default: ``OGD_DASK_TIMEOUT``, else 30)."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--executor dask needs Dask's distributed scheduler, which is not installed",
                         "pip install 'ogd-pipeline[cluster]' (make setup installs it)") from None

    timeout = scheduler_timeout() if timeout is None else timeout
    hint = (f"start the scheduler (dask scheduler) and its workers, or check the address and the network; "
            f"--scheduler or {SCHEDULER_ENV} gives it ({TIMEOUT_ENV} seconds to wait, now {timeout:g})")
    try:
        client = Client(address, timeout=timeout, direct_to_workers=True, set_as_default=False)
    except ValueError as exc:  # not an address
        raise UsageError(f"--scheduler {address!r} is not a Dask scheduler address: {exc}",
                         "give it as tcp://HOST:8786") from None
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
