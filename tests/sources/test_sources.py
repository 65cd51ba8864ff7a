"""The source registry: a source registered here (a fake, defined in this file) is detected, parsed,
offered by --source and described without any other module being edited; the built-in ones keep
their names, order and descriptions."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipeline.cli.main import cli
from pipeline.config import load_config
from pipeline.problems import ConfigError
from pipeline.sources import thaigov
from pipeline.sources.base import ParsedRelease, ParseProblem, Source, SourceContext
from pipeline.sources.registry import (
    register,
    source_descriptions,
    source_names,
    sources_in_detection_order,
    unregister,
)
from pipeline.transform import transform_text

FAKE = "fakeagency"
FAKE_TITLE = "สำนักงานทดลอง (Fake Agency)"
FAKE_HOMEPAGE = "https://fake.example.go.th"
FAKE_TEXT = "FAKE RELEASE\nข่าวทดลองของสำนักงาน\n17 มิ.ย. 2563\nเนื้อหาข่าวทดลองย่อหน้าแรกของสำนักงานทดลอง\n"


def _fake_detect(text: str, context: SourceContext) -> bool:
    return "FAKE RELEASE" in text.split("\n", 1)[0]


def _fake_parse(text: str, context: SourceContext) -> ParsedRelease:
    lines = text.split("\n")
    if len(lines) < 4 or not lines[3]:
        raise ParseProblem("empty-body", "the fake release has no body line", lines=len(lines))
    # The category shows what the parser was told about the input.
    return ParsedRelease(title=lines[1], date_text=lines[2], body=lines[3],
                         category=f"{context.file_name} ({context.encoding})", source_id="42")


def _fake_source(detect_order: int) -> Source:
    return Source(name=FAKE, title=FAKE_TITLE, homepage=FAKE_HOMEPAGE, kind="text",
                  detect_order=detect_order, detect=_fake_detect, parse=_fake_parse)


@pytest.fixture
def fake() -> Iterator[Source]:
    """The fake source, asked before every built-in one; removed again after the test."""
    source = register(_fake_source(detect_order=5))
    yield source
    unregister(FAKE)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


THAIGOV_TEXT = (
    "รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-นายกรัฐมนตรีเป็นประธานการประชุมคณะรัฐมนตรี\n\n"
    "วันอังคารที่ 3 มกราคม 2566\n03/01/2566\nพิมพ์\n"
    "นายกรัฐมนตรีเป็นประธานการประชุมคณะรัฐมนตรีที่ทำเนียบรัฐบาล และมอบนโยบายแก่ส่วนราชการ\n"
    "-----------------------------------\n"
    "ที่มา : https://www.thaigov.go.th/news/contents/details/63320\n"
)


def test_the_built_in_sources_keep_their_names_order_and_descriptions() -> None:
    assert source_names() == ("feed", "generic", "html", "prd", "thaigov", "wordpress")
    assert [s.name for s in sources_in_detection_order()] == ["thaigov", "prd", "feed", "wordpress", "html", "generic"]
    # The descriptor's `sources`, as every package written so far carries them.
    assert source_descriptions(["prd", "thaigov"]) == [
        {"title": "กรมประชาสัมพันธ์ (Government Public Relations Department)", "path": "https://www.prd.go.th"},
        {"title": "รัฐบาลไทย (Royal Thai Government), thaigov.go.th", "path": "https://www.thaigov.go.th"},
    ]


def test_every_source_has_the_same_detect_and_parse_signature() -> None:
    for source in sources_in_detection_order():
        assert list(inspect.signature(source.detect).parameters)[:2] == ["text", "context"], source.name
        reader = source.parse or source.items  # one release per input, or its items (a feed)
        assert list(inspect.signature(reader).parameters) == ["text", "context"], source.name


def test_a_registered_source_is_detected_and_parsed_with_its_context(fake: Source) -> None:
    outcome, = transform_text(FAKE_TEXT, "tis-620", "agency/2020/note_1.txt")
    assert outcome.problem is None, outcome.problem
    release = outcome.release
    assert release.source == FAKE
    assert release.release_id == "fakeagency-42"
    assert release.title == "ข่าวทดลองของสำนักงาน"
    assert release.published_date == dt.date(2020, 6, 17)
    assert release.body == "เนื้อหาข่าวทดลองย่อหน้าแรกของสำนักงานทดลอง"
    assert release.category == "note_1.txt (tis-620)"
    assert release.source_file == "agency/2020/note_1.txt"


def test_a_registered_sources_problem_names_it(fake: Source) -> None:
    outcome, = transform_text("FAKE RELEASE\nข่าวทดลอง\n17 มิ.ย. 2563\n", "utf-8", "empty.txt")
    assert outcome.problem is not None
    assert (outcome.problem.reason, outcome.problem.stage) == ("empty-body", "transform")
    assert outcome.problem.details == {"source": FAKE, "lines": 4}


@pytest.mark.parametrize(("detect_order", "chosen"), [(5, FAKE), (15, "thaigov")])
def test_auto_detection_asks_sources_in_detect_order(detect_order: int, chosen: str) -> None:
    # Both the fake (its mark is on the first line) and thaigov (the line starts with its prefix) claim it.
    text = THAIGOV_TEXT.replace("รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-", "รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-FAKE RELEASE ", 1)
    register(_fake_source(detect_order))
    try:
        outcome, = transform_text(text, "utf-8", "both.txt")
    finally:
        unregister(FAKE)
    source = outcome.release.source if outcome.release else outcome.problem.details["source"]
    assert source == chosen


def test_a_taken_name_or_detection_place_and_a_bad_name_or_kind_are_refused() -> None:
    with pytest.raises(ValueError, match="source 'prd' is already registered"):
        register(Source("prd", "x", "https://x", "text", 99, _fake_detect, _fake_parse))
    with pytest.raises(ValueError, match="source 'fakeagency': detect_order 10 is taken by 'thaigov'"):
        register(_fake_source(detect_order=10))
    with pytest.raises(ValueError, match="source name 'auto'"):
        register(Source("auto", "x", "https://x", "text", 99, _fake_detect, _fake_parse))
    with pytest.raises(ValueError, match="source name 'Fake Agency'"):
        register(Source("Fake Agency", "x", "https://x", "text", 99, _fake_detect, _fake_parse))
    with pytest.raises(ValueError, match="kind 'pdf' is not one of text, html, feed, wordpress"):
        register(Source("pdfs", "x", "https://x", "pdf", 99, _fake_detect, _fake_parse))
    assert source_names() == ("feed", "generic", "html", "prd", "thaigov", "wordpress")


def test_a_registered_source_is_described_in_the_package(fake: Source) -> None:
    assert source_descriptions([FAKE, "prd"]) == [
        {"title": "สำนักงานทดลอง (Fake Agency)", "path": "https://fake.example.go.th"},
        {"title": "กรมประชาสัมพันธ์ (Government Public Relations Department)", "path": "https://www.prd.go.th"},
    ]


def test_unknown_format_names_every_registered_source(fake: Source) -> None:
    outcome, = transform_text("ข้อความที่ไม่ใช่ข่าว\n", "utf-8", "notes.txt")
    assert (outcome.problem.reason, outcome.problem.details) == ("unknown-format", {})
    assert outcome.problem.message == ("the text matches no known release format (fakeagency, feed, generic, html, prd, thaigov, wordpress); "
                                       "choose one with --source if you know it")


def test_a_source_no_module_registered_is_an_unknown_source_problem() -> None:
    # The CLI cannot pass one (click refuses it); a configuration or a caller of the library can.
    outcome, = transform_text(THAIGOV_TEXT, "utf-8", "a.txt", "nosuch")
    assert outcome.release is None
    assert (outcome.problem.reason, outcome.problem.stage, outcome.problem.details) == ("unknown-source", "transform", {})
    assert outcome.problem.message == "unknown source 'nosuch'; use one of feed, generic, html, prd, thaigov, wordpress"


def test_build_and_init_offer_a_registered_source(fake: Source) -> None:
    for command in ("build", "init"):
        assert "[auto|fakeagency|feed|generic|html|prd|thaigov|wordpress]" in run(command, "--help").stdout, command
    refused = run("build", "--source", "nosuch", "x")
    assert refused.exit_code == 2
    assert "'nosuch' is not one of 'auto', 'fakeagency', 'feed', 'generic', 'html', 'prd', 'thaigov', 'wordpress'" in refused.stderr


def test_without_the_module_its_name_is_not_offered() -> None:
    assert "[auto|feed|generic|html|prd|thaigov|wordpress]" in run("build", "--help").stdout
    assert run("build", "--source", FAKE, "x").exit_code == 2


INIT_FLAGS = ["--title", "ข่าวทดลอง", "--title-en", "Fake news", "--description", "ข่าวของสำนักงานทดลอง",
              "--org", "fake-agency", "--org-title", "สำนักงานทดลอง", "--maintainer", "ทีมข้อมูล",
              "--maintainer-email", "data@fake.example.go.th", "--keyword", "ข่าว", "--no-input"]


def test_init_writes_a_registered_source_and_the_configuration_accepts_it_only_while_registered(
        fake: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases" / "one.txt").write_text(FAKE_TEXT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CKAN_URL", "http://127.0.0.1:9")  # nothing answers: the bundled GDC schema is used
    result = run("init", "fake-news", *INIT_FLAGS, "--input", "releases", "--source", FAKE)
    assert result.exit_code == 0, result.stderr
    assert 'source = "fakeagency"' in (tmp_path / "datasets.toml").read_text(encoding="utf-8")
    assert load_config(tmp_path / "datasets.toml")["fake-news"].source == FAKE

    unregister(FAKE)
    try:
        with pytest.raises(ConfigError) as refused:
            load_config(tmp_path / "datasets.toml")
        assert "[datasets.fake-news]: source 'fakeagency' is not one of auto, feed, generic, html, prd, thaigov, wordpress" in refused.value.problems
    finally:
        register(fake)


def test_thaigov_reads_the_category_from_the_file_name_in_the_context() -> None:
    in_folder = SourceContext("data/2023/01/03/ข่าวนายกรัฐมนตรี_2_67335927-50ad-4089-8394-412ca011c0f1.txt")
    assert thaigov.parse(THAIGOV_TEXT, in_folder).category == "ข่าวนายกรัฐมนตรี"
    assert thaigov.parse(THAIGOV_TEXT, SourceContext("notes.txt")).category is None


def test_the_readme_lists_every_registered_source() -> None:
    from conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^- \*\*`([a-z][a-z0-9-]*)`\*\* — ", readme, re.MULTILINE)
    assert sorted(listed) == list(source_names()), (
        "README.md: the list of formats under 'detected per file (`--source auto`) or forced' must have one "
        f"'- **`NAME`** — what it reads' bullet per registered source: {list(source_names())}")
    choices = "\\|".join(("auto", *source_names()))
    assert f"[--source {choices}]" in readme, f"README.md: the commands table's ogd build line: [--source {choices}]"
    config_row = next(line for line in readme.splitlines() if line.startswith("| `source` | no |"))
    for name in ("auto", *source_names()):
        assert f"`{name}`" in config_row, f"README.md: the datasets.toml table's `source` row does not name `{name}`"
