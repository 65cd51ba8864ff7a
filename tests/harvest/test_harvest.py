"""ogd harvest against real HTTP servers on 127.0.0.1 (tests/sites.py), counted and timed at the server."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import REPO
from pipeline.harvest.archive import read_index
from pipeline.harvest.run import HarvestResult, harvest
from pipeline.harvest.settings import Etiquette, HarvestSource
from sites import FAULTS, FaultSite, PrdSite, SitemapSite, TestWeb, build_web

# Small delays and timeouts keep these tests fast; the politeness tests set their own.
FAST = Etiquette(contact="mailto:opendata@example.go.th", delay=0, timeout=0.5, attempts=3, backoff=0.01,
                 max_bytes=1024 * 1024)
RELEASE_LINK = r"/detail/id/5/iid/\d+$"


@pytest.fixture
def web():
    sites = build_web()
    yield sites
    sites["web"].close()


def prd_listing(prd: PrdSite) -> HarvestSource:
    """The new PRD CMS's paged fragment: POST pageIndex=N, answered {"html": rows}."""
    return HarvestSource(prd.site.url("/th/content/category/getarticles/id/5"), kind="listing", method="POST",
                         form={"pageIndex": "{page}"}, json_html_key="html", selector="div.inforow div.detail-title a")


def all_sources(sites: dict) -> list[HarvestSource]:
    return [
        prd_listing(sites["prd"]),
        HarvestSource(sites["prd"].site.url("/th/content/category/xml/id/5")),  # auto: RSS 2.0
        HarvestSource(sites["ewt"].feed_url),  # auto: the real EWT feed
        HarvestSource(sites["wp"].site.url("/"), per_page=3),  # auto: a WordPress home page
        HarvestSource(sites["maps"].site.url("/sitemap_index.xml")),  # auto: a sitemap index
    ]


def release_paths(sites: dict) -> dict[str, list[str]]:
    return {"prd": sites["prd"].detail_paths(), "ewt": sites["ewt"].detail_paths, "wp": sites["wp"].paths(),
            "maps": sites["maps"].paths()}


def release_requests(web: TestWeb, paths: dict[str, list[str]]) -> Counter[tuple[str, str]]:
    wanted = {(site, path) for site, listed in paths.items() for path in listed}
    return Counter((e.site, e.path) for e in web.requests() if (e.site, e.path) in wanted)


def warc_records(archive: Path) -> list[tuple[str, str, int | None, bytes]]:
    """(type, URL, HTTP status, payload) of every record of every WARC file, each file read to its end."""
    records = []
    for path in sorted((archive / "warc").glob("*.warc.gz")):
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                status = int(record.http_headers.get_statuscode()) if record.http_headers and record.rec_type in (
                    "response", "revisit") else None
                records.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI"), status,
                                record.raw_stream.read()))
    return records


def outcome_codes(result: HarvestResult) -> dict[str, set[str]]:
    codes: dict[str, set[str]] = {}
    for outcome in result.outcomes:
        codes.setdefault(outcome.url.rsplit("/", 1)[-1], set()).add(outcome.code)
    return codes


# ------------------------------------------------------------------------------------------ acceptance: incremental

def test_first_harvest_fetches_every_release_once_then_only_304s_then_exactly_the_three_new(web, tmp_path):
    archive = tmp_path / "archive"
    sources = all_sources(web)
    first = harvest(sources, archive, FAST)
    expected = release_paths(web)
    counted = release_requests(web["web"], expected)
    every = {(site, path) for site, paths in expected.items() for path in paths}
    assert len(every) == 10 + 10 + 7 + 8  # prd, the real EWT feed's 10 items, WordPress, sitemap
    assert set(counted) == every and set(counted.values()) == {1}, "every release fetched exactly once"
    assert first.counts["new"] == 35 and first.unreachable_sources == []

    web["web"].clear_log()
    second = harvest(sources, archive, FAST)
    assert release_requests(web["web"], expected) == Counter(), "nothing new: no release page fetched"
    gets = [e for e in web["web"].requests(method="GET") if e.path != "/robots.txt"]
    # Feeds, the WordPress API and the sitemap index answer 304; the POST fragment cannot be conditional.
    assert {e.status for e in gets} == {304}
    assert len(gets) == 4 and second.counts["not_modified"] == 4 and second.counts["new"] == 0
    assert [e.path for e in web["web"].requests(method="POST")] == ["/th/content/category/getarticles/id/5"]

    web["web"].clear_log()
    added = {("prd", web["prd"].add(1)[0]), ("wp", web["wp"].add(1)[0]), ("maps", web["maps"].add(1)[0])}
    third = harvest(sources, archive, FAST)
    counted = release_requests(web["web"], release_paths(web))
    assert counted == Counter({key: 1 for key in added}), "exactly the three new releases, once each"
    assert third.counts["new"] == 3 and third.counts["changed"] == 0


