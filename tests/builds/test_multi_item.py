"""Multi-item inputs end to end through `ogd build`: a folder of two feeds and one page.

Every item is accounted for (a record, or a quarantine entry naming input and item; counts.items is their
sum), a feed whose items were refused is kept once in the quarantine, a bad item does not stop the others,
and an incremental rebuild after one feed changed reuses the other inputs and equals a full build byte for
byte. Feed text: real releases of ../shared/corpus/thaigov; the page: a thaigov corpus file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, THAIGOV_CORPUS  # noqa: E402
from helpers import read_quarantine, read_rows

PAGE = THAIGOV_CORPUS / "data" / "2023" / "03" / "21" / "ข่าวนายกรัฐมนตรี_1_621eee09-238e-4379-b9e9-dfeef1e72344.txt"

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>ข่าว สป.ดศ.</title><link>https://www.mdes.go.th/</link>
<item><title>ดีอีเอสมอบรางวัลในงานอุตุนิยมวิทยาฯ</title><link>https://www.mdes.go.th/news/6650</link>
<guid>mdes-6650</guid><pubDate>Thu, 23 Mar 2023 10:15:00 +0700</pubDate>
<description><![CDATA[<p>วันนี้ (23 มี.ค. 2566) – พันตำรวจโท อนุรักษ์ จิรจิตร ผู้ช่วยรัฐมนตรีประจำกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม (ดีอีเอส) เป็นประธานในพิธีเปิดและมอบรางวัลแก่ผู้ชนะเลิศการประกวดภาพถ่ายและสื่อวีดิทัศน์</p>]]></description></item>
<item><title>ภาพกิจกรรม</title><link>https://www.mdes.go.th/news/6651</link><guid>mdes-6651</guid>
<pubDate>Thu, 23 Mar 2023 11:00:00 +0700</pubDate><description></description></item>
<item><title>ปลัดดีอีเอส ร่วมประชุมคณะอนุกรรมการกลั่นกรองพิจารณาโครงการ ครั้งที่ 2/2565</title>
<link>https://www.mdes.go.th/news/6743</link><guid>mdes-6743</guid><pubDate>Wed, 29 Mar 2023 17:30:00 GMT</pubDate>
<description><![CDATA[<p>วันนี้ (29 มี.ค. 66) ศาสตราจารย์พิเศษวิศิษฏ์ วิศิษฏ์สรอรรถ ปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม (ดีอีเอส) เป็นประธานการประชุมคณะอนุกรรมการกลั่นกรองพิจารณาโครงการ ครั้งที่ 2/2565</p>]]></description></item>
<item><title>รายงานประจำเดือน</title><link>https://www.mdes.go.th/news/6800</link><guid>mdes-6800</guid>
<pubDate>31 Feb 2023 10:00:00 +0700</pubDate>
<description><![CDATA[<p>สรุปผลการดำเนินงานของสำนักงานปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคมประจำเดือน</p>]]></description></item>
</channel></rss>
"""

ATOM_ENTRY = """<entry><title>{title}</title><link href="https://www.mdes.go.th/news/{n}"/><id>tag:mdes.go.th,2023:{n}</id>
<published>{date}</published><content type="html">&lt;p&gt;{text}&lt;/p&gt;</content></entry>"""
ATOM_ENTRIES = [
    dict(n=6590, title="รองปลัดดีอีเอส ประชุมคณะทำงานขับเคลื่อนองค์กรคุณธรรม", date="2023-03-09T10:00:00",
         text="วันนี้ (09 มี.ค. 66) ดร.เวทางค์ พ่วงทรัพย์ รองปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม (ดีอีเอส) "
              "เป็นประธานการประชุมคณะทำงานขับเคลื่อนองค์กรคุณธรรม ของ สป.ดศ. ครั้งที่ 1/2566"),
    dict(n=6591, title="นายกรัฐมนตรี ตรวจราชการ จ.ภูเก็ต", date="2023-03-19T16:00:00+07:00",
         text="พลเอก ประยุทธ์ จันทร์โอชา นายกรัฐมนตรี ตรวจราชการ จ.ภูเก็ต ในวันนี้ (19 มี.ค.66) "
              "เพื่อติดตามความพร้อมในการเสนอประเทศไทยเป็นเจ้าภาพจัดงาน Expo2028 Phuket Thailand"),
]
NEW_ENTRY = dict(n=6592, title="ปลัดดีอีเอส ตรวจเยี่ยมศูนย์ราชการ", date="2023-03-30T09:00:00",
                 text="วันนี้ (30 มี.ค. 66) ปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม ตรวจเยี่ยมการดำเนินงานของ"
                      "ศูนย์ราชการสะดวก ณ ศูนย์ราชการเฉลิมพระเกียรติ")


def atom(entries: list[dict[str, object]]) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>ข่าว</title>'
            '<id>tag:mdes.go.th,2023:news</id><updated>2023-03-30T09:00:00+07:00</updated>'
            + "".join(ATOM_ENTRY.format(**entry) for entry in entries) + "</feed>")


def ogd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, capture_output=True, text=True)


