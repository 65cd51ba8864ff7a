"""WordPress REST API answers (``/wp-json/wp/v2/posts``: a list of posts, or one post): each post with
text is a release.

Asked before the html source: it claims every document that is a JSON object or list (it
starts with ``[`` or ``{``: never page text or HTML), and a list of posts cut off mid-JSON. Posts (the
first value has the post keys ``id`` and ``title.rendered``) are read; an empty list (no posts) is
``not-a-release``; a WordPress error answer (``code``, ``message``, ``data.status``: a page past the
last one) and any other JSON are ``not-wordpress``. A source of another JSON format goes before it. How a post is read (helpers in
:mod:`pipeline.sources.feedtext`):

- title ``title.rendered`` and body ``content.rendered`` (HTML, cleaned as a feed entry's text; without
  a content, as the harvester asks with ``_fields``, the post is ``link-only``); ``link`` the
  ``source_url``, agency and office from its host.
- date: ``date_gmt`` (UTC) gives the day in Bangkok; ``date`` (the site's local time, Bangkok on Thai
  sites, and what the site shows) is the date as written; either alone is read by itself (a zone-less
  ``date`` is Bangkok time). ``date_source`` is ``metadata``.
- author name (``byline``) and first category name (``category``) when ``_embed`` put them in
  ``_embedded`` (``author``, ``wp:term`` entries of taxonomy ``category``).
- item key: the post's ``id``, else its position from 1.

A list item that is no post is ``not-wordpress`` (the other posts still read); an empty list is
``not-a-release``; a list cut off mid-JSON gives the posts before the cut and a ``malformed-feed``
outcome (item ``feed``) naming where it was cut.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .base import ParsedItem, ParseProblem, Source, SourceContext
from .feedtext import WHOLE_INPUT_ITEM, Entry, body_lines, item_keys, plain_text, release_of, web_link

_JSON_START = re.compile(r"^[\ufeff\s]*[\[{]")
# The keys of a post a WordPress answer always has (the harvester's _fields=id,link,date_gmt,… keep them).
_POST_KEYS = ("id", "title")
_LIST_OF_POSTS_HEAD = re.compile(r'^[\ufeff\s]*\[\s*\{\s*"id"\s*:\s*\d+\s*,[^\[\]]{0,400}?"(?:date|slug|guid)"')


def _is_post(value: Any) -> bool:
    return (isinstance(value, dict) and all(key in value for key in _POST_KEYS)
            and isinstance(value["title"], dict) and "rendered" in value["title"])


def _is_error_answer(value: Any) -> bool:
    """{"code": "rest_post_invalid_page_number", "message": "…", "data": {"status": 400}}"""
    return (isinstance(value, dict) and isinstance(value.get("code"), str) and "message" in value
            and isinstance(value.get("data"), dict) and "status" in value["data"])


def detect(text: str, context: SourceContext) -> bool:
    if not _JSON_START.match(text[:64]):
        return False
    try:
        value = json.loads(text)
    except ValueError:
        return bool(_LIST_OF_POSTS_HEAD.match(text))  # a list of posts cut off: read as far as it goes
    # Every JSON object or list is claimed, not only posts: JSON is never page text or HTML, and JSON that is
    # no WordPress answer gets its own reason (not-wordpress) rather than unknown-format.
    return isinstance(value, (list, dict))


def _posts_before_cut(text: str) -> tuple[list[Any], json.JSONDecodeError | None]:
    """The values of a JSON list one by one, up to where the text stops being JSON."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    at = text.index("[") + 1
    try:
        while True:
            at = _skip_space(text, at)
            if text.startswith("]", at):
                return values, None
            value, at = decoder.raw_decode(text, at)
            values.append(value)
            at = _skip_space(text, at)
            if text.startswith(",", at):
                at += 1
            elif not text.startswith("]", at):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
    except json.JSONDecodeError as error:
        return values, error


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _embedded(post: dict[str, Any]) -> tuple[str | None, str | None]:
    """(author name, first category name) from ``_embedded``, when the answer was asked with ``_embed``."""
    embedded = post.get("_embedded")
    if not isinstance(embedded, dict):
        return None, None
    authors = embedded.get("author")
    author = None
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        author = plain_text(authors[0].get("name")) or None
    category = None
    for group in embedded.get("wp:term") or []:
        for term in group if isinstance(group, list) else []:
            if isinstance(term, dict) and term.get("taxonomy") == "category" and term.get("name"):
                category = plain_text(term["name"])
                break
        if category:
            break
    return author, category


def _rendered(value: Any) -> str | None:
    return value.get("rendered") if isinstance(value, dict) else value if isinstance(value, str) else None


def _entry(post: dict[str, Any]) -> Entry:
    author, category = _embedded(post)
    gmt = post.get("date_gmt") if isinstance(post.get("date_gmt"), str) else None
    local = post.get("date") if isinstance(post.get("date"), str) else None
    # The moment is date_gmt (UTC; "Z" added: WordPress writes it zone-less), whatever time zone the site
    # is set to; the date as written is the local ``date`` the site shows. Without date_gmt, ``date`` is
    # read as Bangkok time.
    return Entry(
        title=plain_text(_rendered(post.get("title"))),
        lines=body_lines(_rendered(post.get("content"))),
        link=web_link(post.get("link") if isinstance(post.get("link"), str) else None),
        dates=[("date_gmt", gmt + "Z" if gmt and not gmt.endswith("Z") else gmt), ("date", local)],
        shown_date=local if gmt and local else None,
        category=category,
        byline=author,
        what="post",
    )


def _not_wordpress(what: str, value: Any, **details: object) -> ParseProblem:
    keys = sorted(value)[:12] if isinstance(value, dict) else None
    shape = f"an object with keys {', '.join(keys)}" if keys is not None else f"a JSON {type(value).__name__}"
    return ParseProblem("not-wordpress", f"{what} is {shape}, not a WordPress post (id, title.rendered, "
                        "content.rendered, date, link); save the site's /wp-json/wp/v2/posts answer itself",
                        **({"keys": keys} if keys is not None else {}), **details)


def items(text: str, context: SourceContext) -> list[ParsedItem]:
    cut: json.JSONDecodeError | None = None
    try:
        value = json.loads(text)
    except ValueError as error:
        if not text.lstrip("\ufeff \t\r\n").startswith("["):
            raise ParseProblem("not-wordpress", f"the input is not JSON ({error}); a WordPress REST answer is a "
                               "JSON list of posts or one post") from None
        value, cut = _posts_before_cut(text)
    if _is_error_answer(value):
        raise ParseProblem("not-wordpress", f"a WordPress error answer, not posts: {value['code']} "
                           f"({plain_text(str(value.get('message')))}, HTTP {value['data'].get('status')}); "
                           "ask for a page that exists", code=value["code"])
    if isinstance(value, dict):
        if not _is_post(value):
            raise _not_wordpress("the JSON", value)
        posts = [value]
    elif isinstance(value, list):
        if value and not any(_is_post(post) for post in value):
            raise _not_wordpress(f"the JSON is a list of {len(value)} items, none a post: its first",
                                 value[0], items=len(value))
        posts = value
    else:
        raise _not_wordpress("the JSON", value)
    keys = item_keys([(str(post["id"]) if _is_post(post) and isinstance(post["id"], (int, str)) else None,)
                      for post in posts])
    read: list[ParsedItem] = []
    for key, post in zip(keys, posts):
        if not _is_post(post):
            read.append(ParsedItem(key, problem=_not_wordpress(f"item {key} of the list", post)))
            continue
        try:
            read.append(ParsedItem(key, release=release_of(_entry(post))))
        except ParseProblem as problem:
            read.append(ParsedItem(key, problem=problem))
    if cut is not None:
        read.append(ParsedItem(WHOLE_INPUT_ITEM, problem=ParseProblem(
            "malformed-feed",
            f"the WordPress answer is cut off mid-JSON: {cut.msg} at line {cut.lineno}, column {cut.colno}; "
            f"{len(posts)} posts before the cut were read; fetch the answer again",
            error=cut.msg, line=cut.lineno, column=cut.colno, entries_read=len(posts), cut_off=True)))
    return read


SOURCE = Source(
    name="wordpress",
    title="WordPress REST API posts (/wp-json/wp/v2/posts) of Thai government sites",
    homepage="https://developer.wordpress.org/rest-api/reference/posts/",
    kind="wordpress",
    detect_order=35,
    detect=detect,
    items=items,
)
