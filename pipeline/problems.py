"""Every problem the pipeline reports, in one taxonomy: problems with one input, and run-stopping failures.

Like Frictionless' error classes, each kind of problem has a stable code, the
stage that finds it, what it means and how to fix it:

- :data:`QUARANTINE_REASONS`: why an input could not become a record (a
  :class:`Problem`, listed in ``quarantine.jsonl``; README: Quarantine);
- :data:`SKIPPED_REASONS`: why an entry under the inputs is not an input at all
  (listed in ``report.json`` under ``skipped``; README: Inputs);
- :data:`EXIT_CODES`: every run-stopping error class and the exit code the CLI
  ends with (README: Exit codes); :class:`ExitCode` holds every code there is.

Problems with one input are *data* (:class:`Problem`), never exceptions; a
:class:`Problem` with a code that is not registered here is refused when it is
made, so a typo fails the first test that reaches it. ``tests/project/test_problems.py``
holds the README's tables and the code's string literals against this registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One kind of problem: its stable code, the stage that finds it, what it means and how to fix it."""

    code: str
    stage: str  # "extract", "transform" or "validate"
    description: str
    hint: str
    # False: the input's bytes are not copied into the package (never read, or cannot be opened).
    copy_kept: bool = True


def _by_code(*types: ProblemType) -> dict[str, ProblemType]:
    table = {t.code: t for t in types}
    assert len(table) == len(types), "a problem code is registered twice"
    return table


_RESAVE = "re-save the file as UTF-8 text"
_REEXPORT = "export the full release again from the source site"

QUARANTINE_REASONS: dict[str, ProblemType] = _by_code(
    # extract: decoding one input's bytes (pipeline.extract.decode)
    ProblemType("empty-file", "extract", "the file is empty or white space only",
                "re-export the release, or remove the file"),
    ProblemType("binary-content", "extract", "NUL or control bytes, and not UTF-16: not a text file",
                "remove the file (an image, archive or office document saved under a text name)"),
    ProblemType("undecodable", "extract", "not UTF-8/UTF-16 (with BOM) and not plausible TIS-620/CP874 Thai",
                _RESAVE),
    ProblemType("read-error", "extract", "the file could not be read",
                "give the build's user read permission on the file"),
    ProblemType("too-large", "extract", "larger than max_input_bytes; not read",
                "remove the file, or raise --max-input-bytes (max_input_bytes in datasets.toml) if it is a release"),
    # extract: discovering the inputs (pipeline.extract.discover)
    ProblemType("symlink-outside-root", "extract", "a link whose target lies outside the input folders; never read",
                "copy the target into the inputs if it belongs there, or remove the link", copy_kept=False),
    ProblemType("undecodable-name", "extract", "the file name is not valid UTF-8; its path is escaped (\\xNN)",
                "rename the file with a UTF-8 name"),
    ProblemType("unreadable-folder", "extract", "a folder that could not be listed; its files could not be read",
                "give the build's user read and execute permission on the folder", copy_kept=False),
    ProblemType("path-too-long", "extract", "the path is longer than the system allows (PATH_MAX); it cannot be opened",
                "move the file to a shorter path", copy_kept=False),
    # transform: choosing and applying a source format (pipeline.transform, pipeline.sources)
    ProblemType("unknown-format", "transform", "matches no known source format",
                "choose the format with --source if you know it, or remove the file"),
    ProblemType("unknown-source", "transform", "the source format asked for is not a known one (only through the "
                "library: --source and datasets.toml accept known formats only)",
                "use one of the formats `ogd build --help` lists under --source"),
    ProblemType("missing-title", "transform", "no title", _REEXPORT),
    ProblemType("missing-date", "transform", "no date line", _REEXPORT),
    ProblemType("unparseable-date", "transform", "a date line that reads as no calendar date",
                "correct the date line"),
    ProblemType("implausible-date", "transform", "before 1990 (e.g. the 1970-01-01 placeholder) or in the future",
                "correct the year, or remove the placeholder page"),
    ProblemType("empty-release", "transform", "a placeholder page: no title and no body", "remove the file"),
    ProblemType("empty-body", "transform", "a title but no body (only the title again, or only symbols)", _REEXPORT),
    ProblemType("truncated", "transform", "the text is cut off (body only an ellipsis, or the source's closing "
                "lines missing)", _REEXPORT),
    # transform: page text of any layout (pipeline.sources.generic)
    ProblemType("yearless-date", "transform", "the release's only date has no year ('วันที่ 16 กันยายน') and nothing "
                "trustworthy (its address, a dated line) gives one; the year is never guessed",
                "give the page with its address (harvest it), or add the year to its date line"),
    # transform: HTML pages and page text (pipeline.sources.html, .generic)
    ProblemType("not-a-release", "transform", "a page (HTML or page text) that is no release: no date anywhere, no "
                "body text, or a listing (an index, template, contact, about or service page, a digest)",
                "nothing to do if it is not a release; if it is, export it with its date or read the site's feed"),
    ProblemType("truncated-html", "transform", "an HTML page cut off before its </body> or </html>",
                "fetch the page again"),
    ProblemType("script-only", "transform", "an HTML page with scripts and no visible text (a JavaScript application)",
                "read the site's feed or API instead"),
    ProblemType("garbled-text", "transform", "the page's text was garbled before it was saved (Thai read as Latin-1, "
                "or UTF-8 read as TIS-620)", "fetch the page again and keep its bytes as served"),
    # transform: feeds and WordPress REST answers, one entry per item (pipeline.sources.feed, .wordpress)
    ProblemType("link-only", "transform", "a feed entry or WordPress post that is only a title and a link, with no "
                "text of its own (the release is on the linked page; details: title, link, the date as written and "
                "its day in Bangkok)", "nothing to publish from the feed; harvest the linked page to read the release"),
    ProblemType("malformed-feed", "transform", "a feed that is not well-formed XML (cut mid-tag, an unescaped '&'), or "
                "a WordPress answer cut off mid-JSON: the items before the defect are read, this entry (item "
                "'feed') names the defect and where it is", "fetch the feed again; if it stays broken, tell the site"),
    ProblemType("not-wordpress", "transform", "JSON that is no WordPress REST answer (no post keys id, title, "
                "content, date, link), or an item of a posts list that is no post, or a WordPress error answer",
                "save the site's /wp-json/wp/v2/posts answer itself, or choose the right format with --source"),
    # validate: the record against the Table Schema, and against the records kept before it
    ProblemType("schema-violation", "validate", "the record breaks the Table Schema (details list each field)",
                "correct the fields the details name in the input, or the parser that read them"),
    ProblemType("duplicate", "validate", "the same release (same id, same value of another unique field, or same "
                "title+date+body) as one already kept; details.kept_release_id names it",
                "nothing to do if the copy is redundant; otherwise give the releases their own ids"),
)

