"""Download one resource file from a CKAN portal: redirects followed by hand (the API token only ever sent to
the portal's own origin), retried like API calls (connection errors, timeouts, 429, 5xx), stopped when a
server sends far more than the size declared for the file.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from ..problems import AuthError, DataError, PortalUnavailable
from ..retry import TRANSIENT_STATUS, parse_retry_after
from .client import PortalClient, TransientHTTPError

# A server may add a little (a header, a trailing newline re-encoded) but not fill the disk: past the declared
# size plus this margin, a download is stopped and the pull fails.
SIZE_MARGIN = 1 << 20
MAX_REDIRECTS = 5
CHUNK = 1 << 20
RETRIABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, TransientHTTPError)


def declared_size(value: Any) -> int | None:
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
            length = declared_size(response.headers.get("Content-Length"))
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
    declared, declarer = declared_size(resource.get("size")), "the portal declares"
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
