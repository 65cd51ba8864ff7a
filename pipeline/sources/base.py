"""What every source format shares: the parsed fields, the parse problem, the
description of a source, the context it parses in, and the text helpers.

Source modules import from here, never from :mod:`pipeline.sources.registry`
(the registry imports them), so there is no import circle.

A parser only reads structure; it does not convert dates, segment words or
build ids (that is :mod:`pipeline.transform`). It raises :class:`ParseProblem`
with a stable reason code when the text is not a usable release.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal

from ..problems import InputProblem

if TYPE_CHECKING:
    from .profiles import SiteProfiles


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
    # The day of publication in Bangkok, when the source already read it from structured or weighed evidence
    # (a feed's RFC 822 time in UTC is another day in Bangkok near midnight); else transform reads date_text.
    published: dt.date | None = None
    # Which evidence gave the date (pipeline.thaidates.EVIDENCE_ORDER: metadata, date-line, lead, url).
    date_source: str = "date-line"


@dataclass(frozen=True, slots=True)
class ParsedItem:
    """One item of an input that holds several releases (a feed entry, a WordPress post, a listing's item).

    ``item`` is the item's stable key within its input (a feed entry's guid or link, a post's id, else its
    position from 1): the records' ``item`` column and the quarantine entry's ``item``. Exactly one of
    ``release`` and ``problem`` is set: an item that is not a release (a link with no text) is accounted
    for with its own reason, the input's other items still read.
    """

    item: str
    release: ParsedRelease | None = None
    problem: ParseProblem | None = None

@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a source may know about an input besides its text (the same for every source).

    ``url`` is the address an input was fetched from (a harvested page), None
    for a file saved by hand.
    """

    relative: str  # the input's path relative to its input root, POSIX separators
    encoding: str = "utf-8"  # how its bytes were decoded
    url: str | None = None
    # The site profiles in force (pipeline.sources.profiles.SiteProfiles; None: the bundled ones). Part of the
    # context, not a global: the transform stays a pure function of (bytes, source, settings) in any worker.
    profiles: SiteProfiles | None = None
    # A harvested page a feed entry links: the entry's (title, day of publication in Bangkok, ISO). Evidence when
    # the page gives no title or date of its own (pipeline.extract.archive_inputs).
    feed_entry: tuple[str | None, str | None] | None = None

    @property
    def file_name(self) -> str:
        return PurePosixPath(self.relative).name


#: What kind of input a source reads (the records' ``source_kind``).
SourceKind = Literal["text", "html", "feed", "wordpress"]
SOURCE_KINDS: tuple[str, ...] = ("text", "html", "feed", "wordpress")

Detector = Callable[[str, SourceContext], bool]
Parser = Callable[[str, SourceContext], ParsedRelease]
#: A multi-item source's reader: every item of the input, in the input's order. Raise ParseProblem only when
#: the input as a whole is unusable (not a feed at all); a feed cut mid-tag gives the items read before the cut
#: and a last ParsedItem with the problem. A source whose inputs are one release or several (an HTML page, or
#: a listing of items with their own text) returns the one release as a ParsedRelease (its outcome's item None).
ItemsParser = Callable[[str, SourceContext], "list[ParsedItem] | ParsedRelease"]


@dataclass(frozen=True, slots=True)
class Source:
    """One source format, as the registry holds it.

    ``name`` is the value of the records' ``source`` column, a ``--source``
    choice and the prefix of ids without a source id of their own.
    ``title`` and ``homepage`` describe it in the package descriptor's
    ``sources``. Auto-detection asks sources in ascending ``detect_order``
    and takes the first whose ``detect`` says yes: a narrow format (one
    site's layout) comes before a general one.

    A source of one release per input gives ``parse``; a source of inputs that
    hold several (feeds, WordPress JSON, listing pages) gives ``items`` instead.
    """

    name: str
    title: str
    homepage: str
    kind: SourceKind
    detect_order: int
    detect: Detector
    parse: Parser | None = None
    items: ItemsParser | None = None

    def __post_init__(self) -> None:
        if (self.parse is None) == (self.items is None):
            raise ValueError(f"source {self.name!r}: give exactly one of parse (one release per input) and items")

    def read(self, text: str, context: SourceContext) -> list[ParsedItem] | ParsedRelease:
        """Every item of a multi-item input, or the one release of a single-release input."""
        if self.items is not None:
            return self.items(text, context)
        assert self.parse is not None
        return self.parse(text, context)

    def description(self) -> dict[str, str]:
        """The entry of the descriptor's ``sources`` (Data Package: title and path)."""
        return {"title": self.title, "path": self.homepage}


