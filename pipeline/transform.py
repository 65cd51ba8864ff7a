"""Transform: one input in, its outcomes out: a :class:`Release` or a :class:`Problem` for the input, or
one for each of its items (a feed, a WordPress answer, a listing page).

``transform_file`` is a pure function of the input's bytes, its relative path,
the chosen source and the build's settings (the site profiles, handed in with
each input): no shared state, so it runs the same in a worker process, a
thread, or on a Dask cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import PARSER_VERSION
from .extract.decode import DEFAULT_MAX_INPUT_BYTES, DecodeProblem, content_hash, decode, read_bytes
from .extract.discover import InputFile
from .problems import Problem
from .record import Release
from .sources.base import ParsedRelease, ParseProblem, SourceContext
from .sources.registry import AUTO, choose_source
from .thaitext import (
    DateError,
    check_plausible,
    count_words,
    detect_language,
    normalize_phone,
    parse_date,
    segment_words,
)

if TYPE_CHECKING:
    from .package.quarantine import KeptCopy
    from .sources.profiles import SiteProfiles


@dataclass(frozen=True, slots=True)
class ReusedRow:
    """A record of the previous package, left where it is: row ``position`` of its files."""

    position: int
    release_id: str
    content_sha256: str
    source: str
    published_date: Any
    item: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """Exactly one of ``release``, ``row``, ``reused`` and ``problem`` is set.

    ``row`` is a release already checked against the Table Schema, as the
    writer takes it (see :func:`pipeline.build.executor.checked_outcome`).
    ``kept_copy`` goes with a problem reused from the previous package: its
    copy there of the same input bytes.
    """

    release: Release | None = None
    problem: Problem | None = None
    reused: ReusedRow | None = None
    row: dict[str, Any] | None = None
    kept_copy: KeptCopy | None = None


def release_id_for(source: str, parsed: ParsedRelease, published_iso: str) -> str:
    """Stable id: the source's own id where it has one, else a hash of source+title+date."""
    if parsed.source_id:
        return f"{source}-{parsed.source_id}"
    digest = content_hash(f"{source}\n{parsed.title}\n{published_iso}".encode())
    return f"{source}-{digest[:16]}"


def transform_file(item: InputFile, source: str = AUTO,
                   max_bytes: int | None = DEFAULT_MAX_INPUT_BYTES, profiles: SiteProfiles | None = None) -> list[Outcome]:
    """Turn one input into its releases (one, or one per item of a feed), or say precisely why each cannot
    be one; never an empty list. An input over ``max_bytes`` is not read. ``profiles``: the site profiles
    the html source reads pages with (None: the bundled ones)."""
    try:
        data = read_bytes(item, max_bytes)
        text, encoding = decode(data)
    except DecodeProblem as problem:
        return [Outcome(problem=Problem(item.relative, problem.reason, problem.message, "extract", problem.details))]
    return transform_text(text, encoding, item.relative, source, content_hash(data), url=item.url, profiles=profiles)


def transform_text(text: str, encoding: str, relative: str, source: str = AUTO, source_sha256: str = "",
                   *, url: str | None = None, profiles: SiteProfiles | None = None,
                   feed_entry: tuple[str | None, str | None] | None = None) -> list[Outcome]:
    """The outcomes of one decoded input, in its items' order (one outcome for a single-release input)."""
    def fail(reason: str, message: str, item: str | None = None, **details: object) -> Outcome:
        return Outcome(problem=Problem(relative, reason, message, "transform", dict(details), item=item))

    context = SourceContext(relative, encoding, url=url, profiles=profiles, feed_entry=feed_entry)
    try:
        chosen_source = choose_source(source, text, context)
    except ParseProblem as problem:  # unknown-format, unknown-source: no source to name
        return [fail(problem.reason, problem.message, **problem.details)]
    chosen = chosen_source.name
    try:
        read = chosen_source.read(text, context)
    except ParseProblem as problem:
        return [fail(problem.reason, problem.message, source=chosen, **problem.details)]
    provenance = _Provenance(chosen, chosen_source.kind, relative, source_sha256 or content_hash(text.encode("utf-8")),
                             encoding)
    if isinstance(read, ParsedRelease):
        return [_release_outcome(read, None, provenance, fail)]
    if not read:
        return [fail("not-a-release", "the input holds no items (an empty feed or listing): nothing to publish",
                     source=chosen)]
    return [fail(entry.problem.reason, entry.problem.message, entry.item, source=chosen, **entry.problem.details)
            if entry.problem is not None else _release_outcome(entry.release, entry.item, provenance, fail)
            for entry in read]


@dataclass(frozen=True, slots=True)
class _Provenance:
    """What every release of one input shares."""

    source: str
    kind: str
    relative: str
    sha256: str
    encoding: str


def _release_outcome(parsed: ParsedRelease | None, item: str | None, provenance: _Provenance,
                     fail: Callable[..., Outcome]) -> Outcome:
    assert parsed is not None, "a ParsedItem holds a release or a problem"
    chosen = provenance.source
    try:
        if parsed.published is not None:
            published = parsed.published
        else:
            published = parse_date(parsed.date_text).value
        check_plausible(published, parsed.date_text)
    except DateError as problem:
        return fail(problem.code, str(problem), item, source=chosen, date_text=parsed.date_text)
    published_iso = published.isoformat()

    tokens = segment_words(parsed.body)
    body_words = " ".join(tokens)
    word_count = count_words(body_words)
    content_sha256 = content_hash(f"{parsed.title}\n{published_iso}\n{parsed.body}".encode())
    release = Release(
        release_id=release_id_for(chosen, parsed, published_iso),
        source=chosen,
        source_kind=provenance.kind,
        source_url=parsed.source_url,
        source_file=provenance.relative,
        item=item,
        source_sha256=provenance.sha256,
        source_encoding=provenance.encoding,
        category=parsed.category,
        title=parsed.title,
        subtitle=parsed.subtitle,
        published_date=published,
        published_date_text=parsed.date_text,
        date_source=parsed.date_source,
        agency=parsed.agency,
        office=parsed.office,
        contact_phone=normalize_phone(parsed.phone_text) if parsed.phone_text else None,
        byline=parsed.byline,
        byline_unit=parsed.byline_unit,
        read_count=parsed.read_count,
        vote_count=parsed.vote_count,
        body=parsed.body,
        body_words=body_words,
        word_count=word_count,
        language=detect_language(parsed.title + "\n" + parsed.body),
        content_sha256=content_sha256,
        parser_version=PARSER_VERSION,
    )
    return Outcome(release=release)