def test_wordpress_modified_gmt_refetches_exactly_the_changed_post(web, tmp_path):
    source = [HarvestSource(web["wp"].site.url("/wp-json/"), per_page=3)]
    harvest(source, tmp_path / "a", FAST)
    web["web"].clear_log()
    changed = web["wp"].touch(5, datetime(2030, 1, 1, tzinfo=timezone.utc))
    result = harvest(source, tmp_path / "a", FAST)
    assert release_requests(web["web"], {"wp": web["wp"].paths()}) == Counter({("wp", changed): 1})
    assert result.counts["changed"] == 1 and result.counts["new"] == 0


def test_refetch_fetches_every_listed_release_again(web, tmp_path):
    source = [HarvestSource(web["maps"].site.url("/sitemap_index.xml"), kind="sitemap")]
    harvest(source, tmp_path / "a", FAST)
    web["web"].clear_log()
    result = harvest(source, tmp_path / "a", FAST, refetch=True)
    assert set(release_requests(web["web"], {"maps": web["maps"].paths()}).values()) == {1}
    assert result.counts["new"] == 0 and result.counts["changed"] + result.counts["unchanged"] == 8


# ------------------------------------------------------------------------------------------ acceptance: SIGKILL

def _ogd(*args: str, config: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "ogd"), "harvest", *args, "--config", str(config)]


def test_sigkill_mid_harvest_then_rerun_leaves_no_duplicate_and_no_hole(tmp_path):
    web = TestWeb()
    maps = SitemapSite(web, 60)
    try:
        config = tmp_path / "datasets.toml"
        config.write_text('[harvest]\ncontact = "mailto:opendata@example.go.th"\ndelay = 0.01\ntimeout = 2\n'
                          'attempts = 2\nbackoff = 0.01\n', encoding="utf-8")
        archive = tmp_path / "archive"
        command = _ogd(maps.site.url("/sitemap_index.xml"), "--out", str(archive), "-q", config=config)
        for kill_after in (12, 30):  # killed twice, at different points, then run to the end
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while len(web.requests("maps", "/news/")) < kill_after and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            assert process.returncode == -signal.SIGKILL
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    finally:
        web.close()
    records = warc_records(archive)  # every file reads to its end (warcio raises on a cut record)
    pages = Counter(url for kind, url, status, _ in records if kind == "response" and status == 200 and "/news/" in url)
    expected = {maps.site.url(path) for path in maps.paths()}
    assert set(pages) == expected, "none missing"
    assert set(pages.values()) == {1}, "no release archived twice"
    indexed = Counter(r.url for r in read_index(archive) if r.kind == "page" and r.status == 200)
    assert indexed == pages
    assert len(list((archive / "warc").glob("*.warc.gz"))) >= 2


# ------------------------------------------------------------------------------------------ acceptance: politeness

def test_robots_disallow_and_crawl_delay_are_honoured_at_the_server(tmp_path):
    web = TestWeb()
    maps = SitemapSite(web, 5, crawl_delay=0.25)
    try:
        result = harvest([HarvestSource(maps.site.url("/sitemap_index.xml"))], tmp_path / "a", FAST)
    finally:
        web.close()
    log = web.requests("maps")
    assert [e.path for e in log if e.path.startswith("/private/")] == [], "robots.txt Disallow obeyed"
    assert outcome_codes(result)["secret-1"] == {"robots-disallowed"}
    assert log[0].path == "/robots.txt"
    gaps = [later.at - earlier.at for earlier, later in zip(log, log[1:])]
    assert len(gaps) >= 8 and min(gaps) >= 0.24, f"Crawl-delay 0.25 s not kept: {gaps}"


