"""Benchmark of ogd-pipeline at archive scale (``make bench``).

Measures, on this machine:

1. a full build of a corpus of at least 60,000 releases (default: synthesised
   from ``../shared/corpus/thaigov`` with distinct ids and dates): wall time,
   releases/s, MB/s, peak RSS of the whole process tree;
2. the floor for the same corpus: reading every file and segmenting its text
   with nlpo3 on all cores (before and after the full build, averaged); the
   ratio build/floor;
3. validation: the fast check against ``frictionless`` on the built package
   (rows/s, ratio), and whether both report identical errors on a package
   with injected errors;
4. an incremental build after adding 1 % new inputs (median of three runs), against the full build:
   new inputs sorted last (as a daily run adds them), then sorted first (the worst case);
5. a no-op republish to the local portal when one is running: API calls, seconds;
6. the quality profile of the full build (``report.json``'s ``quality``): fill rate of every
   field, page furniture left in bodies, the title in the body, the most repeated body lines,
   records per category, language and year; so a change of parser shows its effect on the
   whole archive (``--corpus DIR``). ``--profile-only`` builds and prints only this.

Prints a table and writes JSON (``--json``). Speed is measured here, never in
timed unit tests.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("OGD_SHARED", REPO.parent / "shared"))
DEFAULT_WORKDIR = REPO / ".bench"
EXTRA_MARKER = ".ogd-bench-extra"  # hidden: builds skip it
EXTRA_FOLDERS = ("zz-extra", "0-extra")  # new inputs sorted last (a daily run), then first (the worst case)


# ------------------------------------------------------------------ corpus


def synthesise(target: Path, size: int, *, start_copy: int = 0) -> list[Path]:
    """Copies of the thaigov corpus with distinct news ids and dates (years shifted back)."""
    sources = sorted((SHARED / "corpus" / "thaigov").rglob("*.txt"))
    written = []
    copy = start_copy
    while len(written) < size:
        for source in sources:
            if len(written) >= size:
                break
            text = source.read_text(encoding="utf-8")
            shift = copy + 1  # years back: 2566 -> 2565, ... (stays after 1990 for 30 copies)
            text = re.sub(r"(/details/)(\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) + 1_000_000 * (copy + 1)}", text)
            text = re.sub(r"(\d{1,2}/\d{1,2}/)(25\d\d)", lambda m: f"{m.group(1)}{int(m.group(2)) - shift}", text)
            text = re.sub(r"^(วัน\S*ที่ \d{1,2} \S+ )(25\d\d)", lambda m: f"{m.group(1)}{int(m.group(2)) - shift}",
                          text, flags=re.M)
            destination = target / f"copy-{copy:03d}" / source.relative_to(SHARED / "corpus" / "thaigov")
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(text, encoding="utf-8")
            written.append(destination)
        copy += 1
    return written


def corpus_stats(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return len(files), sum(p.stat().st_size for p in files)


# ------------------------------------------------------------------ floor


def _segment_file(path: str) -> int:
    from pipeline.thaitext import segment_words

    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8", "replace")
    return len(segment_words(text))


def floor(folder: Path, workers: int) -> float:
    from pipeline.thaitext import load_segmenter

    files = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    started = time.time()
    with multiprocessing.get_context("fork").Pool(workers, initializer=load_segmenter) as pool:
        for _ in pool.imap_unordered(_segment_file, files, chunksize=64):
            pass
    return time.time() - started


# ------------------------------------------------------------------ processes


class TreeRSS:
    """Peak of the summed memory of a process and its descendants (sampled from /proc).

    Proportional set size (PSS) is summed, not RSS: forked workers share their
    parent's pages, and RSS would count those once per process.
    """

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry.name))
        tree, stack = [], [self.pid]
        while stack:
            pid = stack.pop()
            tree.append(pid)
            stack.extend(children.get(pid, []))
        return tree

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in self._tree():
                try:
                    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                        if line.startswith("Pss:"):
                            total += int(line.split()[1]) * 1024
                except OSError:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_ogd(*args: str, env: dict[str, str] | None = None) -> tuple[float, int, dict[str, Any] | list[Any] | None]:
    started = time.time()
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    sampler = TreeRSS(process.pid)
    stdout, stderr = process.communicate()
    peak = sampler.stop()
    elapsed = time.time() - started
    if process.returncode not in (0, 3):
        raise SystemExit(f"ogd {' '.join(args)} failed ({process.returncode}):\n{stderr[-3000:]}")
    try:
        return elapsed, peak, json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        return elapsed, peak, None


# ------------------------------------------------------------------ validation


def inject_errors(package: Path) -> None:
    """The same kinds of defects as tests/test_tablecheck.py, written into the CSV."""
    import pyarrow.csv as pa_csv

    path = package / "data" / "releases.csv"
    table = pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(block_size=1 << 26),
                            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                            convert_options=pa_csv.ConvertOptions(strings_can_be_null=False))
    rows = [{k: ("" if v is None else str(v)) for k, v in row.items()} for row in table.to_pylist()]
    edits = [("read_count", "abc"), ("published_date", "2020-13-45"), ("language", "xx"), ("release_id", "PRD_1"),
             ("title", ""), ("word_count", "0"), ("published_date", "1980-01-01"), ("contact_phone", "02-618-2323"),
             ("source_url", "not a url")]
    for index, (field, value) in enumerate(edits):
        rows[index * 7][field] = value
    rows[70]["release_id"] = rows[71]["release_id"]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(list(rows[0]))
        for row in rows:
            writer.writerow(list(row.values()))


def compare_validators(package: Path) -> dict[str, Any]:
    from pipeline.validate.tables import validate_package_fast
    from pipeline.validate.reference import validate_package

    started = time.time()
    fast = validate_package_fast(package)
    fast_seconds = time.time() - started
    started = time.time()
    reference = validate_package(package)
    reference_seconds = time.time() - started
    key = lambda e: (e["resource"], e["type"], e["row"], e["field"], e["message"])  # noqa: E731
    checked = sum(fast["rows_by_resource"].values())  # rows of the CSV and of the Parquet file: both are read
    return {
        "rows": checked, "fast_seconds": round(fast_seconds, 3), "frictionless_seconds": round(reference_seconds, 3),
        "fast_rows_per_s": round(checked / fast_seconds), "frictionless_rows_per_s": round(checked / reference_seconds),
        "ratio": round(reference_seconds / fast_seconds, 1), "fast_validator": fast["validator"],
        "same_errors": [key(e) for e in fast["errors"]] == [key(e) for e in reference["errors"]],
        "errors": fast["error_count"],
    }


# ------------------------------------------------------------------ portal


def republish(package: Path) -> dict[str, Any] | None:
    """Publish the 3,000 shared thaigov releases once, then measure publishing them again unchanged."""
    import dataclasses

    from pipeline.build.run import build_dataset
    from pipeline.ckan.client import PortalClient, local_portal_env, portal_settings
    from pipeline.config import load_config
    from pipeline.ckan.publish import publish_package

    if not local_portal_env().exists():
        return None
    settings = portal_settings()
    url, token = settings.url, settings.token
    client = PortalClient(url, token, attempts=2)
    try:
        client.call_action("status_show", {})
    except Exception:
        return None
    template = load_config()["thaigov-news-sample"]
    dataset = dataclasses.replace(template, name="bench-thaigov", inputs=(SHARED / "corpus" / "thaigov",),
                                  title="ข่าวทำเนียบรัฐบาล (ชุดทดสอบความเร็ว)", title_en="Royal Thai Government news (benchmark)")
    shutil.rmtree(package, ignore_errors=True)
    build_dataset(dataset, package)
    publish_package(package, PortalClient(url, token))  # make sure it is there
    client = PortalClient(url, token)
    started = time.time()
    result = publish_package(package, client)
    return {"seconds": round(time.time() - started, 3), "api_calls": client.api_calls,
            "http_requests": client.http_requests, "uploads": client.uploads, "changed": result.changed}


# ------------------------------------------------------------------ main


def incremental(corpus: Path, package: Path, folder: str, new_inputs: int, full_counts: dict[str, int],
                full_seconds: float) -> dict[str, Any]:
    """Build ``package`` again after adding ``new_inputs`` new releases in ``corpus/folder``; median of three runs.

    New releases as a daily run finds them: other ids and dates than every
    copy in the corpus (so neither duplicates nor implausible dates). Every
    run starts from the same previous package, kept as hard links (a build
    never writes into the files it replaces), and the package is left as it
    was before.
    """
    extra = corpus / folder
    extra.mkdir()
    (extra / EXTRA_MARKER).write_text("made by bench/run.py; removed after the incremental build\n")
    synthesise(extra, new_inputs, start_copy=len(list(corpus.glob("copy-*"))))
    before = package.with_name(package.name + "-before-incremental")
    shutil.rmtree(before, ignore_errors=True)
    shutil.copytree(package, before, copy_function=os.link)
    inputs_cache = package.with_name(f".{package.name}.inputs.json")
    inputs_cache_before = inputs_cache.read_bytes()
    runs, reports = [], []
    for _attempt in range(3):
        runs.append(run_ogd("build", str(corpus), "--out", str(package), "--name", "bench", "--json", "-q"))
        reports.append(json.loads((package / "report.json").read_text(encoding="utf-8")))
        shutil.rmtree(package)
        shutil.copytree(before, package, copy_function=os.link)
        inputs_cache.write_bytes(inputs_cache_before)  # the new inputs are new (and hashed) every time
    shutil.rmtree(extra)
    shutil.rmtree(before)
    seconds = sorted(run[0] for run in runs)[1]
    counts = reports[-1]["counts"]
    return {"new_inputs": new_inputs, "where": f"{folder}/ (sorted {'last' if folder.startswith('zz') else 'first'})",
            "new_records": counts["records"] - full_counts.get("records", 0),
            "seconds": round(seconds, 2), "runs_seconds": [round(run[0], 2) for run in runs],
            "reused": counts["reused"], "rows_copied": reports[-1]["reuse"]["rows_copied"],
            "ratio_to_full": round(seconds / full_seconds, 3),
            "peak_pss_mb": round(max(run[1] for run in runs) / 1e6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, help="a folder of releases (default: synthesise one)")
    parser.add_argument("--size", type=int, default=60000, help="releases to synthesise (default 60000)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--json", type=Path, default=DEFAULT_WORKDIR / "bench.json")
    parser.add_argument("--skip-frictionless-full", action="store_true",
                        help="time Frictionless on a 6,000-release package instead of the full one")
    parser.add_argument("--profile-only", action="store_true",
                        help="only build the corpus and print its quality profile (minutes, not the whole bench)")
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)

    corpus = args.corpus
    if corpus is None:
        corpus = work / f"corpus-{args.size}"
        marker = corpus / ".complete"
        if not marker.exists():
            shutil.rmtree(corpus, ignore_errors=True)
            print(f"synthesising {args.size} releases in {corpus} ...", file=sys.stderr)
            synthesise(corpus, args.size)
            marker.write_text("ok\n")
    for extra in (corpus / name for name in EXTRA_FOLDERS):  # the new inputs of step 4, removed after it
        if extra.exists():
            if not (extra / EXTRA_MARKER).exists():
                sys.exit(f"{extra} exists and was not made by this benchmark: use a corpus without it")
            shutil.rmtree(extra)  # left behind by an interrupted run
    count, size = corpus_stats(corpus)
    results: dict[str, Any] = {"machine": {"cores": workers, "python": sys.version.split()[0]},
                               "corpus": {"path": str(corpus), "releases": count, "bytes": size}}
    if args.profile_only:
        package = work / "package-profile"
        shutil.rmtree(package, ignore_errors=True)
        print("full build for the quality profile ...", file=sys.stderr)
        run_ogd("build", str(corpus), "--out", str(package), "--name", "bench", "--full", "--json", "-q",
                "--max-quarantine-ratio", "1")
        results["quality"] = read_quality(package)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print_quality(results["quality"])
        print(f"\nJSON: {args.json}")
        return

    # The floor is measured before and after the full build and averaged: this machine's
    # speed drifts by a third over minutes, and the ratio should not depend on when.
    print("floor: reading + nlpo3 segmentation on all cores ...", file=sys.stderr)
    floor_runs = [floor(corpus, workers)]

    package = work / "package"
    shutil.rmtree(package, ignore_errors=True)
    print("full build ...", file=sys.stderr)
    build_seconds, build_rss, summary = run_ogd("build", str(corpus), "--out", str(package), "--name", "bench",
                                                "--full", "--json", "-q")
    counts = summary[0]["counts"] if summary else {}
    results["quality"] = read_quality(package)
    results["full_build"] = {"seconds": round(build_seconds, 2), "releases_per_s": round(count / build_seconds),
                             "mb_per_s": round(size / 1e6 / build_seconds, 2), "peak_pss_mb": round(build_rss / 1e6),
                             "counts": counts}
    print("floor again, after the build ...", file=sys.stderr)
    floor_runs.append(floor(corpus, workers))
    floor_seconds = sum(floor_runs) / len(floor_runs)
    results["floor"] = {"seconds": round(floor_seconds, 2), "runs_seconds": [round(run, 2) for run in floor_runs],
                        "ratio_build_to_floor": round(build_seconds / floor_seconds, 2)}

    print("validation: fast check and frictionless ...", file=sys.stderr)
    if args.skip_frictionless_full:
        small = work / "package-small"
        shutil.rmtree(small, ignore_errors=True)
        run_ogd("build", *[str(p) for p in sorted(corpus.glob("copy-00[01]"))], "--out", str(small), "--name", "bench-small", "-q")
        results["validation"] = compare_validators(small)
    else:
        results["validation"] = compare_validators(package)
    dirty = work / "package-dirty"
    shutil.rmtree(dirty, ignore_errors=True)
    run_ogd("build", str(corpus / "copy-000"), "--out", str(dirty), "--name", "bench-dirty", "-q")
    inject_errors(dirty)
    results["validation_injected"] = compare_validators(dirty)

    print("incremental build with 1% new inputs ...", file=sys.stderr)
    new_inputs = max(1, count // 100)
    results["incremental_build"] = incremental(corpus, package, "zz-extra", new_inputs, counts, build_seconds)
    # The worst case: the same new inputs sorted first, so that no batch can be copied.
    results["incremental_build_at_start"] = incremental(corpus, package, "0-extra", new_inputs, counts, build_seconds)

    print("no-op republish to the local portal ...", file=sys.stderr)
    results["noop_republish"] = republish(work / "package-publish")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results)
    print_quality(results["quality"])
    print(f"\nJSON: {args.json}")


def read_quality(package: Path) -> dict[str, Any]:
    """The build's quality profile, as its report.json (or, for a rejected build, DIR.failed's) holds it."""
    for folder in (package, package.with_name(package.name + ".failed")):
        report = folder / "report.json"
        if report.is_file():
            return json.loads(report.read_text(encoding="utf-8")).get("quality") or {}
    return {}


def print_quality(profile: dict[str, Any]) -> None:
    """The quality profile, for a person comparing two parsers on the same archive."""
    if not profile:
        print("\nquality profile: none (no records)")
        return
    records = profile["records"]
    print(f"\nquality profile of {records} records")
    for name, entry in profile["fields"].items():
        missing = f"  lacking: {', '.join(entry['missing'][:3])}" if entry.get("missing") else ""
        print(f"  {name:<20} {entry['share'] * 100:6.2f}%  {entry['filled']:>7}{missing}")
    chrome = profile["chrome"]
    print("  bodies with page furniture: " + ", ".join(f"{k} {v}" for k, v in chrome["bodies_with"].items()))
    title = profile["title_in_body"]
    print(f"  title as first body line: {title['first_line']}; title as a body line anywhere: {title['any_line']}")
    print(f"  most repeated body lines (in at least {chrome['repeated_min_records']} records"
          f"{', counts may fall short by ' + str(chrome['undercount_at_most']) if chrome['undercount_at_most'] else ''}):")
    for entry in chrome["repeated_lines"]:
        print(f"    {entry['records']:>7}  {entry['line'][:100]}")
    print("  categories: " + ", ".join(f"{c['category'] or '(none)'} {c['records']}" for c in profile["by_category"][:12])
          + (f", {profile['other_categories']['categories']} more ({profile['other_categories']['records']} records)"
             if profile["other_categories"]["categories"] else ""))
    print("  languages: " + ", ".join(f"{k} {v}" for k, v in profile["by_language"].items()))
    print("  years: " + ", ".join(f"{k} {v}" for k, v in profile["by_year"].items()))
    if profile.get("below_floor"):
        print("  BELOW FLOOR: " + ", ".join(f"{e['field']} {e['share']:.1%} < {e['floor']:.1%}" for e in profile["below_floor"]))


def print_table(results: dict[str, Any]) -> None:
    full, fl, val, inc = results["full_build"], results["floor"], results["validation"], results["incremental_build"]
    injected, noop = results["validation_injected"], results["noop_republish"]
    worst = results["incremental_build_at_start"]
    rows = [
        ("corpus", f"{results['corpus']['releases']} releases, {results['corpus']['bytes'] / 1e6:.0f} MB", ""),
        ("full build", f"{full['seconds']} s, {full['releases_per_s']} releases/s, {full['mb_per_s']} MB/s",
         f"peak memory (PSS) {full['peak_pss_mb']} MB (goal <= 1500)"),
        ("floor (read + nlpo3, all cores)", f"{fl['seconds']} s (mean of {fl['runs_seconds']}: before and after the build)",
         f"build/floor {fl['ratio_build_to_floor']} (goal <= 2.0)"),
        ("validation, fast check", f"{val['fast_rows_per_s']} rows/s ({val['rows']} rows)",
         f"{val['ratio']}x frictionless (goal >= 10)"),
        ("validation, frictionless", f"{val['frictionless_rows_per_s']} rows/s", ""),
        ("same errors on injected defects", str(injected["same_errors"]), f"{injected['errors']} errors"),
        ("incremental build (+1% inputs)",
         f"{inc['seconds']} s (median of {inc['runs_seconds']}), {inc['new_records']} new records, "
         f"{inc['reused']} inputs reused, {inc['rows_copied']} rows copied",
         f"{inc['ratio_to_full'] * 100:.1f}% of full (goal <= 10%)"),
        ("  the same, new inputs sorted first", f"{worst['seconds']} s (median of {worst['runs_seconds']}), "
         f"{worst['rows_copied']} rows copied", f"{worst['ratio_to_full'] * 100:.1f}% of full (worst case)"),
        ("no-op republish", "portal not running" if noop is None else
         f"{noop['seconds']} s, {noop['api_calls']} API calls, {noop['uploads']} uploads", "goal: 0 uploads, <= 3 calls"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<48}  {note}")


if __name__ == "__main__":
    main()
