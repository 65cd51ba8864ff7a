"""ogd build of a harvest archive: each archived release page is an input read from its WARC record, every other
record is counted by kind, a feed entry archived as its own page is one record (the page's)."""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import html
import json
import re
import subprocess
import sys
from collections import Counter
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from helpers import read_quarantine, read_rows
from sites import Answer, Site, TestWeb, build_web, release_html

from pipeline.build.executor import checked_outcomes
from pipeline.extract.archive_inputs import discover_with_archives
from pipeline.extract.decode import DecodeProblem, read_bytes
from pipeline.harvest.archive import read_index
from pipeline.harvest.run import harvest
from pipeline.harvest.settings import Etiquette, HarvestSource
from pipeline.sources.base import ParsedItem, ParsedRelease, Source, SourceContext
from pipeline.sources.registry import register, unregister

FAST = Etiquette(contact="mailto:opendata@example.go.th", delay=0, timeout=0.5, attempts=2, backoff=0.01,
                 max_bytes=1024 * 1024)


def ogd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True)


def sources_of(sites: dict) -> list[HarvestSource]:
    return [
        HarvestSource(sites["prd"].site.url("/th/content/category/getarticles/id/5"), kind="listing", method="POST",
                      form={"pageIndex": "{page}"}, json_html_key="html", selector="div.inforow div.detail-title a"),
        HarvestSource(sites["prd"].site.url("/th/content/category/xml/id/5")),  # auto: RSS 2.0
        HarvestSource(sites["ewt"].feed_url),  # auto: the real EWT feed
        HarvestSource(sites["wp"].site.url("/"), per_page=3),  # auto: a WordPress home page
        HarvestSource(sites["maps"].site.url("/sitemap_index.xml")),  # auto: a sitemap index
    ]


