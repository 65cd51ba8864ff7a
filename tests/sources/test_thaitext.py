import datetime as dt
import functools
import re

import pytest

from pipeline.thaitext import (
    DateError,
    check_plausible,
    clean_line,
    count_words,
    detect_language,
    normalize_phone,
    parse_date,
    segment_words,
    thai_digits_to_arabic,
)


@pytest.mark.parametrize(
    "text, expected, era",
    [
        ("17 มิ.ย. 2563", dt.date(2020, 6, 17), "BE"),
        ("วันที่ 10 ก.ย. 2563 (จำนวนคนอ่าน 0 คน)", dt.date(2020, 9, 10), "BE"),
        ("๑๐ ก.ย. ๒๕๖๓", dt.date(2020, 9, 10), "BE"),
        ("วันพฤหัสบดีที่ 23 มีนาคม 2566", dt.date(2023, 3, 23), "BE"),
        ("23/03/2566", dt.date(2023, 3, 23), "BE"),
        ("20/02/2567", dt.date(2024, 2, 20), "BE"),
        ("(22พ.ค.63)", dt.date(2020, 5, 22), "BE"),
        ("17 มิย 2563", dt.date(2020, 6, 17), "BE"),
        ("17 มิ.ย 63", dt.date(2020, 6, 17), "BE"),
        ("1 ต.ค. พ.ศ. 2565", dt.date(2022, 10, 1), "BE"),
        ("07/11/2012", dt.date(2012, 11, 7), "CE"),
        ("2023-03-01", dt.date(2023, 3, 1), "CE"),
        ("November 7, 2023", dt.date(2023, 11, 7), "CE"),
        ("17\u00a0มิถุนายน\u00a0 2563", dt.date(2020, 6, 17), "BE"),
    ],
)
def test_parse_date_reads_thai_and_gregorian_forms(text: str, expected: dt.date, era: str) -> None:
    parsed = parse_date(text)
    assert parsed.value == expected
    assert parsed.era == era


@pytest.mark.parametrize("text", ["", "ไม่ระบุวันที่", "31 ก.พ. 2563", "45/13/2566"])
def test_parse_date_refuses_unreadable_text_with_a_code(text: str) -> None:
    with pytest.raises(DateError) as caught:
        parse_date(text)
    assert caught.value.code == "unparseable-date"


def test_placeholder_and_future_dates_are_implausible() -> None:
    placeholder = parse_date("วันพฤหัสบดีที่ 1 มกราคม 2513").value
    assert placeholder == dt.date(1970, 1, 1)
    with pytest.raises(DateError) as caught:
        check_plausible(placeholder, "1 มกราคม 2513")
    assert caught.value.code == "implausible-date"
    with pytest.raises(DateError):
        check_plausible(dt.date(2099, 1, 1), "1 ม.ค. 2642", today=dt.date(2026, 1, 1))
    check_plausible(dt.date(2020, 6, 17), "17 มิ.ย. 2563")  # a real date passes


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0 2618 2323 ต่อ 1504", "+66 2 618 2323 ext. 1504"),
        ("โทร. ๐ ๒๖๑๘ ๒๓๒๓", "+66 2 618 2323"),
        ("02-618-2323", "+66 2 618 2323"),
        ("081-234-5678", "+66 81 234 5678"),
        ("053 112 233", "+66 53 112 233"),
        ("no phone here", None),
    ],
)
def test_normalize_phone(text: str, expected: str | None) -> None:
    assert normalize_phone(text) == expected


def test_thai_digits_become_arabic() -> None:
    assert thai_digits_to_arabic("ราชการ ๔.๐ ปี ๒๕๖๓") == "ราชการ 4.0 ปี 2563"


def test_clean_line_removes_invisible_characters_and_fixes_marks_without_nfkc() -> None:
    dirty = "\ufeffกรม\u200bประชา\u200dสัมพันธ์\u00a0\u00a0เเละ\u2060ทำ\u00ad"
    assert clean_line(dirty) == "กรมประชาสัมพันธ์ และทำ"
    # SARA AM must survive (NFKC would decompose it into two code points).
    assert "\u0e33" in clean_line("กำหนด")


def test_segment_words_finds_thai_words_per_line() -> None:
    tokens = segment_words("กรมประชาสัมพันธ์จัดประชุม\nสำนักนายกรัฐมนตรี")
    assert "ประชุม" in tokens
    assert "" not in tokens and " " not in tokens
    assert count_words(tokens + ["(", "—"]) == len(tokens)


def test_detect_language() -> None:
    assert detect_language("กรมประชาสัมพันธ์จัดประชุม GDP") == "th"
    assert detect_language("The cabinet met on November 7, 2023.") == "en"
    assert detect_language("The cabinet approved ครม. อนุมัติโครงการ budget plan for all") == "mixed"


# What clean_line promises, written here from its documentation and not taken from the module:
# these characters go, these become one space, runs of spaces collapse, and PyThaiNLP's
# normalize() (the reference for repairing marks) is applied to every line.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\r"  # zero-width space/non-joiner/joiner, word joiner, BOM, soft hyphen, CR
ODD_SPACES = "\u00a0\u2007\u202f\u3000\t\x0b\x0c"  # no-break, figure, narrow no-break, ideographic, tab, VT, FF


PLAIN_REPLACEMENTS = str.maketrans({**dict.fromkeys(INVISIBLE), **dict.fromkeys(ODD_SPACES, " ")})


@functools.cache  # the corpus repeats a third of its lines (headers, source lines)
def reference_clean_line(line: str) -> str:
    from pythainlp.util import normalize

    for char in INVISIBLE:
        line = line.replace(char, "")
    for char in ODD_SPACES:
        line = line.replace(char, " ")
    return re.sub(" {2,}", " ", normalize(line)).strip()


