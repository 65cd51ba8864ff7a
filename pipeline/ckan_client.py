"""A CKAN API client that retries what is transient, counts what it does, and never leaks the token.

It is ckanapi's ``RemoteCKAN`` (so CKAN's error JSON still comes back as
``NotFound``, ``NotAuthorized``, ``ValidationError(error_dict)``) with:

* retries with exponential backoff (tenacity) on connection errors,
  timeouts, HTTP 429 and 5xx; every other 4xx fails at once;
* a count of HTTP requests, uploads and calls per action, for reports and
  for the tests that hold "an unchanged package costs at most 3 calls";
* error messages that name the portal and action, never the token.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ckanapi
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from . import __version__
from .errors import AuthError, PortalUnavailable, UsageError

TRANSIENT_STATUS = {429, 500, 502, 503, 504}
REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_PORTAL_ENV = REPO_ROOT / ".portal" / "env"


class TransientHTTPError(Exception):
    def __init__(self, status: int, url: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.retry_after = retry_after


class PortalClient(ckanapi.RemoteCKAN):
    """RemoteCKAN with retries and accounting (see the module docstring)."""

    def __init__(self, url: str, token: str | None = None, *, attempts: int | None = None,
                 backoff: float | None = None, timeout: float = 120) -> None:
        super().__init__(url.rstrip("/"), apikey=token or None,
                         user_agent=f"ogd-pipeline/{__version__}", session=requests.Session())
        self.url = url.rstrip("/")
        self.attempts = attempts or int(os.environ.get("OGD_PUBLISH_ATTEMPTS", "5"))
        self.backoff = backoff if backoff is not None else float(os.environ.get("OGD_PUBLISH_BACKOFF", "0.5"))
        self.timeout = timeout
        self.actions: Counter[str] = Counter()
        self.http_requests = 0
        self.uploads = 0

    # ckanapi calls this for every POST; files are rewound so a retry re-sends them whole.
    def _request_fn(self, url: str, data: Any, headers: dict[str, str], files: Any, requests_kwargs: dict[str, Any]) -> tuple[int, str]:
        for item in (files or {}).values():
            handle = item[1] if isinstance(item, tuple) else item
            if hasattr(handle, "seek"):
                handle.seek(0)
        self.http_requests += 1
        if files:
            self.uploads += 1
        requests_kwargs = {**requests_kwargs, "timeout": self.timeout}
        response = self.session.post(url, data=data, headers=headers, files=files, allow_redirects=False, **requests_kwargs)
        if response.status_code in TRANSIENT_STATUS:
            retry_after = response.headers.get("Retry-After")
            raise TransientHTTPError(response.status_code, url,
                                     float(retry_after) if retry_after and retry_after.isdigit() else None)
        return response.status_code, response.text

    def _wait(self, state: RetryCallState) -> float:
        exponential = wait_exponential(multiplier=self.backoff, max=30)(state)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientHTTPError) and error.retry_after:
            return max(exponential, min(error.retry_after, 60))
        return exponential

    def call_action(self, action: str, data_dict: dict[str, Any] | None = None, context: Any = None,
                    apikey: str | None = None, files: Any = None, requests_kwargs: dict[str, Any] | None = None) -> Any:
        self.actions[action] += 1
        retrying = Retrying(
            retry=retry_if_exception_type((requests.ConnectionError, requests.Timeout, TransientHTTPError)),
            wait=self._wait,
            stop=stop_after_attempt(self.attempts),
            reraise=True,
        )
        try:
            return retrying(super().call_action, action, data_dict, context, apikey, files, requests_kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise PortalUnavailable(
                f"the portal at {self.url} could not be reached ({type(exc).__name__}) for {action} "
                f"after {self.attempts} attempts",
                "check CKAN_URL and that the portal is up (for the local one: make portal), then run again; "
                "publishing is safe to re-run",
            ) from None
        except TransientHTTPError as exc:
            raise PortalUnavailable(
                f"the portal at {self.url} kept answering HTTP {exc.status} to {action} after {self.attempts} attempts",
                "the portal is overloaded or failing; run again later (publishing is safe to re-run)",
            ) from None

    @property
    def api_calls(self) -> int:
        return sum(self.actions.values())


@dataclass(frozen=True)
class PortalSettings:
    """Which portal a command talks to, the token it sends, and where each came from (for the user, never the token)."""

    url: str
    token: str | None
    url_source: str  # e.g. "CKAN_URL", "the local portal (.portal/env)"
    token_source: str  # e.g. "CKAN_API_TOKEN", "the local portal's sysadmin (.portal/env)", "none: anonymous"

    def describe(self) -> str:
        """One line for stderr: the portal and the token's source (never the token itself)."""
        return f"portal {self.url} (from {self.url_source}); token: {self.token_source}"


# A CKAN API token is a JWT (three base64url parts) or, on old portals, a UUID API key: printable ASCII with
# no white space. A token with a stray newline or space (a paste error in a CI secret) would make requests
# raise an InvalidHeader error whose message holds the whole token.
_TOKEN_FORM = re.compile(r"[A-Za-z0-9._~+/=-]{16,4096}")


def check_token_form(token: str, source: str) -> None:
    """Refuse a token that cannot be sent as a header, saying where the fault is but never the token."""
    if _TOKEN_FORM.fullmatch(token):
        return
    stray = next((i for i, ch in enumerate(token) if not re.match(r"[A-Za-z0-9._~+/=-]", ch)), None)
    if stray is not None:
        what = {"\n": "a newline", "\r": "a carriage return", " ": "a space", "\t": "a tab"}.get(
            token[stray], f"the character U+{ord(token[stray]):04X}")
        detail = f"{what} at position {stray + 1} of {len(token)}"
    else:
        detail = f"{len(token)} characters, too short to be a CKAN API token"
    raise AuthError(
        f"the API token in {source} is not well formed ({detail})",
        f"copy the token again without white space (a CI secret often gets a trailing newline) and set {source}",
    )


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def portal_settings(url: str | None = None, token: str | None = None, *, token_env: str = "CKAN_API_TOKEN",
                    use_local_token: bool = True) -> PortalSettings:
    """The portal and token from the arguments, the environment, or the local portal's ``.portal/env``.

    ``.portal/env`` (written by ``make portal``) fills in what the environment
    lacks when the URL is unset or is the local portal's; ``use_local_token``
    False (pulling) never takes its sysadmin token. The token's form is checked
    here, before any request carries it.
    """
    url_source = "--url" if url else "CKAN_URL"
    url = url or os.environ.get("CKAN_URL")
    token_source = token_env
    if token is None:
        token = os.environ.get(token_env) or None
    else:
        token_source = "the command line"
    if LOCAL_PORTAL_ENV.exists():
        local = _read_env_file(LOCAL_PORTAL_ENV)
        if not url or url.rstrip("/") == local.get("CKAN_URL", "").rstrip("/"):
            if not url:
                url, url_source = local.get("CKAN_URL"), f"the local portal ({LOCAL_PORTAL_ENV})"
            if token is None and use_local_token and local.get("CKAN_API_TOKEN"):
                token = local["CKAN_API_TOKEN"]
                token_source = f"the local portal's sysadmin token ({LOCAL_PORTAL_ENV})"
    if not url:
        raise UsageError("no portal given: CKAN_URL is not set", "export CKAN_URL=https://… (or run make portal for the local one)")
    if token is None:
        token_source = "none (anonymous)"
    else:
        check_token_form(token, token_source)
    return PortalSettings(url.rstrip("/"), token, url_source, token_source)
