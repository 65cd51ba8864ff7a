"""A newcomer's first `ogd harvest` of a site that gives nothing (review of issue #16, from the README alone).

A news listing page given to `--kind auto`, and a feed that robots.txt disallows,
are not sites that "could not be reached": running again later changes nothing.
The error must name each source's cause and say what to do about it (the
outcome's own hint), as the `--json` summary does.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

LISTING = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>ข่าวประชาสัมพันธ์</title></head><body>
<h1>ข่าวประชาสัมพันธ์</h1><ul><li><a href="/news/101.html">จังหวัดรณรงค์ลดการเผาในที่โล่ง</a></li>
<li><a href="/news/102.html">อบรมนักข่าวพลเมือง รุ่นที่ 2</a></li></ul></body></html>
"""
FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>ข่าว</title>
<link>http://127.0.0.1/</link><description>ข่าว</description></channel></rss>
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "site"
    (root / "news").mkdir(parents=True)
    (root / "private").mkdir()
    (root / "news" / "index.html").write_text(LISTING, encoding="utf-8")
    (root / "private" / "feed.xml").write_text(FEED, encoding="utf-8")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n", encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def harvest(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    ogd = Path(sys.executable).parent / "ogd"
    return subprocess.run([str(ogd), "harvest", url, "--out", str(tmp_path / "archive"), "--delay", "0",
                           "--contact", "data@example.go.th", "--config", str(tmp_path / "none.toml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_a_page_that_auto_does_not_recognise_names_its_cause_and_what_to_give(site: str, tmp_path: Path) -> None:
    url = f"{site}/news/index.html"
    done = harvest(tmp_path, url)
    assert done.returncode == 9, done.stderr  # the table's code for a source that gave nothing
    assert (f"error: 1 source(s) could not be harvested: {url} (kind-unknown: --kind auto found no feed, "
            "WordPress API or sitemap at this URL)") in done.stderr, done.stderr
    assert "hint: give --kind listing with --link-pattern, or the feed's own URL" in done.stderr
    assert "run again later" not in done.stderr


def test_a_feed_robots_txt_disallows_says_so_not_run_again_later(site: str, tmp_path: Path) -> None:
    url = f"{site}/private/feed.xml"
    done = harvest(tmp_path, url)
    assert done.returncode == 9, done.stderr
    assert (f"error: 1 source(s) could not be harvested: {url} (robots-disallowed: robots.txt of the site "
            "disallows this URL for our user agent)") in done.stderr, done.stderr
    assert "hint: not fetched, by design; ask the agency for a feed or for access" in done.stderr
    assert "run again later" not in done.stderr
