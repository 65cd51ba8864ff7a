import datetime as dt

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


def test_fast_clean_line_equals_pythainlp_normalize_on_every_corpus_line() -> None:
    """clean_line skips PyThaiNLP's normalize() on lines it would not change; prove it on real text."""
    from pythainlp.util import normalize

    from conftest import PRD_CORPUS, THAIGOV_CORPUS
    from pipeline.thaitext import _CLEAN_TABLE, _MULTISPACE

    def reference(line: str) -> str:
        return _MULTISPACE.sub(" ", normalize(line.translate(_CLEAN_TABLE))).strip()

    checked = 0
    for path in [*sorted(THAIGOV_CORPUS.rglob("*.txt"))[::3], *PRD_CORPUS.glob("*.txt")]:
        for line in path.read_text(encoding="utf-8").split("\n"):
            assert clean_line(line) == reference(line), (path.name, line[:80])
            checked += 1
    for tricky in ["เเปลก", "ก่่า", "คํา", "นานาาา", "ดีีีี", " ่ที่", "พ ุ่ม", "ก้ำ", "ฤๅ", "abc  def"]:
        assert clean_line(tricky) == reference(tricky), tricky
    assert checked > 10000


# Each of these needs normalize() (or a replacement) on one line only, at its start,
# its end or after a space: the whole-text test must find every one of them.
TRICKY_TEXTS = [
    "เเปลก\n ่ที่\r\nพ ุ่ม\u00a0\u00a0x\n\u200bคํา",
    "ข่าว\n่ที่ดิน", "ข่าว\nดี ุ", "นา า\nข่าว", "ข่าว\nก่่า", "ข่าว\nกา่", "ข่าว\nก์ุ", "ฤๅษี\nข่าว",
    "ข่าว  ดี\nข่าว", "ข่าว\tดี", "ก\u00adข", "ก\ufeffข\u2060ค", "a\x0bb\x0cc", "ข่าว\n\nเ\nเ", "ข่าว 😀 ดี",
    "", "\n", "ก", "่",
]


def test_clean_lines_equals_clean_line_per_line() -> None:
    from conftest import PRD_CORPUS, THAIGOV_CORPUS
    from pipeline.thaitext import clean_lines

    texts = [path.read_text(encoding="utf-8")
             for path in [*sorted(THAIGOV_CORPUS.rglob("*.txt")), *PRD_CORPUS.glob("*.txt")]]
    for text in [*texts, *TRICKY_TEXTS]:
        assert clean_lines(text) == [clean_line(line) for line in text.split("\n")], text[:80]


def test_the_whole_text_test_finds_exactly_the_lines_normalize_may_change() -> None:
    from conftest import PRD_CORPUS, THAIGOV_CORPUS
    from pipeline import thaitext

    texts = [path.read_text(encoding="utf-8")
             for path in [*sorted(THAIGOV_CORPUS.rglob("*.txt")), *PRD_CORPUS.glob("*.txt")]]
    found = 0
    for text in [*texts, *TRICKY_TEXTS]:
        text = text.replace("\r", "")
        points = thaitext._code_points(text)
        per_line = [index for index, line in enumerate(text.split("\n")) if thaitext._MIGHT_NORMALIZE.search(line)]
        assert thaitext._lines_to_normalize(points, thaitext._FLAGS[points]) == per_line, text[:80]
        found += bool(per_line)
    assert found > 100  # the corpus has such lines: the test sees both answers


def test_count_words_counts_tokens_with_a_letter_or_digit_as_the_reference_expression_does() -> None:
    """The fast count equals the plain definition: tokens not made only of symbols."""
    import random
    import re

    from conftest import THAIGOV_CORPUS

    reference = re.compile(r"(?<!\S)[^\w\s\u0e00-\u0e7f]+(?!\S)")

    def expected(tokens: list[str]) -> int:
        return len(tokens) - len(reference.findall(" ".join(tokens)))

    for path in sorted(THAIGOV_CORPUS.rglob("*.txt"))[::10]:
        tokens = segment_words(path.read_text(encoding="utf-8"))
        assert count_words(" ".join(tokens)) == count_words(tokens) == expected(tokens), path.name
    symbols = ["(", ")", "“", "”", "-", "–", ",", ".", "…", "😀", "%", "/"]
    letters = ["ก", "ข่าว", "a", "_", "1", "๑", "ครม.", "(ครม.)", "5%", "ำ", "\u0e31"]
    random.seed(7)
    for _ in range(20000):
        tokens = ["".join(random.choices(random.choice([symbols, letters, symbols + letters]), k=random.randint(1, 3)))
                  for _ in range(random.randint(0, 6))]
        assert count_words(tokens) == expected(tokens), tokens
    assert count_words(["(", "ข่าว", "—", "1", "…"]) == 2 and count_words("") == count_words([]) == 0
