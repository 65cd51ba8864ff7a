"""Transform every input on workers and hand the outcomes back in input order.

The transform is a pure function of one input's bytes, so it runs the same in
a worker process of this machine (:class:`LocalProcesses`, the default; they
die with the build) or on a Dask cluster (:class:`pipeline.build.cluster.DaskWorkers`):
one abstraction, :class:`WorkerPool`, a ``concurrent.futures`` executor and how
wide it is; the chunks, the bounded window and the input order are this
module's, whichever runs them.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import multiprocessing
import os
import signal
import sys
from abc import ABC, abstractmethod
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Callable, Iterator, Sequence, TypeVar

from ..extract.decode import (
    DEFAULT_MAX_INPUT_BYTES,
    DecodeProblem,
    content_hash,
    decode,
    read_bytes,
)
from ..extract.discover import InputFile
from ..incremental.previous import PreviousPackage
from ..problems import PipelineError, Problem
from ..thaitext import load_segmenter
from ..transform import Outcome, transform_file, transform_text
from ..validate.records import RecordValidator

if TYPE_CHECKING:
    from ..sources.profiles import SiteProfiles


class WorkerDied(PipelineError):
    """A worker process ended without a result (exit code 1: not a data problem)."""


# The long texts of a row cross from worker to writer as UTF-8 bytes: the writer hands
# them to Arrow as bytes anyway, and a str would be encoded by pickle in the worker,
# decoded in the writer and encoded again there (~4 % of the writer's CPU).
PACKED_TEXT_FIELDS = ("title", "subtitle", "body", "body_words")


@functools.lru_cache(maxsize=1)
def _row_validator() -> RecordValidator:
    """The compiled Table Schema, once per process (its ``errors`` keeps no state)."""
    return RecordValidator()


def checked_outcomes(item: InputFile, source: str, max_bytes: int | None = DEFAULT_MAX_INPUT_BYTES,
                     profiles: SiteProfiles | None = None) -> list[Outcome]:
    """Transform one input and check each of its rows against the Table Schema (a pure function of the input
    and the build's site profiles, which travel with each job).

    A valid release comes back as ``Outcome(row=...)``, its long texts packed as
    UTF-8 bytes; a release that breaks the schema as a ``schema-violation``
    problem (naming its item in a multi-item input). Duplicates need every row
    before this one and are decided by the writer.
    """
    outcomes = (transform_file(item, source, max_bytes, profiles) if item.record is None
                else _record_outcomes(item, source, max_bytes, profiles))
    return [_checked(item, outcome) for outcome in outcomes]


def _record_outcomes(item: InputFile, source: str, max_bytes: int | None,
                     profiles: SiteProfiles | None = None) -> list[Outcome]:
    """The outcomes of a record of a harvest archive: its payload transformed as a file's bytes would be.

    Its ``source_sha256`` is the record's content key (the index's), so that the next build knows it
    unchanged without reading it. A feed copy gives only the entries it was chosen for (the others are
    archived as pages, or read from a newer copy: pipeline.extract.archive_inputs).
    """
    record = item.record
    assert record is not None
    try:
        data = read_bytes(item, max_bytes)
        text, encoding = decode(data)
    except DecodeProblem as problem:
        return [Outcome(problem=Problem(item.relative, problem.reason, problem.message, "extract", problem.details))]
    outcomes = transform_text(text, encoding, item.relative, source, record.sha256, url=item.url, profiles=profiles,
                              feed_entry=record.feed_entry)
    if record.links is None:
        return outcomes
    wanted = set(record.links)

    def chosen(outcome: Outcome) -> bool:
        if outcome.release is not None:
            return outcome.release.source_url in wanted or outcome.release.item in wanted
        # An entry's problem is kept when its key is one of the links, or it names no entry link at all.
        key = outcome.problem.item if outcome.problem is not None else None
        return key is None or key in wanted or not key.startswith(("http://", "https://"))

    return [outcome for outcome in outcomes if chosen(outcome)]


def _checked(item: InputFile, outcome: Outcome) -> Outcome:
    if outcome.release is None:
        return outcome
    row = outcome.release.to_row()
    errors = _row_validator().errors(row)
    if errors:
        return Outcome(problem=Problem(
            item.relative,
            "schema-violation",
            "the record breaks the Table Schema: " + "; ".join(e.message for e in errors[:5]),
            "validate",
            {"errors": [e.as_dict() for e in errors]},
            item=outcome.release.item,
        ))
    for name in PACKED_TEXT_FIELDS:
        if row[name] is not None:
            row[name] = row[name].encode("utf-8")
    return Outcome(row=row)


Job = tuple[InputFile, str, "int | None", "SiteProfiles | None"]  # checked_outcomes' arguments


def _check_chunk(jobs: list[Job]) -> list[list[Outcome]]:
    return [checked_outcomes(*job) for job in jobs]


def _hash_chunk(items: list[tuple[InputFile, "int | None"]]) -> list[str | None]:
    return [_hash_job(item, max_bytes) for item, max_bytes in items]


# Inputs travel to the workers in chunks (one round trip per chunk, not per input), and at
# most WINDOW_CHUNKS chunks per worker are in flight: outcomes wait in memory only until
# the writer takes them, so memory stays bounded whatever the archive's size.
CHUNK_INPUTS = 16
WINDOW_CHUNKS = 4


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the build process dies (even by SIGKILL).

    Without it, a killed build leaves its workers running, each holding a
    segmenter's worth of memory, with parent 1.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the check below still catches a parent already gone
            pass
    if os.getppid() != parent:  # the parent died between the fork and prctl: nobody would send the signal
        os._exit(1)


def _start_worker(parent: int) -> None:
    _die_with_parent(parent)
    load_segmenter()


class WorkerPool(ABC):
    """Where the inputs are transformed: a ``concurrent.futures`` executor (started for one build, stopped when
    the outcomes are read or the build stops), how many inputs go in one task, how many tasks it runs at once,
    and what its failures mean."""

    chunk_inputs = CHUNK_INPUTS

    @property
    @abstractmethod
    def width(self) -> int:
        """How many chunks run at once; WINDOW_CHUNKS times as many are kept in flight."""

    @abstractmethod
    def worth_starting(self, jobs: int) -> bool:
        """Whether ``jobs`` inputs go to the workers (else they are transformed in this process)."""

    @abstractmethod
    def start(self) -> Executor:
        """The executor, ready to take chunks."""

    @abstractmethod
    def stop(self, executor: Executor) -> None:
        """Stop it, cancelling what is still queued (a consumer that stops early leaves no work running)."""

    def failure(self, error: BaseException) -> BaseException | None:
        """The run-stopping error a failure of the workers means (None: not the workers', raised as it is)."""
        return None


class LocalProcesses(WorkerPool):
    """``workers`` processes of this machine (default: all cores), forked, dying with the build."""

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or os.cpu_count() or 1

    @property
    def width(self) -> int:
        return self._workers

    def worth_starting(self, jobs: int) -> bool:
        return self._workers > 1 and jobs >= 64

    def start(self) -> Executor:
        # concurrent.futures rather than multiprocessing.Pool: the Pool's worker-handler thread
        # wakes whenever a result is waiting to be read and spins until it is read, which cost
        # ~5 % of a build's CPU; a dead worker also makes the executor fail instead of hang.
        return ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_start_worker, initargs=(os.getpid(),))

    def stop(self, executor: Executor) -> None:
        executor.shutdown(wait=True, cancel_futures=True)

    def failure(self, error: BaseException) -> BaseException | None:
        if isinstance(error, BrokenProcessPool):
            return WorkerDied(
                "a worker process died (killed by the system, for example for lack of memory, or crashed); "
                "the build stopped and the previous package is unchanged",
                "run the build again; if a worker dies again, run it with --workers 1 to see the input it dies on",
            )
        return None


