"""Every problem the pipeline reports: problems with one input, and run-stopping failures with their exit codes.

Problems with one input are *data* (:class:`Problem`), never exceptions.
Exceptions here stop a run; the CLI maps each to its documented exit code
(README: Exit codes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: please report it with the traceback
    USAGE = 2  # wrong command line or configuration
    DATA = 3  # the data failed: quarantine threshold crossed, package invalid, pull mismatch
    AUTH = 4  # the portal refused the token (missing, unknown, expired, insufficient)
    PORTAL_DOWN = 5  # the portal could not be reached or kept failing after retries
    PORTAL_REJECTED = 6  # the portal refused the metadata or data (CKAN validation errors)
    BUSY = 7  # another ogd run holds the lock on the same output folder or dataset; nothing was changed
    OUTPUT = 8  # the output could not be written (disk full, read-only, no permission); nothing half-written is left


class PipelineError(Exception):
    """Base of every run-stopping failure; ``hint`` says what to do next."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(PipelineError):
    exit_code = ExitCode.USAGE

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message, "fix the listed entries and run again")
        self.problems = problems


class UsageError(PipelineError):
    exit_code = ExitCode.USAGE


class DataError(PipelineError):
    """The data is not publishable (threshold crossed, invalid package, mismatch)."""

    exit_code = ExitCode.DATA


class AuthError(PipelineError):
    exit_code = ExitCode.AUTH


class PortalUnavailable(PipelineError):
    exit_code = ExitCode.PORTAL_DOWN


class Busy(PipelineError):
    """Another run holds the lock (a build of the same --out, a publish of the same dataset)."""

    exit_code = ExitCode.BUSY


class OutputError(PipelineError):
    """The output could not be written: disk full, read-only file system, permission denied."""

    exit_code = ExitCode.OUTPUT


class PortalRejected(PipelineError):
    """CKAN refused what we sent; ``field_errors`` keeps CKAN's per-field messages."""

    exit_code = ExitCode.PORTAL_REJECTED

    def __init__(self, message: str, field_errors: dict[str, object] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.field_errors = field_errors or {}


class InputProblem(Exception):
    """Raised inside a stage when one input cannot go on; the stage turns it into a :class:`Problem`."""

    def __init__(self, reason: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one input could not become a record. Bad input is data, not an exception.

    ``reason`` is a stable kebab-case code (documented in the README);
    ``message`` says what is wrong and how to fix it; ``details`` holds
    machine-readable context (line numbers, values, the kept release id).
    """

    path: str
    reason: str
    message: str
    stage: str
    details: dict[str, Any] = field(default_factory=dict)
