"""robots.txt per host (RFC 9309, read with Protego): asked once per host per run, archived like every response.

A 4xx answer (no robots.txt) allows everything; a 5xx answer or an
unreachable server means "assume complete disallow" for this run, as RFC 9309
says; the next run asks again.
"""

from __future__ import annotations

import threading
from typing import Callable

from protego import Protego

from .fetch import Fetcher, FetchResult, RobotsLike, host_of
from .settings import ROBOTS_TOKEN

_MAX_ROBOTS_BYTES = 500 * 1024  # RFC 9309: crawlers must read at least 500 KiB; more is not parsed


class _Rules:
    def __init__(self, parser: Protego | None, allow_all: bool, refusal: str = "robots-disallowed") -> None:
        self.parser = parser
        self.allow_all = allow_all
        self.refusal = refusal  # the outcome of a URL refused: robots-disallowed, or why robots.txt was not read


class Robots(RobotsLike):
    def __init__(self, store: Callable[[FetchResult, str], None], delay: float) -> None:
        self.fetcher: Fetcher | None = None
        self._store = store
        self._delay = delay
        self._rules: dict[str, _Rules] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def check(self, url: str, *, verify_tls: bool = True) -> tuple[bool, float | None, str]:
        """(allowed, Crawl-delay, the outcome code when refused)."""
        rules = self._for_host(host_of(url), verify_tls)
        if rules.allow_all:
            return True, None, ""
        if rules.parser is None:
            return False, None, rules.refusal
        delay = rules.parser.crawl_delay(ROBOTS_TOKEN)
        return (bool(rules.parser.can_fetch(url, ROBOTS_TOKEN)), float(delay) if delay is not None else None,
                rules.refusal)

    def _for_host(self, host: str, verify_tls: bool) -> _Rules:
        with self._lock:
            lock = self._locks.setdefault(host, threading.Lock())
        with lock:
            if host not in self._rules:
                self._rules[host] = self._fetch(host, verify_tls)
            return self._rules[host]

    def _fetch(self, host: str, verify_tls: bool) -> _Rules:
        assert self.fetcher is not None, "Robots.fetcher is set by the run"
        result = self.fetcher.fetch(f"{host}/robots.txt", kind="robots", delay=self._delay, verify_tls=verify_tls,
                                    check_robots=False)
        self._store(result, "robots")
        response = result.response
        if response is not None and 200 <= response.status < 300 and result.outcome is None:
            try:
                text = response.content(_MAX_ROBOTS_BYTES * 4)[:_MAX_ROBOTS_BYTES].decode("utf-8", "replace")
            except ValueError:
                text = ""
            parser = Protego.parse(text)
            crawl_delay = parser.crawl_delay(ROBOTS_TOKEN)
            if crawl_delay:
                # The request after robots.txt already owes the site its Crawl-delay.
                self.fetcher.throttle.defer(host, float(crawl_delay))
            return _Rules(parser, allow_all=False)
        if response is not None and 400 <= response.status < 500 and result.outcome is not None \
                and result.outcome.code != "rate-limited":
            return _Rules(None, allow_all=True)
        cause = result.outcome.code if result.outcome else "server-error"
        if cause in ("connection-failed", "timeout"):
            return _Rules(None, allow_all=False, refusal=cause)  # the site itself is unreachable: say so
        return _Rules(None, allow_all=False, refusal="robots-unreachable")