def transform_all(files: list[InputFile], source: str, workers: int | None = None,
                  previous: PreviousPackage | None = None,
                  stats: list[tuple[int, int] | None] | None = None,
                  max_bytes: int | None = DEFAULT_MAX_INPUT_BYTES,
                  hashes: dict[str, str] | None = None,
                  profiles: SiteProfiles | None = None,
                  pool: WorkerPool | None = None) -> Iterator[list[Outcome]]:
    """Transform every file, in input order, on ``pool`` (default: ``workers`` processes of this machine, all
    cores when None); yield each input's outcomes (one, or one per item of a multi-item input).

    With ``previous``, an input unchanged since the previous build gets its
    previous outcome and is not transformed again; the content hash of each
    input, known or computed to decide that, is put in ``hashes`` (by relative
    path) before the first outcome. An input over ``max_bytes`` is
    quarantined unread (``too-large``). ``profiles`` (the dataset's site profiles; None: the bundled
    ones) go to the workers with each chunk of inputs: small, frozen, picklable. Only inputs (paths or URLs)
    go to the workers, never their bytes: the workers read them (and hash them) where they are.
    """
    pool = pool or LocalProcesses(workers)
    executor = pool.start() if pool.worth_starting(len(files)) else None
    window = pool.width * WINDOW_CHUNKS
    try:
        reuse = [False] * len(files)
        if previous is not None and previous.has_entries:
            # Inputs whose size and modification time are unchanged keep the hash seen last
            # time (as git's index does); the others are hashed again, on all cores.
            stats = stats or [_stat(item) for item in files]
            # A WARC record is never rewritten: its content key comes from the archive's index, unread.
            known = [item.record.sha256 if item.record is not None else previous.known_hash(item.relative, stat)
                     for item, stat in zip(files, stats)]
            unknown = [(item, max_bytes) for item, digest in zip(files, known) if digest is None]
            fresh_hashes = (_in_order(executor, unknown, window, _hash_chunk, HASH_CHUNK_INPUTS) if executor
                            else (_hash_job(*job) for job in unknown))
            digests = [digest if digest is not None else next(fresh_hashes) for digest in known]
            if hashes is not None:
                hashes.update((item.relative, digest) for item, digest in zip(files, digests) if digest)
            reuse = [digest is not None and previous.reusable(item.relative, digest)
                     for item, digest in zip(files, digests)]
        jobs: list[Job] = [(item, source, max_bytes, profiles) for item, reused in zip(files, reuse) if not reused]
        if executor is None or not pool.worth_starting(len(jobs)):
            if jobs:
                load_segmenter()
            yield from _merge(files, reuse, previous, (checked_outcomes(*job) for job in jobs))
            return
        yield from _merge(files, reuse, previous, _in_order(executor, jobs, window, _check_chunk, pool.chunk_inputs))
    except BaseException as error:
        stopped = pool.failure(error)
        if stopped is not None:
            raise stopped from None
        raise
    finally:
        if executor is not None:
            # A consumer that stops early (an error, a closed generator, Ctrl-C) leaves no work running.
            pool.stop(executor)


