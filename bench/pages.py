"""Measure the html source against hand labels, with trafilatura alone side by side (issue 15).

    .venv/bin/python bench/pages.py [--json]

Inputs: the labelled HTML pages of ``tests/html_pages`` (real release text of
corpus/pages in the layouts of the CMS families of agency-sites.md; labels in
its ``labels.tsv``), the EWT static pages of ``../shared/corpus/web`` (HTML, not
releases) and ``../shared/corpus/pages`` (page *text*, not HTML: the html source
must claim none of it). Per set: inputs, what the html source claimed, records,
quarantine reasons; on labelled release pages: title exact-match, date accuracy,
body token F1 (words by the pipeline's segmenter) and pages/s, for the html source
and for trafilatura alone (its title, its date, its main text).
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path

import trafilatura

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.extract.decode import decode  # noqa: E402
from pipeline.sources.html import SOURCE as HTML  # noqa: E402
from pipeline.sources.base import SourceContext  # noqa: E402
from pipeline.thaitext import segment_words  # noqa: E402
from pipeline.transform import transform_text  # noqa: E402

LABELLED = REPO / "tests" / "html_pages"
SHARED = REPO.parent / "shared" / "corpus"


def labels() -> dict[str, dict[str, str]]:
    rows = (LABELLED / "labels.tsv").read_text(encoding="utf-8").splitlines()
    header = ["file", "kind", "title", "published_date", "agency", "office", "body"]
    return {row.split("\t")[0]: dict(zip(header, row.split("\t"))) for row in rows[1:] if row.strip()}


def token_f1(got: str, want: str) -> float:
    got_tokens = collections.Counter(t for t in segment_words(got) if t.strip())
    want_tokens = collections.Counter(t for t in segment_words(want) if t.strip())
    common = sum((got_tokens & want_tokens).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got_tokens.values()), common / sum(want_tokens.values())
    return 2 * precision * recall / (precision + recall)


def measure_labelled() -> dict[str, dict[str, float]]:
    wanted = labels()
    texts = {name: decode((LABELLED / name).read_bytes()) for name in wanted}
    ours: dict[str, float] = collections.defaultdict(float)
    theirs: dict[str, float] = collections.defaultdict(float)
    started = time.perf_counter()
    outcomes = {name: transform_text(text, enc, name) for name, (text, enc) in texts.items()}
    ours_seconds = time.perf_counter() - started
    started = time.perf_counter()
    traf = {name: trafilatura.bare_extraction(text, with_metadata=True, favor_recall=True) for name, (text, _) in texts.items()}
    theirs_seconds = time.perf_counter() - started
    releases = [name for name, row in wanted.items() if row["kind"] == "release"]
    for name in releases:
        want = wanted[name]
        body_want = want["body"].replace("\\n", "\n")
        release = outcomes[name].release
        if release is not None:
            ours["records"] += 1
            ours["title"] += release.title == want["title"]
            ours["date"] += release.published_date.isoformat() == want["published_date"]
            ours["agency"] += (release.agency or "") == want["agency"]
            ours["body_f1"] += token_f1(release.body, body_want)
        doc = traf[name]
        if doc is not None:
            theirs["records"] += 1
            theirs["title"] += (doc.title or "") == want["title"]
            theirs["date"] += (doc.date or "")[:10] == want["published_date"]
            theirs["body_f1"] += token_f1(doc.text or "", body_want)
    n = len(releases)
    result = {}
    for who, sums, seconds in (("html source", ours, ours_seconds), ("trafilatura alone", theirs, theirs_seconds)):
        result[who] = {"release pages": n, "records": sums["records"] / n, "title exact": sums["title"] / n,
                       "date accuracy": sums["date"] / n, "body F1": sums["body_f1"] / n,
                       "pages/s": len(texts) / seconds}
        if who == "html source":
            result[who]["agency"] = sums["agency"] / n
    return result


def account(folder: Path, pattern: str) -> dict[str, object]:
    """Every file of ``folder``: claimed by the html source or not, and its outcome's reason."""
    reasons: collections.Counter[str] = collections.Counter()
    claimed = 0
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    for path in files:
        text, enc = decode(path.read_bytes())
        claimed += HTML.detect(text, SourceContext(path.name, enc))
        outcome = transform_text(text, enc, path.name)
        reasons["record:" + outcome.release.source if outcome.release else outcome.problem.reason] += 1
    return {"inputs": len(files), "claimed by html": claimed, "outcomes": dict(sorted(reasons.items()))}


def main() -> None:
    report = {
        "labelled HTML (tests/html_pages)": measure_labelled(),
        "corpus/web/ewt-static-pages": account(SHARED / "web" / "ewt-static-pages", "*.html"),
        "corpus/pages (page text)": account(SHARED / "pages", "[0-9]*.txt"),
    }
    if "--json" in sys.argv:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return
    for section, values in report.items():
        print(f"== {section}")
        for key, value in values.items():
            if isinstance(value, dict):
                print(f"  {key}: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                              for k, v in value.items()))
            else:
                print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
