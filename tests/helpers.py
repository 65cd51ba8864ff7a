"""Builders of test input folders from the real shared corpus (never edited in place)."""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import random
import re
import shutil
from pathlib import Path

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from conftest import PRD_CORPUS, PRD_NEWS, PRD_PHOTO, THAIGOV_CORPUS

def checkout_defaults() -> str:
    """The checkout's datasets.toml up to its first [datasets.NAME]: [defaults] (the GDC values every dataset
    needs) and [organizations], for a test's own configuration to add its datasets to."""
    from conftest import REPO

    return (REPO / "datasets.toml").read_text(encoding="utf-8").split("\n[datasets.", 1)[0]


# What a package keeps of its version history: a package with earlier versions and one built fresh from the same
# inputs differ only there (tests comparing an incremental build with a full one leave these out).
HISTORY_FILES = frozenset({"data/changes.csv", "CHANGELOG.md"})


def build_thaigov_sample(inputs: Path, out: Path, name: str, org: str, **changes: object) -> Path:
    """Build ``inputs`` as the checkout's thaigov-news-sample dataset under another name (and ``changes`` to its
    configuration, e.g. ``max_upload_bytes``) into ``out``; the build must succeed."""
    from pipeline.build.run import build_dataset
    from pipeline.config import load_config

    dataset = dataclasses.replace(load_config()["thaigov-news-sample"], name=name, inputs=(inputs,), organization=org,
                                  **changes)
    result = build_dataset(dataset, out, workers=1)
    assert result.ok, result.failure
    return out


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def package_files(folder: Path) -> dict[str, bytes]:
    """Every file of a package but report.json (timings) and its version history; datapackage.json without its
    version, its x_ogd.changes and the change log's resource."""
    files = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if not path.is_file() or relative in HISTORY_FILES or relative == "report.json":
            continue
        files[relative] = path.read_bytes()
        if relative == "datapackage.json":
            descriptor = json.loads(files[relative])
            descriptor.pop("version")
            descriptor["x_ogd"].pop("changes", None)
            descriptor["resources"] = [r for r in descriptor["resources"] if r["name"] != "changes"]
            files[relative] = json.dumps(descriptor, sort_keys=True).encode()
    return files


# The shared corpus is read-only and 3,000 files (38 MB): it is listed and read once per test
# session (pytest imports this module once), not once per call; the fast tier used to spend
# much of its time re-reading it.


@functools.cache
def thaigov_texts() -> dict[Path, str]:
    """Every thaigov corpus file (sorted by path) with its text."""
    return {path: path.read_text(encoding="utf-8") for path in sorted(THAIGOV_CORPUS.rglob("*.txt"))}


@functools.cache
def prd_texts() -> dict[Path, str]:
    """Every prd corpus file (sorted by path) with its text."""
    return {path: path.read_text(encoding="utf-8") for path in sorted(PRD_CORPUS.glob("*.txt"))}


@functools.cache
def _full_thaigov_items() -> tuple[Path, ...]:
    """The corpus items with a source line and a real body (not placeholders or stubs)."""
    return tuple(path for path, text in thaigov_texts().items() if "ที่มา" in text and path.stat().st_size > 2000)


def thaigov_files(count: int, *, step: int = 97) -> list[Path]:
    """A deterministic spread of real thaigov items across the corpus."""
    return list(_full_thaigov_items()[::step][:count])


def copy_thaigov(target: Path, count: int, *, step: int = 97) -> list[Path]:
    copied = []
    for source in thaigov_files(count, step=step):
        relative = source.relative_to(THAIGOV_CORPUS)
        destination = target / "thaigov" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        copied.append(destination)
    return copied


def make_dirty_inputs(root: Path) -> dict[str, str]:
    """Real releases plus one input per kind of defect; returns {relative path: expected outcome}."""
    expected: dict[str, str] = {}
    root.mkdir(parents=True, exist_ok=True)
    for item in copy_thaigov(root, 6):
        expected[item.relative_to(root).as_posix()] = "record"
    (root / "prd").mkdir()
    shutil.copyfile(PRD_NEWS, root / "prd" / PRD_NEWS.name)
    expected[f"prd/{PRD_NEWS.name}"] = "record"

    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    expected["bad/empty.txt"] = "empty-file"
    rng = random.Random(20200617)
    (bad / "garbage.txt").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    expected["bad/garbage.txt"] = "binary-content"
    (bad / "latin1.txt").write_bytes("Communiqué de presse: café résumé à Genève".encode("latin-1"))
    expected["bad/latin1.txt"] = "undecodable"
    (bad / "notes.txt").write_text("meeting notes\nnothing to publish here\n", encoding="utf-8")
    expected["bad/notes.txt"] = "unknown-format"

    template = thaigov_files(8, step=61)[-1].read_text(encoding="utf-8")
    placeholder = template.split("\n")
    display_done = False
    for index, line in enumerate(placeholder):
        if not display_done and re.match(r"^วัน\S*ที่ ", line):
            placeholder[index], display_done = "วันพฤหัสบดีที่ 1 มกราคม 2513", True
        elif re.fullmatch(r"\d{2}/\d{2}/\d{4}", line):
            placeholder[index] = "01/01/2513"
    (bad / "placeholder_1970.txt").write_text("\n".join(placeholder), encoding="utf-8")
    expected["bad/placeholder_1970.txt"] = "implausible-date"
    (bad / "truncated.txt").write_text(template[: len(template) // 2], encoding="utf-8")
    expected["bad/truncated.txt"] = "truncated"

    encodings = root / "encodings"
    encodings.mkdir()
    (encodings / "prd_photo_tis620.txt").write_bytes(PRD_PHOTO.read_text(encoding="utf-8").encode("cp874"))
    expected["encodings/prd_photo_tis620.txt"] = "record"
    utf16_source = thaigov_files(3, step=211)[2]
    (encodings / "thaigov_utf16.txt").write_bytes(utf16_source.read_text(encoding="utf-8").encode("utf-16"))
    expected["encodings/thaigov_utf16.txt"] = "record"

    # The same release twice: the first in input order is kept.
    first_thaigov = sorted(k for k, v in expected.items() if k.startswith("thaigov/") and v == "record")[0]
    (root / "zz_copy").mkdir()
    shutil.copyfile(root / first_thaigov, root / "zz_copy" / "again.txt")
    expected["zz_copy/again.txt"] = "duplicate"
    return expected


def read_quarantine(package: Path) -> list[dict]:
    text = (package / "quarantine.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


def read_rows(package: Path) -> tuple[list[dict], list[dict]]:
    """Rows of the CSV and of the Parquet file, as Python values."""
    csv_table = pa_csv.read_csv(
        package / "data" / "releases.csv",
        read_options=pa_csv.ReadOptions(block_size=1 << 26),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(column_types=pq.read_schema(package / "data" / "releases.parquet"),
                                              strings_can_be_null=True),
    )
    parquet_table = pq.read_table(package / "data" / "releases.parquet")
    return csv_table.to_pylist(), parquet_table.to_pylist()
