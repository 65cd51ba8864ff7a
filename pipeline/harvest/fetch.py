"""One polite HTTP fetch: robots.txt, the host's delay, retries, redirects, a size cap, the content type.

Every complete response is kept as received (status line, headers in their
order, the body still gzip-encoded when the server sent it so) in an
:class:`Exchange`; a :class:`FetchResult` holds every exchange of one fetch
(redirect hops and answers that were retried too) so the archive keeps them
all, and the :class:`~pipeline.harvest.outcomes.Outcome` when it failed.
"""

from __future__ import annotations

import threading
import time
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import (ConnectTimeoutError, HTTPError, InsecureRequestWarning, NewConnectionError,
                                ProtocolError, ReadTimeoutError, SSLError)

from ..retry import RetryPolicy, parse_retry_after
from .outcomes import Outcome
from .settings import Etiquette
from .throttle import HostThrottle

REDIRECTS = {301, 302, 303, 307, 308}
# What each kind of document may be served as. A release page is HTML; feeds and sitemaps are XML (many
# servers say text/html or text/plain for them: those pass, the parser decides); the WordPress API is JSON.
ACCEPT = {
    "page": ("text/html", "application/xhtml+xml"),
    "listing": ("text/html", "application/xhtml+xml", "application/json", "text/plain"),
    "feed": ("xml", "rss", "atom", "text/html", "text/plain"),
    "sitemap": ("xml", "text/plain", "gzip", "text/html"),
    "api": ("json",),
    "robots": None,
    "discover": None,
}


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass
class Exchange:
    """A request and its complete response, as sent and received."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]
    body: bytes  # as received: content-encoded (gzip) when the server encoded it; transfer chunking removed
    fetched_at: datetime

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def media_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def content(self, max_bytes: int) -> bytes:
        """The body with its Content-Encoding undone, never more than ``max_bytes`` (ValueError past that)."""
        encoding = (self.header("Content-Encoding") or "").strip().lower()
        data = self.body
        if encoding in ("gzip", "x-gzip", "deflate") or (encoding == "" and data[:2] == b"\x1f\x8b"
                                                          and self.url.endswith(".gz")):
            window = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
            inflater = zlib.decompressobj(window)
            data = inflater.decompress(data, max_bytes + 1)
            if len(data) > max_bytes:
                raise ValueError(f"decompressed body is over {max_bytes} bytes")
        return data


@dataclass
class FetchResult:
    url: str
    exchanges: list[Exchange] = field(default_factory=list)
    outcome: Outcome | None = None
    requests: int = 0
    bytes: int = 0

    @property
    def response(self) -> Exchange | None:
        """The last complete response (None when none came)."""
        return self.exchanges[-1] if self.exchanges else None

    @property
    def final_url(self) -> str:
        return self.response.url if self.response else self.url

    @property
    def ok(self) -> bool:
        """A 2xx or 304 answer of the expected type."""
        return self.outcome is None and self.response is not None and (
            200 <= self.response.status < 300 or self.response.status == 304)

    @property
    def not_modified(self) -> bool:
        return self.ok and self.response is not None and self.response.status == 304


class _Failed(Exception):
    def __init__(self, code: str, **details: object) -> None:
        super().__init__(code)
        self.code = code
        self.details = details


class Fetcher:
    """Fetches politely; thread-safe (one instance serves every source of a run)."""

    def __init__(self, etiquette: Etiquette, *, throttle: HostThrottle | None = None,
                 robots: "RobotsLike | None" = None) -> None:
        self.etiquette = etiquette
        self.policy = RetryPolicy(attempts=etiquette.attempts, backoff=etiquette.backoff,
                                  max_retry_after=etiquette.max_retry_after)
        self.throttle = throttle or HostThrottle(etiquette.connections_per_host)
        self.robots = robots
        pool_options = dict(num_pools=64, maxsize=etiquette.connections_per_host, block=True)
        self._verified = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", **pool_options)
        self._unverified = urllib3.PoolManager(cert_reqs="CERT_NONE", assert_hostname=False, **pool_options)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._verified.clear()
        self._unverified.clear()

    def fetch(self, url: str, *, kind: str, delay: float | None = None, method: str = "GET",
              body: bytes = b"", headers: dict[str, str] | None = None, verify_tls: bool = True,
              check_robots: bool = True) -> FetchResult:
        """Fetch ``url`` following redirects; every response received is in the result.

        ``kind`` (page, feed, sitemap, api, listing, robots, discover) decides
        the accepted content types. ``headers`` adds e.g. If-None-Match.
        """
        result = FetchResult(url)
        delay = self.etiquette.delay if delay is None else delay
        visited = {url}
        current, current_method, current_body = url, method, body
        for _hop in range(self.etiquette.max_redirects + 1):
            host = host_of(current)
            host_delay = delay
            if check_robots and self.robots is not None:
                allowed, crawl_delay, refusal = self.robots.check(current, verify_tls=verify_tls)
                if not allowed:
                    details = {} if refusal == "robots-disallowed" else {"while": "reading robots.txt"}
                    result.outcome = Outcome(refusal, current, host, details)
                    return result
                host_delay = max(delay, crawl_delay or 0.0)
            try:
                exchange = self._with_retries(result, current, current_method, current_body, headers or {},
                                              host, host_delay, verify_tls)
            except _Failed as failure:
                result.outcome = Outcome(failure.code, current, host, dict(failure.details))
                return result
            result.exchanges.append(exchange)
            location = exchange.header("Location")
            if exchange.status in REDIRECTS and location:
                target = urljoin(current, location.strip())
                if target in visited:
                    result.outcome = Outcome("redirect-loop", url, host, {"chain": [e.url for e in result.exchanges]
                                                                          + [target]})
                    return result
                visited.add(target)
                if exchange.status == 303 or (exchange.status in (301, 302) and current_method == "POST"):
                    current_method, current_body = "GET", b""
                current = target
                continue
            accepted = ACCEPT.get(kind)
            media = exchange.media_type
            if (accepted and 200 <= exchange.status < 300 and media
                    and not any(part in media for part in accepted)):
                result.outcome = Outcome("unexpected-content-type", current, host,
                                         {"content_type": media, "expected": list(accepted)})
            elif exchange.status >= 400:
                code = {404: "not-found", 410: "gone", 429: "rate-limited"}.get(exchange.status, "http-error")
                if exchange.status >= 500:
                    code = "server-error"
                result.outcome = Outcome(code, current, host, {"status": exchange.status})
            return result
        result.outcome = Outcome("too-many-redirects", url, host_of(url),
                                 {"chain": [e.url for e in result.exchanges], "max": self.etiquette.max_redirects})
        return result

    def _with_retries(self, result: FetchResult, url: str, method: str, body: bytes, extra: dict[str, str],
                      host: str, delay: float, verify_tls: bool) -> Exchange:
        attempt = 0
        while True:
            attempt += 1
            retry_after = None
            try:
                with self.throttle.slot(host, delay):
                    result.requests += 1
                    exchange = self._once(url, method, body, extra, verify_tls, result)
            except _Failed as failure:
                if failure.code not in ("timeout", "connection-failed"):
                    raise
                error_code: str = failure.code
                details = dict(failure.details)
            else:
                if not self.policy.transient_status(exchange.status):
                    return exchange
                result.exchanges.append(exchange)  # the failed answer is kept too: it is what the site said
                retry_after = parse_retry_after(exchange.header("Retry-After"))
                error_code = "rate-limited" if exchange.status == 429 else "server-error"
                details = {"status": exchange.status}
                if retry_after is not None:
                    details["retry_after"] = retry_after
            wait = self.policy.wait_seconds(attempt, retry_after)
            if wait is None:
                details["attempts"] = attempt
                raise _Failed(error_code, **details)
            self.throttle.defer(host, wait)

    def _once(self, url: str, method: str, body: bytes, extra: dict[str, str], verify_tls: bool,
              result: FetchResult) -> Exchange:
        etiquette = self.etiquette
        headers = {"User-Agent": etiquette.header, "Accept-Encoding": "gzip", "Accept": "*/*", **extra}
        if body and method == "POST":
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        pool = self._verified if verify_tls else self._unverified
        fetched_at = datetime.now(timezone.utc)
        started = time.monotonic()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureRequestWarning)
                response = pool.request(method, url, body=body or None, headers=headers, redirect=False, retries=False,
                                        preload_content=False, decode_content=False,
                                        timeout=urllib3.Timeout(connect=etiquette.timeout, read=etiquette.timeout))
        except NewConnectionError as exc:  # before ConnectTimeoutError: urllib3 makes it a subclass of it
            raise _Failed("connection-failed", error=type(exc).__name__) from None
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            raise _Failed("timeout", error=type(exc).__name__, seconds=etiquette.timeout) from None
        except urllib3.exceptions.MaxRetryError as exc:
            reason = exc.reason
            # NewConnectionError (refused, no route) is a subclass of ConnectTimeoutError in urllib3 2: test it first.
            if isinstance(reason, (ConnectTimeoutError, ReadTimeoutError)) and not isinstance(reason, NewConnectionError):
                raise _Failed("timeout", error=type(reason).__name__, seconds=etiquette.timeout) from None
            raise _Failed("connection-failed", error=type(reason).__name__ if reason else "MaxRetryError",
                          tls=isinstance(reason, SSLError)) from None
        except (NewConnectionError, ProtocolError, SSLError, HTTPError, OSError) as exc:
            raise _Failed("connection-failed", error=type(exc).__name__) from None
        try:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > etiquette.max_bytes:
                raise _Failed("too-large", content_length=int(declared), max_bytes=etiquette.max_bytes)
            chunks: list[bytes] = []
            size = 0
            # A whole response may take this long: a server dribbling a byte every few seconds never trips
            # the read timeout (silence) but must not hold a connection for ever.
            deadline = started + etiquette.timeout * 4
            try:
                for chunk in response.stream(65536, decode_content=False):
                    size += len(chunk)
                    result.bytes += len(chunk)
                    if size > etiquette.max_bytes:
                        raise _Failed("too-large", read=size, max_bytes=etiquette.max_bytes)
                    if time.monotonic() > deadline:
                        raise _Failed("timeout", error="response not finished", seconds=etiquette.timeout * 4)
                    chunks.append(chunk)
            except (ReadTimeoutError, TimeoutError) as exc:
                raise _Failed("timeout", error=type(exc).__name__, seconds=etiquette.timeout) from None
            except (ProtocolError, HTTPError, OSError) as exc:
                raise _Failed("connection-failed", error=type(exc).__name__) from None
        except _Failed:
            response.drain_conn = None  # type: ignore[assignment]  # never read the rest of a refused body
            response.close()
            raise
        finally:
            response.release_conn()
        sent = [("Host", urlsplit(url).netloc), *headers.items()]
        if body:
            sent.append(("Content-Length", str(len(body))))
        version = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(response.version, "HTTP/1.1")
        return Exchange(url=url, method=method, request_headers=sent, request_body=body, status=response.status,
                        reason=response.reason or "", http_version=version, headers=list(response.headers.items()),
                        body=b"".join(chunks), fetched_at=fetched_at)


class RobotsLike:
    """What the fetcher asks of robots.txt (see :class:`pipeline.harvest.robots.Robots`)."""

    def check(self, url: str, *, verify_tls: bool = True) -> tuple[bool, float | None, str]:  # pragma: no cover
        raise NotImplementedError


RecordSink = Callable[[FetchResult, str], None]
