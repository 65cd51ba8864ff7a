"""The DataStore search column: Thai words a full-text search can find, including those inside compounds.

CKAN's DataStore indexes every text column of a row in ``_full_text``
(``to_tsvector`` over the values, searched with ``plainto_tsquery``), and
PostgreSQL splits text on spaces and punctuation only. Unsegmented Thai is
therefore found only as whole runs between spaces, and even the segmented
``body_words`` holds each word once, as the segmenter chose it: นักท่องเที่ยว
is one token, so a search for ท่องเที่ยว misses it, as รองนายกรัฐมนตรี hides
นายกรัฐมนตรี; titles are not segmented at all.

:func:`search_words` gives a row one more column, sent to the DataStore only
(the package's files do not have it): every dictionary word of PyThaiNLP's
word list (three characters or more) that occurs inside the title, the
restated headline or the body, at a character-cluster boundary (a piece never
ends before a vowel or tone mark that belongs to the next letter), less the
words ``body_words`` already holds whole (they are in the full-text index
through that column: sending them twice only costs the portal's
``to_tsvector``). The words are unique and sorted, so the column is the same
for the same text. The word list is matched with an Aho-Corasick automaton
(pyahocorasick), about 4 times faster than walking PyThaiNLP's trie from
every position.
Measured on the thaigov sample with DataStore ``q=`` (README, "Thai search"):
ท่องเที่ยว 4 → 8 of 8 releases, นายกรัฐมนตรี 10 → 17 of 17, เศรษฐกิจ 11 → 16 of 16.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ..thaitext import segment_words

SEARCH_FIELD = "search_words"
#: Changes whenever the column's words would change for the same text: the table mark records it, so the next
#: publish re-creates the table with the new words (the rows' content hashes do not see this column).
SEARCH_VERSION = "2"
MIN_PIECE = 3  # code points; shorter dictionary words (ปี, ตา) are whole tokens in body_words anyway
MAX_PIECE = 40

_THAI_RUN = re.compile(r"[\u0e01-\u0e4e]+")
# Marks that belong to the letter before them: a piece may neither start nor end right before one.
_MARKS = frozenset("\u0e31\u0e33\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e4d\u0e4e")

SEARCH_INFO = {
    "label": "คำสำหรับค้นหา (Search words)",
    "notes": "คำภาษาไทยที่พบในหัวข้อ หัวข้อรอง และเนื้อหา รวมคำที่อยู่ในคำประสม (เช่น ท่องเที่ยว ใน นักท่องเที่ยว) "
             "คั่นด้วยช่องว่าง เพื่อให้การค้นหาข้อความเต็ม (q=) ของ DataStore พบคำไทย; ไม่มีในไฟล์ของชุดข้อมูล\n\n"
             "Thai dictionary words found in the title, restated headline and body, including words inside compounds "
             "(ท่องเที่ยว inside นักท่องเที่ยว), separated by spaces, so the DataStore's full-text search (q=) finds "
             "Thai words. Only in the DataStore: not a column of the package's files.",
}


@lru_cache(maxsize=1)
def _dictionary() -> Any:
    """PyThaiNLP's bundled word list (offline: the list ships with the package) as an Aho-Corasick automaton: every
    occurrence of every word in one pass over the text. Its words are Thai letters only, so a match never spans
    anything else."""
    import ahocorasick
    from pythainlp.corpus import thai_words

    automaton = ahocorasick.Automaton()
    for word in thai_words():
        if MIN_PIECE <= len(word) <= MAX_PIECE and _THAI_RUN.fullmatch(word):
            automaton.add_word(word, len(word))
    automaton.make_automaton()
    return automaton


def thai_pieces(text: str) -> set[str]:
    """Every dictionary word inside the Thai runs of ``text``, at cluster boundaries."""
    found: set[str] = set()
    last = len(text) - 1
    for end, length in _dictionary().iter(text):
        start = end - length + 1
        if text[start] in _MARKS or (end < last and text[end + 1] in _MARKS):
            continue  # a piece starting on a mark, or cut before the mark of its last letter
        found.add(text[start:end + 1])
    return found


def search_words(row: dict[str, Any]) -> str:
    """The search column of one row, unique and sorted, separated by spaces: the Thai dictionary words inside its
    title, restated headline and body, and the title's and headline's own tokens (names the dictionary lacks)."""
    headlines = " ".join(str(row.get(name) or "") for name in ("title", "subtitle"))
    words = thai_pieces(f"{headlines} {row.get('body') or ''}")
    words.update(token for token in segment_words(headlines) if _THAI_RUN.search(token))
    words.difference_update(str(row.get("body_words") or "").split())
    return " ".join(sorted(words))
