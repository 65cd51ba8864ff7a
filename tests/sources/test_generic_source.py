"""The generic page-text source (issue 15, "Page text of any layout") on pages written for these tests in the
layouts of ../shared/corpus/pages: what it claims, the evidence its dates come from, the body without site chrome
(token F1 against bodies written by hand), listings as one record per item, and pages that are no release.
Every expectation is written by hand."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from conftest import PRD_NEWS, THAIGOV_CORPUS
from pipeline.sources import generic
from pipeline.sources.base import SourceContext
from pipeline.thaitext import segment_words
from pipeline.transform import transform_text

GOAL_BODY_F1 = 0.95

# A provincial office's page: menus, breadcrumb, headline, date line with a counter, share buttons, the body, a
# credit line, visitor statistics.
OFFICE_PAGE = """หน้าหลัก ข่าวประชาสัมพันธ์
เมนู

จังหวัดตัวอย่างจัดกิจกรรมปลูกต้นไม้เฉลิมพระเกียรติ ร่วมกับหน่วยงานภาครัฐและเอกชน

วันที่ 5 มิ.ย. 2567 , อ่าน 120 ครั้ง
แชร์
พิมพ์

วันนี้ (5 มิถุนายน 2567) เวลา 09.00 น. ที่สวนสาธารณะประจำจังหวัด ผู้ว่าราชการจังหวัดเป็นประธานเปิดกิจกรรมปลูกต้นไม้เฉลิมพระเกียรติ โดยมีหัวหน้าส่วนราชการ ภาคเอกชน และประชาชนร่วมกิจกรรมกว่า 500 คน
ผู้ว่าราชการจังหวัดกล่าวว่า กิจกรรมนี้เป็นส่วนหนึ่งของโครงการเพิ่มพื้นที่สีเขียวของจังหวัด และจะจัดต่อเนื่องทุกเดือน
ภาพ/ข่าว : กลุ่มงานประชาสัมพันธ์
สถิติการเข้าใช้งาน
เข้าชม วันนี้ 55
"""
OFFICE_BODY = ("วันนี้ (5 มิถุนายน 2567) เวลา 09.00 น. ที่สวนสาธารณะประจำจังหวัด ผู้ว่าราชการจังหวัดเป็นประธานเปิดกิจกรรม"
               "ปลูกต้นไม้เฉลิมพระเกียรติ โดยมีหัวหน้าส่วนราชการ ภาคเอกชน และประชาชนร่วมกิจกรรมกว่า 500 คน\n"
               "ผู้ว่าราชการจังหวัดกล่าวว่า กิจกรรมนี้เป็นส่วนหนึ่งของโครงการเพิ่มพื้นที่สีเขียวของจังหวัด และจะจัดต่อเนื่องทุกเดือน")

# A ministry page with CMS metadata (import and update dates, a view counter) and the headline twice.
MINISTRY_PAGE = """Summary of the Weekly Press Briefing on 4 June 2024

Summary of the Weekly Press Briefing on 4 June 2024

วันที่นำเข้าข้อมูล 5 Jun 2024

วันที่ปรับปรุงข้อมูล 7 Jun 2024

| 1,234 view

The Ministry of Foreign Affairs briefed the press on the visit of the Foreign Minister to Japan from 10 to 12 June 2024 and on assistance to Thai nationals abroad.

The Ministry also reported that 1,200 Thai workers had returned home safely during the past week.
"""
MINISTRY_BODY = ("The Ministry of Foreign Affairs briefed the press on the visit of the Foreign Minister to Japan from 10 to "
                 "12 June 2024 and on assistance to Thai nationals abroad.\nThe Ministry also reported that 1,200 Thai "
                 "workers had returned home safely during the past week.")

# An English news service's listing: three items, each a headline, a date line and its text.
LISTING_PAGE = """News

Thai exports rise for the third month
Tuesday, 4 June 2024
Thai exports rose by 5 percent in May compared with the same month last year, the Commerce Ministry said, led by farm products and electronics.
Read more

Cabinet approves drought relief budget
5 June 2024
The Cabinet approved a budget of 2 billion baht for drought relief in 20 provinces, to be spent on water supply and support for farmers.
Read more