def test_retry_after_is_honoured_and_each_fault_has_its_own_outcome_while_other_sources_complete(web, tmp_path):
    faults = FaultSite(web["web"], retry_after=1, big_bytes=50 * 1024 * 1024, hang_seconds=2)
    prd_feed = HarvestSource(web["prd"].site.url("/th/content/category/xml/id/5"), kind="feed")
    result = harvest([HarvestSource(faults.site.url("/rss.xml")), prd_feed], tmp_path / "a", FAST)

    asked = web["web"].requests("faults", "/f/retry-after")
    assert [e.status for e in asked] == [429, 200]
    assert asked[1].at - asked[0].at >= 1.0, "Retry-After: 1 waited for"
    codes = outcome_codes(result)
    assert {name: codes.get(name, set()) for name in FAULTS} == {
        "404": {"not-found"}, "410": {"gone"}, "flaky-500": set(), "retry-after": set(), "hang": {"timeout"},
        "loop": {"redirect-loop"}, "robots": {"robots-disallowed"}, "big": {"too-large"},
        "pdf": {"unexpected-content-type"}, "charset": {"charset-mislabelled"}, "fine": set(),
    }
    assert [e.status for e in web["web"].requests("faults", "/f/flaky-500")] == [500, 200]
    assert web["web"].requests("faults", "/f/robots") == []
    assert len(web["web"].requests("faults", "/f/hang")) == FAST.attempts
    # The other source completed: all ten PRD releases archived.
    archived = {r.url for r in read_index(tmp_path / "a") if r.kind == "page" and r.status == 200}
    assert {web["prd"].site.url(p) for p in web["prd"].detail_paths()} <= archived
    assert {faults.site.url(f"/f/{n}") for n in ("flaky-500", "retry-after", "charset", "fine")} <= archived
    summary = result.summary()
    assert summary["errors_by_host"] == {faults.site.base: {"not-found": 1, "gone": 1, "timeout": 1, "redirect-loop": 1,
                                                            "robots-disallowed": 1, "too-large": 1,
                                                            "unexpected-content-type": 1}}
    assert result.unreachable_sources == []


def test_a_source_that_cannot_be_reached_is_reported_and_the_others_are_harvested(web, tmp_path):
    closed = "http://127.0.0.1:9/feed.xml"  # the discard port: nothing listens
    result = harvest([HarvestSource(closed), HarvestSource(web["maps"].site.url("/sitemap_index.xml"))],
                     tmp_path / "a", FAST)
    assert [s.url for s in result.unreachable_sources] == [closed]
    assert result.unreachable_sources[0].failure == "connection-failed"
    assert result.counts["new"] == 8


# ------------------------------------------------------------------------------------------ the archive

def test_warc_keeps_each_response_byte_for_byte_with_its_request_and_the_index_points_at_it(web, tmp_path):
    archive = tmp_path / "a"
    harvest([HarvestSource(web["maps"].site.url("/sitemap_index.xml"))], archive, FAST)
    path = web["maps"].paths()[0]
    url = web["maps"].site.url(path)
    served = web["maps"].site.routes[path](None).body  # type: ignore[arg-type]
    (entry,) = [r for r in read_index(archive) if r.url == url]
    assert entry.kind == "page" and entry.status == 200 and entry.sha256 == hashlib.sha256(served).hexdigest()
    with open(archive / "warc" / entry.warc, "rb") as handle:
        handle.seek(entry.offset)
        iterator = ArchiveIterator(handle)
        response = next(iterator)
        assert response.rec_type == "response" and response.rec_headers.get_header("WARC-Target-URI") == url
        assert response.http_headers.get_statuscode() == "200"
        assert response.http_headers.get_header("Content-Type") == "text/html; charset=utf-8"
        assert response.raw_stream.read() == served
        request = next(iterator)
        assert request.rec_type == "request"
        assert request.rec_headers.get_header("WARC-Concurrent-To") == response.rec_headers.get_header("WARC-Record-ID")
        assert request.http_headers.get_header("User-Agent") == "ogd-pipeline/0.1.0 (+mailto:opendata@example.go.th)"


def test_gzip_responses_are_archived_as_sent_and_read_decoded(web, tmp_path):
    archive = tmp_path / "a"
    result = harvest([HarvestSource(web["maps"].site.url("/sitemap_index.xml"))], archive, FAST)
    assert result.counts["new"] == 8  # the gzip child sitemap was read
    child = web["maps"].site.url("/sitemap-news-1.xml")
    (entry,) = [r for r in read_index(archive) if r.url == child]
    with open(archive / "warc" / entry.warc, "rb") as handle:
        handle.seek(entry.offset)
        record = next(ArchiveIterator(handle))
        assert record.http_headers.get_header("Content-Encoding") == "gzip"
        raw = record.raw_stream.read()
    assert raw[:2] == b"\x1f\x8b" and gzip.decompress(raw).startswith(b'<?xml version="1.0"')


def test_redirects_are_followed_and_each_hop_archived(web, tmp_path):
    site = web["maps"].site
    target = web["maps"].paths()[0]
    site.route("/old-news", lambda request: __import__("sites").Answer(301, b"", headers={"Location": target},
                                                                       conditional=False))
    archive = tmp_path / "a"
    result = harvest([HarvestSource(site.url("/old-news"), kind="listing", link_pattern="/nothing/")], archive,
                     FAST)
    kinds = [(r.url, r.status, r.kind) for r in read_index(archive) if r.url in (site.url("/old-news"), site.url(target))]
    assert kinds == [(site.url("/old-news"), 301, "redirect"), (site.url(target), 200, "listing")]
    assert result.unreachable_sources == []


