"""The registry of source formats: the one place that knows which sources exist.

Every module of this package that defines ``SOURCE`` (a :class:`Source`) is
registered when this module is imported; adding a format is one new module
(plus its tests). The ``--source`` choices, the configuration's allowed
values, the descriptor's ``sources``, auto-detection and the
``unknown-source`` / ``unknown-format`` problems all come from here. Two
things outside the code go with a new format, on purpose: its value and
description in the Table Schema's ``source`` enum (static: it is the
consumers' contract; ``tests/validate/test_schema.py`` holds it equal to
:func:`source_names`) and its bullet in the README (``tests/sources/test_sources.py``).

Multi-item inputs (a feed, a WordPress answer, a listing page) fit the same
registry: their source gives ``items`` instead of ``parse`` (see
:class:`pipeline.sources.base.Source`), and the build accounts for each item.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable

from .. import sources as _this_package
from .base import SOURCE_KINDS, ParseProblem, Source, SourceContext

AUTO = "auto"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
# Modules of this package that are not source formats.
_NOT_SOURCES = {"base", "registry"}

_SOURCES: dict[str, Source] = {}


class UnknownSource(ParseProblem):
    """A source name no module registered (a configuration can name one; the CLI cannot)."""

    def __init__(self, name: str) -> None:
        super().__init__("unknown-source", f"unknown source {name!r}; use one of {', '.join(source_names())}")


def register(source: Source) -> Source:
    """Add ``source``; refuse a name or a detection place another source already has."""
    if not NAME_PATTERN.match(source.name) or source.name == AUTO:
        raise ValueError(f"source name {source.name!r}: a-z, 0-9 and '-', starting with a letter, not {AUTO!r}")
    if source.kind not in SOURCE_KINDS:
        raise ValueError(f"source {source.name!r}: kind {source.kind!r} is not one of {', '.join(SOURCE_KINDS)}")
    if source.name in _SOURCES:
        raise ValueError(f"source {source.name!r} is already registered")
    # Two sources at one place would make auto-detection depend on import order.
    clash = next((s for s in _SOURCES.values() if s.detect_order == source.detect_order), None)
    if clash is not None:
        raise ValueError(f"source {source.name!r}: detect_order {source.detect_order} is taken by {clash.name!r}")
    _SOURCES[source.name] = source
    return source


def unregister(name: str) -> None:
    """Remove a source (tests register fakes and take them away again)."""
    del _SOURCES[name]


def source_names() -> tuple[str, ...]:
    """Every registered name, sorted (as the CLI, the configuration and the schema list them)."""
    return tuple(sorted(_SOURCES))


def source_choices() -> tuple[str, ...]:
    """What ``--source`` and the configuration's ``source`` accept."""
    return (AUTO, *source_names())


def sources_in_detection_order() -> tuple[Source, ...]:
    return tuple(sorted(_SOURCES.values(), key=lambda source: source.detect_order))


def get_source(name: str) -> Source:
    try:
        return _SOURCES[name]
    except KeyError:
        raise UnknownSource(name) from None


def detect_source(text: str, context: SourceContext) -> Source | None:
    """The first source, in detection order, that recognises the text."""
    return next((source for source in sources_in_detection_order() if source.detect(text, context)), None)


def choose_source(requested: str, text: str, context: SourceContext) -> Source:
    """The source named by ``requested``, or the detected one for ``auto``.

    Raises :class:`ParseProblem` ``unknown-format`` when nothing recognises the
    text and ``unknown-source`` when ``requested`` names no registered source.
    """
    if requested != AUTO:
        return get_source(requested)
    detected = detect_source(text, context)
    if detected is None:
        raise ParseProblem(
            "unknown-format",
            f"the text matches no known release format ({', '.join(source_names())}); "
            "choose one with --source if you know it",
        )
    return detected


def source_descriptions(names: Iterable[str]) -> list[dict[str, str]]:
    """The descriptor's ``sources``: one entry per name, in the order given."""
    return [get_source(name).description() for name in names]


def _register_package_modules() -> None:
    for module_info in sorted(pkgutil.iter_modules(_this_package.__path__), key=lambda info: info.name):
        if module_info.name in _NOT_SOURCES or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_this_package.__name__}.{module_info.name}")
        source = getattr(module, "SOURCE", None)
        if isinstance(source, Source):
            register(source)


_register_package_modules()
