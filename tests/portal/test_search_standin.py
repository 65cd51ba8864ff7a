"""The Solr stand-in's query language: the subset CKAN sends, with Solr's semantics."""

from __future__ import annotations

import pytest

from portal.search_standin import _mm, parse_query

A = {"name": "x", "state": "active", "tags": ["ข่าว", "news"], "title": "ข่าวประชาสัมพันธ์ทดสอบ", "num": 5}
B = {"name": "y", "state": "active", "tags": ["other"], "title": "Cabinet meeting", "num": 12}
C = {"name": "x", "state": "deleted", "tags": [], "title": "Old", "num": 1}


@pytest.mark.parametrize(
    "query, operator, expected",
    [
        ("name:x +state:(active)", "AND", [True, False, False]),  # CKAN sends q.op=AND: name is required
        ("name:x +state:(active)", "OR", [True, True, False]),   # Lucene's default: name is optional
        ("name:x OR name:y", "AND", [True, True, True]),
        ("+state:(active OR deleted) -name:y", "AND", [True, False, True]),
        ("name:x AND state:active", "OR", [True, False, False]),
        ("NOT name:x", "AND", [False, True, False]),
        ("tags:news", "AND", [True, False, False]),
        ("num:[2 TO 10]", "AND", [True, False, False]),
        ("num:[* TO 5}", "AND", [False, False, True]),
        ('title:"Cabinet meeting"', "AND", [False, True, False]),
        ("name:*", "AND", [True, True, True]),
        ("title:cab*", "AND", [False, True, False]),
        ("*:*", "AND", [True, True, True]),
        ("title:ประชาสัมพันธ์", "AND", [True, False, False]),  # a Thai word inside unspaced Thai text
    ],
)
def test_lucene_subset(query: str, operator: str, expected: list[bool]) -> None:
    predicate = parse_query(query, default_operator=operator)
    assert [predicate(doc) for doc in (A, B, C)] == expected


def test_ckan_minimum_should_match() -> None:
    needed = _mm("2<-1 5<80%")
    assert [needed(n) for n in (1, 2, 3, 5, 6, 10)] == [1, 2, 2, 4, 4, 8]