def test_a_second_harvest_into_a_busy_archive_is_refused(web, tmp_path):
    from pipeline.harvest.archive import Archive
    from pipeline.problems import Busy

    holder = Archive(tmp_path / "a", "first")
    try:
        with pytest.raises(Busy, match="another harvest is writing the archive"):
            harvest([HarvestSource(web["maps"].site.url("/sitemap_index.xml"))], tmp_path / "a", FAST)
    finally:
        holder.finish({})


# ------------------------------------------------------------------------------------------ the command

def test_cli_json_summary_and_the_exit_code_of_an_unreachable_source(web, tmp_path):
    config = tmp_path / "datasets.toml"
    config.write_text('[harvest]\ncontact = "opendata@example.go.th"\ndelay = 0\ntimeout = 0.5\nattempts = 2\n'
                      'backoff = 0.01\n', encoding="utf-8")
    done = subprocess.run(_ogd(web["wp"].site.url("/"), "http://127.0.0.1:9/feed.xml", "--out", str(tmp_path / "a"),
                               "--json", config=config), capture_output=True, text=True, timeout=60)
    assert done.returncode == 9, done.stderr  # ExitCode.SOURCE_UNREACHABLE: the other sources were harvested
    (summary,) = json.loads(done.stdout)
    assert summary["new_releases"] == 7 and summary["requests"] >= 7 + 3
    assert summary["errors_by_host"] == {"http://127.0.0.1:9": {"connection-failed": 1, "source-unreachable": 1}}
    assert "1 source(s) could not be harvested: http://127.0.0.1:9/feed.xml" in done.stderr


def test_cli_needs_a_contact(tmp_path):
    done = subprocess.run([str(Path(sys.executable).parent / "ogd"), "harvest", "http://127.0.0.1:9/",
                           "--out", str(tmp_path / "a"), "--config", str(tmp_path / "none.toml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "a polite crawler says who runs it: give --contact EMAIL-OR-URL" in done.stderr


def test_dataset_sources_are_read_from_datasets_toml_with_every_problem_listed(tmp_path):
    from pipeline.config import load_config
    from pipeline.problems import ConfigError

    base = (REPO / "datasets.toml").read_text(encoding="utf-8")
    good = base + ('\n[[datasets.prd-releases-sample.harvest]]\nkind = "listing"\n'
                   'url = "https://www.prd.go.th/th/content/category/getarticles/id/5"\nmethod = "POST"\n'
                   'form = { pageIndex = "{page}" }\njson_html_key = "html"\nselector = "div.inforow div.detail-title a"\n'
                   'delay = 5\nsince = 2024-01-01\n')
    (tmp_path / "datasets.toml").write_text(good.replace('inputs = ["samples/prd"]', f'inputs = ["{REPO}/samples/prd"]')
                                            .replace('inputs = ["samples/thaigov"]', f'inputs = ["{REPO}/samples/thaigov"]'),
                                            encoding="utf-8")
    (source,) = load_config(tmp_path / "datasets.toml")["prd-releases-sample"].harvest
    assert (source.kind, source.method, source.form, source.delay) == ("listing", "POST", {"pageIndex": "{page}"}, 5.0)
    assert source.since == datetime(2024, 1, 1, tzinfo=timezone.utc)
    bad = base + ('\n[[datasets.prd-releases-sample.harvest]]\nkind = "rss"\nurl = "ftp://x"\nlink_pattern = "("\n'
                  'delay = -1\nspeed = 3\n')
    (tmp_path / "datasets.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "datasets.toml")
    listed = "\n".join(caught.value.problems)
    for expected in ("harvest #1: unknown key 'speed'", "harvest #1: url must be an http(s) URL",
                     "harvest #1: kind 'rss' is not one of auto, feed, wordpress, sitemap, listing",
                     "harvest #1: '(' is not a valid regular expression",
                     "harvest #1: delay must be a number of seconds, 0 or more"):
        assert expected in listed


# ------------------------------------------------------------------------------------------ progress

def test_progress_counts_release_pages_fetched_of_those_to_fetch(web, tmp_path):
    calls: list[tuple[int, int]] = []
    harvest([HarvestSource(web["maps"].site.url("/sitemap_index.xml"), kind="sitemap")], tmp_path / "a", FAST,
            progress=lambda done, total: calls.append((done, total)))
    # The sitemap lists 8 release pages and /private/secret-1, which robots.txt disallows (refused, still done).
    assert calls[0] == (0, 9) and calls[-1] == (9, 9)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    calls.clear()
    harvest([HarvestSource(web["maps"].site.url("/sitemap_index.xml"), kind="sitemap")], tmp_path / "a", FAST,
            progress=lambda done, total: calls.append((done, total)))
    # The index answers 304: only the disallowed page, left pending, is asked for again (and refused again).
    assert calls == [(0, 1), (1, 1)]
