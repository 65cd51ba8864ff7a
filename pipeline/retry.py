"""The one retry policy of every HTTP client of the project (harvesting sites, publishing to CKAN).

What is transient (connection errors, timeouts, HTTP 429 and 5xx), how many
attempts, the exponential backoff and how ``Retry-After`` stretches it: one
definition, so a site and a portal are treated alike. The clients keep their
own loops (they differ in what they do between attempts); they ask this
policy whether and how long to wait.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

#: Answers worth asking again: the server is overloaded (429, 503), failing (500) or its gateway is (502, 504).
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for: a number of seconds or an HTTP date (RFC 9110 10.2.3).

    None when absent or unreadable (a server's malformed header must not stop the run).
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry what is transient.

    ``attempts`` counts the first try. The wait before attempt n+1 is
    ``backoff * 2**(n-1)`` capped at ``max_backoff``; a ``Retry-After`` longer
    than that is obeyed up to ``max_retry_after``. A server asking for longer
    than ``max_retry_after`` is not waited for: the caller gives up and says so
    (waiting an hour inside a daily job helps no one).
    """

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0

    @staticmethod
    def transient_status(status: int) -> bool:
        return status in TRANSIENT_STATUS

    def backoff_seconds(self, attempt: int) -> float:
        """The exponential wait after failed attempt ``attempt`` (1-based)."""
        return min(self.backoff * (2 ** (attempt - 1)), self.max_backoff)

    def wait_seconds(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when the policy says give up.

        Gives up after the last attempt, and when the server's ``Retry-After``
        exceeds ``max_retry_after``.
        """
        if attempt >= self.attempts:
            return None
        wait = self.backoff_seconds(attempt)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            wait = max(wait, retry_after)
        return wait