# Lines that need normalize() (or a replacement) at their start, their end or after a space,
# each with what a reader expects: the whole-text cleaner must find every one of them.
TRICKY_TEXTS = {
    "เเปลก\n ่ที่\r\nพ ุ่ม\u00a0\u00a0x\n\u200bคํา": ["แปลก", "ที่", "พุ่ม x", "คำ"],  # เเ->แ, dangling tone, ํา->ำ
    "ข่าว\n่ที่ดิน": ["ข่าว", "ที่ดิน"],  # a tone mark starting a line is dropped
    "ข่าว\nดี ุ": ["ข่าว", "ดี"],  # a vowel after a space is dropped
    "นา า\nข่าว": ["นา", "ข่าว"],  # a vowel repeated across a space
    "ข่าว\nก่่า": ["ข่าว", "ก่า"],  # a doubled tone mark
    "ข่าว\nกา่": ["ข่าว", "ก่า"],  # tone mark after the following vowel: reordered
    "ข่าว\nก์ุ": ["ข่าว", "กุ์"],  # thanthakhat before a below vowel: reordered
    "ฤๅษี\nข่าว": ["ฤๅษี", "ข่าว"],  # lakkhangyao is right here: unchanged
    "ข่าว  ดี\nข่าว": ["ข่าว ดี", "ข่าว"],
    "ข่าว\tดี": ["ข่าว ดี"],
    "ก\u00adข": ["กข"],
    "ก\ufeffข\u2060ค": ["กขค"],
    "a\x0bb\x0cc": ["a b c"],
    "ข่าว\n\nเ\nเ": ["ข่าว", "", "เ", "เ"],  # the same vowel on two lines is not a repeat
    "ข่าว 😀 ดี": ["ข่าว 😀 ดี"],
    "": [""],
    "\n": ["", ""],
    "ก": ["ก"],
    "่": [""],
}


@pytest.mark.parametrize("text, expected", list(TRICKY_TEXTS.items()), ids=[ascii(t)[:40] for t in TRICKY_TEXTS])
def test_clean_lines_and_clean_line_repair_marks_as_a_reader_expects(text: str, expected: list[str]) -> None:
    from pipeline.thaitext import clean_lines

    assert clean_lines(text) == expected
    assert [clean_line(line) for line in text.split("\n")] == expected
    assert [reference_clean_line(line) for line in text.split("\n")] == expected  # the reference agrees


@pytest.mark.parametrize("text, expected", [
    ("เเปลก", "แปลก"), ("ก่่า", "ก่า"), ("คํา", "คำ"), ("นานาาา", "นานา"), ("ดีีีี", "ดี"), (" ่ที่", "ที่"),
    ("พ ุ่ม", "พุ่ม"), ("ก้ำ", "ก้ำ"), ("ฤๅ", "ฤๅ"), ("abc  def", "abc def"),
])
def test_clean_line_on_one_line(text: str, expected: str) -> None:
    assert clean_line(text) == expected


def check_against_the_reference(texts: dict) -> tuple[int, int]:
    """clean_line and clean_lines skip PyThaiNLP's normalize() where they find nothing to repair;
    the reference applies it to every line, and they must agree with it everywhere."""
    from pipeline.thaitext import clean_lines

    lines = repaired = 0
    for path, text in texts.items():
        expected = [reference_clean_line(line) for line in text.split("\n")]
        assert clean_lines(text) == expected, path.name
        for line, wanted in zip(text.split("\n"), expected):
            assert clean_line(line) == wanted, (path.name, line[:80])
            lines += 1
            # A line normalize() changes beyond the plain replacements: the skipping path is tested too.
            repaired += wanted != re.sub(" {2,}", " ", line.translate(PLAIN_REPLACEMENTS)).strip()
    return lines, repaired


def test_clean_line_and_clean_lines_equal_pythainlp_normalize_on_a_third_of_the_corpus(corpus_texts: dict) -> None:
    # The reference costs 9 s over the whole corpus (normalize() is ~30 regular expressions):
    # a third of the files here, all of them in the slow tier below.
    lines, repaired = check_against_the_reference(dict(list(corpus_texts.items())[::3]))
    assert lines > 15_000 and repaired > 30


@pytest.mark.slow
def test_clean_line_and_clean_lines_equal_pythainlp_normalize_on_every_corpus_line(corpus_texts: dict) -> None:
    lines, repaired = check_against_the_reference(corpus_texts)
    assert lines > 50_000 and repaired > 100


def test_count_words_counts_tokens_with_a_letter_or_digit_as_the_reference_expression_does(corpus_texts: dict) -> None:
    """The fast count equals the plain definition: tokens not made only of symbols."""
    import random

    reference = re.compile(r"(?<!\S)[^\w\s\u0e00-\u0e7f]+(?!\S)")

    def expected(tokens: list[str]) -> int:
        return len(tokens) - len(reference.findall(" ".join(tokens)))

    for path, text in list(corpus_texts.items())[::10]:
        tokens = segment_words(text)
        assert count_words(" ".join(tokens)) == count_words(tokens) == expected(tokens), path.name
    symbols = ["(", ")", "“", "”", "-", "–", ",", ".", "…", "😀", "%", "/"]
    letters = ["ก", "ข่าว", "a", "_", "1", "๑", "ครม.", "(ครม.)", "5%", "ำ", "\u0e31"]
    random.seed(7)
    for _ in range(20000):
        tokens = ["".join(random.choices(random.choice([symbols, letters, symbols + letters]), k=random.randint(1, 3)))
                  for _ in range(random.randint(0, 6))]
        assert count_words(tokens) == expected(tokens), tokens
    assert count_words(["(", "ข่าว", "—", "1", "…"]) == 2 and count_words("") == count_words([]) == 0
