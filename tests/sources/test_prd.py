"""Acceptance: the two reference PRD releases give exactly the expected records."""

import datetime as dt

from conftest import PRD_NEWS, PRD_PHOTO

from pipeline.extract.discover import InputFile
from pipeline.transform import transform_file


def _release(path):
    outcome, = transform_file(InputFile(str(path), path.name))
    assert outcome.problem is None, outcome.problem
    return outcome.release


def test_prd_news_item() -> None:
    release = _release(PRD_NEWS)
    assert release.source == "prd"
    assert release.category == "ข่าวกรมประชาสัมพันธ์"
    assert release.title == (
        "กปส.พร้อมขับเคลื่อนโครงการประชาสัมพันธ์กำกับและติดตามการปฏิบัติราชการในภูมิภาค/"
        "โครงการบูรณาการความร่วมมือด้านกฎหมายข้อมูลข่าวสารราชการ"
    )
    assert release.published_date == dt.date(2020, 6, 17)
    assert release.published_date_text == "17 มิ.ย. 2563"
    assert release.read_count == 0
    assert release.vote_count == 0
    assert release.office == "สำนักพัฒนานโยบายและแผนการประชาสัมพันธ์"
    assert release.agency == "กรมประชาสัมพันธ์"
    assert release.contact_phone == "+66 2 618 2323 ext. 1504"
    assert release.byline is None
    assert release.release_id.startswith("prd-") and len(release.release_id) == 20
    body = release.body
    assert body.startswith("เมื่อวันจันทร์ที่ 15 มิถุนายน 2563 ที่ผ่านมา นายธีรภัทร ประยูรสิทธิ")
    assert body.endswith("ด้านการพัฒนาระบบการบริหารจัดการภาครัฐ")
    assert len(body.split("\n")) == 3  # three paragraphs, separated by one newline
    for header_or_footer in ("ข่าวกรมประชาสัมพันธ์", "จำนวนคนอ่าน", "-----", "*****", "0 2618 2323",
                             "สำนักพัฒนานโยบายและแผนการประชาสัมพันธ์", "วันที่ 17 มิ.ย. 2563"):
        assert header_or_footer not in body
    # The restated two-line headline is kept apart from the body.
    assert release.subtitle.startswith("กรมประชาสัมพันธ์พร้อมขับเคลื่อนโครงการ")
    assert release.subtitle not in body
    assert "  " not in body and "\u00a0" not in body


def test_prd_activity_photo_item_in_thai_digits() -> None:
    release = _release(PRD_PHOTO)
    assert release.category == "ภาพกิจกรรม >> ภาพนิ่ง"
    assert release.title == "การประชุมสัมมนาเรื่อง ผลการพัฒนากรมประชาสัมพันธ์ สู่ระบบราชการ ๔.๐ ปีงบประมาณ ๒๕๖๓"
    assert release.published_date == dt.date(2020, 9, 10)
    assert release.read_count == 0
    assert release.vote_count is None
    assert release.byline == "กุลปราณี ชาลีวงศ์"
    assert release.byline_unit == "กลุ่มพัฒนาระบบบริหาร กรมประชาสัมพันธ์"
    assert release.office == "สำนักพัฒนาการประชาสัมพันธ์"
    assert release.contact_phone is None
    assert release.body.startswith("พลโทสรรเสริญ แก้วกำเนิด อธิบดีกรมประชาสัมพันธ์เป็นประธานเปิดการประชุมสัมมนา")
    assert release.body.endswith("ลดค่าใช้จ่ายอีกด้วย")
    assert "ข่าว:" not in release.body and "กุลปราณี" not in release.body
    assert "วันที่ 10 ก.ย." not in release.body


def test_prd_records_are_segmented_and_hashed() -> None:
    first, second = _release(PRD_NEWS), _release(PRD_PHOTO)
    for release in (first, second):
        words = release.body_words.split(" ")
        assert "" not in words
        assert release.word_count > 400
        assert len(release.content_sha256) == 64
        assert release.language == "th"
    assert "ประชาสัมพันธ์" in first.body_words.split(" ")
    assert first.release_id != second.release_id
    # The id is stable: the same input gives the same id on every run.
    assert _release(PRD_NEWS).release_id == first.release_id
