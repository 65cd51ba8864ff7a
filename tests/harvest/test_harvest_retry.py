"""The one retry policy (pipeline/retry.py): what is transient, the backoff, and Retry-After."""

from __future__ import annotations

import pytest

from pipeline.retry import RetryPolicy, parse_retry_after


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    assert parse_retry_after("120") == 120.0
    # An HTTP date 90 seconds after "now" (given, so no clock is read).
    now = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
    assert parse_retry_after("Tue, 14 Nov 2023 22:14:50 GMT", now=now) == pytest.approx(90.0)
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=now) == 0.0  # already past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None and parse_retry_after("") is None


def test_transient_answers_are_429_and_5xx_only() -> None:
    assert [s for s in (200, 304, 400, 404, 410, 429, 500, 501, 502, 503, 504) if RetryPolicy.transient_status(s)] \
        == [429, 500, 502, 503, 504]


def test_backoff_doubles_to_its_cap_and_the_last_attempt_gives_up() -> None:
    policy = RetryPolicy(attempts=4, backoff=0.5, max_backoff=1.5)
    assert [policy.wait_seconds(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, None]


def test_retry_after_stretches_the_wait_and_too_long_a_request_gives_up() -> None:
    policy = RetryPolicy(attempts=5, backoff=0.5, max_retry_after=60)
    assert policy.wait_seconds(1, retry_after=10) == 10
    assert policy.wait_seconds(1, retry_after=0.1) == 0.5  # never shorter than the backoff
    assert policy.wait_seconds(1, retry_after=3600) is None  # an hour inside a daily job: give up, say so
