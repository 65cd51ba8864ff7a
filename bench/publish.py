"""Benchmark of publishing an archive to the local portal (``make bench``; issue 17).

An archive of 60,000 releases (``--size``; synthesised from the shared thaigov
corpus as ``bench/run.py`` does: distinct ids, years shifted back, about twenty
years; ``--corpus DIR`` for a folder of your own) is built for a portal that caps
uploads at 200 MB (``--cap``), so it is published in parts by year. Measured:

1. the first publish (``ogd publish``, its own process): wall time, rows/s into
   the DataStore (its DataStore phase), MB/s uploaded (its files phase), the
   process's peak memory (RSS), API calls;
2. the DataStore load side by side with ``COPY``, on one set of rows: the
   newest releases whose CSV fits under the cap (``--side-by-side``, 8,000;
   none longer than xloader reads: 131,072 characters a cell),
   published to the local portal (through the API) and to a second CKAN of the
   same installation that runs ckanext-xloader (``portal/xloader.py``), whose
   load is then timed again alone (xloader's job: download, ``COPY``, full-text
   index, indexes); and plain ``COPY`` of the same CSV into a table of the
   DataStore's database (no full-text index: faster than any load that keeps
   the DataStore searchable), and ``COPY`` into a table made like the
   DataStore's (its types, indexes and CKAN's full-text trigger: the
   database's own share of any load that keeps the DataStore searchable);
3. a daily publish after 1 % more releases, the newest (wall, its share of the
   first publish, calls, uploads, rows);
4. a no-op publish (calls, uploads: ≤ 3 calls, 0 uploads);
5. ``ogd pull`` of the archive (wall, peak memory, verified).

Prints a table and writes JSON (``--json``, default bench/results/publish.json).
Needs the local portal (``make portal``). Speed is measured here, never in timed
unit tests; this machine is noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from run import synthesise  # noqa: E402  (bench/run.py: the same synthesised archive as the build benchmark)

from pipeline.ckan import xloader  # noqa: E402
from pipeline.ckan.client import PortalClient  # noqa: E402
from pipeline.ckan.datastore import column_types, loader_fields  # noqa: E402
from portal.xloader import xloader_portal  # noqa: E402

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


def copy_rate(csv_path: Path, like: str | None = None) -> float:
    """Rows/s of PostgreSQL COPY of the CSV into a plain text table of the DataStore database (no full-text index,
    no other index: the floor of any load); with ``like`` (a DataStore table), into a table made like it: its
    types, indexes and CKAN's full-text trigger (what any load into the DataStore costs the database)."""
    secrets = json.loads((PORTAL / "secrets.json").read_text(encoding="utf-8"))
    ini = (PORTAL / "ckan.ini").read_text(encoding="utf-8")
    port = ini.split("ckan.datastore.write_url = ", 1)[1].split("@127.0.0.1:", 1)[1].split("/", 1)[0]
    table = f"bench_copy_{uuid.uuid4().hex[:8]}"
    header = csv_path.open(encoding="utf-8").readline().strip().replace('"', "").split(",")
    columns = ", ".join(f'"{name}" text' for name in header)
    create = (f'CREATE TABLE {table} (LIKE "{like}" INCLUDING ALL); CREATE TRIGGER zfulltext BEFORE INSERT OR UPDATE '
              f'ON {table} FOR EACH ROW EXECUTE PROCEDURE populate_full_text_trigger()' if like
              else f"CREATE TABLE {table} ({columns})")
    env = {**os.environ, "PGPASSWORD": secrets["postgres"]}
    psql = shutil.which("psql") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))), "psql")
    base = [str(psql), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "datastore_default", "-qtA",
            "-v", "ON_ERROR_STOP=1"]
    subprocess.run([*base, "-c", create], env=env, check=True, capture_output=True)
    try:
        started = time.perf_counter()
        names = ", ".join(f'"{name}"' for name in header)
        subprocess.run([*base, "-c", f"\\copy {table} ({names}) FROM '{csv_path}' WITH (FORMAT csv, HEADER true)"],
                       env=env, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        count = subprocess.run([*base, "-c", f"SELECT count(*) FROM {table}"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        return int(count) / seconds
    finally:
        subprocess.run([*base, "-c", f"DROP TABLE {table}"], env=env, capture_output=True)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dataset_toml(name: str, org: str, inputs: str, cap: int) -> str:
    return f"""
[datasets.{name}]
title = "ข่าวทำเนียบรัฐบาล (เกณฑ์วัด {name})"
title_en = "Bench archive {name}"
description = "The synthesised archive, published for the benchmark."
organization = "{org}"
inputs = ["{inputs}"]
source = "thaigov"
keywords = ["ข่าว"]
max_quarantine_ratio = 0.5
max_upload_bytes = {cap}

[datasets.{name}.gdc]
data_source = "สำนักเลขาธิการนายกรัฐมนตรี (www.thaigov.go.th)"
"""


def xloader_reload_rate(url: str, token: str, name: str, package: Path) -> float:
    """Rows/s of xloader loading the dataset's CSV again, alone (submit to complete): its job's own speed."""
    client = PortalClient(url, token)
    dataset = client.call_action("package_show", {"id": name})
    resource = next(r for r in dataset["resources"] if r.get("ogd_key") == "releases-csv")
    descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
    rows = int(descriptor["x_ogd"]["row_count"])
    schema = descriptor["resources"][0]["schema"]
    started = time.perf_counter()
    xloader.submit(client, resource["id"])
    # The MD5 is the same file's: the wait ends when this job's status is complete and the rows are there.
    time.sleep(0.5)
    xloader.wait_for_load(client, resource["id"], md5=xloader.file_md5(package / "data" / "releases.csv"), rows=rows,
                          columns=column_types(loader_fields(schema, "xloader")), label="releases.csv", poll=0.25)
    return rows / (time.perf_counter() - started)


def remove_datasets(names: list[str], portal: dict[str, str]) -> None:
    """Purge the benchmark's datasets from the local portal, and the files CKAN stored for their resources (a
    purge leaves uploads in ckan.storage_path: each run would leave gigabytes). Only these datasets' own files."""
    client = PortalClient(portal["CKAN_URL"], portal["CKAN_API_TOKEN"])
    ini = (PORTAL / "ckan.ini").read_text(encoding="utf-8")
    setting = re.search(r"(?m)^ckan\.storage_path\s*=\s*(.+?)\s*$", ini)
    storage = Path(setting.group(1)) if setting else PORTAL / "storage"
    for name in names:
        try:
            dataset = client.call_action("package_show", {"id": name})
        except Exception:  # noqa: BLE001 (not created: the run stopped before it)
            continue
        client.call_action("dataset_purge", {"id": dataset["id"]})
        for resource in dataset.get("resources", []):
            rid = str(resource["id"])
            stored = storage / "resources" / rid[:3] / rid[3:6] / rid[6:]
            if len(rid) == 36 and stored.is_file():
                stored.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=60_000, help="releases in the synthesised archive")
    parser.add_argument("--corpus", type=Path, help="a folder of thaigov inputs instead of the synthesised archive")
    parser.add_argument("--cap", type=int, default=200_000_000, help="the portal's upload cap (bytes)")
    parser.add_argument("--side-by-side", type=int, default=8_000,
                        help="releases of the set loaded through the API, by xloader and by COPY")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    portal = portal_env()
    env = {**os.environ, "CKAN_URL": portal["CKAN_URL"], "CKAN_API_TOKEN": portal["CKAN_API_TOKEN"],
           "SOURCE_DATE_EPOCH": "1764460800"}
    results: dict[str, Any] = {"cap_bytes": args.cap}
    run_id = uuid.uuid4().hex[:6]
    name, api_name, xl_name = f"bench-archive-{run_id}", f"bench-api-{run_id}", f"bench-xloader-{run_id}"
    try:
        results = measure(args, portal, env, results, name, api_name, xl_name)
    finally:
        remove_datasets([name, api_name, xl_name], portal)
    rows = results["first publish"]["rows"]
    print(f"Publishing {rows} releases ({results['first publish']['package_MB']} MB package, cap {args.cap:,} bytes) "
          f"to {portal['CKAN_URL']}")
    for key, values in results.items():
        if isinstance(values, dict):
            print(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"JSON: {args.json}")


def measure(args: argparse.Namespace, portal: dict[str, str], env: dict[str, str], results: dict[str, Any],
            name: str, api_name: str, xl_name: str) -> dict[str, Any]:
    """Build the archive and publish, compare, update, republish and pull it (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="ogd-bench-publish-") as scratch:
        work = Path(scratch)
        source = work / "source"
        if args.corpus:
            files = sorted(p for p in args.corpus.rglob("*") if p.is_file())
            root = args.corpus
        else:
            files = sorted(synthesise(source, args.size))
            root = source
        results["corpus"] = str(args.corpus or f"synthesised from {SHARED / 'corpus' / 'thaigov'}")
        results["inputs"] = len(files)
        # The day's new releases: the newest 1 %. The synthesised copy-000 holds the newest years (each copy is
        # shifted back one year more) and every copy is filed by date, so they are copy-000's last files.
        newest = sorted(p for p in files if p.relative_to(root).parts[0] == "copy-000") or files
        held_back = set(newest[-max(1, len(files) // 100):])
        # The side-by-side set: the first releases in file order (the synthesised archive's newest copies first)
        # that xloader can read: none with a cell over its limit (the longest cell is body_words, a little longer
        # than the text of the file).
        side = [p for p in files if p not in held_back
                and len(p.read_text(encoding="utf-8", errors="replace")) < xloader.CELL_LIMIT * 2 // 3][:args.side_by_side]
        for target_root, chosen in ((work / "in", [p for p in files if p not in held_back]), (work / "side", side)):
            for path in chosen:
                target = target_root / path.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                if args.corpus:
                    shutil.copyfile(path, target)
                else:
                    os.link(path, target)  # the synthesised files are ours, in the same scratch folder
        defaults = (REPO / "datasets.toml").read_text(encoding="utf-8").split("\n[datasets.", 1)[0]
        (work / "datasets.toml").write_text(
            defaults + dataset_toml(name, portal["CKAN_ORG"], "in", args.cap)
            + dataset_toml(api_name, portal["CKAN_ORG"], "side", args.cap)
            + dataset_toml(xl_name, portal["CKAN_ORG"], "side", args.cap), encoding="utf-8")
        package = work / "datapackages" / name
        build = ["build", "--dataset", name, "--no-published", "-q"]
        started = time.perf_counter()
        subprocess.run([OGD, *build], cwd=work, env=env, check=True, capture_output=True)
        results["build_s"] = round(time.perf_counter() - started, 1)
        descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
        rows = descriptor["x_ogd"]["row_count"]
        sizes = sum(p.stat().st_size for p in (package / "data").rglob("*") if p.is_file())

        # 1. The first publish of the archive.
        first, wall, peak = run("publish", "--dataset", name, env=env, cwd=work)
        entry = first["datasets"][0]
        uploaded = sum(p.stat().st_size for p in (package / "data").rglob("*") if p.is_file()
                       and p.stat().st_size <= args.cap) + (package / "datapackage.json").stat().st_size
        datastore_s = entry["seconds"].get("datastore", 0.0)
        results["first publish"] = {
            "wall_s": round(wall, 1), "rows": rows, "package_MB": round(sizes / 1e6, 1),
            "files_s": entry["seconds"].get("files"), "uploaded_MB_per_s": round(uploaded / 1e6 / entry["seconds"]["files"], 1),
            "datastore_s": datastore_s, "datastore_rows_per_s": round(rows / datastore_s, 1),
            "loader": entry["datastore_loader"], "api_calls": entry["api_calls"], "uploads": entry["uploads"],
            "peak_rss_MB": peak, "resources": len(entry["resources"])}
        results["COPY of the archive's CSV"] = {"rows_per_s": round(copy_rate(package / "data" / "releases.csv"), 1)}

        # 2. One set of rows: the DataStore API, xloader (COPY), plain COPY.
        for dataset in (api_name, xl_name):
            subprocess.run([OGD, "build", "--dataset", dataset, "--no-published", "-q"], cwd=work, env=env,
                           check=True, capture_output=True)
        side_package = work / "datapackages" / api_name
        side_rows = json.loads((side_package / "datapackage.json").read_text(encoding="utf-8"))["x_ogd"]["row_count"]
        side_csv = (side_package / "data" / "releases.csv").stat().st_size
        api, _, _ = run("publish", "--dataset", api_name, env=env, cwd=work)
        api_rate = side_rows / api["datasets"][0]["seconds"]["datastore"]
        with xloader_portal(work / "xloader-ckan", free_port()) as xloader_ckan:
            xl_env = {**env, "CKAN_URL": xloader_ckan.url}
            loaded, _, _ = run("publish", "--dataset", xl_name, env=xl_env, cwd=work)
            assert loaded["datasets"][0]["datastore_loader"] == "xloader", loaded["datasets"][0]
            xl_rate = xloader_reload_rate(xloader_ckan.url, portal["CKAN_API_TOKEN"], xl_name,
                                          work / "datapackages" / xl_name)
        copy = copy_rate(side_package / "data" / "releases.csv")
        api_table = next(r["id"] for r in PortalClient(portal["CKAN_URL"], portal["CKAN_API_TOKEN"]).call_action(
            "package_show", {"id": api_name})["resources"] if r.get("ogd_key") == "releases-csv")
        copy_indexed = copy_rate(side_package / "data" / "releases.csv", like=api_table)
        results["side by side"] = {
            "rows": side_rows, "csv_MB": round(side_csv / 1e6, 1),
            "datastore_api_rows_per_s": round(api_rate, 1), "xloader_rows_per_s": round(xl_rate, 1),
            "copy_rows_per_s": round(copy, 1), "copy_into_datastore_table_rows_per_s": round(copy_indexed, 1),
            "api_share_of_xloader": round(api_rate / xl_rate, 3), "api_share_of_copy": round(api_rate / copy, 3),
            "api_share_of_copy_into_datastore_table": round(api_rate / copy_indexed, 3),
            "xloader_share_of_copy": round(xl_rate / copy, 3)}

        # 3.-5. A day later, nothing new, and a consumer's pull.
        for path in held_back:  # 1 % more releases, as a day brings them
            target = work / "in" / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        subprocess.run([OGD, *build], cwd=work, env=env, check=True, capture_output=True)
        daily, daily_wall, _ = run("publish", "--dataset", name, env=env, cwd=work)
        entry = daily["datasets"][0]
        results["daily publish (+1 %)"] = {"wall_s": round(daily_wall, 1), "share_of_first": round(daily_wall / wall, 3),
                                           "api_calls": entry["api_calls"], "uploads": entry["uploads"],
                                           "rows_added": entry["rows_added"]}
        noop, noop_wall, _ = run("publish", "--dataset", name, env=env, cwd=work)
        entry = noop["datasets"][0]
        results["no-op publish"] = {"wall_s": round(noop_wall, 2), "api_calls": entry["api_calls"],
                                    "uploads": entry["uploads"]}
        pulled, pull_wall, pull_peak = run("pull", name, "--out", str(work / "pulled"), env=env, cwd=work)
        results["pull"] = {"wall_s": round(pull_wall, 1), "files": len(pulled["files"]), "ok": pulled["ok"],
                           "peak_rss_MB": pull_peak}
    return results


if __name__ == "__main__":
    main()
