"""A CKAN API client that retries what is transient, counts what it does, and never leaks the token.

It is ckanapi's ``RemoteCKAN`` (so CKAN's error JSON still comes back as
``NotFound``, ``NotAuthorized``, ``ValidationError(error_dict)``) with:

* retries with exponential backoff on connection errors, timeouts, HTTP
  429 and 5xx; every other 4xx fails at once;
* a per-request timeout (silence while connecting or between bytes,
  ``OGD_HTTP_TIMEOUT``) and a deadline per command (``OGD_DEADLINE``) after
  which nothing more is retried;
* writes that are not idempotent (creates) are never blindly re-sent after
  an answer was lost: the caller's ``lookup`` first asks whether the portal
  already did them;
* a count of HTTP requests, uploads and calls per action, for reports and
  for the tests that hold "an unchanged package costs at most 3 calls";
* error messages that name the portal and action, never the token.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import ckanapi
import requests
from requests_toolbelt.multipart.encoder import MultipartEncoder

from .. import __version__
from ..problems import AuthError, PortalUnavailable, UsageError
from ..retry import TRANSIENT_STATUS, RetryPolicy, parse_retry_after

# The local development portal (portal/manage.py) writes its URL and tokens here: OGD_PORTAL_DIR, else
# .portal in the source checkout this library runs from (an installed wheel has none beside it).
CHECKOUT = Path(__file__).resolve().parents[2]


def local_portal_env() -> Path:
    """The local development portal's ``env`` file: ``$OGD_PORTAL_DIR/env``, else the checkout's ``.portal/env``.

    Read at each call, so a command (or a test) that sets OGD_PORTAL_DIR is followed.
    """
    return Path(os.environ.get("OGD_PORTAL_DIR") or CHECKOUT / ".portal") / "env"


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of an env file (``.portal/env``); comments and other lines are skipped."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


class TransientHTTPError(Exception):
    def __init__(self, status: int, url: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.retry_after = retry_after


def _env_float(name: str, default: float, *, zero_allowed: bool = False) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a number of seconds", f"set {name} to a number of seconds, "
                         "or unset it") from None
    if number < 0 or (number == 0 and not zero_allowed):
        least = "0 or more" if zero_allowed else "more than 0"
        raise UsageError(f"{name}={value!r} must be {least} seconds", f"set {name} to a number of seconds, or unset it")
    return number


def _env_attempts(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    if not value.strip().isdigit() or int(value) < 1:
        raise UsageError(f"{name}={value!r} is not a number of attempts (a whole number, at least 1)",
                         f"set {name} to e.g. 5, or unset it")
    return int(value)


DEFAULT_TIMEOUT = 30.0  # seconds of silence (connecting, or between bytes) before a request is given up
DEFAULT_DEADLINE = 3600.0  # seconds per command after which nothing more is retried
# An upload's answer comes after the portal has stored (and hashed) the whole file: allow it longer silence.
UPLOAD_TIMEOUT_FACTOR = 4
# Writes that are not idempotent: re-sending one the portal already did creates a second object.
NON_IDEMPOTENT = {"package_create", "resource_create", "organization_create", "resource_view_create"}
# Actions whose successful answer only repeats what was sent: datastore_upsert returns every record of the chunk
# (megabytes of Thai text, escaped). Its body is read in blocks and dropped; the call returns None.
ECHOING = {"datastore_upsert"}
_SUCCESS = re.compile(rb'"success"\s*:\s*true\b')


def ambiguous_failure(error: BaseException) -> bool:
    """True when the request may have reached the portal and been done: only the answer was lost.

    A refused connection or a connect timeout never reached the portal; a read
    timeout, a connection dropped after sending, or a 5xx may have followed
    work the portal committed.
    """
    if isinstance(error, TransientHTTPError):
        return error.status != 429
    if isinstance(error, requests.ConnectTimeout):
        return False
    if isinstance(error, requests.ConnectionError):
        text = str(error)
        return not any(s in text for s in ("NewConnectionError", "Connection refused", "Failed to establish"))
    return isinstance(error, requests.Timeout)


def _text(value: str | bytes) -> str:
    """A multipart form field as text (ckanapi encodes them to UTF-8 bytes for requests)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


