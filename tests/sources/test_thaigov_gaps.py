"""thaigov: the gaps of issue 14, on real files of the thaigov-v2 archive (tests/thaigov_gaps/SOURCES.md).

Each fixture is a real file, byte for byte, under its real name: the older name form
``<section>_<n>.txt`` (2020) and the newer ``<section>_<n>_<uuid>.txt``; a radio programme page
(player notice, broadcast date line), a social-media post ("." spacer lines, headline restated
after a "....." rule), a page with a box-drawing frame, a page whose title line was cut (the whole
headline above the body), a cabinet synopsis (a lead that begins with the title's words) and a
page that prints its headline twice above a video notice. Expected values are written by hand.
"""

from __future__ import annotations


import pytest

from conftest import TESTS
from pipeline.sources import thaigov
from pipeline.sources.base import SourceContext

GAPS = TESTS / "thaigov_gaps"

OLD_NEWS = "data/2020/09/17/ข่าวทำเนียบรัฐบาล_1.txt"
OLD_RADIO = "data/2020/09/17/รายการวิทยุไทยคู่ฟ้า_1.txt"
FRAMED = "data/2025/04/23/ด้านความมั่นคง _22_b862cdbd-af5f-4ba7-a92d-cb762ed481e4.txt"
LINE_POST = "data/2023/11/11/ทัน LINE ไทยคู่ฟ้า_1_e2fea2f0-5a07-409d-b6d7-154c9bffa4bd.txt"
CUT_TITLE = "data/2023/01/03/ข่าวนายกรัฐมนตรี_2_f3bac640-d535-4f25-a15d-03ad66101dd8.txt"
CABINET = "data/2023/01/16/Cabinet Meeting Synopsis_1_f7711335-ecbe-46c4-ac5c-982ec5cdf8a1.txt"
VIDEO = "data/2024/12/04/ข่าวนายกรัฐมนตรี _2_5cbb9d32-3762-4153-a001-13a83a2f000c.txt"


def parse(relative: str) -> thaigov.ParsedRelease:
    return thaigov.parse((GAPS / relative).read_text(encoding="utf-8"), SourceContext(relative))


@pytest.mark.parametrize(("relative", "category"), [
    (OLD_NEWS, "ข่าวทำเนียบรัฐบาล"),  # <section>_<n>.txt: the older form
    (OLD_RADIO, "รายการวิทยุไทยคู่ฟ้า"),
    (LINE_POST, "ทัน LINE ไทยคู่ฟ้า"),  # <section>_<n>_<uuid>.txt
    (FRAMED, "ด้านความมั่นคง"),  # the section's trailing space is not part of it
    (CABINET, "Cabinet Meeting Synopsis"),
])
def test_the_category_comes_from_both_file_name_forms(relative: str, category: str) -> None:
    assert parse(relative).category == category


@pytest.mark.parametrize(("name", "category"), [
    ("ข่าวทำเนียบรัฐบาล_10.txt", "ข่าวทำเนียบรัฐบาล"),
    ("ด้านเศรษฐกิจ_7_ea87b8eb-8267-44f3-aefb-2f3570c0e91f.txt", "ด้านเศรษฐกิจ"),
    ("_1_a7d3aaf0-e27b-45ab-8de5-3a770729f235.txt", None),  # a real archive name without a section
    ("notes.txt", None),
    ("ข่าว_2024.txt", "ข่าว"),
])
def test_category_from_filename(name: str, category: str | None) -> None:
    assert thaigov.category_from_filename(name) == category


def test_a_radio_programme_loses_its_player_notice_and_keeps_its_broadcast_date_as_body_text() -> None:
    release = parse(OLD_RADIO)
    assert "Your browser does not support" not in release.body
    assert release.date_text == "วันจันทร์ที่ 24 สิงหาคม 2563"  # the page's date: the release date
    # The broadcast date line stays the body's first line (README, Inputs: why it is not a field).
    assert release.body.split("\n")[:2] == ["วันจันทร์ที่ 25 สิงหาคม 2563", "ต่อจากนี้ไป ขอเชิญรับฟังไทยคู่ฟ้า ครับ"]
    assert release.subtitle is None


def test_a_video_notice_and_the_headline_printed_twice_are_not_body_text() -> None:
    release = parse(VIDEO)
    assert "Your browser does not support" not in release.body
    assert release.body.startswith("วันนี้ (3 ธันวาคม 2567) เวลา 09.30 น. ณ บริเวณโถงกลาง ตึกบัญชาการ 1")
    assert release.subtitle is None  # both repeats are the title itself


