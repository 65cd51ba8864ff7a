"""Source formats: each parser turns one decoded release into a :class:`ParsedRelease`.

A parser only reads structure; it does not convert dates, segment words or
build ids (that is :mod:`pipeline.transform`). It raises :class:`ParseProblem`
with a stable reason code when the text is not a usable release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..problems import InputProblem


class ParseProblem(InputProblem):
    """A decoded text that is not a usable release of its format."""


@dataclass(slots=True)
class ParsedRelease:
    """Fields as read from the text, before conversion."""

    title: str
    date_text: str
    body: str
    category: str | None = None
    subtitle: str | None = None
    source_url: str | None = None
    source_id: str | None = None
    agency: str | None = None
    office: str | None = None
    phone_text: str | None = None
    byline: str | None = None
    byline_unit: str | None = None
    read_count: int | None = None
    vote_count: int | None = None


SEPARATOR = re.compile(r"^[-*=_~#•.]{5,}$")
ELLIPSIS_ONLY = re.compile(r"^[.…\s]*$")


def join_paragraphs(lines: list[str]) -> str:
    """Body text: non-blank, non-separator lines joined by a single newline."""
    return "\n".join(line for line in lines if line and not SEPARATOR.match(line))


def squash(text: str) -> str:
    """A comparison key that ignores spaces and punctuation (for repeated titles)."""
    return re.sub(r"[\s\W_]+", "", text)


_WORD = re.compile(r"[^\s\W_]")


def check_body(body: str, title: str, *, ends_with_ellipsis_is_truncated: bool = True) -> None:
    """Refuse bodies that are missing, cut off, or nothing but the title again."""
    if not _WORD.search(body) or (len(body) <= 2 * len(title) + 20 and squash(body) == squash(title)):
        raise ParseProblem(
            "empty-body",
            "the release has a title but no body text (only the title again, or only "
            "symbols such as an emoji: an index or placeholder page); re-export the full release",
            body_chars=len(body),
        )
    if ELLIPSIS_ONLY.match(body) or (ends_with_ellipsis_is_truncated and len(body) < 200 and body.rstrip().endswith(("...", "…"))):
        raise ParseProblem(
            "truncated",
            "the body is cut off (it is only, or ends in, an ellipsis); export the full text of the release",
            body_chars=len(body),
        )
