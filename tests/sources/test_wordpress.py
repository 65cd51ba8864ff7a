"""The wordpress source: /wp-json/wp/v2/posts answers (a list or one post) become one record per post with
content; JSON that is no WordPress answer has its own reason; an empty list is not a release.

The answers are written here in the shape WordPress 6 gives them, with real release text of
../shared/corpus/thaigov (2023/03/23 ด้านสังคม_4, 2023/03/09 ด้านสังคม_1)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from pipeline.sources import wordpress
from pipeline.sources.base import SourceContext
from pipeline.sources.registry import detect_source
from pipeline.transform import Outcome, transform_text

FIRST: dict[str, Any] = {
    "id": 6650,
    "date": "2023-03-23T23:30:00",
    "date_gmt": "2023-03-23T16:30:00",
    "modified": "2023-03-24T08:00:00",
    "slug": "%e0%b8%94%e0%b8%b5",
    "status": "publish",
    "type": "post",
    "link": "https://www.nso.go.th/nsoweb/nso/news/6650",
    "title": {"rendered": "ดีอีเอสมอบรางวัลในงานอุตุนิยมวิทยาฯ &#8211; ปี 2566"},
    "content": {"rendered": "<p>วันนี้ (23 มี.ค. 2566) &#8211; พันตำรวจโท อนุรักษ์ จิรจิตร ผู้ช่วยรัฐมนตรีประจำกระทรวง"
                            "ดิจิทัลเพื่อเศรษฐกิจและสังคม (ดีอีเอส) เป็นประธานในพิธีเปิดและมอบรางวัล</p>\n"
                            "<p>ณ อาคารหอประชุมกรมอุตุนิยมวิทยา กรุงเทพฯ</p>\n"
                            "<div class=\"sharedaddy\"><p>แชร์</p></div>\n",
                "protected": False},
    "excerpt": {"rendered": "<p>วันนี้ (23 มี.ค. 2566) &#8211; พันตำรวจโท [&hellip;]</p>\n", "protected": False},
    "author": 3,
    "categories": [12, 4],
    "_embedded": {
        "author": [{"id": 3, "name": "กลุ่มประชาสัมพันธ์", "link": "https://www.nso.go.th/author/pr"}],
        "wp:term": [
            [{"id": 12, "name": "ข่าวกิจกรรม", "taxonomy": "category"},
             {"id": 4, "name": "ข่าวประชาสัมพันธ์", "taxonomy": "category"}],
            [{"id": 40, "name": "อุตุนิยมวิทยา", "taxonomy": "post_tag"}],
        ],
    },
}
SECOND: dict[str, Any] = {
    "id": 6590,
    "date": "2023-03-09T10:00:00",
    "date_gmt": "2023-03-09T03:00:00",
    "link": "https://www.nso.go.th/nsoweb/nso/news/6590",
    "title": {"rendered": "รองปลัดดีอีเอส ประชุมคณะทำงานขับเคลื่อนองค์กรคุณธรรม"},
    "content": {"rendered": "<p>วันนี้ (09 มี.ค. 66) ดร.เวทางค์ พ่วงทรัพย์ รองปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและ"
                            "สังคม (ดีอีเอส) เป็นประธานการประชุมคณะทำงานขับเคลื่อนองค์กรคุณธรรม ของ สป.ดศ. ครั้งที่ 1/2566</p>"},
}


def read(value: Any, source: str = "auto") -> list[Outcome]:
    return transform_text(json.dumps(value, ensure_ascii=False), "utf-8", "posts.json", source)


def test_a_list_of_posts_gives_one_record_per_post_with_embedded_author_and_category() -> None:
    first, second = read([FIRST, SECOND])
    release = first.release
    assert release is not None, first.problem
    assert (release.source, release.source_kind, release.item) == ("wordpress", "wordpress", "6650")
    assert release.title == "ดีอีเอสมอบรางวัลในงานอุตุนิยมวิทยาฯ – ปี 2566"
    assert release.body == ("วันนี้ (23 มี.ค. 2566) – พันตำรวจโท อนุรักษ์ จิรจิตร ผู้ช่วยรัฐมนตรีประจำกระทรวงดิจิทัลเพื่อ"
                            "เศรษฐกิจและสังคม (ดีอีเอส) เป็นประธานในพิธีเปิดและมอบรางวัล\n"
                            "ณ อาคารหอประชุมกรมอุตุนิยมวิทยา กรุงเทพฯ")
    # The day of date_gmt in Bangkok (16:30 UTC = 23:30 on the 23rd), the date as the site writes it.
    assert (release.published_date, release.published_date_text, release.date_source) == (
        dt.date(2023, 3, 23), "2023-03-23T23:30:00", "metadata")
    assert (release.byline, release.category) == ("กลุ่มประชาสัมพันธ์", "ข่าวกิจกรรม")
    assert (release.source_url, release.agency) == ("https://www.nso.go.th/nsoweb/nso/news/6650",
                                                    "สำนักงานสถิติแห่งชาติ")
    other = second.release
    assert (other.item, other.published_date, other.byline, other.category) == ("6590", dt.date(2023, 3, 9), None, None)


def test_date_gmt_decides_the_day_when_the_site_clock_is_not_bangkok() -> None:
    # A site left on UTC: date == date_gmt; 20:00 UTC is 03:00 on the next day in Bangkok.
    post = {**SECOND, "date": "2023-03-09T20:00:00", "date_gmt": "2023-03-09T20:00:00"}
    outcome, = read([post])
    assert (outcome.release.published_date, outcome.release.published_date_text) == (
        dt.date(2023, 3, 10), "2023-03-09T20:00:00")
    # Without date_gmt, date is Bangkok time.
    local_only = {key: value for key, value in post.items() if key != "date_gmt"}
    outcome, = read([local_only])
    assert outcome.release.published_date == dt.date(2023, 3, 9)


def test_a_single_post_is_read_as_one_item() -> None:
    outcome, = read(FIRST)
    assert (outcome.release.item, outcome.release.title) == ("6650", "ดีอีเอสมอบรางวัลในงานอุตุนิยมวิทยาฯ – ปี 2566")


def test_a_post_without_content_is_link_only_and_the_others_still_read() -> None:
    # The harvester's own question (_fields=id,link,date_gmt,modified_gmt,title) gives posts without content.
    bare = {"id": 7001, "link": "https://www.nso.go.th/nsoweb/nso/news/7001", "date_gmt": "2023-04-01T02:00:00",
            "modified_gmt": "2023-04-01T02:00:00", "title": {"rendered": "ประกาศผลการสำรวจ"}}
    outcomes = read([bare, SECOND])
    assert (outcomes[0].problem.reason, outcomes[0].problem.item) == ("link-only", "7001")
    assert outcomes[0].problem.details == {"source": "wordpress", "title": "ประกาศผลการสำรวจ",
                                           "link": "https://www.nso.go.th/nsoweb/nso/news/7001",
                                           "date_text": "2023-04-01T02:00:00Z", "published": "2023-04-01"}
    assert outcomes[0].problem.message.startswith("the post is only a title and a link")
    assert outcomes[1].release.item == "6590"


def test_an_item_that_is_no_post_is_not_wordpress_and_the_posts_still_read() -> None:
    outcomes = read([SECOND, {"name": "เมนู"}])
    assert outcomes[0].release.item == "6590"
    assert (outcomes[1].problem.reason, outcomes[1].problem.item, outcomes[1].problem.details) == (
        "not-wordpress", "2", {"source": "wordpress", "keys": ["name"]})


def test_the_empty_list_is_not_a_release() -> None:
    outcome, = read([])
    assert (outcome.problem.reason, outcome.problem.details) == ("not-a-release", {"source": "wordpress"})


@pytest.mark.parametrize(("value", "message"), [
    ({"name": "ข่าว", "items": [1, 2]},
     "the JSON is an object with keys items, name, not a WordPress post"),
    ([{"url": "https://x.go.th/1", "title": "ข่าว"}, {"url": "https://x.go.th/2", "title": "ข่าว"}],
     "the JSON is a list of 2 items, none a post: its first is an object with keys title, url, not a WordPress post"),
    ({"code": "rest_post_invalid_page_number", "message": "The page number requested is larger than the number of "
      "pages available.", "data": {"status": 400}},
     "a WordPress error answer, not posts: rest_post_invalid_page_number (The page number requested is larger than "
     "the number of pages available., HTTP 400)"),
])
def test_json_that_is_not_wordpress_has_its_own_reason(value: Any, message: str) -> None:
    outcome, = read(value)
    assert (outcome.problem.reason, outcome.problem.item, outcome.problem.details["source"]) == (
        "not-wordpress", None, "wordpress")
    assert outcome.problem.message.startswith(message)


def test_forced_on_text_that_is_not_json_it_is_not_wordpress() -> None:
    outcome, = transform_text("ข่าวธรรมดา\n", "utf-8", "a.txt", "wordpress")
    assert outcome.problem.reason == "not-wordpress"
    assert outcome.problem.message.startswith("the input is not JSON (Expecting value: line 1 column 1 (char 0))")


def test_a_list_cut_mid_json_gives_the_posts_before_the_cut_and_the_defect() -> None:
    text = json.dumps([SECOND, FIRST], ensure_ascii=False, indent=1)
    cut = text[:text.index('"ดีอีเอสมอบรางวัล')]  # inside the second post's title
    outcomes = transform_text(cut, "utf-8", "posts.json")
    assert [o.release.item if o.release else o.problem.item for o in outcomes] == ["6590", "feed"]
    defect = outcomes[1].problem
    assert (defect.reason, defect.details["entries_read"], defect.details["cut_off"]) == ("malformed-feed", 1, True)
    assert defect.message.startswith("the WordPress answer is cut off mid-JSON: ")


@pytest.mark.parametrize(("text", "claimed"), [
    (json.dumps([FIRST]), True),
    (json.dumps(FIRST), True),
    ("[]", True),
    ('{"a": 1}', True),  # any JSON object: not-wordpress, never page text
    ('[{"id": 1, "date": "2023-03-09T10:00:00", "date_gmt": "2023-03-09T03:00:00", "guid": {"rendered": "x', True),
    ('[1, 2', False),  # broken, and nothing of a post in it
    ("<html><body>[]</body></html>", False),
    ("รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-ข่าว\n", False),
    ('"a string"', False),
])
def test_wordpress_answers_are_detected(text: str, claimed: bool) -> None:
    assert wordpress.detect(text, SourceContext("posts.json")) is claimed


def test_auto_detection_chooses_wordpress_for_a_posts_answer() -> None:
    source = detect_source(json.dumps([FIRST], ensure_ascii=False), SourceContext("posts.json"))
    assert source is not None and source.name == "wordpress"