def test_a_social_media_post_has_no_spacer_lines_and_no_restated_headline() -> None:
    release = parse(LINE_POST)
    assert release.title == "เปิดประเด็นสำคัญของนโยบายดิจิทัล วอลเล็ต"
    assert release.subtitle is None
    assert release.body == (
        "- กฎเกณฑ์ผู้ได้รับสิทธิ\n"
        "- เงื่อนไขซื้ออะไรได้/ไม่ได้\n"
        "- ประเภทร้านค้า\n"
        "- ขอบเขตการใช้สิทธิ\n"
        "อ่านเพิ่มเติม คลิก >> https://www.thaigov.go.th/news/contents/details/74538\n"
        "#ไทยคู่ฟ้า #สื่อสารรัฐบาลไทย"
    )


def test_a_box_drawing_frame_goes_and_the_framed_line_stays() -> None:
    body = parse(FRAMED).body.split("\n")
    assert "╔════════╗" not in body and "╚════════╝" not in body
    assert body[1] == "หลักสูตรต้านทุจริตศึกษา | ของสำนักงาน ป.ป.ช."
    assert body[-1] == "https://www.facebook.com/share/p/1Bu7k8FYMk/?mibextid=wwXIfr"  # the "." above it is gone
    assert "." not in body


def test_the_whole_headline_of_a_shortened_title_is_the_subtitle_not_the_first_body_line() -> None:
    release = parse(CUT_TITLE)
    headline = ("นายกฯ เน้นย้ำรัฐบาลเร่งรัดติดตามงานด้านต่าง ๆ หวังดูแลประชาชนให้มีรายได้เพิ่มขึ้น "
                "ประเทศมีรายได้สูงขึ้นควบคู่อย่างสมดุล แสดงความมั่นใจรัฐบาลพร้อมรับนักท่องเที่ยวจีน")
    assert release.title == headline  # the title line, and the page's heading below the date
    assert release.subtitle == headline + " กำชับค้นหากำลังพล ร.ล.สุโขทัยที่สูญหายอย่างต่อเนื่อง"
    assert release.body.startswith("วันนี้ (3 มกราคม 2566) เวลา 13.30 น. ณ ทางเชื่อมตึกสันติไมตรีและไทยคู่ฟ้า")


def test_the_old_layout_drops_both_title_repeats() -> None:
    release = parse(OLD_NEWS)
    assert release.subtitle is None
    assert release.body.startswith("วันนี้ (24 ส.ค.63) เวลา 8.30 น. ณ ตึกภักดีบดินทร์ ทำเนียบรัฐบาล")


def test_a_lead_that_begins_with_the_title_stays_body_text() -> None:
    release = parse(CABINET)
    assert release.subtitle is None
    assert release.body.split("\n")[0] == "The cabinet met on January 10, 2023. Some of the resolutions are as follows:"


def test_a_thai_headline_that_goes_on_after_an_abbreviation_dot_is_the_subtitle() -> None:
    # The title line ends with "อ.ต.ก." and the headline goes on: not a new sentence (real shared-corpus item,
    # data/2023/03/29/ด้านเศรษฐกิจ_1_99b4566e-807a-498f-8226-a644c572d993.txt, lines shortened).
    text = ("รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-ปลัดเกษตรฯ ผุดอบรมภาษาต่างประเทศแก่ผู้ประกอบการในตลาด อ.ต.ก.\n\n\n"
            "วันพุธที่ 29 มีนาคม 2566\n"
            "ปลัดเกษตรฯ ผุดอบรมภาษาต่างประเทศแก่ผู้ประกอบการในตลาด อ.ต.ก.\n"
            "ปลัดเกษตรฯ ผุดอบรมภาษาต่างประเทศแก่ผู้ประกอบการในตลาด อ.ต.ก. ช่วยเพิ่มยอดขายสินค้าเกษตร\n"
            "นายประยูร อินสกุล ปลัดกระทรวงเกษตรและสหกรณ์ เปิดเผยภายหลังเป็นประธานพิธีเปิดการฝึกอบรม\n\n"
            "ที่มา : https://www.thaigov.go.th/news/contents/details/66601\n")
    release = thaigov.parse(text, SourceContext("ด้านเศรษฐกิจ_1.txt"))
    assert release.subtitle == "ปลัดเกษตรฯ ผุดอบรมภาษาต่างประเทศแก่ผู้ประกอบการในตลาด อ.ต.ก. ช่วยเพิ่มยอดขายสินค้าเกษตร"
    assert release.body == "นายประยูร อินสกุล ปลัดกระทรวงเกษตรและสหกรณ์ เปิดเผยภายหลังเป็นประธานพิธีเปิดการฝึกอบรม"