SKIPPED_REASONS: dict[str, ProblemType] = _by_code(
    ProblemType("hidden", "extract", "a hidden file or folder (.name): editor and OS litter",
                "rename it without the leading '.' if it is a release"),
    ProblemType("fifo", "extract", "a named pipe (FIFO): never opened (reading it could block)",
                "write the release to a regular file"),
    ProblemType("socket", "extract", "a socket, not a file", "write the release to a regular file"),
    ProblemType("device", "extract", "a device, not a file", "write the release to a regular file"),
    ProblemType("not-a-file", "extract", "neither a file nor a folder", "write the release to a regular file"),
    ProblemType("dangling-symlink", "extract", "a symbolic link to something that does not exist",
                "fix or remove the link"),
    ProblemType("symlink-loop", "extract", "a symbolic link that loops", "fix or remove the link"),
    ProblemType("unreadable-symlink", "extract", "a symbolic link whose target cannot be checked",
                "give the build's user permission to reach the target"),
    ProblemType("linked-folder", "extract", "a symbolic link to a folder: linked folders are not entered",
                "give the folder itself as an input"),
)


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
    SOURCE_UNREACHABLE = 9  # ogd harvest: a source gave nothing (unreachable, disallowed, unrecognised); others harvested
    CLUSTER_UNAVAILABLE = 10  # ogd build --executor dask: the scheduler could not be reached, had no worker, or was lost
    UPLOAD_TOO_LARGE = 11  # ogd publish: a file is over the portal's upload cap (configured, or the portal refused it)
    INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells report it: 128 + 2


