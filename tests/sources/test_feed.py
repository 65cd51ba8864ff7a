"""The feed source: RSS 2.0 and Atom entries with text become records, an entry that is only a link is
`link-only`, a broken feed is read as far as it goes with its defect reported.

The real feeds are the EWT CMS feeds of ../shared/corpus/web/ewt-rss (counts and dates checked by hand in
the files); the written feeds carry real release text of ../shared/corpus/thaigov."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.sources import feed
from pipeline.sources.base import SourceContext
from pipeline.sources.registry import detect_source
from pipeline.transform import Outcome, transform_text

from conftest import SHARED  # noqa: E402

EWT = SHARED / "corpus" / "web" / "ewt-rss"
GISTDA = "http://203.150.224.57/ewtadmin86_gistda/ewt/gistda_web/news_view.php?n_id="


def read(text: str, name: str = "feed.xml") -> list[Outcome]:
    return transform_text(text, "utf-8", name)


def ewt(name: str) -> str:
    return (EWT / name).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------- the real EWT feeds

# Entries counted by hand (<item> elements); every <description> of these feeds is empty.
@pytest.mark.parametrize(("name", "entries"), [
    ("ewt_dip_intra_web_rss_group159.xml", 10),
    ("ewt_dip_intra_web_rss_group161.xml", 10),
    ("ewt_dip_intra_web_rss_group195.xml", 1),
    ("ewt_dip_intra_web_rss_group196.xml", 4),
    ("ewt_dip_intra_web_rss_group197.xml", 5),
    ("ewt_dip_intra_web_rss_group198.xml", 10),
    ("ewt_dip_intra_web_rss_group310.xml", 3),
])
def test_every_entry_of_an_ewt_feed_is_accounted_for_as_link_only(name: str, entries: int) -> None:
    outcomes = read(ewt(name), name)
    assert len(outcomes) == entries
    assert [o.problem.reason for o in outcomes] == ["link-only"] * entries
    assert all(o.problem.details["source"] == "feed" and o.problem.stage == "transform" for o in outcomes)
    assert len({o.problem.item for o in outcomes}) == entries  # one key per entry


def test_ewt_entries_are_keyed_by_link_not_by_the_site_root_every_guid_repeats() -> None:
    outcomes = read(ewt("ewt_dip_intra_web_rss_group159.xml"))
    assert [o.problem.item for o in outcomes[:3]] == [GISTDA + "5280", GISTDA + "5243", GISTDA + "5242"]
    # A one-entry feed: its guid is the channel's own link, which names no entry.
    only, = read(ewt("ewt_dip_intra_web_rss_group195.xml"))
    assert only.problem.item == GISTDA + "2459"
    # group310's second entry links to the site root with "#": neither guid nor link names it; its position does.
    assert [o.problem.item for o in read(ewt("ewt_dip_intra_web_rss_group310.xml"))] == [
        "http://203.151.166.134/prd_intra_web/ewt/prd_intra_web/download/article/article_20220105100610.pdf",
        "2",
        "http://203.151.166.134/prd_intra_web/ewt/prd_intra_web/http://ws.prd.go.th/smc",
    ]


def test_ewt_zone_less_pubdates_are_bangkok_time() -> None:
    # <pubDate>2021-08-06 17:23:03</pubDate> is Bangkok time: read as UTC (feedparser) it would be the 7th.
    outcomes = read(ewt("ewt_dip_intra_web_rss_group197.xml"))
    second = outcomes[1].problem
    assert (second.item, second.details["date_text"], second.details["published"]) == (
        GISTDA + "2338", "2021-08-06 17:23:03", "2021-08-06")
    assert [o.problem.details["published"] for o in outcomes] == [
        "2021-08-06", "2021-08-06", "2021-08-06", "2021-08-05", "2021-08-05"]
    link_only = read(ewt("ewt_dip_intra_web_rss_group159.xml"))[0].problem
    assert link_only.details == {
        "source": "feed", "title": "GISTDA STATION Ep.02 “สวัสดิการดี ๆ เราต้องรู้”", "link": GISTDA + "5280",
        "date_text": "2021-11-29 09:23:55", "published": "2021-11-29"}
    assert link_only.message.startswith("the entry is only a title and a link, with no text of its own")


def test_an_empty_ewt_channel_is_not_a_release() -> None:
    outcome, = read(ewt("ewt_dip_intra_web_rss_group1.xml"))
    assert (outcome.problem.reason, outcome.problem.item) == ("not-a-release", None)


def test_the_broken_template_feed_is_read_as_far_as_it_goes_with_its_defect_reported() -> None:
    # <?phpxml … encoding="Windows-874"?> on UTF-8 bytes, and "&sTB=" unescaped in the link of line 40.
    outcomes = read(ewt("bizmanutd_template_rss_group1.xml"), "bizmanutd_template_rss_group1.xml")
    assert len(outcomes) == 8  # its 7 entries, then the defect
    assert [o.problem.reason for o in outcomes] == ["link-only"] * 7 + ["malformed-feed"]
    nccc = "http://www.nccc.thaigov.net/nccc/a_download.php?sID={}&sTB=gen_info"
    # No guids, and the first four have no absolute link ("ewt_news.php?nid=27" has no base): positions.
    assert [o.problem.item for o in outcomes] == ["1", "2", "3", "4", nccc.format(239), nccc.format(237),
                                                  nccc.format(234), "feed"]
    assert outcomes[0].problem.details == {"source": "feed", "title": "fdfdd", "link": None,
                                           "date_text": "2009-08-04 17:04:14", "published": "2009-08-04"}
    assert "date_text" not in outcomes[1].problem.details  # <pubDate></pubDate>
    defect = outcomes[-1].problem
    assert defect.details == {"source": "feed", "error": "not well-formed (invalid token)", "line": 40,
                              "column": 71, "entries_read": 7, "cut_off": False}
    assert defect.message == ("the feed is not well-formed XML: not well-formed (invalid token) at line 40, "
                              "column 71; 7 entries were read despite it; fetch the feed again (if it stays "
                              "broken, tell the site)")


def test_a_feed_cut_mid_tag_gives_the_entries_before_the_cut_and_the_defect() -> None:
    text = ewt("ewt_dip_intra_web_rss_group159.xml")
    cut = text[:text.index("n_id=5223") + len("n_id=52")]  # inside the sixth entry's <link> (line 52)
    outcomes = read(cut)
    assert [o.problem.item for o in outcomes] == [GISTDA + n for n in ("5280", "5243", "5242", "5241", "5224")] + [
        "feed"]
    defect = outcomes[-1].problem
    assert defect.reason == "malformed-feed"
    assert (defect.details["line"], defect.details["cut_off"], defect.details["entries_read"],
            defect.details["entries_not_read"]) == (52, True, 5, 1)
    assert defect.message.startswith("the feed ends before its closing tag (cut off while it was saved or fetched)")
    assert ("the entry cut off at the end ('ผสทอภ. มอบนโยบายการปฏิบัติงาน เนื่องในวันครบรอบ 21 ปี วันสถาปนา สทอภ.') "
            "was not read") in defect.message


def test_an_ewt_feed_whose_descriptions_hold_text_gives_one_record_per_such_entry() -> None:
    # The same real feed as the CMS writes it when an editor fills an entry's summary: two of ten entries.
    text = ewt("ewt_dip_intra_web_rss_group197.xml")
    first_text = "<![CDATA[<p>GISTDA ให้บริการบ่มเพาะธุรกิจด้านอวกาศและภูมิสารสนเทศแก่ผู้ประกอบการรายใหม่</p>]]>"
    text = text.replace("<description></description>", f"<description>{first_text}</description>", 1)
    parts = text.split("<description></description>")
    text = "<description></description>".join(parts[:1]) + \
        "<description>GISTDA พัฒนาระบบภูมิสารสนเทศเพื่อการบริหารจัดการเชิงพื้นที่ของหน่วยงานรัฐ</description>" + \
        "<description></description>".join(parts[1:])
    outcomes = read(text)
    assert [o.problem.reason if o.problem else "record" for o in outcomes] == [
        "record", "record", "link-only", "link-only", "link-only"]
    first, second = outcomes[0].release, outcomes[1].release
    assert (first.title, first.body, first.published_date, first.published_date_text, first.date_source) == (
        "Business Incubation", "GISTDA ให้บริการบ่มเพาะธุรกิจด้านอวกาศและภูมิสารสนเทศแก่ผู้ประกอบการรายใหม่",
        dt.date(2021, 8, 6), "2021-08-06 17:04:33", "metadata")
    assert (first.item, first.source_url, first.source, first.source_kind) == (
        GISTDA + "2339", GISTDA + "2339", "feed", "feed")
    assert (second.title, second.published_date, second.item) == ("GIS", dt.date(2021, 8, 6), GISTDA + "2338")
    assert second.body == "GISTDA พัฒนาระบบภูมิสารสนเทศเพื่อการบริหารจัดการเชิงพื้นที่ของหน่วยงานรัฐ"


# ------------------------------------------------------------------------------------- feeds written here

# Real release text (../shared/corpus/thaigov 2023/03/23 ด้านสังคม_4 and 2023/03/29 ด้านสังคม_6), as a PRD CMS
# RSS carries it: CDATA titles, HTML descriptions with &nbsp; and chrome, RFC 822 dates.
RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
<title><![CDATA[ข่าวประชาสัมพันธ์]]></title>
<link>https://www.prd.go.th/th/content/category/index/id/9</link>
<description>ข่าว</description>
<item>
<title><![CDATA[ดีอีเอสมอบรางวัลในงานอุตุนิยมวิทยาฯ ]]></title>
<link>https://www.prd.go.th/th/content/category/detail/id/9/iid/166503</link>
<guid isPermaLink="false">prd-166503</guid>
<category>ข่าวกิจกรรม</category>
<dc:creator>ทีมข่าว สปข.</dc:creator>
<description><![CDATA[<p>วันนี้ (23 มี.ค. 2566) – พันตำรวจโท อนุรักษ์ จิรจิตร ...</p><p><a href="https://www.prd.go.th/th/content/category/detail/id/9/iid/166503">อ่านต่อ</a></p>]]></description>
<content:encoded><![CDATA[<h1>ดีอีเอสมอบรางวัลในงานอุตุนิยมวิทยาฯ</h1>
<p>วันนี้ (23 มี.ค. 2566) &ndash; พันตำรวจโท อนุรักษ์ จิรจิตร ผู้ช่วยรัฐมนตรีประจำกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม (ดีอีเอส) เป็นประธานในพิธีเปิดและมอบรางวัลแก่ผู้ชนะเลิศการประกวดภาพถ่ายและสื่อวีดิทัศน์</p>
<p>ณ อาคารหอประชุมกรมอุตุนิยมวิทยา กรุงเทพฯ&nbsp;</p>
<p>แชร์</p><p>อ่านต่อ</p>]]></content:encoded>
<pubDate>Thu, 23 Mar 2023 10:15:00 +0700</pubDate>
</item>
<item>
<title>ปลัดดีอีเอส ร่วมประชุมคณะอนุกรรมการกลั่นกรองพิจารณาโครงการ ครั้งที่ 2/2565</title>
<link>https://www.prd.go.th/th/content/category/detail/id/9/iid/166743</link>
<guid isPermaLink="false">prd-166743</guid>
<description>&lt;p&gt;วันนี้ (29 มี.ค. 66) ศาสตราจารย์พิเศษวิศิษฏ์ วิศิษฏ์สรอรรถ ปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม (ดีอีเอส) เป็นประธานการประชุมคณะอนุกรรมการกลั่นกรองพิจารณาโครงการ ครั้งที่ 2/2565&lt;/p&gt;&lt;p&gt;ณ ห้องประชุมONDE 1 ชั้น 9 สดช.&lt;/p&gt;</description>
<pubDate>Wed, 29 Mar 2023 17:30:00 GMT</pubDate>
</item>
<item>
<title>ภาพกิจกรรม</title>
<link>https://www.prd.go.th/th/content/category/detail/id/9/iid/166800</link>
<guid isPermaLink="false">prd-166800</guid>
<description><![CDATA[ ]]></description>
<pubDate>Thu, 30 Mar 2023 09:00:00 +0700</pubDate>
</item>
</channel>
</rss>
"""