@pytest.fixture(scope="module")
def harvested(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("archive-build")
    sites = build_web()
    archive = base / "archive"
    harvest(sources_of(sites), archive, FAST)
    out = base / "pkg"
    result = ogd("build", str(archive), "--out", str(out), "--name", "web", "--max-quarantine-ratio", "1", "--json")
    yield sites, archive, out, result
    sites["web"].close()


def served(sites: dict, url: str) -> bytes:
    """The bytes the test site serves at ``url`` (its route's answer)."""
    parts = urlsplit(url)
    site = next(s for s in sites["web"].sites.values() if s.base == f"{parts.scheme}://{parts.netloc}")
    handler = site.routes.get(parts.path + (f"?{parts.query}" if parts.query else "")) or site.routes[parts.path]
    return handler(None).body


def test_build_of_an_archive_accounts_for_every_record(harvested) -> None:
    _sites, archive, out, result = harvested
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    account = report["archive"]
    # Written by hand from tests/sites.py: 10 PRD + 10 EWT + 7 WordPress + 8 sitemap release pages; robots.txt
    # of 4 hosts; PRD's POST listing pages 1-3 with rows and an empty 4th; WordPress API pages of 3, 3 and 1
    # posts; 2 child sitemaps; the WordPress home page and the sitemap index that --kind auto recognised; the
    # PRD RSS and the EWT feed, every entry of which was archived as its page (10 + 10); one warcinfo.
    assert account["inputs"] == {"pages": 35, "feeds": 0}
    assert account["not_inputs"] == {"discover": 2, "feed-expanded": 2, "listing": 4, "robots": 4, "sitemap": 2,
                                     "warcinfo": 1, "wordpress-api": 3}
    assert account["feed_items_covered_by_pages"] == 20 and account["feed_items_not_read"] == 0
    assert account["records"] == 53 == len(list(read_index(archive)))
    assert report["counts"]["inputs"] == 35 and report["counts"]["items"] == 35


def test_source_file_names_the_warc_record_and_source_url_its_target(harvested) -> None:
    sites, archive, out, _result = harvested
    rows, _ = read_rows(out)
    quarantine = read_quarantine(out)
    assert len(rows) + len(quarantine) == 35
    for row in rows:
        warc_name, offset = re.fullmatch(r"warc/(ogd-[^#]+\.warc\.gz)#(\d+)", row["source_file"]).groups()
        with open(archive / "warc" / warc_name, "rb") as handle:
            handle.seek(int(offset))
            record = next(iter(ArchiveIterator(handle)))
            assert record.rec_type == "response"
            assert record.rec_headers.get_header("WARC-Target-URI") == row["source_url"]
            assert record.content_stream().read() == served(sites, row["source_url"])
    titles = {row["title"] for row in rows}
    # The PRD pages, read from the archive (the cleaning drops zero-width spaces from titles).
    assert {r.title.replace("\u200b", "").strip() for r in sites["prd"].releases} <= titles


def test_a_quarantined_record_keeps_its_payload_not_the_warc_file(harvested) -> None:
    sites, archive, out, _result = harvested
    urls = {(r.warc, r.offset): r.url for r in read_index(archive)}
    quarantine = read_quarantine(out)
    assert quarantine, "the EWT pages of the real corpus include pages that are no release"
    for entry in quarantine:
        warc_name, offset = re.fullmatch(r"warc/([^#]+)#(\d+)", entry["path"]).groups()
        kept = (out / entry["kept_copy"]).read_bytes()
        assert kept == served(sites, urls[(warc_name, int(offset))])
        assert len(kept) < (archive / "warc" / warc_name).stat().st_size


def test_an_unchanged_archive_rebuilds_from_the_cache_and_new_records_are_the_only_ones_read(harvested, tmp_path) -> None:
    sites, archive, out, _result = harvested
    copy = tmp_path / "archive"
    subprocess.run(["cp", "-a", str(archive), str(copy)], check=True)
    package = tmp_path / "pkg"
    subprocess.run(["cp", "-a", str(out), str(package)], check=True)
    again = ogd("build", str(copy), "--out", str(package), "--name", "web", "--max-quarantine-ratio", "1", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads((package / "report.json").read_text(encoding="utf-8"))
    # Every input but the one duplicate (a release the test web serves at two addresses, dated by its feed
    # entry): a duplicate is decided again each build.
    assert report["counts"]["duplicates"] == 1
    assert report["reuse"]["inputs_reused"] == 34 and report["validation"]["rows_checked"] == 0

    sites["prd"].add(2)
    harvest(sources_of(sites), copy, FAST)
    third = ogd("build", str(copy), "--out", str(package), "--name", "web", "--max-quarantine-ratio", "1", "--json")
    assert third.returncode == 0, third.stderr
    report = json.loads((package / "report.json").read_text(encoding="utf-8"))
    assert report["archive"]["inputs"]["pages"] == 37
    assert report["reuse"]["inputs_reused"] == 34 and report["validation"]["rows_checked"] == 2
    # The EWT feed, the WordPress API and the sitemap index answered 304 (the PRD RSS changed): revisit records.
    assert report["archive"]["not_inputs"]["not-modified"] == 3


def test_a_gzip_encoded_page_is_read_decoded_from_its_record(tmp_path) -> None:
    web = TestWeb()
    try:
        site = web.site("gz")
        release = web.take(1)[0]
        site.route("/news/1", lambda _r: Answer(body=release_html(release), gzip=True))
        site.page("/index", b'<html><body><a href="/news/1">one</a></body></html>')
        harvest([HarvestSource(site.url("/index"), kind="listing", link_pattern=r"/news/\d+$")], tmp_path / "a", FAST)
    finally:
        web.close()
    (page,) = [r for r in read_index(tmp_path / "a") if r.kind == "page"]
    with open(tmp_path / "a" / "warc" / page.warc, "rb") as handle:
        handle.seek(page.offset)
        record = next(iter(ArchiveIterator(handle)))
        assert record.http_headers.get_header("Content-Encoding") == "gzip"
        assert gzip.decompress(record.raw_stream.read()) == release_html(release)  # archived as served
    found = discover_with_archives([tmp_path / "a"])
    (item,) = found.files
    assert read_bytes(item) == release_html(release)
    with pytest.raises(DecodeProblem, match="more than the limit"):
        read_bytes(item, max_bytes=100)
    (outcome,) = checked_outcomes(item, "auto")
    assert outcome.row is not None and outcome.row["title"].decode("utf-8") == release.title  # packed (executor)
    assert outcome.row["source_url"] == site.url("/news/1") and outcome.row["source_sha256"] == page.sha256


# ------------------------------------------------------------------------------------------ feed entries and pages

def _fake_feed_items(text: str, context: SourceContext) -> list[ParsedItem]:
    """A minimal RSS reader (each entry: title, link, description, pubDate as YYYY-MM-DD)."""
    entries = re.findall(r"<item><title>(.*?)</title><link>(.*?)</link><description>(.*?)</description>"
                         r"<pubDate>(.*?)</pubDate></item>", text)
    return [ParsedItem(link, release=ParsedRelease(title, day, body, source_url=link,
                                                   published=dt.date.fromisoformat(day), date_source="metadata"))
            for title, link, body, day in entries]


@pytest.fixture
def fake_feed_source():
    source = register(Source("fakefeed", "test feeds", "https://example.org", "feed", 3,
                             lambda text, _c: "<rss" in text[:200], items=_fake_feed_items))
    yield source
    unregister("fakefeed")


def _feed(site: Site, numbers: list[int]) -> bytes:
    items = "".join(f"<item><title>ข่าวที่ {n}</title><link>{site.url(f'/n/{n}')}</link>"
                    f"<description>ข้อความของข่าวที่ {n} จากฟีด</description><pubDate>2024-01-0{n}</pubDate></item>"
                    for n in numbers)
    return f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()


def test_a_feed_entry_archived_as_its_page_is_read_from_the_page_only(tmp_path, fake_feed_source) -> None:
    web = TestWeb()
    try:
        site = web.site("news")
        releases = web.take(2)
        site.page("/n/1", release_html(releases[0]))
        site.page("/n/2", release_html(releases[1]))  # /n/3 answers 404: only the feed has it
        site.route("/feed.xml", lambda _r: Answer(body=_feed(site, [1, 2, 3]), content_type="application/rss+xml"))
        source = [HarvestSource(site.url("/feed.xml"), kind="feed")]
        harvest(source, tmp_path / "a", FAST)

        found = discover_with_archives([tmp_path / "a"], read_feeds=True)
        pages = [item for item in found.files if item.record.links is None]
        (feed,) = [item for item in found.files if item.record.links is not None]
        assert sorted(item.url for item in pages) == [site.url("/n/1"), site.url("/n/2")]
        assert feed.url == site.url("/feed.xml") and feed.record.links == (site.url("/n/3"),)
        assert found.archive["feed_items_covered_by_pages"] == 2 and found.archive["inputs"] == {"pages": 2, "feeds": 1}
        assert found.archive["not_inputs"] == {"page-failed": 1, "robots": 1, "warcinfo": 1}
        # Only the entry no page holds comes from the feed: one record per release, never two.
        outcomes = checked_outcomes(feed, "auto")
        assert [o.problem.item if o.problem else o.row["item"] for o in outcomes] == [site.url("/n/3")]
        # The same feed read without a feed source: its entry is counted, not read.
        unread = discover_with_archives([tmp_path / "a"], read_feeds=False)
        assert unread.archive["inputs"] == {"pages": 2, "feeds": 0}
        assert unread.archive["not_inputs"]["feed-not-read"] == 1 and unread.archive["feed_items_not_read"] == 1

        # A newer copy of the feed (entry 4 added, its page 404 too) gives both entries; the older one is superseded.
        site.route("/feed.xml", lambda _r: Answer(body=_feed(site, [1, 2, 3, 4]), content_type="application/rss+xml"))
        harvest(source, tmp_path / "a", FAST)
    finally:
        web.close()
    found = discover_with_archives([tmp_path / "a"], read_feeds=True)
    (feed,) = [item for item in found.files if item.record.links is not None]
    assert feed.record.links == (site.url("/n/3"), site.url("/n/4"))
    assert found.archive["not_inputs"]["feed-superseded"] == 1
    assert found.archive["records"] == len(found.files) + sum(found.archive["not_inputs"].values())
    assert Counter(item.relative.split("#")[0] for item in found.files).total() == 3


def test_files_given_beside_an_archive_keep_their_paths_below_one_root(harvested, tmp_path) -> None:
    _sites, archive, _out, _result = harvested
    subprocess.run(["cp", "-a", str(archive), str(tmp_path / "archive")], check=True)
    files = tmp_path / "files"
    files.mkdir()
    (files / "one.txt").write_text("x", encoding="utf-8")
    (files / ".hidden").write_text("x", encoding="utf-8")
    found = discover_with_archives([tmp_path / "archive", files])
    assert found.root == tmp_path
    relatives = [item.relative for item in found.files]
    assert "files/one.txt" in relatives and [entry.path for entry in found.skipped] == ["files/.hidden"]
    records = [r for r in relatives if r != "files/one.txt"]
    assert len(records) == 35 and all(re.fullmatch(r"archive/warc/ogd-[^#]+\.warc\.gz#\d+", r) for r in records)
    assert relatives == sorted(relatives)


def test_with_the_feed_source_a_release_reached_by_feed_and_page_is_one_record(tmp_path) -> None:
    web = TestWeb()
    try:
        site = web.site("news")
        releases = web.take(3)
        site.page("/n/1", release_html(releases[0]))
        site.page("/n/2", release_html(releases[1]))  # /n/3 answers 404: only the feed has it
        items = "".join(
            f"<item><title>{html.escape(r.title)}</title><link>{site.url(f'/n/{n}')}</link>"
            f"<description>{html.escape(r.body[:400])}</description>"
            f"<pubDate>{email.utils.format_datetime(r.published)}</pubDate></item>"
            for n, r in enumerate(releases, 1))
        feed = f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()
        site.route("/feed.xml", lambda _r: Answer(body=feed, content_type="application/rss+xml"))
        harvest([HarvestSource(site.url("/feed.xml"), kind="feed")], tmp_path / "a", FAST)
    finally:
        web.close()
    result = ogd("build", str(tmp_path / "a"), "--out", str(tmp_path / "pkg"), "--name", "news",
                 "--max-quarantine-ratio", "1", "--json")
    assert result.returncode == 0, result.stderr
    rows, _ = read_rows(tmp_path / "pkg")
    by_url = {row["source_url"]: row for row in rows}
    assert sorted(by_url) == [site.url("/n/1"), site.url("/n/2"), site.url("/n/3")] and len(rows) == 3
    assert by_url[site.url("/n/1")]["source"] == by_url[site.url("/n/2")]["source"] == "html"  # the pages' full text
    assert by_url[site.url("/n/3")]["source"] == "feed" and by_url[site.url("/n/3")]["source_file"].startswith("warc/")
    report = json.loads((tmp_path / "pkg" / "report.json").read_text(encoding="utf-8"))
    assert report["archive"]["inputs"] == {"pages": 2, "feeds": 1} and report["archive"]["feed_items_covered_by_pages"] == 2


def test_a_page_that_states_no_date_takes_the_date_and_title_of_the_feed_entry_that_links_it(tmp_path) -> None:
    # The page: a body and nothing else (no <title>, heading, date line, meta date or dated URL).
    body = ("<p>สำนักงานประชาสัมพันธ์จังหวัดจัดประชุมเตรียมความพร้อมรับมือสถานการณ์น้ำหลากในพื้นที่ลุ่มต่ำ "
            "ร่วมกับหน่วยงานที่เกี่ยวข้องเพื่อวางแผนการช่วยเหลือประชาชนอย่างทันท่วงทีและต่อเนื่อง</p>")
    page = f"<!DOCTYPE html><html><head></head><body><div>{body}</div></body></html>".encode()
    web = TestWeb()
    try:
        site = web.site("news")
        site.page("/story", page)
        feed = ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>ข่าว</title>'
                f"<item><title>ประชุมรับมือน้ำหลาก</title><link>{site.url('/story')}</link>"
                "<pubDate>Mon, 05 Aug 2024 18:30:00 +0000</pubDate></item></channel></rss>").encode()
        site.route("/feed.xml", lambda _r: Answer(body=feed, content_type="application/rss+xml"))
        harvest([HarvestSource(site.url("/feed.xml"), kind="feed")], tmp_path / "a", FAST)
    finally:
        web.close()
    result = ogd("build", str(tmp_path / "a"), "--out", str(tmp_path / "pkg"), "--name", "news",
                 "--max-quarantine-ratio", "1")
    assert result.returncode == 0, result.stderr
    rows, _ = read_rows(tmp_path / "pkg")
    (row,) = rows
    # 18:30 UTC on 5 August is 6 August in Bangkok: the feed's day, from structured metadata.
    assert (row["source_url"], row["title"], row["published_date"], row["date_source"]) == (
        site.url("/story"), "ประชุมรับมือน้ำหลาก", dt.date(2024, 8, 6), "metadata")


def test_an_archive_inside_a_folder_of_inputs_is_read_as_an_archive(harvested, tmp_path) -> None:
    _sites, archive, _out, _result = harvested
    inputs = tmp_path / "releases"
    (inputs / "saved").mkdir(parents=True)
    (inputs / "saved" / "note.txt").write_text("บันทึก\n", encoding="utf-8")
    subprocess.run(["cp", "-a", str(archive), str(inputs / "archive")], check=True)
    found = discover_with_archives([inputs])
    relatives = [item.relative for item in found.files]
    assert "saved/note.txt" in relatives
    records = [r for r in relatives if r != "saved/note.txt"]
    # The 35 archived inputs, read from their records; no WARC file or index is an input of its own.
    assert len(records) == 35 and all(re.fullmatch(r"archive/warc/ogd-[^#]+\.warc\.gz#\d+", r) for r in records)
    assert found.archive is not None and found.archive["archives"] == [str((inputs / "archive").resolve())]