Province opens new border checkpoint
6 June 2024
The provincial governor opened a new permanent border checkpoint which is expected to double cross-border trade within two years.
"""

# A page whose text starts with the lead (the stored copy lost the headline), dated only by a yearless lead.
YEARLESS_LEAD = ("วันที่ 13 มิ.ย. เวลา 08.00 น. นายสัตวแพทย์ผู้ตรวจราชการกระทรวงเกษตรและสหกรณ์ เป็นประธานในกิจกรรม"
                 "ปลูกต้นไม้มงคล ณ กรมปศุสัตว์ พร้อมด้วยผู้บริหารและเจ้าหน้าที่ร่วมกิจกรรมจำนวนมาก\n")


def _one(text: str, url: str | None = None, name: str = "page.txt"):
    outcome, = transform_text(text, "utf-8", name, url=url)
    return outcome


def _f1(got: str, want: str) -> float:
    a = collections.Counter(t for t in segment_words(got) if t.strip())
    b = collections.Counter(t for t in segment_words(want) if t.strip())
    common = sum((a & b).values())
    return 0.0 if not common else 2 * common / (sum(a.values()) + sum(b.values()))


def test_a_page_of_any_layout_is_read_with_its_date_line_agency_byline_and_counter() -> None:
    release = _one(OFFICE_PAGE, "https://chumphon.prd.go.th/th/content/category/detail/id/13/iid/1").release
    assert release is not None
    assert (release.source, release.source_kind, release.item) == ("generic", "text", None)
    assert release.title == "จังหวัดตัวอย่างจัดกิจกรรมปลูกต้นไม้เฉลิมพระเกียรติ ร่วมกับหน่วยงานภาครัฐและเอกชน"
    assert (release.published_date, release.date_source) == (dt.date(2024, 6, 5), "date-line")
    assert release.published_date_text == "5 มิ.ย. 2567"
    assert release.body == OFFICE_BODY
    assert (release.agency, release.office) == ("กรมประชาสัมพันธ์", "สำนักงานประชาสัมพันธ์จังหวัดชุมพร")
    assert (release.byline, release.read_count) == ("กลุ่มงานประชาสัมพันธ์", 120)
    assert release.source_url == "https://chumphon.prd.go.th/th/content/category/detail/id/13/iid/1"


def test_metadata_outranks_the_headlines_date_and_the_lead() -> None:
    release = _one(MINISTRY_PAGE).release
    assert release.title == "Summary of the Weekly Press Briefing on 4 June 2024"
    assert (release.published_date, release.date_source) == (dt.date(2024, 6, 5), "metadata")
    assert release.body == MINISTRY_BODY
    assert release.read_count == 1234
    assert release.agency is None  # no URL and no organisation's name above the headline


def test_the_lead_dates_a_page_without_a_date_line_and_a_period_does_not() -> None:
    page = ("ข่าวสำนักงานทดลองจัดประชุมคณะกรรมการประจำปี\n\nเมื่อวันที่ 7 ตุลาคม 2563 สำนักงานทดลองจัดประชุมคณะกรรมการ"
            "ประจำปี เพื่อพิจารณาแผนงานและงบประมาณของปีต่อไป โดยมีผู้แทนหน่วยงานที่เกี่ยวข้องเข้าร่วมประชุมจำนวนมาก\n")
    release = _one(page).release
    assert (release.published_date, release.date_source, release.published_date_text) == (
        dt.date(2020, 10, 7), "lead", "7 ตุลาคม 2563")
    period = page.replace("เมื่อวันที่ 7 ตุลาคม 2563 สำนักงาน", "สำนักงาน").replace(
        "เพื่อพิจารณา", "ตั้งแต่วันที่ 7 ตุลาคม 2563 เพื่อพิจารณา")
    assert _one(period).problem.reason == "missing-date"


def test_a_yearless_lead_is_completed_only_from_the_url() -> None:
    problem = _one(YEARLESS_LEAD).problem
    assert (problem.reason, problem.details["date_text"]) == ("yearless-date", "13 มิ.ย. เวลา 08.00 น.")
    url = "http://secretary.dld.go.th/webnew/index.php/th/news-menu/headnews-menu/3620-2018-06-13-10-21-15"
    release = _one(YEARLESS_LEAD, url).release
    assert (release.published_date, release.date_source) == (dt.date(2018, 6, 13), "lead")
    # No headline in the text: the lead's opening words without its date and time name the record.
    # (to the last space before 120 characters: the next word would pass them)
    assert release.title == "นายสัตวแพทย์ผู้ตรวจราชการกระทรวงเกษตรและสหกรณ์ เป็นประธานในกิจกรรมปลูกต้นไม้มงคล ณ กรมปศุสัตว์"
    assert release.agency == "กรมปศุสัตว์"


def test_a_listing_with_texts_gives_one_record_per_item() -> None:
    outcomes = transform_text(LISTING_PAGE, "utf-8", "news.txt", url="https://thailand.prd.go.th/en/news")
    assert [o.problem for o in outcomes] == [None, None, None]
    got = [(o.release.item, o.release.title, o.release.published_date, o.release.date_source) for o in outcomes]
    assert got == [("1", "Thai exports rise for the third month", dt.date(2024, 6, 4), "date-line"),
                   ("2", "Cabinet approves drought relief budget", dt.date(2024, 6, 5), "date-line"),
                   ("3", "Province opens new border checkpoint", dt.date(2024, 6, 6), "date-line")]
    assert outcomes[1].release.body == ("The Cabinet approved a budget of 2 billion baht for drought relief in 20 "
                                        "provinces, to be spent on water supply and support for farmers.")
    assert {o.release.agency for o in outcomes} == {"กรมประชาสัมพันธ์"}


def test_bodies_are_the_release_text() -> None:
    f1 = [_f1(_one(OFFICE_PAGE).release.body, OFFICE_BODY), _f1(_one(MINISTRY_PAGE).release.body, MINISTRY_BODY)]
    assert min(f1) >= GOAL_BODY_F1, f1


@pytest.mark.parametrize(("page", "why"), [
    ("ข่าวประชาสัมพันธ์\n\nข่าวประชาสัมพันธ์ (385)\n\n1\n\n2\n\n3\n\nจังหวัดจัดงานกาชาดประจำปี\n"
     "วันที่ 9 กันยายน 2564 ผู้ว่าราชการจังหวัดเป็นประธานเปิดงานกาชาดประจำปีที่สนามกลางจังหวัด", "item count"),
    ("ติดต่อเรา\n\nสำนักงานทดลอง ตั้งอยู่เลขที่ 1 ถนนราชดำเนิน ก่อตั้งเมื่อ พ.ศ. 2518 เปิดทำการวันจันทร์ถึงวันศุกร์ "
     "โทรศัพท์ 0 2618 2323 ติดต่อสอบถามข้อมูลเพิ่มเติมได้ในเวลาราชการ\n", "about the agency"),
    ("วันที่นำเข้าข้อมูล 16 Sep 2019\nUpon official request, the Embassy may grant visas to holders of diplomatic "
     "passports who wish to assume duties in the Kingdom.\nDocuments required:\n1. A passport valid for six months\n"
     "Office hours: Monday to Friday 09.00 - 12.00 hrs.\n", "service page"),
])
def test_pages_that_are_no_release_say_why(page: str, why: str) -> None:
    problem = _one(page, "https://example.go.th/page").problem
    assert (problem.reason, problem.details["source"]) == ("not-a-release", "generic")
    assert why in problem.message


def test_detection_is_conservative_and_never_takes_another_sources_input() -> None:
    context = SourceContext("page.txt")
    assert generic.detect(OFFICE_PAGE, context)
    # Plain notes: no date, little prose (they stay unknown-format, tests/sources/test_sources.py).
    assert not generic.detect("meeting notes\nnothing to publish here\n", context)
    assert not generic.detect("บันทึกการประชุม วันที่ 5 มิ.ย. 2567\n", context)  # a date but no prose
    prose = "ข้อความทดลองที่ยาวพอจะเป็นย่อหน้าของหน้าเว็บ แต่ไม่มีวันที่หรือปีใดอยู่เลยแม้แต่คำเดียว " * 3
    assert not generic.detect(prose, context)
    assert generic.detect(prose, SourceContext("page.txt", url="https://example.go.th/x"))  # a harvested page
    for markup in ("<!doctype html><html><body><p>5 มิ.ย. 2567 " + prose + "</p></body></html>",
                   '{"id": 1, "date": "2024-06-05T10:00:00", "title": {"rendered": "' + prose + '"}}',
                   '<?xml version="1.0"?><rss><channel><item><title>' + prose + "</title></item></channel></rss>"):
        assert not generic.detect(markup, SourceContext("page.txt", url="https://example.go.th/x"))
    # thaigov and PRD texts are still read by their own sources.
    thaigov_file = next(THAIGOV_CORPUS.glob("data/2023/*/*/*.txt"))
    assert _one(thaigov_file.read_text(encoding="utf-8"), name=thaigov_file.name).release.source == "thaigov"
    assert _one(PRD_NEWS.read_text(encoding="utf-8"), name=PRD_NEWS.name).release.source == "prd"
