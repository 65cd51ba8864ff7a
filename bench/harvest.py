"""Benchmark of the harvest and of building from its archive (``make bench``).

Measures, on this machine, against a local site on 127.0.0.1 (no delay, two
connections, as ``[harvest] connections_per_host = 2``) whose sitemap lists
``--pages`` release pages (default 5,000) made from the texts of
``../shared/corpus/thaigov``:

1. ``ogd harvest``: wall time, pages/s, CPU seconds per page of the harvest
   process (the server's CPU is not counted), the archive's size (WARC files
   and index) and bytes per page;
2. ``ogd build`` of the archive (records read from the WARC files) against
   ``ogd build`` of the same pages saved as files, both full builds
   (``--full``) with ``--source html``: wall and CPU seconds per release, and
   their ratio (a build from the archive must not cost more per release).

Prints a table and writes JSON (``--json``). Speed is measured here, never in
timed unit tests.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OGD_SHARED", REPO.parent / "shared"))
OGD = str(Path(sys.executable).parent / "ogd")
THAI_MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม",
               "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")


def release_pages(count: int) -> list[bytes]:
    """``count`` distinct HTML release pages: thaigov texts cycled, each with its own title suffix and date."""
    texts = [p for p in sorted((SHARED / "corpus" / "thaigov").rglob("*.txt")) if p.stat().st_size > 1500]
    pages = []
    first = date(2020, 1, 1)
    for index in range(count):
        lines = [line for line in texts[index % len(texts)].read_text(encoding="utf-8").splitlines() if line.strip()]
        title = lines[0].removeprefix("รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-").strip() + f" (ฉบับที่ {index + 1})"
        day = first + timedelta(days=index % 1500)
        date_line = f"วันที่ {day.day} {THAI_MONTHS[day.month - 1]} {day.year + 543}"
        body = "".join(f"<p>{html.escape(line)}</p>" for line in lines[2:])
        pages.append((f'<!DOCTYPE html><html lang="th"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                      f'</head><body><h1>{html.escape(title)}</h1><div class="date">{date_line}</div>'
                      f'<div class="content">{body}</div></body></html>').encode("utf-8"))
    return pages


def serve(pages: list[bytes]) -> ThreadingHTTPServer:
    sitemap: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body in one send, Nagle off: else each answer waits ~40 ms for the client's delayed ACK,
        # and the benchmark would measure that instead of the crawler.
        wbufsize = -1
        disable_nagle_algorithm = True

        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 — the http.server name
            status, kind = 200, "text/html; charset=utf-8"
            number = self.path.removeprefix("/news/")
            if self.path == "/robots.txt":
                body, kind = b"User-agent: *\nAllow: /\n", "text/plain"
            elif self.path == "/sitemap.xml":
                body, kind = sitemap[0], "application/xml"
            elif self.path.startswith("/news/") and number.isdigit() and int(number) < len(pages):
                body = pages[int(number)]
            else:
                status, body, kind = 404, b"not found", "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sitemap.append(('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    + "".join(f"<url><loc>{base}/news/{i}</loc></url>" for i in range(len(pages)))
                    + "</urlset>").encode())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timed(*args: str, cwd: Path) -> tuple[float, float, str]:
    """Run ``ogd ARGS``; its wall seconds, CPU seconds (user + system, with its workers) and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([OGD, *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"ogd {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), result.stdout


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench" / "harvest")
    parser.add_argument("--json", type=Path, default=REPO / ".bench" / "harvest.json")
    args = parser.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pages = release_pages(args.pages)
    server = serve(pages)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    config = work / "datasets.toml"  # etiquette only: no delay, two connections, a generous timeout
    config.write_text('[harvest]\ncontact = "bench@example.org"\ndelay = 0\nconnections_per_host = 2\ntimeout = 30\n'
                      '', encoding="utf-8")
    archive = work / "archive"
    try:
        wall, cpu, out = timed("harvest", f"{base}/sitemap.xml", "--kind", "sitemap", "--out", str(archive),
                               "--config", str(config), "--json", "-q", cwd=work)
    finally:
        server.shutdown()
    summary = json.loads(out)[0]
    fetched = summary["new_releases"]
    size = folder_bytes(archive)
    results: dict[str, Any] = {"pages": args.pages, "harvest": {
        "pages_fetched": fetched, "requests": summary["requests"], "seconds": round(wall, 2),
        "pages_per_second": round(fetched / wall, 1), "cpu_ms_per_page": round(1000 * cpu / fetched, 2),
        "archive_bytes": size, "archive_bytes_per_page": round(size / fetched),
        "served_bytes_per_page": round(sum(map(len, pages)) / len(pages))}}

    files = work / "files"
    files.mkdir()
    for index, page in enumerate(pages):
        (files / f"news-{index:05d}.html").write_bytes(page)
    builds = {}
    for label, inputs in (("from_warc", archive), ("from_files", files)):
        wall, cpu, out = timed("build", str(inputs), "--out", str(work / f"pkg-{label}"), "--name", "bench",
                               "--source", "html", "--full", "--max-quarantine-ratio", "1", "--json", "-q", cwd=work)
        records = json.loads(out)[0]["counts"]["records"]
        builds[label] = {"records": records, "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                         "ms_per_release": round(1000 * wall / max(records, 1), 2),
                         "cpu_ms_per_release": round(1000 * cpu / max(records, 1), 2)}
    builds["warc_over_files"] = round(builds["from_warc"]["cpu_ms_per_release"]
                                      / builds["from_files"]["cpu_ms_per_release"], 3)
    results["build"] = builds

    harvest_row = results["harvest"]
    print(f"harvest: {harvest_row['pages_fetched']} pages in {harvest_row['seconds']} s "
          f"({harvest_row['pages_per_second']} pages/s), {harvest_row['cpu_ms_per_page']} ms CPU per page, "
          f"archive {harvest_row['archive_bytes'] / 1e6:.1f} MB ({harvest_row['archive_bytes_per_page']} B/page; "
          f"served {harvest_row['served_bytes_per_page']} B/page)")
    for label in ("from_warc", "from_files"):
        row = builds[label]
        print(f"build {label}: {row['records']} records in {row['seconds']} s, {row['ms_per_release']} ms and "
              f"{row['cpu_ms_per_release']} ms CPU per release")
    print(f"build from WARC / from files, CPU per release: {builds['warc_over_files']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
