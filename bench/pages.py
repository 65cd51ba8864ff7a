"""Reading agency pages, measured against hand labels, with trafilatura alone side by side (issue 15).

    .venv/bin/python bench/pages.py [--json PATH] [--rounds N]      (also run by `make bench`)

Two sets, one run:

1. ``../shared/corpus/pages``: real page text of many agencies, labelled in
   ``expected.tsv``. Each file is read as a build reads it (decoded, the source
   auto-detected by the registry, whatever sources are registered today); per
   source kind (text, html, feed, wordpress; ``none`` when no source claims the
   file): inputs, records, records per input, and on the labelled release pages
   title exact-match and date accuracy (the labels give no body text). Release
   pages that became records are the issue's first goal (>= 95 %).
2. The HTML the tests build: ``tests/html_pages`` (real release text of
   corpus/pages in the layouts of the CMS families of agency-sites.md; labels,
   with body text, in its ``labels.tsv``; plus an English news listing and a
   custom CMS page) and the EWT static pages of ``../shared/corpus/web`` (not
   releases). The html source (bundled profiles only) against trafilatura alone
   on the same decoded text (its title, its date from metadata/htmldate, its main
   text): title exact-match, date accuracy, body token F1 (PyThaiNLP newmm
   tokens, spaces dropped) and pages/s (the reader alone, best of ``--rounds``).

Prints a table and writes JSON (default ``bench/results/pages.json``).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import trafilatura  # noqa: E402
from pythainlp.tokenize import word_tokenize  # noqa: E402

from pipeline.extract.decode import decode  # noqa: E402
from pipeline.sources.base import ParsedRelease, ParseProblem, SourceContext  # noqa: E402
from pipeline.sources.registry import AUTO, detect_source, get_source  # noqa: E402
from pipeline.transform import transform_text  # noqa: E402

SHARED = REPO.parent / "shared" / "corpus"
PAGES = SHARED / "pages"
HTML_PAGES = REPO / "tests" / "html_pages"
DEFAULT_JSON = REPO / "bench" / "results" / "pages.json"


def tokens(text: str) -> collections.Counter[str]:
    return collections.Counter(t for t in word_tokenize(text, engine="newmm", keep_whitespace=False) if t.strip())


def token_f1(got: str, want: str) -> float:
    got_tokens, want_tokens = tokens(got), tokens(want)
    common = sum((got_tokens & want_tokens).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got_tokens.values()), common / sum(want_tokens.values())
    return 2 * precision * recall / (precision + recall)


def _share(part: float, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# ------------------------------------------------------------------ corpus/pages (page text, by source kind)

def expected_pages() -> dict[str, dict[str, str]]:
    rows = (PAGES / "expected.tsv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split("\t")
    return {row.split("\t")[0]: dict(zip(header, row.split("\t"))) for row in rows[1:] if row.strip()}


def measure_corpus_pages(rounds: int, with_url: bool) -> dict[str, Any]:
    """The corpus read as saved page text (``with_url`` False: a folder of files) or with the address each page
    was saved from (True: as a harvested page comes, its URL in the record's context)."""
    labels = expected_pages()
    files = sorted(p for p in PAGES.iterdir() if p.name in labels)
    texts = {path.name: decode(path.read_bytes()) for path in files}
    by_kind: dict[str, dict[str, Any]] = collections.defaultdict(lambda: collections.defaultdict(float))
    outcomes_by_file: dict[str, list[Any]] = {}
    kind_of: dict[str, str] = {}
    seconds: dict[str, float] = collections.defaultdict(float)
    for name, (text, encoding) in texts.items():
        url = labels[name]["url"] if with_url else None
        source = detect_source(text, SourceContext(name, encoding, url=url))
        kind_of[name] = source.kind if source else "none"
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            outcomes = transform_text(text, encoding, name, AUTO, url=url)
            best = min(best, time.perf_counter() - started)
        seconds[kind_of[name]] += best
        outcomes_by_file[name] = outcomes
    release_pages = release_records = dated_pages = dated_records = dated_titled = dated_title_exact = 0
    for name, outcomes in outcomes_by_file.items():
        kind, label = kind_of[name], labels[name]
        stats = by_kind[kind]
        stats["inputs"] += 1
        records = [o.release for o in outcomes if o.release is not None]
        stats["records"] += len(records)
        for outcome in outcomes:
            if outcome.problem is not None:
                stats.setdefault("reasons", collections.Counter())[outcome.problem.reason] += 1
        if label["kind"] != "release":
            continue
        release_pages += 1
        release_records += bool(records)
        # The pages that state their date (the label's date_evidence): a record needs a published_date.
        dated_pages += bool(label["date_evidence"])
        dated_records += bool(label["date_evidence"]) and bool(records)
        if label["date_evidence"] and label["title"]:
            dated_titled += 1
            dated_title_exact += bool(records) and " ".join(records[0].title.split()) == " ".join(label["title"].split())
        stats["release pages"] += 1
        stats["release pages read"] += bool(records)
        first = records[0] if records else None
        if label["title"]:
            stats["titled"] += 1
            # Exact after white space is normalised (the labels were typed from the page as a person reads it).
            stats["title exact"] += bool(first and " ".join(first.title.split()) == " ".join(label["title"].split()))
        if label["published_date"]:
            stats["dated"] += 1
            stats["date right"] += bool(first and first.published_date.isoformat() == label["published_date"])
    table: dict[str, Any] = {}
    for kind, stats in sorted(by_kind.items()):
        table[kind] = {
            "inputs": int(stats["inputs"]),
            "records": int(stats["records"]),
            "records/inputs": _share(stats["records"], int(stats["inputs"])),
            "release pages": int(stats["release pages"]),
            "release pages -> records": _share(stats["release pages read"], int(stats["release pages"])),
            "title exact": _share(stats["title exact"], int(stats["titled"])),
            "titles labelled": int(stats["titled"]),
            "date accuracy": _share(stats["date right"], int(stats["dated"])),
            "dates labelled": int(stats["dated"]),
            "pages/s": round(stats["inputs"] / seconds[kind], 1) if seconds[kind] else None,
            "quarantined": dict(sorted(stats.get("reasons", {}).items())),
        }
    return {"files": len(files), "release pages": release_pages,
            "release pages -> records": _share(release_records, release_pages),
            "release pages stating a date": dated_pages,
            "release pages stating a date -> records": _share(dated_records, dated_pages),
            "title exact on those": _share(dated_title_exact, dated_titled), "by kind": table}


# ------------------------------------------------------------------ the HTML the tests build, vs trafilatura

def html_labels() -> dict[str, dict[str, str]]:
    rows = (HTML_PAGES / "labels.tsv").read_text(encoding="utf-8").splitlines()
    header = ["file", "kind", "title", "published_date", "agency", "office", "body"]
    return {row.split("\t")[0]: dict(zip(header, row.split("\t"))) for row in rows[1:] if row.strip()}


def _ours(text: str, name: str) -> list[ParsedRelease]:
    """The html source's releases of one page (its reading alone, as a worker does before the record)."""
    try:
        read = get_source("html").read(text, SourceContext(name))
    except ParseProblem:
        return []
    if isinstance(read, ParsedRelease):
        return [read]
    return [item.release for item in read if item.release is not None]


def _timed(function: Any, texts: dict[str, str], rounds: int) -> tuple[dict[str, Any], float]:
    """Every page through ``function``; the best of ``rounds`` passes over all of them (this machine is noisy)."""
    best, results = float("inf"), {}
    for _ in range(rounds):
        started = time.perf_counter()
        results = {name: function(text, name) for name, text in texts.items()}
        best = min(best, time.perf_counter() - started)
    return results, best


def measure_html(rounds: int) -> dict[str, Any]:
    labels = html_labels()
    files = sorted(HTML_PAGES.glob("*.html")) + sorted((SHARED / "web" / "ewt-static-pages").glob("*.html"))
    texts = {path.name: decode(path.read_bytes())[0] for path in files}
    ours, ours_seconds = _timed(_ours, texts, rounds)
    theirs, theirs_seconds = _timed(
        lambda text, _name: trafilatura.bare_extraction(text, with_metadata=True, favor_recall=True), texts, rounds)
    releases = [name for name, row in labels.items() if row["kind"] == "release"]
    sums: dict[str, dict[str, float]] = {"html source": collections.defaultdict(float),
                                         "trafilatura alone": collections.defaultdict(float)}
    for name in releases:
        want = labels[name]
        body = want["body"].replace("\\n", "\n")
        mine = ours[name][0] if ours[name] else None
        if mine is not None:
            published = mine.published.isoformat() if mine.published else ""
            for key, value in (("records", 1), ("title", mine.title == want["title"]),
                               ("date", published == want["published_date"]), ("body", token_f1(mine.body, body))):
                sums["html source"][key] += value
        doc = theirs[name]
        if doc is not None:
            for key, value in (("records", 1), ("title", (doc.title or "") == want["title"]),
                               ("date", (doc.date or "")[:10] == want["published_date"]),
                               ("body", token_f1(doc.text or "", body))):
                sums["trafilatura alone"][key] += value
    records_all = {"html source": sum(len(found) for found in ours.values()),
                   "trafilatura alone": sum(1 for doc in theirs.values() if doc is not None and (doc.text or "").strip())}
    n = len(releases)
    side_by_side = {}
    for who, seconds in (("html source", ours_seconds), ("trafilatura alone", theirs_seconds)):
        total = sums[who]
        side_by_side[who] = {"inputs": len(texts), "records": records_all[who],
                             "records/inputs": _share(records_all[who], len(texts)),
                             "labelled release pages": n, "release pages -> records": _share(total["records"], n),
                             "title exact": _share(total["title"], n), "date accuracy": _share(total["date"], n),
                             "body F1": _share(total["body"], n), "pages/s": round(len(texts) / seconds, 1)}
    return {"pages": [path.name for path in files], "side by side": side_by_side}


# ------------------------------------------------------------------ output

def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1 else f"{value:.1f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    return str(value)


def print_table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    columns = list(next(iter(rows.values())).keys()) if rows else []
    print(f"\n== {title}")
    print("| | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(_cell(values.get(column)) for column in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write the JSON (default {DEFAULT_JSON})")
    parser.add_argument("--rounds", type=int, default=3, help="passes over each set; pages/s is the best (default 3)")
    args = parser.parse_args()
    word_tokenize("อุ่นเครื่อง", engine="newmm")  # load the dictionary before anything is timed
    results = {"machine": {"python": sys.version.split()[0], "trafilatura": trafilatura.__version__},
               "corpus/pages": measure_corpus_pages(args.rounds, with_url=False),
               "corpus/pages with their URLs": measure_corpus_pages(args.rounds, with_url=True),
               "html": measure_html(args.rounds)}
    for key, how in (("corpus/pages", "saved text, no URL"), ("corpus/pages with their URLs", "as harvested")):
        corpus = results[key]
        print_table(f"{key} ({how}): {corpus['files']} files, {corpus['release pages']} release pages, "
                    f"{_cell(corpus['release pages -> records'])} of them records; of the "
                    f"{corpus['release pages stating a date']} that state their date "
                    f"{_cell(corpus['release pages stating a date -> records'])} (goal 0.95), their titles exact "
                    f"{_cell(corpus['title exact on those'])} (goal 0.95); by source kind",
                    corpus["by kind"])
    print_table(f"HTML the tests build ({len(results['html']['pages'])} pages: tests/html_pages and the EWT static "
                "pages); labelled release pages: goals title 0.95, date 0.99, body F1 0.95, pages/s >= trafilatura's",
                results["html"]["side by side"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
