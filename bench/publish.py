"""Benchmark of publishing at archive scale to the local portal (``make bench``; issue 17).

On the shared thaigov corpus (3,000 real releases; ``--corpus`` for another),
built with a lowered upload cap so that it is published in parts as an archive
over a portal's cap is:

1. the first publish (``ogd publish``, its own process): wall time, rows/s into
   the DataStore, MB/s uploaded, the process's peak memory (RSS), API calls;
2. the same rows loaded with PostgreSQL ``COPY`` into a table of the
   DataStore's own database (what ckanext-xloader does), side by side: the
   DataStore load's share of the COPY rate;
3. a daily publish after 1 % more releases, the newest (wall, calls, uploads, rows);
4. a no-op publish (calls, uploads: ≤ 3 calls, 0 uploads);
5. ``ogd pull`` of the published dataset (wall, peak memory).

Prints a table and writes JSON (``--json``, default bench/results/publish.json).
Needs the local portal (``make portal``). Speed is measured here, never in
timed unit tests; this machine is noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OGD_SHARED", REPO.parent / "shared"))
OGD = str(Path(sys.executable).parent / "ogd")
PORTAL = Path(os.environ.get("OGD_PORTAL_DIR", REPO / ".portal"))
DEFAULT_JSON = REPO / "bench" / "results" / "publish.json"


def portal_env() -> dict[str, str]:
    values = {}
    for line in (PORTAL / "env").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


# Runs the command in a process that reports its own peak RSS when it ends (ru_maxrss of the children of this
# script is the largest child so far: the build before a publish would hide the publish's own peak).
_MEASURED = ("import resource, runpy, sys\n"
             "sys.argv = ['ogd', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('pipeline.cli', run_name='__main__')\n"
             "finally:\n    print('peak-rss-kB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")


def run(*args: str, env: dict[str, str], cwd: Path) -> tuple[dict[str, Any], float, int]:
    """Run ``ogd`` in its own process: (its --json answer, wall seconds, peak RSS in MB of that process)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURED, *args, "--json"], cwd=cwd, env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"ogd {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    peak_kb = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("peak-rss-kB"))
    return json.loads(done.stdout), wall, peak_kb // 1024


