"""Thai dates: every form of issue #15, each expectation written by hand."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import pytest

from conftest import PRD_CORPUS, SHARED, THAIGOV_CORPUS

from pipeline import thaitext
from pipeline.thaidates import (
    BANGKOK,
    DateError,
    DateProblem,
    complete_year,
    dates_in_url,
    find_dates,
    parse_date,
    parse_one,
    scan_dates,
)

D = dt.date
UTC = dt.timezone.utc
PLUS7 = dt.timezone(dt.timedelta(hours=7))


class Expect(NamedTuple):
    """What parse_one must return; ``date`` None means no year, then ``month_day`` says which day."""

    date: dt.date | None
    era: str | None
    matched: str  # the exact text of the span
    time: dt.time | None = None
    tz: dt.tzinfo | None = None
    range_end: dt.date | None = None
    month_day: tuple[int, int] | None = None
    form: str = "thai"
    weekday: int | None = None
    tz_given: bool = False


FORMS = [
    # BE and CE years, full month names
    ("17 มิถุนายน 2563", Expect(D(2020, 6, 17), "BE", "17 มิถุนายน 2563")),
    ("27 พฤศจิกายน 2023", Expect(D(2023, 11, 27), "CE", "27 พฤศจิกายน 2023")),  # Thai month, CE year: kept
    # abbreviations with and without dots; the ones dateparser gets wrong
    ("5 มี.ค. 2564", Expect(D(2021, 3, 5), "BE", "5 มี.ค. 2564")),
    ("5 มี.ค 2564", Expect(D(2021, 3, 5), "BE", "5 มี.ค 2564")),
    ("5 มีค 2564", Expect(D(2021, 3, 5), "BE", "5 มีค 2564")),
    ("22 พ.ค. 2563", Expect(D(2020, 5, 22), "BE", "22 พ.ค. 2563")),
    ("22 พ.ย. 2563", Expect(D(2020, 11, 22), "BE", "22 พ.ย. 2563")),
    ("3 ก.ค 2567", Expect(D(2024, 7, 3), "BE", "3 ก.ค 2567")),
    ("3 ก.พ. 2567", Expect(D(2024, 2, 3), "BE", "3 ก.พ. 2567")),
    ("13 พ .ย.67", Expect(D(2024, 11, 13), "BE", "13 พ .ย.67")),  # a stray space, as in thaigov
    ("1 ม.ค. 2568", Expect(D(2025, 1, 1), "BE", "1 ม.ค. 2568")),
    ("1 เม.ย. 2568", Expect(D(2025, 4, 1), "BE", "1 เม.ย. 2568")),
    ("1 มิ.ย. 2568", Expect(D(2025, 6, 1), "BE", "1 มิ.ย. 2568")),
    ("1 ส.ค. 2568", Expect(D(2025, 8, 1), "BE", "1 ส.ค. 2568")),
    ("1 ก.ย. 2568", Expect(D(2025, 9, 1), "BE", "1 ก.ย. 2568")),
    ("1 ต.ค. 2568", Expect(D(2025, 10, 1), "BE", "1 ต.ค. 2568")),
    ("1 ธ.ค. 2568", Expect(D(2025, 12, 1), "BE", "1 ธ.ค. 2568")),
    # spoken short forms and real misspellings
    ("5 ตุลา 2565", Expect(D(2022, 10, 5), "BE", "5 ตุลา 2565")),
    ("24 กรกฏาคม 2568", Expect(D(2025, 7, 24), "BE", "24 กรกฏาคม 2568")),
    ("วันที่ 25 เมษยายน 2565", Expect(D(2022, 4, 25), "BE", "25 เมษยายน 2565")),
    # two-digit BE years
    ("17 มิ.ย 63", Expect(D(2020, 6, 17), "BE", "17 มิ.ย 63")),
    ("๑๐ ก.ย. ๖๘", Expect(D(2025, 9, 10), "BE", "๑๐ ก.ย. ๖๘")),
    # missing spaces
    ("๒๔กรกฎาคม๒๕๖๘", Expect(D(2025, 7, 24), "BE", "๒๔กรกฎาคม๒๕๖๘")),
    ("(5มี.ค.64)", Expect(D(2021, 3, 5), "BE", "5มี.ค.64")),
    ("วันนี้(23 ก.พ. 66)", Expect(D(2023, 2, 23), "BE", "23 ก.พ. 66")),
    # Thai digits in every part, era markers
    ("๑๐ ก.ย. ๒๕๖๓", Expect(D(2020, 9, 10), "BE", "๑๐ ก.ย. ๒๕๖๓")),
    ("1 ต.ค. พ.ศ. ๒๕๖๘", Expect(D(2025, 10, 1), "BE", "1 ต.ค. พ.ศ. ๒๕๖๘")),
    ("วันที่ 27 พฤษภาคม พ.ศ.2562", Expect(D(2019, 5, 27), "BE", "27 พฤษภาคม พ.ศ.2562")),
    ("5 มีนาคม ค.ศ. 2025", Expect(D(2025, 3, 5), "CE", "5 มีนาคม ค.ศ. 2025")),
    # weekday prefixes (the weekday is kept: 0 = Monday)
    ("วันพฤหัสบดีที่ 23 มีนาคม 2566", Expect(D(2023, 3, 23), "BE", "วันพฤหัสบดีที่ 23 มีนาคม 2566", weekday=3)),
    ("เมื่อวันอังคาร ที่ 18 มิถุนายน พ.ศ.2567",
     Expect(D(2024, 6, 18), "BE", "วันอังคาร ที่ 18 มิถุนายน พ.ศ.2567", weekday=1)),
    ("วันพุธที่ ๑๒ ตุลาคม ๒๕๖๕", Expect(D(2022, 10, 12), "BE", "วันพุธที่ ๑๒ ตุลาคม ๒๕๖๕", weekday=2)),
    # times: zone-less is Bangkok
    ("๑๐ ก.ย. ๒๕๖๓ เวลา ๑๔.๐๐ น.",
     Expect(D(2020, 9, 10), "BE", "๑๐ ก.ย. ๒๕๖๓ เวลา ๑๔.๐๐ น.", dt.time(14, 0), BANGKOK)),
    ("วันนี้ (11 สิงหาคม 2569) เวลา 09.00 น.",
     Expect(D(2026, 8, 11), "BE", "11 สิงหาคม 2569) เวลา 09.00 น.", dt.time(9, 0), BANGKOK)),
    ("วันที่ 27 มี.ค. 67 (เวลา 13.00 น.) นาย",
     Expect(D(2024, 3, 27), "BE", "27 มี.ค. 67 (เวลา 13.00 น.)", dt.time(13, 0), BANGKOK)),
    ("วันพฤหัสบดี, 17 มิถุนายน 2564 11:01",
     Expect(D(2021, 6, 17), "BE", "วันพฤหัสบดี, 17 มิถุนายน 2564 11:01", dt.time(11, 1), BANGKOK, weekday=3)),
    ("echo Out 22 มกราคม 2561 / 14:37:52",
     Expect(D(2018, 1, 22), "BE", "22 มกราคม 2561 / 14:37:52", dt.time(14, 37, 52), BANGKOK)),
    ("23/03/2566 14:30", Expect(D(2023, 3, 23), "BE", "23/03/2566 14:30", dt.time(14, 30), BANGKOK, form="numeric")),
    ("4 June 2024, 0930hrs",
     Expect(D(2024, 6, 4), "CE", "4 June 2024, 0930hrs", dt.time(9, 30), BANGKOK, form="english")),
    ("6 March 2025 at 14.00 hrs.",
     Expect(D(2025, 3, 6), "CE", "6 March 2025 at 14.00 hrs.", dt.time(14, 0), BANGKOK, form="english")),
    ("เวลา 09.00-12.00 น. วันที่ 5 มี.ค. 2564",  # a time before the date is not the date's
     Expect(D(2021, 3, 5), "BE", "5 มี.ค. 2564")),
    # yearless: the year stays unknown
    ("13 มิ.ย. เวลา 08.00 น.",
     Expect(None, None, "13 มิ.ย. เวลา 08.00 น.", dt.time(8, 0), BANGKOK, month_day=(6, 13))),
    ("กรุงเทพฯ--6 ส.ค.--กระทรวงการต่างประเทศ", Expect(None, None, "6 ส.ค.", month_day=(8, 6))),
    ("5 มีนาคม 10 คน", Expect(None, None, "5 มีนาคม", month_day=(3, 5))),  # a count, not year 2510
    # ranges: the first day is the date, the range end is reported
    ("8 – 9 มกราคม 2568", Expect(D(2025, 1, 8), "BE", "8 – 9 มกราคม 2568", range_end=D(2025, 1, 9))),
    ("ระหว่างวันที่ 6-7 พ.ย. 67 ที่ผ่านมา", Expect(D(2024, 11, 6), "BE", "6-7 พ.ย. 67", range_end=D(2024, 11, 7))),
    ("๒๕ - ๒๖ สิงหาคม", Expect(None, None, "๒๕ - ๒๖ สิงหาคม", month_day=(8, 25))),
    ("29 พฤศจิกายน - 10 ธันวาคม 2566",
     Expect(D(2023, 11, 29), "BE", "29 พฤศจิกายน - 10 ธันวาคม 2566", range_end=D(2023, 12, 10))),
    ("30 ธ.ค. - 2 ม.ค. 2568", Expect(D(2024, 12, 30), "BE", "30 ธ.ค. - 2 ม.ค. 2568", range_end=D(2025, 1, 2))),
    ("(ธ.ค. 67 - 31ม.ค.68)", Expect(D(2025, 1, 31), "BE", "31ม.ค.68")),  # "ธ.ค. 67" alone has no day
    ("ราชกิจจานุเบกษา เล่ม 123 ตอนที่ 100ง หน้า 1/26 กันยายน 2549", Expect(D(2006, 9, 26), "BE", "26 กันยายน 2549")),
    ("June 4-6, 2024", Expect(D(2024, 6, 4), "CE", "June 4-6, 2024", range_end=D(2024, 6, 6), form="english")),
    ("2–4 March 2025", Expect(D(2025, 3, 2), "CE", "2–4 March 2025", range_end=D(2025, 3, 4), form="english")),
    # English
    ("Tuesday, 4 June 2024", Expect(D(2024, 6, 4), "CE", "Tuesday, 4 June 2024", form="english", weekday=1)),
    ("March 3, 2022", Expect(D(2022, 3, 3), "CE", "March 3, 2022", form="english")),
    ("On December 6, 2022, at 14.00 hours",
     Expect(D(2022, 12, 6), "CE", "December 6, 2022, at 14.00 hours", dt.time(14, 0), BANGKOK, form="english")),
    ("วันที่นำเข้าข้อมูล 5 Sep 2014", Expect(D(2014, 9, 5), "CE", "5 Sep 2014", form="english")),
    ("(14/02/2021)", Expect(D(2021, 2, 14), "CE", "14/02/2021", form="numeric")),
    ("07/11/2012", Expect(D(2012, 11, 7), "CE", "07/11/2012", form="numeric")),  # day first, as Thai sites write
    ("20/02/2567", Expect(D(2024, 2, 20), "BE", "20/02/2567", form="numeric")),
    ("23/03/66", Expect(D(2023, 3, 23), "BE", "23/03/66", form="numeric")),
    # RFC 822 and ISO 8601
    ("Tue, 04 Jun 2024 09:30:00 +0700",
     Expect(D(2024, 6, 4), "CE", "Tue, 04 Jun 2024 09:30:00 +0700", dt.time(9, 30), PLUS7, form="english",
            weekday=1, tz_given=True)),
    ("Mon,29 Nov 2021 10:02:29 Asia/Bangkok",  # EWT lastBuildDate: no space, an Olson name
     Expect(D(2021, 11, 29), "CE", "Mon,29 Nov 2021 10:02:29 Asia/Bangkok", dt.time(10, 2, 29), BANGKOK,
            form="english", weekday=0, tz_given=True)),
    ("Tue, 04 Jun 2024 20:00:00 GMT",
     Expect(D(2024, 6, 4), "CE", "Tue, 04 Jun 2024 20:00:00 GMT", dt.time(20, 0), UTC, form="english",
            weekday=1, tz_given=True)),
    ("2024-06-04T09:30:00+07:00",
     Expect(D(2024, 6, 4), "CE", "2024-06-04T09:30:00+07:00", dt.time(9, 30), PLUS7, form="iso", tz_given=True)),
    ("2024-06-04T02:30:00Z",
     Expect(D(2024, 6, 4), "CE", "2024-06-04T02:30:00Z", dt.time(2, 30), UTC, form="iso", tz_given=True)),
    ("2021-11-29 09:23:55",  # EWT pubDate: no zone, Bangkok time
     Expect(D(2021, 11, 29), "CE", "2021-11-29 09:23:55", dt.time(9, 23, 55), BANGKOK, form="iso")),
    ("2024-06-04", Expect(D(2024, 6, 4), "CE", "2024-06-04", form="iso")),
    # URLs and PRD file names
    ("https://www.example.go.th/2021/08/05/some-news/",
     Expect(D(2021, 8, 5), "CE", "/2021/08/05", form="url-path")),
    ("http://www.ayutthaya.go.th/news/123-25640315-a1.html",
     Expect(D(2021, 3, 15), "BE", "25640315", form="url-yyyymmdd")),
    ("https://www.example.go.th/upload/20210315.pdf", Expect(D(2021, 3, 15), "CE", "20210315", form="url-yyyymmdd")),
    ("https://region1.prd.go.th/th/file/get/file/2021031541a6c4c2b5c3d0b6e3cfb29c0d3f0f0a093152.jpg",
     Expect(D(2021, 3, 15), "CE", "/file/get/file/20210315", form="prd-file")),
    ("http://secretary.dld.go.th/webnew/index.php/th/news-menu/headnews-menu/3620-2018-06-13-10-21-15",
     Expect(D(2018, 6, 13), "CE", "2018-06-13", form="url-iso")),
]


@pytest.mark.parametrize("text, expect", FORMS, ids=[text for text, _ in FORMS])
def test_parse_one_reads_every_form(text: str, expect: Expect) -> None:
    found = parse_one(text)
    assert found.date == expect.date
    if expect.date is None:
        assert found.year is None and not found.year_given
        assert (found.month, found.day) == expect.month_day
    else:
        assert found.year_given
    assert found.era == expect.era
    assert found.text == expect.matched
    assert text[found.span[0]:found.span[1]] == expect.matched
    assert found.time == expect.time
    assert found.tz == expect.tz
    assert found.tz_given == expect.tz_given
    assert found.range_end == expect.range_end
    if expect.range_end is None and expect.month_day is None:
        assert found.end_day is None
    assert found.form == expect.form
    assert found.weekday == expect.weekday


REFUSALS = [
    ("", "unparseable-date"),
    ("ไม่ระบุวันที่", "unparseable-date"),
    ("เวลา ๑๔.๐๐ น.", "unparseable-date"),  # a time is no date
    ("พ.ศ. ๒๕๖๘", "unparseable-date"),  # a year alone
    ("มีนาคม 2566", "unparseable-date"),  # a month alone
    ("ครั้งที่ 3/2563", "unparseable-date"),  # a meeting number
    ("ราชการ ๔.๐", "unparseable-date"),
    ("https://www.thaigov.go.th/news/contents/details/12345", "unparseable-date"),
    ("31 กุมภาพันธ์ 2567", "impossible-date"),
    ("29 ก.พ. 2566", "impossible-date"),  # 2023 is a common year
    ("31 เม.ย.", "impossible-date"),  # no year needed to know April has 30 days
    ("45/13/2566", "impossible-date"),
    ("5 มีนาคม 3100", "implausible-year"),
    ("5 มีนาคม 2300", "implausible-year"),  # neither 1757 (BE) nor a modern CE year
    ("1 June 1850", "implausible-year"),
    ("5 มีนาคม ค.ศ. 2568", "implausible-year"),  # a CE marker on a BE year
    ("5 มีนาคม พ.ศ. 2025", "implausible-year"),  # a BE marker on a CE year
    ("5 มี.ค. 2564 เวลา 25.00 น.", "impossible-time"),
    ("9 - 8 มกราคม 2568", "backwards-range"),
]


@pytest.mark.parametrize("text, code", REFUSALS, ids=[text or "empty" for text, _ in REFUSALS])
def test_parse_one_refuses_with_a_stable_code(text: str, code: str) -> None:
    with pytest.raises(DateProblem) as caught:
        parse_one(text)
    assert caught.value.code == code
    assert isinstance(caught.value, DateError)  # callers that catch DateError catch these too


def test_two_digit_years_in_dd_mm_yy_are_be_unless_the_caller_says_ce() -> None:
    # Thai sites write "23/03/66" for 2566; an English page's "14/02/21" is 2021.
    assert parse_one("14/02/21").date == D(1978, 2, 14)
    assert parse_one("14/02/21").era == "BE"
    assert parse_one("14/02/21", two_digit_era="CE").date == D(2021, 2, 14)
    assert parse_one("14/02/21", two_digit_era="CE").era == "CE"
    # After a Thai month name a two-digit year is always BE.
    assert parse_one("14 ก.พ. 64", two_digit_era="CE").date == D(2021, 2, 14)


def test_find_dates_gives_every_date_of_a_lead_with_its_position() -> None:
    lead = "วันนี้ (12 มกราคม 2568) เวลา 09.00 น. นายก ฯ เปิดงาน ซึ่งจัดระหว่างวันที่ ๒๕ - ๒๖ สิงหาคม ณ จังหวัดน่าน"
    found = find_dates(lead)
    assert [f.text for f in found] == ["12 มกราคม 2568) เวลา 09.00 น.", "๒๕ - ๒๖ สิงหาคม"]
    first, second = lead.index("12 มกราคม"), lead.index("๒๕ -")
    assert [f.span for f in found] == [(first, first + 29), (second, second + 15)]  # lengths counted by hand
    assert found[0].date == D(2025, 1, 12) and found[0].time == dt.time(9, 0)
    assert found[1].year is None and (found[1].month, found[1].day, found[1].end_day) == (8, 25, 26)

    lead = "เมื่อวันที่ 5 มี.ค. 64 ผู้ว่าราชการจังหวัด ... ประชุมครั้งที่ 3/2563 และ 10 คน ส่งรายงาน 20/02/2567"
    found = find_dates(lead)
    assert [(f.text, f.date) for f in found] == [("5 มี.ค. 64", D(2021, 3, 5)), ("20/02/2567", D(2024, 2, 20))]
    assert lead[found[1].span[0]:found[1].span[1]] == "20/02/2567"


def test_find_dates_reads_urls_in_a_text_as_url_dates() -> None:
    text = "ที่มา : https://www.example.go.th/2021/08/05/news/ ลงวันที่ 6 ส.ค. 2564"
    found = find_dates(text)
    assert [(f.form, f.date) for f in found] == [("url-path", D(2021, 8, 5)), ("thai", D(2021, 8, 6))]


def test_spans_are_positions_in_the_text_given_even_with_invisible_characters() -> None:
    text = "\ufeffข่าว\u200b วันที่ 5\u200b มี.ค.\u00a02564 จบ"
    (found,) = find_dates(text)
    assert found.date == D(2021, 3, 5)
    assert found.text == "5\u200b มี.ค.\u00a02564"
    assert text[found.span[0]:found.span[1]] == found.text


def test_scan_dates_reports_what_looks_like_a_date_but_is_not() -> None:
    text = "เนื้อที่ 10-0-00 ไร่ วันที่ออกหนังสืออนุญาต 2 มิ.ย. 2551 และ 31 ก.พ. 2563"
    scan = scan_dates(text)
    assert [f.date for f in scan.found] == [D(2008, 6, 2)]
    land, february = text.index("10-0-00"), text.index("31 ก.พ.")
    assert [(p.code, p.span) for p in scan.problems] == [
        ("impossible-date", (land, land + 7)), ("impossible-date", (february, february + 12))]
    # parse_one takes the first date there is
    assert parse_one("เนื้อที่ 10-0-00 ไร่ วันที่ 2 มิ.ย. 2551").date == D(2008, 6, 2)


@pytest.mark.parametrize(
    "text",
    ["5 มีค่าเท่ากับ", "ศาล 3 ตุลาการ", "the committee may 5 times", "โทร. 0 2618 2323 ต่อ 1504", "ราคา 4.5 บาท",
     "ISO 9001:2015", "14.30.00", "version 1.2.3"],
)
def test_words_and_numbers_are_not_dates(text: str) -> None:
    assert find_dates(text) == []


def test_complete_year_uses_only_the_reference_it_is_given() -> None:
    partial = parse_one("13 มิ.ย. เวลา 08.00 น.")
    completed = complete_year(partial, D(2018, 6, 13))
    assert completed.date == D(2018, 6, 13)
    assert completed.year_given is False and completed.era is None
    assert completed.datetime == dt.datetime(2018, 6, 13, 8, 0, tzinfo=BANGKOK)
    # the nearest year: a dateline of late December on a page of early January
    assert complete_year(parse_one("28 ธ.ค."), D(2025, 1, 3)).date == D(2024, 12, 28)
    assert complete_year(parse_one("3 ม.ค."), D(2024, 12, 28)).date == D(2025, 1, 3)
    # a range across the new year ends in the next year
    crossing = complete_year(parse_one("30 ธ.ค. - 2 ม.ค."), D(2024, 12, 20))
    assert (crossing.date, crossing.range_end) == (D(2024, 12, 30), D(2025, 1, 2))
    # 29 February exists only in a leap year near the reference
    assert complete_year(parse_one("29 ก.พ."), D(2025, 1, 10)).date == D(2024, 2, 29)
    # a date with its year is left as it is
    dated = parse_one("5 มี.ค. 2564")
    assert complete_year(dated, D(2030, 1, 1)) is dated
    # nothing is completed behind the caller's back
    assert parse_one("13 มิ.ย.").date is None


def test_complete_year_refuses_a_day_no_nearby_year_has() -> None:
    far_from_leap = parse_one("29 ก.พ.")
    with pytest.raises(DateProblem) as caught:
        complete_year(far_from_leap, D(2022, 8, 1))  # 2021, 2022, 2023: no 29 February
    assert caught.value.code == "impossible-date"


def test_datetime_weekday_and_bangkok_date() -> None:
    late = parse_one("Tue, 04 Jun 2024 20:00:00 +0000")
    assert late.datetime == dt.datetime(2024, 6, 4, 20, 0, tzinfo=UTC)
    assert late.date == D(2024, 6, 4)  # as written
    assert late.bangkok_date == D(2024, 6, 5)  # 03:00 the next morning in Bangkok
    assert parse_one("วันพฤหัสบดีที่ 23 มีนาคม 2566").weekday_matches is True
    assert parse_one("วันศุกร์ที่ 23 มีนาคม 2566").weekday_matches is False  # 23 March 2023 was a Thursday
    assert parse_one("23 มีนาคม 2566").weekday_matches is None
    assert parse_one("23 มีนาคม 2566").datetime is None


def test_dates_in_url_skips_ids_that_are_no_dates() -> None:
    assert dates_in_url("https://www.prd.go.th/th/content/category/detail/id/9/iid/12345678") == []
    assert [f.date for f in dates_in_url("https://x.go.th/2021/08/05/a-25640316-b/")] == [D(2021, 8, 5), D(2021, 3, 16)]


def test_thaitext_date_names_are_the_same_objects() -> None:
    # Existing imports (transform.py, the corpus tests) keep working and mean the same thing.
    assert thaitext.parse_date is parse_date
    assert thaitext.DateError is DateError
    assert issubclass(DateProblem, thaitext.DateError)


def test_parse_one_agrees_with_parse_date_on_every_date_line_of_the_corpora() -> None:
    """The release parsers' date texts: the new reader gives the same day and era as parse_date."""
    from pipeline.sources import prd, thaigov
    from pipeline.sources.base import ParseProblem, SourceContext

    date_texts = [prd.parse(path.read_text(encoding="utf-8"), SourceContext(path.name)).date_text
                  for path in sorted(PRD_CORPUS.glob("*.txt"))]
    for path in sorted(THAIGOV_CORPUS.rglob("*.txt")):
        try:
            date_texts.append(thaigov.parse(path.read_text(encoding="utf-8"), SourceContext(path.name)).date_text)
        except ParseProblem:
            continue
    assert len(date_texts) > 2900
    for text in date_texts:
        legacy = parse_date(text)
        found = parse_one(text)
        assert (found.date, found.era) == (legacy.value, legacy.era), text


def _labelled_pages() -> list[dict[str, str]]:
    pages = SHARED / "corpus" / "pages"
    lines = (pages / "expected.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def test_labelled_pages_date_evidence_reads_as_the_label_and_is_found_in_the_page() -> None:
    pages = SHARED / "corpus" / "pages"
    checked = 0
    for row in _labelled_pages():
        if not row["published_date"]:
            continue
        label = D.fromisoformat(row["published_date"])
        found = parse_one(row["date_evidence"])
        if found.year is None:  # the label's year came from elsewhere on the page: complete from the URL
            (url_date,) = dates_in_url(row["url"])
            found = complete_year(found, url_date.date)
        assert found.date == label, row["file"]
        page = (pages / row["file"]).read_text(encoding="utf-8")
        assert label in [f.date for f in find_dates(page)] or found.year_given is False, row["file"]
        checked += 1
    assert checked == 48
