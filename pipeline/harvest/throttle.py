"""Per-host politeness: at most N connections to a host, and a delay between the starts of two requests.

A request reserves its start time under the host's lock (the previous start
plus the delay), then sleeps outside the lock until then: the schedule is
fair and a slow response does not let the next request start early.
``Retry-After`` pushes the host's next start for every request to it.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator


@dataclass
class _Host:
    slots: threading.Semaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_start: float = 0.0


class HostThrottle:
    def __init__(self, connections_per_host: int = 1, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.connections_per_host = connections_per_host
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def _host(self, host: str) -> _Host:
        with self._lock:
            if host not in self._hosts:
                self._hosts[host] = _Host(threading.Semaphore(self.connections_per_host))
            return self._hosts[host]

    @contextmanager
    def slot(self, host: str, delay: float) -> Iterator[None]:
        """Hold one of the host's connections, starting no sooner than ``delay`` after the previous start."""
        state = self._host(host)
        with state.slots:
            with state.lock:
                start = max(self._clock(), state.next_start)
                state.next_start = start + delay
            wait = start - self._clock()
            if wait > 0:
                self._sleep(wait)
            yield

    def defer(self, host: str, seconds: float) -> None:
        """No request to ``host`` starts for ``seconds`` (the server's Retry-After)."""
        state = self._host(host)
        with state.lock:
            state.next_start = max(state.next_start, self._clock() + seconds)