def copy_rate(csv_path: Path, rows: int) -> float:
    """Rows/s of PostgreSQL COPY of the same CSV into a typed table of the DataStore database (xloader's way)."""
    secrets = json.loads((PORTAL / "secrets.json").read_text(encoding="utf-8"))
    ini = (PORTAL / "ckan.ini").read_text(encoding="utf-8")
    port = ini.split("ckan.datastore.write_url = ", 1)[1].split("@127.0.0.1:", 1)[1].split("/", 1)[0]
    table = f"bench_copy_{uuid.uuid4().hex[:8]}"
    header = csv_path.open(encoding="utf-8").readline().strip().replace('"', "").split(",")
    columns = ", ".join(f'"{name}" text' for name in header)
    env = {**os.environ, "PGPASSWORD": secrets["postgres"]}
    psql = shutil.which("psql") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))), "psql")
    base = [str(psql), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "datastore_default", "-qtA",
            "-v", "ON_ERROR_STOP=1"]
    subprocess.run([*base, "-c", f"CREATE TABLE {table} ({columns})"], env=env, check=True, capture_output=True)
    try:
        started = time.perf_counter()
        subprocess.run([*base, "-c", f"\\copy {table} FROM '{csv_path}' WITH (FORMAT csv, HEADER true)"],
                       env=env, check=True, capture_output=True)
        return rows / (time.perf_counter() - started)
    finally:
        subprocess.run([*base, "-c", f"DROP TABLE {table}"], env=env, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus" / "thaigov")
    parser.add_argument("--cap", type=int, default=35_000_000, help="the upload cap the archive is built for (bytes)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    portal = portal_env()
    env = {**os.environ, "CKAN_URL": portal["CKAN_URL"], "CKAN_API_TOKEN": portal["CKAN_API_TOKEN"],
           "SOURCE_DATE_EPOCH": "1764460800"}
    files = sorted(p for p in args.corpus.rglob("*") if p.is_file())
    # The day's new releases: the newest 1 % (the corpus is filed by date, data/YYYY/MM/DD/), as a daily harvest
    # brings them: they fall in the current year's part.
    held_back = set(files[-max(1, len(files) // 100):])
    name = f"bench-archive-{uuid.uuid4().hex[:6]}"
    results: dict[str, Any] = {"corpus": str(args.corpus), "inputs": len(files), "cap_bytes": args.cap}
    with tempfile.TemporaryDirectory(prefix="ogd-bench-publish-") as scratch:
        work = Path(scratch)
        inputs = work / "in"
        for path in files:
            if path in held_back:
                continue
            target = inputs / path.relative_to(args.corpus)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        # The checkout's [defaults] (GDC values), and the archive as a configured dataset with the lowered cap.
        defaults = (REPO / "datasets.toml").read_text(encoding="utf-8").split("\n[datasets.", 1)[0]
        (work / "datasets.toml").write_text(defaults + f"""
[datasets.{name}]
title = "ข่าวทำเนียบรัฐบาล (เกณฑ์วัด)"
title_en = "Bench archive"
description = "The shared corpus, published in parts."
organization = "{portal['CKAN_ORG']}"
inputs = ["in"]
source = "thaigov"
keywords = ["ข่าว"]
max_quarantine_ratio = 0.5
max_upload_bytes = {args.cap}

[datasets.{name}.gdc]
data_source = "สำนักเลขาธิการนายกรัฐมนตรี (www.thaigov.go.th)"
""", encoding="utf-8")
        package = work / "datapackages" / name
        build = ["build", "--dataset", name, "--no-published", "-q"]
        cap_env = env
        subprocess.run([OGD, *build], cwd=work, env=env, check=True, capture_output=True)
        descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
        rows = descriptor["x_ogd"]["row_count"]
        sizes = sum(p.stat().st_size for p in (package / "data").rglob("*") if p.is_file())

        first, wall, peak = run("publish", "--dataset", name, env=cap_env, cwd=work)
        entry = first["datasets"][0]
        results["first publish"] = {"wall_s": round(wall, 1), "rows": rows, "rows_per_s": round(rows / wall, 1),
                                    "package_MB": round(sizes / 1e6, 1), "api_calls": entry["api_calls"],
                                    "uploads": entry["uploads"], "peak_rss_MB": peak,
                                    "resources": len(entry["resources"])}
        csv_path = package / "data" / "releases.csv"
        copy = copy_rate(csv_path, rows)
        results["COPY"] = {"rows_per_s": round(copy, 1),
                           "publish_share_of_copy_rate": round((rows / wall) / copy, 3)}

        for path in held_back:  # 1 % more releases, as a day brings them
            target = inputs / path.relative_to(args.corpus)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        subprocess.run([OGD, *build], cwd=work, env=env, check=True, capture_output=True)
        daily, daily_wall, _ = run("publish", "--dataset", name, env=cap_env, cwd=work)
        entry = daily["datasets"][0]
        results["daily publish (+1 %)"] = {"wall_s": round(daily_wall, 1), "share_of_first": round(daily_wall / wall, 3),
                                           "api_calls": entry["api_calls"], "uploads": entry["uploads"],
                                           "rows_added": entry["rows_added"]}
        noop, noop_wall, _ = run("publish", "--dataset", name, env=cap_env, cwd=work)
        entry = noop["datasets"][0]
        results["no-op publish"] = {"wall_s": round(noop_wall, 2), "api_calls": entry["api_calls"],
                                    "uploads": entry["uploads"]}
        pulled, pull_wall, pull_peak = run("pull", name, "--out", str(work / "pulled"), env=env, cwd=work)
        results["pull"] = {"wall_s": round(pull_wall, 1), "files": len(pulled["files"]), "ok": pulled["ok"],
                           "peak_rss_MB": pull_peak}
    print(f"Publishing {rows} releases ({results['first publish']['package_MB']} MB package, cap {args.cap:,} bytes) "
          f"to {portal['CKAN_URL']}")
    for key, values in results.items():
        if isinstance(values, dict):
            print(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