HASH_CHUNK_INPUTS = 64  # hashing an input costs far less than transforming it: larger chunks

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def _in_order(executor: Executor, items: Sequence[_Item], window: int,
              work: Callable[[list[_Item]], list[_Result]], chunk_inputs: int = CHUNK_INPUTS) -> Iterator[_Result]:
    """``work``'s results for ``items`` in their order, ``chunk_inputs`` items per task, at most ``window``
    tasks submitted ahead (results wait in memory only until they are taken)."""
    chunks = (list(items[start:start + chunk_inputs]) for start in range(0, len(items), chunk_inputs))
    in_flight: deque[Future[list[_Result]]] = deque(
        executor.submit(work, chunk) for chunk in itertools.islice(chunks, window))
    while in_flight:
        results = in_flight.popleft().result()
        chunk = next(chunks, None)
        if chunk is not None:
            in_flight.append(executor.submit(work, chunk))
        yield from results


def _stat(item: InputFile) -> tuple[int, int] | None:
    if item.listed is not None:
        return item.listed  # an object on object storage: from its listing (size, ETag)
    if item.record is not None:
        return None  # its content key is the index's (ArchivedRecord.sha256), not kept in the inputs cache
    try:
        stat = os.stat(item.path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _hash_job(item: InputFile, max_bytes: int | None = DEFAULT_MAX_INPUT_BYTES) -> str | None:
    if item.record is not None:
        return item.record.sha256
    try:
        return content_hash(read_bytes(item, max_bytes))
    except DecodeProblem:
        return None


def _merge(files: list[InputFile], reuse: list[bool], previous: PreviousPackage | None,
           fresh: Iterator[list[Outcome]]) -> Iterator[list[Outcome]]:
    """Previous and fresh outcomes, in input order."""
    for item, reused in zip(files, reuse):
        if reused and previous is not None:
            yield previous.take(item.relative)
        else:
            yield next(fresh)