def test_rss_entries_with_html_text_become_records() -> None:
    first, second, third = read(RSS)
    release = first.release
    assert release is not None, first.problem
    # content:encoded over the description teaser; headline, "แชร์" and "อ่านต่อ" dropped; &nbsp; a space.
    assert release.title == "ดีอีเอสมอบรางวัลในงานอุตุนิยมวิทยาฯ"
    assert release.body == (
        "วันนี้ (23 มี.ค. 2566) – พันตำรวจโท อนุรักษ์ จิรจิตร ผู้ช่วยรัฐมนตรีประจำกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม "
        "(ดีอีเอส) เป็นประธานในพิธีเปิดและมอบรางวัลแก่ผู้ชนะเลิศการประกวดภาพถ่ายและสื่อวีดิทัศน์\n"
        "ณ อาคารหอประชุมกรมอุตุนิยมวิทยา กรุงเทพฯ")
    assert (release.item, release.category, release.byline) == ("prd-166503", "ข่าวกิจกรรม", "ทีมข่าว สปข.")
    assert (release.published_date, release.published_date_text, release.date_source) == (
        dt.date(2023, 3, 23), "Thu, 23 Mar 2023 10:15:00 +0700", "metadata")
    assert (release.source_url, release.agency) == (
        "https://www.prd.go.th/th/content/category/detail/id/9/iid/166503", "กรมประชาสัมพันธ์")
    assert release.source_kind == "feed"
    # An escaped-HTML description; 17:30 GMT is 00:30 on the 30th in Bangkok.
    other = second.release
    assert other.body == ("วันนี้ (29 มี.ค. 66) ศาสตราจารย์พิเศษวิศิษฏ์ วิศิษฏ์สรอรรถ ปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม "
                          "(ดีอีเอส) เป็นประธานการประชุมคณะอนุกรรมการกลั่นกรองพิจารณาโครงการ ครั้งที่ 2/2565\n"
                          "ณ ห้องประชุมONDE 1 ชั้น 9 สดช.")
    assert (other.published_date, other.published_date_text) == (dt.date(2023, 3, 30), "Wed, 29 Mar 2023 17:30:00 GMT")
    assert (other.category, other.byline) == (None, None)
    # A CDATA of one space is no text.
    assert (third.problem.reason, third.problem.item) == ("link-only", "prd-166800")


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="th">
  <title>ข่าวกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม</title>
  <link href="https://www.mdes.go.th/news"/>
  <id>tag:mdes.go.th,2023:news</id>
  <updated>2023-03-09T18:00:00+07:00</updated>
  <entry>
    <title type="html">รองปลัดดีอีเอส ประชุมคณะทำงานขับเคลื่อนองค์กรคุณธรรม</title>
    <link rel="alternate" href="https://www.mdes.go.th/news/detail/6590"/>
    <id>tag:mdes.go.th,2023:news/6590</id>
    <published>2023-03-09T23:30:00</published>
    <updated>2023-03-10T08:00:00+07:00</updated>
    <author><name>กองกลาง สป.ดศ.</name></author>
    <category term="ข่าวผู้บริหาร"/>
    <summary type="html">&lt;p&gt;ประชุมคณะทำงานขับเคลื่อนองค์กรคุณธรรม&lt;/p&gt;</summary>
    <content type="html">&lt;p&gt;วันนี้ (09 มี.ค. 66) ดร.เวทางค์ พ่วงทรัพย์ รองปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม (ดีอีเอส) เป็นประธานการประชุมคณะทำงานขับเคลื่อนองค์กรคุณธรรม ของ สป.ดศ. ครั้งที่ 1/2566&lt;/p&gt;&lt;p&gt;ณ ห้องประชุม 802 ชั้น 8 สำนักงานปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>ดีอีเอสมอบรางวัลในงานอุตุนิยมวิทยาฯ</title>
    <link href="https://www.mdes.go.th/news/detail/6650"/>
    <id>tag:mdes.go.th,2023:news/6650</id>
    <updated>2023-03-23T12:00:00Z</updated>
    <content type="text">วันนี้ (23 มี.ค. 2566) – พันตำรวจโท อนุรักษ์ จิรจิตร ผู้ช่วยรัฐมนตรีประจำกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม (ดีอีเอส) เป็นประธานในพิธีเปิด &lt;งานวันอุตุนิยมวิทยา&gt;</content>
  </entry>