SEPARATOR = re.compile(r"^[-*=_~#•.]{5,}$")
ELLIPSIS_ONLY = re.compile(r"^[.…\s]*$")


def join_paragraphs(lines: list[str]) -> str:
    """Body text: non-blank, non-separator lines joined by a single newline."""
    return "\n".join(line for line in lines if line and not SEPARATOR.match(line))


#: Lines of page furniture that are never release text, by kind: what a page's player, layout or
#: social-media post puts between paragraphs. Sources drop them from bodies (:func:`drop_chrome`) and
#: the quality profile (:mod:`pipeline.quality`) counts the bodies that still hold one, by kind.
CHROME_LINES: dict[str, re.Pattern[str]] = {
    # The fallback text of an HTML5 <audio>/<video> player (radio programme and video pages).
    "player-notice": re.compile(r"^Your browser does not support the (?:audio|video)(?: element| tag)?\.?$",
                                re.IGNORECASE),
    # "." (or "..", "...", "…") alone on a line: a paragraph break of a social-media post.
    "spacer": re.compile(r"^[.…·](?:[.…·\s]*[.…·])?$"),
    # ╔════════╗ / ╚════════╝: the top and bottom of a text frame; the framed line is kept.
    "box-drawing": re.compile(r"^[\u2500-\u257f](?:[\u2500-\u257f\s]*[\u2500-\u257f])?$"),
    # ————, /////, ++++, * * * * *: a drawn rule between parts (three or more rule characters).
    "rule": re.compile(r"^(?:[-–—_=~*+/\\#•]\s*){2,}[-–—_=~*+/\\#•]$"),
}


#: A whole line of site furniture (case-insensitive): skip links, buttons, share and print widgets, language
#: switches, font-size controls, rating widgets, e-mail cloaking, view counters. The html source drops them
#: from a page's text and the generic source's line reader classes them as chrome (one list for both).
SITE_CHROME_LINE = re.compile(
    r"^(?:ข้ามไปยังเนื้อหา(?:หลัก)?|skip to (?:main )?content|addtoany buttons?|written by|rate this item|"
    r"\(\s*\d+\s*votes?\s*\)|อ่านต่อ|อ่านเพิ่มเติม|อ่านทั้งหมด|read more|"
    r"พิมพ์|print|แชร์|share|tweet|line|facebook|twitter|email|อีเมล|กลับหน้าหลัก|กลับ|back|หน้าแรก|home|menu|"
    r"ย้อนกลับ|ดาวน์โหลด|download|แบ่งปัน|คัดลอกลิงก์|copy link|ขนาดตัวอักษร|ขนาดอักษร|ก\s*ก\s*ก|a\s*a\s*a|"
    r"ให้เรตสมาชิก|(?:ดาวไม่ได้ใช้งาน|ดาวใช้งาน)+|thai languages?|english|ภาษาไทย|th\s*en|"
    r"this email address is being protected from spambots\..*|"
    r"(?:[|\s]*[\d,๐-๙]+\s*(?:views?|ครั้ง|คน))|"
    r"(?:(?:จำนวน)?(?:ผู้)?(?:เข้าชม|อ่าน|ผู้ชม|การดู|คนอ่าน)\s*:?\s*[\d,๐-๙]+\s*(?:ครั้ง|คน)?)|"
    r"เข้าชม\s+\S+\s+[\d,]+|(?:(?:hits?|views?|visitors?)\s*:?\s*[\d,]+))[\s:.…»>]*$",
    re.I,
)


def chrome_kind(line: str) -> str | None:
    """The kind of page furniture ``line`` (already cleaned and stripped) is, or None for text."""
    if not line or len(line) > 80:  # furniture is short; a long line is text even if it matches
        return None
    for kind, pattern in CHROME_LINES.items():
        if pattern.match(line):
            return kind
    return None


def drop_chrome(lines: list[str]) -> list[str]:
    """``lines`` without page furniture; a dropped line between paragraphs leaves a paragraph break
    (bodies join paragraphs with one newline, so dropping it is that break)."""
    return [line for line in lines if chrome_kind(line) is None]


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
