"""What can happen to one fetch or one source: stable kebab-case codes, each with a message and a hint.

Outcomes are data (never exceptions): the run reports them per host and
source, and the ``--json`` summary carries the codes. README: "Harvest
outcomes" lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OutcomeKind:
    code: str
    message: str  # what happened, for a person
    hint: str  # what to do about it
    error: bool = True  # False: a note (the fetch still gave us what we need)


_KINDS = [
    OutcomeKind("not-found", "the server answered 404 Not Found",
                "the link may be wrong or not yet published; it is tried again next run"),
    OutcomeKind("gone", "the server answered 410 Gone",
                "the page was removed for good; it is not asked for again"),
    OutcomeKind("http-error", "the server refused the request (a 4xx answer other than 404/410/429)",
                "check the URL and whether the site needs a login; it is tried again next run"),
    OutcomeKind("server-error", "the server kept failing (5xx) after every retry",
                "the site is down or overloaded; the next run tries again"),
    OutcomeKind("rate-limited", "the server kept answering 429 Too Many Requests, or asked to wait longer than allowed",
                "raise the source's delay (delay = SECONDS) and run later"),
    OutcomeKind("timeout", "the server did not answer in time (silence, or a response that never ended)",
                "the site is slow or hanging; raise [harvest] timeout if it is only slow"),
    OutcomeKind("connection-failed", "the server could not be reached (DNS, refused, reset, TLS)",
                "check the URL and that the site is up; a broken certificate chain needs verify_tls = false"),
    OutcomeKind("redirect-loop", "the redirects lead back to a URL already visited",
                "tell the site's webmaster; fix the source URL to the final address"),
    OutcomeKind("too-many-redirects", "more redirects than allowed",
                "use the final address as the source URL"),
    OutcomeKind("robots-disallowed", "robots.txt of the site disallows this URL for our user agent",
                "not fetched, by design; ask the agency for a feed or for access"),
    OutcomeKind("robots-unreachable", "robots.txt could not be read (5xx or unreachable): the site is treated as closed",
                "RFC 9309 says to assume complete disallow; the next run tries again"),
    OutcomeKind("too-large", "the response was larger than the size cap and was not kept",
                "raise [harvest] max_bytes if such pages are real releases"),
    OutcomeKind("unexpected-content-type", "the response's content type is not what this kind of document should be",
                "check the URL (an error page, a file download, or the wrong --kind)"),
    OutcomeKind("unreadable-document", "a feed, sitemap, API answer or listing could not be parsed",
                "check the URL and --kind; the archive keeps the bytes for inspection"),
    OutcomeKind("kind-unknown", "--kind auto found no feed, WordPress API or sitemap at this URL",
                "give --kind listing with --link-pattern, or the feed's own URL"),
    OutcomeKind("source-unreachable", "the source's first document could not be fetched: nothing was harvested from it",
                "see the fetch outcome beside it; the other sources were still harvested"),
    OutcomeKind("charset-mislabelled", "the declared charset does not decode the bytes; they were read as another",
                "nothing to do: the bytes are archived as served", error=False),
    OutcomeKind("tls-unverified", "TLS certificates are not verified for this source (verify_tls = false)",
                "fix when the site's certificate chain is repaired", error=False),
    OutcomeKind("feed-malformed", "the feed is not well-formed XML; its entries were still read",
                "nothing to do unless entries are missing", error=False),
]

OUTCOMES: dict[str, OutcomeKind] = {kind.code: kind for kind in _KINDS}


@dataclass(frozen=True)
class Outcome:
    """One reported event: ``code`` (see :data:`OUTCOMES`), the URL and host, and machine-readable details."""

    code: str
    url: str
    host: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> OutcomeKind:
        return OUTCOMES[self.code]

    @property
    def error(self) -> bool:
        return self.kind.error

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "url": self.url, "host": self.host, "message": self.kind.message,
                "hint": self.kind.hint, **({"details": self.details} if self.details else {})}