</feed>
"""


def test_atom_entries_become_records() -> None:
    first, second = read(ATOM)
    release = first.release
    assert release is not None, first.problem
    assert (release.title, release.item, release.byline, release.category) == (
        "รองปลัดดีอีเอส ประชุมคณะทำงานขับเคลื่อนองค์กรคุณธรรม", "tag:mdes.go.th,2023:news/6590", "กองกลาง สป.ดศ.",
        "ข่าวผู้บริหาร")
    # <published> first (zone-less: Bangkok time, so 23:30 stays the 9th), not <updated>.
    assert (release.published_date, release.published_date_text) == (dt.date(2023, 3, 9), "2023-03-09T23:30:00")
    assert release.body == ("วันนี้ (09 มี.ค. 66) ดร.เวทางค์ พ่วงทรัพย์ รองปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม "
                            "(ดีอีเอส) เป็นประธานการประชุมคณะทำงานขับเคลื่อนองค์กรคุณธรรม ของ สป.ดศ. ครั้งที่ 1/2566\n"
                            "ณ ห้องประชุม 802 ชั้น 8 สำนักงานปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม")
    assert release.source_url == "https://www.mdes.go.th/news/detail/6590"
    # Plain-text content keeps its angle brackets; only <updated>: its day in Bangkok (19:00 on the 23rd).
    other = second.release
    assert other.body == ("วันนี้ (23 มี.ค. 2566) – พันตำรวจโท อนุรักษ์ จิรจิตร ผู้ช่วยรัฐมนตรีประจำกระทรวงดิจิทัลเพื่อ"
                          "เศรษฐกิจและสังคม (ดีอีเอส) เป็นประธานในพิธีเปิด <งานวันอุตุนิยมวิทยา>")
    assert (other.published_date, other.published_date_text) == (dt.date(2023, 3, 23), "2023-03-23T12:00:00Z")


def _rss(*items: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            '<link>https://www.soc.go.th/</link>' + "".join(f"<item>{item}</item>" for item in items)
            + "</channel></rss>")


BODY = ("<p>วันนี้ (29 มี.ค. 66) ศาสตราจารย์พิเศษวิศิษฏ์ วิศิษฏ์สรอรรถ ปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม "
        "(ดีอีเอส) เป็นประธานการประชุมคณะอนุกรรมการกลั่นกรองพิจารณาโครงการ ครั้งที่ 2/2565</p>")


def test_a_bad_entry_does_not_stop_the_others_and_each_has_its_reason() -> None:
    text = _rss(
        "<title>ก</title><link>https://www.soc.go.th/?p=1</link><description><![CDATA[<p>ศาสตราจารย์พิเศษวิศิษฏ์ "
        "วิศิษฏ์สรอรรถ ปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม (ดีอีเอส) เป็นประธานการประชุมคณะอนุกรรมการ</p>]]>"
        "</description><pubDate>31 Feb 2023 10:00:00 +0700</pubDate>",  # no such day, no date in text or link
        f"<title>ข</title><link>https://www.soc.go.th/?p=2</link><description><![CDATA[{BODY}]]></description>"
        "<pubDate>Wed, 29 Mar 2023 10:00:00 +0700</pubDate>",
        "<title>ค</title><link>https://www.soc.go.th/?p=3</link><description><![CDATA[<p>ย่อหน้าแรกของข่าว "
        "[&hellip;]</p><p>The post ค appeared first on สำนักงาน.</p>]]></description>"
        "<pubDate>Wed, 29 Mar 2023 11:00:00 +0700</pubDate>",
        f"<link>https://www.soc.go.th/?p=4</link><description><![CDATA[{BODY}]]></description>"
        "<pubDate>Wed, 29 Mar 2023 12:00:00 +0700</pubDate>",
    )
    outcomes = read(text)
    assert [(o.problem.reason if o.problem else "record") for o in outcomes] == [
        "unparseable-date", "record", "truncated", "missing-title"]
    assert [o.problem.item if o.problem else o.release.item for o in outcomes] == [
        f"https://www.soc.go.th/?p={n}" for n in (1, 2, 3, 4)]
    assert outcomes[0].problem.details["date_text"] == "31 Feb 2023 10:00:00 +0700"
    assert "excerpt the site cut short" in outcomes[2].problem.message


def test_an_entry_without_a_structured_date_takes_its_lead_date() -> None:
    outcome, = read(_rss(f"<title>ข</title><link>https://www.soc.go.th/ข่าว/ประจำ วัน</link>"
                         f"<description><![CDATA[<p>เมื่อวันที่ 5 มี.ค. 2566 {BODY[3:]}]]></description>"))
    release = outcome.release
    assert (release.published_date, release.date_source, release.published_date_text) == (
        dt.date(2023, 3, 5), "lead", "5 มี.ค. 2566")
    # A space in the link is escaped (no URI has one); its Thai path is kept as written.
    assert release.source_url == "https://www.soc.go.th/ข่าว/ประจำ%20วัน"


def test_an_undefined_entity_is_a_defect_reported_beside_the_entries() -> None:
    text = _rss(f"<title>ข&nbsp;ข่าว</title><link>https://www.soc.go.th/?p=2</link>"
                f"<description><![CDATA[{BODY}]]></description><pubDate>Wed, 29 Mar 2023 10:00:00 +0700</pubDate>")
    record, defect = read(text)
    assert record.release.title == "ข ข่าว"
    assert (defect.problem.reason, defect.problem.item, defect.problem.details["error"]) == (
        "malformed-feed", "feed", "undefined entity")


# ------------------------------------------------------------------------------------- detection

@pytest.mark.parametrize(("text", "claimed"), [
    (RSS, True),
    (ATOM, True),
    ("\ufeff<?xml version='1.0'?>\n<!-- generator -->\n<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
     "xmlns='http://purl.org/rss/1.0/'><channel/></rdf:RDF>", True),
    ('<?phpxml version="1.0" encoding="Windows-874"?>\n\t<rss version="2.0">', True),
    ("<!DOCTYPE html><html><head><title>rss</title></head><body><rss></rss></body></html>", False),
    ("<html><body><feed xmlns='http://www.w3.org/2005/Atom'></feed></body></html>", False),
    ("<feed><entry/></feed>", False),  # no Atom namespace: not known to be Atom
    ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>', False),
    ("<?xml version='1.0'?><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'/>", False),
    ("รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-ข่าว\n<rss>", False),
])
def test_feeds_are_detected_and_html_pages_are_not(text: str, claimed: bool) -> None:
    assert feed.detect(text, SourceContext("x.xml")) is claimed


def test_auto_detection_chooses_the_feed_source_for_the_real_feeds() -> None:
    for path in sorted(EWT.glob("*.xml")):
        source = detect_source(path.read_text(encoding="utf-8"), SourceContext(path.name))
        assert source is not None and source.name == "feed", path.name


def test_forced_on_text_that_is_no_feed_it_is_unknown_format() -> None:
    outcome, = transform_text("ข้อความธรรมดา ไม่ใช่ฟีด\n", "utf-8", "notes.txt", "feed")
    assert (outcome.problem.reason, outcome.problem.details["source"]) == ("unknown-format", "feed")