class PipelineError(Exception):
    """Base of every run-stopping failure; ``hint`` says what to do next.

    ``exit_code`` comes from :data:`EXIT_CODES` (a subclass takes its nearest
    registered ancestor's code): never set it on a class.
    """

    exit_code: ExitCode

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(PipelineError):
    """The configuration (datasets.toml, the environment) is wrong; ``problems`` lists every entry at once."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message, "fix the listed entries and run again")
        self.problems = problems


class UsageError(PipelineError):
    """The command line asks for something that cannot be done (an --out that would destroy inputs...)."""


class DataError(PipelineError):
    """The data is not publishable (threshold crossed, invalid package, mismatch)."""


class AuthError(PipelineError):
    """The portal refused the token: missing, malformed, unknown, expired, without rights."""


class PortalUnavailable(PipelineError):
    """The portal could not be reached, went silent, or kept failing after retries."""


class Busy(PipelineError):
    """Another run holds the lock (a build of the same --out, a publish of the same dataset)."""


class OutputError(PipelineError):
    """The output could not be written: disk full, read-only file system, permission denied."""


class SourceUnreachable(PipelineError):
    """A harvest source gave nothing: its site could not be reached (or its robots.txt read) after retries, robots.txt
    disallows its URL, or ``--kind auto`` recognised nothing there; the other sources were harvested."""


class ClusterUnavailable(PipelineError):
    """The Dask scheduler of ``--executor dask`` could not be reached, had no worker, or was lost mid-build."""


class UploadTooLarge(PipelineError):
    """A file is larger than the portal accepts in one upload (``max_upload_bytes``, or the portal's refusal)."""


class PortalRejected(PipelineError):
    """CKAN refused what we sent; ``field_errors`` keeps CKAN's per-field messages."""

    def __init__(self, message: str, field_errors: dict[str, object] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.field_errors = field_errors or {}


# The one table of exit codes: every run-stopping error class and the code the CLI ends with.
# (0 is success; INTERRUPTED is Ctrl-C; a click usage error is USAGE, as click itself decides.)
EXIT_CODES: dict[type[PipelineError], ExitCode] = {
    PipelineError: ExitCode.INTERNAL,  # a subclass that is not listed here is a bug's exit code
    ConfigError: ExitCode.USAGE,
    UsageError: ExitCode.USAGE,
    DataError: ExitCode.DATA,
    AuthError: ExitCode.AUTH,
    PortalUnavailable: ExitCode.PORTAL_DOWN,
    PortalRejected: ExitCode.PORTAL_REJECTED,
    Busy: ExitCode.BUSY,
    OutputError: ExitCode.OUTPUT,
    SourceUnreachable: ExitCode.SOURCE_UNREACHABLE,
    UploadTooLarge: ExitCode.UPLOAD_TOO_LARGE,
    ClusterUnavailable: ExitCode.CLUSTER_UNAVAILABLE,
}
for _error_class, _code in EXIT_CODES.items():
    _error_class.exit_code = _code


class InputProblem(Exception):
    """Raised inside a stage when one input cannot go on; the stage turns it into a :class:`Problem`."""

    def __init__(self, reason: str, message: str, **details: object) -> None:
        super().__init__(message)
        _check_registered(reason, QUARANTINE_REASONS, "quarantine reason")
        self.reason = reason
        self.message = message
        self.details = details


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one input could not become a record. Bad input is data, not an exception.

    ``reason`` is a stable kebab-case code of :data:`QUARANTINE_REASONS` (documented in the README);
    ``message`` says what is wrong and how to fix it; ``details`` holds
    machine-readable context (line numbers, values, the kept release id).
    """

    path: str
    reason: str
    message: str
    stage: str
    details: dict[str, Any] = field(default_factory=dict)
    # The item of a multi-item input (a feed entry's key) the problem is about; None for the whole input.
    item: str | None = None

    def __post_init__(self) -> None:
        _check_registered(self.reason, QUARANTINE_REASONS, "quarantine reason")
        if QUARANTINE_REASONS[self.reason].stage != self.stage:
            raise ValueError(f"{self.reason!r} is found by the {QUARANTINE_REASONS[self.reason].stage} stage, "
                             f"not by {self.stage!r} (pipeline/problems.py)")


def _check_registered(code: str, table: dict[str, ProblemType], what: str) -> None:
    """Refuse a code the taxonomy does not know: one dict look-up, so a typo fails where it is made."""
    if code not in table:
        raise ValueError(f"{code!r} is not a registered {what} (pipeline/problems.py); known: {', '.join(table)}")


def check_skipped_reason(code: str) -> None:
    """Refuse a reason for a skipped entry that :data:`SKIPPED_REASONS` does not know."""
    _check_registered(code, SKIPPED_REASONS, "reason for a skipped entry")