def build(inputs: Path, out: Path, *extra: str) -> dict:
    result = ogd("build", str(inputs), "--out", str(out), "--name", "feeds", "--max-quarantine-ratio", "1",
                 "--workers", "1", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != "report.json"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    base = tmp_path_factory.mktemp("multi")
    inputs = base / "in"
    (inputs / "feeds").mkdir(parents=True)
    (inputs / "feeds" / "a.xml").write_text(RSS, encoding="utf-8")
    (inputs / "feeds" / "b.xml").write_text(atom(ATOM_ENTRIES), encoding="utf-8")
    (inputs / "page").mkdir()
    shutil.copyfile(PAGE, inputs / "page" / "release.txt")
    out = base / "pkg"
    return inputs, out, build(inputs, out)


def test_every_item_is_a_record_or_a_quarantine_entry_naming_its_item(built) -> None:
    _, out, report = built
    counts = report["counts"]
    # a.xml: 4 items (2 records, a link-only entry, an impossible date); b.xml: 2 records; the page: 1.
    assert (counts["inputs"], counts["items"], counts["records"], counts["quarantined"], counts["duplicates"]) == (
        3, 7, 5, 2, 0)
    assert counts["items"] == counts["records"] + counts["quarantined"] + counts["duplicates"]
    rows, _ = read_rows(out)
    assert sorted((r["source_file"], r["item"], r["source"], r["source_kind"]) for r in rows) == [
        ("feeds/a.xml", "mdes-6650", "feed", "feed"),
        ("feeds/a.xml", "mdes-6743", "feed", "feed"),
        ("feeds/b.xml", "tag:mdes.go.th,2023:6590", "feed", "feed"),
        ("feeds/b.xml", "tag:mdes.go.th,2023:6591", "feed", "feed"),
        ("page/release.txt", None, "thaigov", "text"),
    ]
    entries = read_quarantine(out)
    assert [(e["path"], e["item"], e["reason"]) for e in entries] == [
        ("feeds/a.xml", "mdes-6651", "link-only"),
        ("feeds/a.xml", "mdes-6800", "unparseable-date"),  # a bad item: the feed's other items are records
    ]
    assert report["per_reason"] == {"link-only": 1, "unparseable-date": 1}


def test_the_quarantine_keeps_one_copy_of_a_feed_whose_items_were_refused(built) -> None:
    inputs, out, _ = built
    entries = read_quarantine(out)
    assert entries[0]["kept_copy"] == entries[1]["kept_copy"]
    copies = [p for p in (out / "quarantine").rglob("*") if p.is_file()]
    assert len(copies) == 1
    assert copies[0].read_bytes() == (inputs / "feeds" / "a.xml").read_bytes()


def test_a_rebuild_after_one_feed_changed_reuses_the_others_and_equals_a_full_build(built, tmp_path: Path) -> None:
    inputs, out, _ = built
    work = tmp_path / "in"
    shutil.copytree(inputs, work)
    package = tmp_path / "pkg"
    shutil.copytree(out, package)
    build(work, package)  # the same inputs from another folder: reused, nothing changes
    # The full build replaces a copy of the same previous package (what a package records of the build
    # before it, as its version history, is then the same).
    full = tmp_path / "full"
    shutil.copytree(package, full)
    (work / "feeds" / "b.xml").write_text(atom([*ATOM_ENTRIES, NEW_ENTRY]), encoding="utf-8")
    report = build(work, package)
    assert report["reuse"]["inputs_reused"] == 2  # a.xml (records and quarantined items) and the page
    assert (report["counts"]["items"], report["counts"]["records"]) == (8, 6)
    rows, _ = read_rows(package)
    assert ("feeds/b.xml", "tag:mdes.go.th,2023:6592") in {(r["source_file"], r["item"]) for r in rows}
    full_report = build(work, full, "--full")
    assert full_report["reuse"]["inputs_reused"] == 0
    assert files_of(package) == files_of(full)


def test_a_feed_with_a_duplicate_item_keeps_every_item_accounted_for_when_rebuilt(tmp_path: Path) -> None:
    # c.xml repeats a.xml's first entry (same title, date and text: a duplicate) beside one entry of its own.
    first_item = RSS[RSS.index("<item>"):RSS.index("</item>") + len("</item>")]
    own_item = ATOM_ENTRIES[0]
    c_xml = (RSS[:RSS.index("<item>")] + first_item
             + f"<item><title>{own_item['title']}</title><link>https://www.mdes.go.th/news/{own_item['n']}</link>"
               f"<guid>mdes-{own_item['n']}</guid><pubDate>Thu, 09 Mar 2023 10:00:00 +0700</pubDate>"
               f"<description><![CDATA[<p>{own_item['text']}</p>]]></description></item></channel></rss>\n")
    inputs = tmp_path / "in"
    (inputs / "feeds").mkdir(parents=True)
    (inputs / "feeds" / "a.xml").write_text(RSS, encoding="utf-8")
    (inputs / "feeds" / "c.xml").write_text(c_xml, encoding="utf-8")
    first = build(inputs, tmp_path / "pkg")
    again = build(inputs, tmp_path / "pkg")
    for report in (first, again):
        # a.xml: 4 items (2 records, link-only, impossible date); c.xml: a duplicate of a.xml's first, 1 record.
        assert (report["counts"]["items"], report["counts"]["records"], report["counts"]["quarantined"],
                report["counts"]["duplicates"]) == (6, 3, 2, 1)
    assert again["reuse"]["inputs_reused"] == 1  # a.xml; c.xml is read again (its duplicate is decided each build)
    duplicate = next(e for e in read_quarantine(tmp_path / "pkg") if e["reason"] == "duplicate")
    assert (duplicate["path"], duplicate["item"]) == ("feeds/c.xml", "mdes-6650")