class PortalClient(ckanapi.RemoteCKAN):
    """RemoteCKAN with retries, a deadline and accounting (see the module docstring)."""

    def __init__(self, url: str, token: str | None = None, *, attempts: int | None = None,
                 backoff: float | None = None, timeout: float | None = None, deadline: float | None = None,
                 command: str = "publish") -> None:
        super().__init__(url.rstrip("/"), apikey=token or None,
                         user_agent=f"ogd-pipeline/{__version__}", session=requests.Session())
        self.url = url.rstrip("/")
        # The command this client serves ("publish", "pull"): hints name the command the user ran.
        self.command = command
        # The last answer to an API call (status, headers, start of the body): what a "not a CKAN API" error shows.
        self.last_answer: tuple[int, dict[str, str], bytes] | None = None
        # The project's one retry policy (pipeline.retry), with the publishing variables' values.
        self.policy = RetryPolicy(
            attempts=attempts or _env_attempts("OGD_PUBLISH_ATTEMPTS", 5),
            backoff=backoff if backoff is not None else _env_float("OGD_PUBLISH_BACKOFF", 0.5, zero_allowed=True))
        self.attempts, self.backoff = self.policy.attempts, self.policy.backoff
        self.timeout = timeout if timeout is not None else _env_float("OGD_HTTP_TIMEOUT", DEFAULT_TIMEOUT)
        self.deadline_seconds = deadline if deadline is not None else _env_float("OGD_DEADLINE", DEFAULT_DEADLINE)
        self.deadline_at = time.monotonic() + self.deadline_seconds
        self.actions: Counter[str] = Counter()
        self.http_requests = 0
        self.uploads = 0

    def companion(self) -> "PortalClient":
        """A client of the same portal, token, retry policy and deadline with its own HTTP session and counters:
        one per thread that sends requests alongside this one (:meth:`absorb` adds its counts back)."""
        other = copy.copy(self)
        other.session = requests.Session()
        other.actions, other.http_requests, other.uploads, other.last_answer = Counter(), 0, 0, None
        return other

    def absorb(self, other: "PortalClient") -> None:
        """Count a companion's requests as this client's (a publish reports them all)."""
        self.actions.update(other.actions)
        self.http_requests += other.http_requests
        self.uploads += other.uploads
        other.actions, other.http_requests, other.uploads = Counter(), 0, 0
        if other.session is not self.session:
            other.session.close()

    def remaining(self) -> float:
        """Seconds left before the command's deadline."""
        return self.deadline_at - time.monotonic()

    def request_timeout(self, *, upload: bool = False) -> tuple[float, float]:
        """(connect, read) timeouts for one request: the configured silence, never past the deadline."""
        read = self.timeout * (UPLOAD_TIMEOUT_FACTOR if upload else 1)
        left = max(self.remaining(), 0.1)
        return min(self.timeout, left), min(read, left)

    @property
    def rerun_note(self) -> str:
        """'publishing is safe to re-run' / 'pulling is safe to re-run': the command the user ran."""
        return f"{self.command.removesuffix('e')}ing is safe to re-run"

    def scrub(self, text: str) -> str:
        """The text without the token (a portal or library message may echo what was sent)."""
        return text.replace(self.apikey, "[REDACTED]") if self.apikey else text

    # ckanapi calls this for every POST; files are rewound so a retry re-sends them whole.
    def _request_fn(self, url: str, data: Any, headers: dict[str, str], files: Any, requests_kwargs: dict[str, Any]) -> tuple[int, str]:
        for item in (files or {}).values():
            handle = item[1] if isinstance(item, tuple) else item
            if hasattr(handle, "seek"):
                handle.seek(0)
        self.http_requests += 1
        if files:
            self.uploads += 1
        requests_kwargs = {**requests_kwargs, "timeout": self.request_timeout(upload=bool(files))}
        if files:
            # requests would build the whole multipart body in memory (a 200 MB part, 200 MB of memory): the
            # encoder reads the file as the body is sent.
            encoder = MultipartEncoder(fields=[*((_text(key), _text(value)) for key, value in data.items()),
                                               *files.items()])
            data, headers, files = encoder, {**headers, "Content-Type": encoder.content_type}, None
        response = self.session.post(url, data=data, headers=headers, files=files, allow_redirects=False, **requests_kwargs)
        self.last_answer = (response.status_code, dict(response.headers), response.content[:2048])
        if response.status_code in TRANSIENT_STATUS:
            raise TransientHTTPError(response.status_code, url, parse_retry_after(response.headers.get("Retry-After")))
        return response.status_code, response.text

    def next_wait(self, attempt: int, error: BaseException) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` under the retry policy, or None to give up.

        None when the attempts are spent, when the server asks (``Retry-After``)
        to wait longer than the policy allows, or when the wait would pass the
        command's deadline (:meth:`gave_up_when` says which).
        """
        retry_after = error.retry_after if isinstance(error, TransientHTTPError) else None
        wait = self.policy.wait_seconds(attempt, retry_after)
        return None if wait is None or self.remaining() <= wait else wait

    def gave_up_when(self, error: BaseException, attempt: int) -> str:
        """Why retrying stopped after ``attempt`` attempts, for the message."""
        if attempt >= self.attempts:
            return f"after {attempt} attempt(s)"
        retry_after = error.retry_after if isinstance(error, TransientHTTPError) else None
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            return (f"it asked to wait {retry_after:g} s (Retry-After), longer than the "
                    f"{self.policy.max_retry_after:g} s allowed, after {attempt} attempt(s)")
        return f"the command's deadline of {self.deadline_seconds:g} s ran out after {attempt} attempt(s)"

    def call_action(self, action: str, data_dict: dict[str, Any] | None = None, context: Any = None,
                    apikey: str | None = None, files: Any = None, requests_kwargs: dict[str, Any] | None = None,
                    *, lookup: Callable[[], Any] | None = None) -> Any:
        """Call ``action``, retrying what is transient until the attempts or the deadline run out.

        ``lookup`` (required in effect for :data:`NON_IDEMPOTENT` actions) is
        asked, after an ambiguous failure and before re-sending, whether the
        portal already did the work; what it returns (not None) is the result.
        A non-idempotent action without ``lookup`` is never re-sent after an
        ambiguous failure.
        """
        self.actions[action] += 1
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._call_once(action, data_dict, context, apikey, files, requests_kwargs)
            except (ckanapi.NotFound, ckanapi.NotAuthorized, ckanapi.ValidationError, ckanapi.SearchError,
                    ckanapi.SearchQueryError, ckanapi.SearchIndexError):
                raise
            except (ckanapi.CKANAPIError, ckanapi.ServerIncompatibleError, KeyError) as exc:
                # ckanapi raises its base error for an answer it cannot read as CKAN's (an HTML page, a redirect,
                # JSON of another API) and KeyError for {"success": true} without a result.
                if isinstance(exc, ckanapi.CKANAPIError) and self._ckan_error_answer():
                    raise  # CKAN's own JSON error of a type ckanapi does not know: the caller reports it
                raise self.not_ckan(action) from None
            except (requests.ConnectionError, requests.Timeout, TransientHTTPError) as exc:
                error: BaseException = exc
            except requests.RequestException as exc:
                # Not transient (e.g. an invalid header): the library's message may hold a header value, so only its type.
                raise PortalUnavailable(
                    f"the request for {action} to the portal at {self.url} failed ({type(exc).__name__})",
                    f"check CKAN_URL and the token's form, then run again; {self.rerun_note}",
                ) from None
            ambiguous = ambiguous_failure(error)
            if ambiguous and action in NON_IDEMPOTENT and lookup is None:
                raise self._gave_up(action, error, attempt, "the portal may have done it: look before re-running")
            wait = self.next_wait(attempt, error)
            if wait is None:
                raise self._gave_up(action, error, attempt, when=self.gave_up_when(error, attempt))
            time.sleep(wait)
            if ambiguous and lookup is not None:
                found = lookup()
                if found is not None:
                    return found

    def _call_once(self, action: str, data_dict: dict[str, Any] | None, context: Any, apikey: str | None,
                   files: Any, requests_kwargs: dict[str, Any] | None) -> Any:
        """One POST of the action. JSON goes as UTF-8, not as ckanapi's ASCII escapes: Thai text is 6 bytes a
        character escaped, 3 in UTF-8, and a DataStore chunk of long releases is then half the size to build,
        hold and send."""
        if files or context:
            return super().call_action(action, data_dict, context, apikey, files, requests_kwargs)
        url = f"{self.address.rstrip('/')}/{self.base_url}{action}"
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": self.user_agent}
        key = apikey or self.apikey
        if key:
            headers["X-CKAN-API-Key"] = headers["Authorization"] = str(key)
        body = json.dumps(data_dict or {}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if action in ECHOING and not requests_kwargs:
            return self._post_unread(url, body, headers)
        status, response = self._request_fn(url, body, headers, None, dict(requests_kwargs or {}))
        return ckanapi.common.reverse_apicontroller_action(url, status, response)

    def _post_unread(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        """POST an :data:`ECHOING` action: a success is recognised from the start of its answer and the rest is
        drained unread (parsing it would hold the chunk three times over); any other answer is read as usual."""
        self.http_requests += 1
        with self.session.post(url, data=body, headers=headers, allow_redirects=False, stream=True,
                               timeout=self.request_timeout()) as response:
            blocks = response.iter_content(1 << 16)
            start = next(blocks, b"")
            self.last_answer = (response.status_code, dict(response.headers), start[:2048])
            if response.status_code == 200 and _SUCCESS.search(start[:2048]):
                for _ in blocks:
                    pass
                return None
            if response.status_code in TRANSIENT_STATUS:
                raise TransientHTTPError(response.status_code, url,
                                         parse_retry_after(response.headers.get("Retry-After")))
            text = (start + b"".join(blocks)).decode(response.encoding or "utf-8", errors="replace")
        return ckanapi.common.reverse_apicontroller_action(url, response.status_code, text)

    def _gave_up(self, action: str, error: BaseException, attempts: int, note: str = "",
                 *, when: str | None = None) -> PortalUnavailable:
        if isinstance(error, TransientHTTPError):
            what = f"kept answering HTTP {error.status} to {action}"
            hint = f"the portal is overloaded or failing; run again later ({self.rerun_note})"
        else:
            silent = isinstance(error, requests.Timeout)
            what = (f"did not answer {action} within {self.timeout:g} s" if silent
                    else f"could not be reached ({type(error).__name__}) for {action}")
            hint = ("check CKAN_URL and that the portal is up (for the local one: make portal), then run again; "
                    + self.rerun_note + ("; a slow portal may need a longer --timeout" if silent else ""))
        when = when or f"after {attempts} attempt(s)"
        return PortalUnavailable(f"the portal at {self.url} {what}; {when}" + (f" ({note})" if note else ""), hint)

    def _ckan_error_answer(self) -> bool:
        """True when the last answer is CKAN's error JSON ({"success": false, "error": {...}})."""
        if self.last_answer is None:
            return False
        try:
            parsed = json.loads(self.last_answer[2])
        except ValueError:
            return False  # not JSON, or more than the 2 KiB kept: CKAN's error answers are short
        if self.last_answer[0] == 400 and isinstance(parsed, str) and "Action name not known" in parsed:
            return True  # CKAN's answer to an action no plugin of this portal provides (a bare JSON string)
        return isinstance(parsed, dict) and parsed.get("success") is False and isinstance(parsed.get("error"), dict)

    def not_ckan(self, action: str) -> UsageError:
        """The error for an address that answered, but not like CKAN's action API (the one check of publish and pull).

        Says what the last answer was (status, redirect target, kind of body) without quoting the body: a proxy's
        page may echo the request's headers.
        """
        endpoint = f"{self.url}/api/action/{action}"
        described = describe_answer(*self.last_answer) if self.last_answer else "no usable answer"
        return UsageError(
            f"the address {self.url} does not answer like a CKAN API ({endpoint}: {described})",
            "check CKAN_URL (or --url): it must be the portal's root, e.g. https://data.example.go.th, "
            "whose /api/action/ answers JSON")

    @property
    def api_calls(self) -> int:
        return sum(self.actions.values())

    def on_portal_origin(self, url: str) -> bool:
        """True when ``url`` has the portal's own scheme, host and port: the only place the token may go."""
        return same_origin(url, self.url)

    def file_digest(self, url: str, chunk: int = 1 << 20) -> tuple[int, str] | int:
        """Stream the file at ``url`` (bounded memory) and return (size, sha256 hex), or the HTTP status it failed with.

        The token goes only to the portal's own origin and never across a
        redirect (redirects are not followed: a redirect is a failure to report).
        Transient failures are retried like API calls.
        """
        headers = {"User-Agent": self.user_agent}
        if self.apikey and self.on_portal_origin(url):
            headers["Authorization"] = self.apikey
        attempt = 0
        while True:
            attempt += 1
            try:
                self.http_requests += 1
                with self.session.get(url, headers=headers, stream=True, allow_redirects=False,
                                      timeout=self.request_timeout()) as response:
                    if response.status_code in TRANSIENT_STATUS:
                        raise TransientHTTPError(response.status_code, url,
                                                 parse_retry_after(response.headers.get("Retry-After")))
                    if response.status_code != 200:
                        return response.status_code
                    digest, size = hashlib.sha256(), 0
                    for block in response.iter_content(chunk):
                        digest.update(block)
                        size += len(block)
                    return size, digest.hexdigest()
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    TransientHTTPError) as exc:
                wait = self.next_wait(attempt, exc)
                if wait is None:
                    raise self._gave_up(f"the download of {url}", exc, attempt,
                                        when=self.gave_up_when(exc, attempt)) from None
                time.sleep(wait)


def describe_answer(status: int, headers: dict[str, str], body: bytes) -> str:
    """What an HTTP answer was, in a few words: its status, a redirect's target, and the kind of body."""
    lowered = {key.lower(): value for key, value in headers.items()}
    kind = lowered.get("content-type", "").split(";")[0].strip().lower()
    start = body.lstrip().lower()
    if not start:
        what = "an empty answer"
    elif "html" in kind or start.startswith((b"<!doctype html", b"<html")):
        what = "an HTML page"
    elif "json" in kind or start.startswith((b"{", b"[")):
        what = "JSON that is not a CKAN API answer"
    else:
        what = f"{kind or 'an answer of no declared type'} that is not JSON"
    if status in (301, 302, 303, 307, 308):
        return f"HTTP {status} to {lowered.get('location', '(no Location)')}, {what}"
    return f"HTTP {status}, {what}"


def same_origin(url: str, base: str) -> bool:
    """Same scheme, host and port (default ports filled in)."""
    def origin(address: str) -> tuple[str, str, int | None]:
        parts = urlsplit(address)
        try:
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            return ("", "", None)
        return parts.scheme.lower(), (parts.hostname or "").lower(), port

    return bool(urlsplit(url).hostname) and origin(url) == origin(base)

@dataclass(frozen=True)
class PortalSettings:
    """Which portal a command talks to, the token it sends, and where each came from (for the user, never the token)."""

    url: str
    token: str | None
    url_source: str  # e.g. "CKAN_URL", "the local portal (.portal/env)"
    token_source: str  # e.g. "CKAN_API_TOKEN", "the local portal's sysadmin (.portal/env)", "none: anonymous"
    note: str = ""  # why a token was or was not taken, when that is not obvious (never the token)

    def describe(self) -> str:
        """One line for stderr: the portal and the token's source (never the token itself)."""
        return f"portal {self.url} (from {self.url_source}); token: {self.token_source}" + (
            f" ({self.note})" if self.note else "")


# A CKAN API token is a JWT (three base64url parts) or, on old portals, a UUID API key: printable ASCII with
# no white space. A token with a stray newline or space (a paste error in a CI secret) would make requests
# raise an InvalidHeader error whose message holds the whole token.
TOKEN_MIN, TOKEN_MAX = 16, 4096
_TOKEN_FORM = re.compile(rf"[A-Za-z0-9._~+/=-]{{{TOKEN_MIN},{TOKEN_MAX}}}")


def check_token_form(token: str, source: str) -> None:
    """Refuse a token that cannot be sent as a header, saying where the fault is but never the token."""
    if _TOKEN_FORM.fullmatch(token):
        return
    stray = next((i for i, ch in enumerate(token) if not re.match(r"[A-Za-z0-9._~+/=-]", ch)), None)
    if stray is not None:
        what = {"\n": "a newline", "\r": "a carriage return", " ": "a space", "\t": "a tab"}.get(
            token[stray], f"the character U+{ord(token[stray]):04X}")
        detail = f"{what} at position {stray + 1} of {len(token)}"
    elif len(token) < TOKEN_MIN:
        detail = f"{len(token)} characters, too short to be a CKAN API token"
    else:
        detail = (f"{len(token):,} characters, too long to be a CKAN API token (at most {TOKEN_MAX:,}): "
                  "not a token, or several pasted together")
    raise AuthError(
        f"the API token in {source} is not well formed ({detail})",
        f"copy the token again without white space (a CI secret often gets a trailing newline) and set {source}",
    )


#: Every token this process resolved: the CLI's last line of defence redacts them from any traceback,
#: whatever the environment variable that held them is called.
SECRETS_IN_USE: set[str] = set()

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def portal_settings(url: str | None = None, token: str | None = None, *, token_env: str | None = None,
                    use_local_token: bool = True, command: str = "publish") -> PortalSettings:
    """The portal and token from the arguments, the environment, or the local portal's ``.portal/env``.

    ``token_env`` names the variable that holds the token (``--token-env``;
    default ``CKAN_API_TOKEN``): a named variable that is unset is a usage
    error, and a value that is no variable name is refused without being
    echoed (it may be a pasted token). An explicit ``--token-env`` always
    applies to the portal in use. ``CKAN_API_TOKEN`` is meant for
    ``CKAN_URL``: when ``url`` (``--url``) names another origin it is not
    sent there (``pull`` goes anonymous and says so; ``publish`` is a usage
    error that asks for ``--token-env``). A variable that is set but empty
    (a CI secret that is missing) is never taken as "unset": ``publish``
    refuses it (exit 4) rather than fall back to another token; ``pull``
    goes anonymous and says so. ``.portal/env`` (written by ``make
    portal``) fills in what the environment lacks when the URL is unset or
    is the local portal's; ``use_local_token`` False (pulling) never takes
    its sysadmin token. The token's form is checked here, before any
    request carries it.
    """
    explicit = token_env is not None
    if explicit:
        assert token_env is not None
        if not _ENV_NAME.fullmatch(token_env):
            raise UsageError("--token-env takes the NAME of an environment variable (letters, digits, _), not a token",
                             "export MY_TOKEN=… (e.g. from a CI secret) and give --token-env MY_TOKEN")
        if token_env not in os.environ:
            raise UsageError(f"the environment variable {token_env} (--token-env) is not set",
                             f"export {token_env}=<the API token> and run again")
    variable = token_env or "CKAN_API_TOKEN"
    env_url = os.environ.get("CKAN_URL") or None
    url_given = bool(url)
    url_source = "--url" if url else "CKAN_URL"
    url = url or env_url
    token_source, note = variable, ""
    empty = False  # the variable is set to nothing: a missing secret, never a reason to use another token
    if token is not None:
        token_source = "the command line"
    else:
        raw = os.environ.get(variable)
        withheld = (not explicit and raw and url_given and env_url is not None
                    and not same_origin(str(url), env_url))
        if withheld:
            if command == "publish":
                raise UsageError(
                    f"CKAN_API_TOKEN is meant for CKAN_URL ({_origin_text(env_url)}), and --url names another "
                    f"portal ({_origin_text(str(url))}): the token is not sent there",
                    f"put the token for {_origin_text(str(url))} in a variable and give --token-env VARIABLE "
                    "(e.g. export OTHER_TOKEN=… and --token-env OTHER_TOKEN), or set CKAN_URL to that portal")
            note = (f"CKAN_API_TOKEN is for CKAN_URL {_origin_text(env_url)}, not sent to another portal; "
                    "give --token-env VARIABLE to send a token there")
        elif raw is not None and not raw.strip():
            if command == "publish":
                raise AuthError(f"{variable} is set but empty: a missing CI secret?",
                                f"set {variable} to the API token (check the CI secret's name and that this job "
                                f"may read it), or unset {variable}")
            empty = True
            note = f"{variable} is set but empty (a missing CI secret?): pulling anonymously"
        elif raw:
            token = raw
            if url_given and env_url is None and not explicit:
                note = "CKAN_URL is unset: CKAN_API_TOKEN is sent to --url"
    local_env = local_portal_env()
    if local_env.exists():
        local = read_env_file(local_env)
        if not url or url.rstrip("/") == local.get("CKAN_URL", "").rstrip("/"):
            if not url:
                url, url_source = local.get("CKAN_URL"), f"the local portal ({local_env})"
            if token is None and not empty and not note and use_local_token and local.get("CKAN_API_TOKEN"):
                token = local["CKAN_API_TOKEN"]
                token_source = f"the local portal's sysadmin token ({local_env})"
    if not url:
        raise UsageError(
            f"no portal given: CKAN_URL is not set, and no local development portal was found ({local_env} "
            "does not exist)",
            "export CKAN_URL=https://… and CKAN_API_TOKEN; for the local portal of an ogd-pipeline checkout, "
            "export OGD_PORTAL_DIR=/path/to/ogd-pipeline/.portal (after `make portal` there)")
    if token is None:
        token_source = "none (anonymous)"
    else:
        SECRETS_IN_USE.add(token)
        check_token_form(token, token_source)
    return PortalSettings(url.rstrip("/"), token, url_source, token_source, note)


def _origin_text(url: str) -> str:
    """scheme://host[:port] of a URL, without its path, query or any user:password@."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
