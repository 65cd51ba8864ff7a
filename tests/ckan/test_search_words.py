"""The DataStore search column (pipeline/ckan/search.py): Thai words inside compounds, less those body_words holds."""

from __future__ import annotations

from pipeline.ckan.search import search_words, thai_pieces


def test_words_inside_compounds_are_found_at_letter_boundaries() -> None:
    pieces = thai_pieces("นักท่องเที่ยวต่างชาติ")
    # ท่องเที่ยว inside นักท่องเที่ยว, ชาติ inside ต่างชาติ: what a search for either must find.
    assert {"ท่องเที่ยว", "เที่ยว", "ต่างชาติ", "ชาติ"} <= pieces
    # Never a piece cut before the tone or vowel mark of its last letter (เที่ย of เที่ยว has ว: fine; ที of ที่ is not).
    assert not any(piece.endswith("ที") for piece in thai_pieces("ที่นี่มีที่พัก"))
    assert thai_pieces("ABC 123 ...") == set()


def test_words_body_words_holds_whole_are_not_sent_again() -> None:
    row = {"title": "นักท่องเที่ยวต่างชาติ", "subtitle": None, "body": "นักท่องเที่ยวต่างชาติเพิ่มขึ้น",
           "body_words": "นัก ท่องเที่ยว ต่างชาติ เพิ่มขึ้น"}
    words = search_words(row).split(" ")
    assert words == sorted(set(words))  # unique and sorted: the same text gives the same column
    assert "ชาติ" in words and "เที่ยว" in words  # inside compounds: only here
    # Whole tokens of body_words are in the full-text index through that column already.
    assert not {"ท่องเที่ยว", "ต่างชาติ", "เพิ่มขึ้น"} & set(words)
