"""Site profiles (issue 15): a profile in datasets.toml fixes a page the generic reader gets wrong, reaches
the worker processes, keys the incremental cache; a bad profile is refused with the table and key named.
Expectations are written here by hand (the body: the labelled page text of ../shared/corpus/pages/066.txt)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO, SHARED, TESTS
from pipeline.build.executor import transform_all
from pipeline.build.run import build_dataset
from pipeline.config import ad_hoc_dataset, load_config
from pipeline.extract.decode import decode
from pipeline.extract.discover import discover
from pipeline.problems import ConfigError
from pipeline.sources.profiles import SiteProfile, bundled_profiles, combine, parse_profiles
from pipeline.transform import transform_text

PAGE = TESTS / "html_pages" / "custom-cms-profile.html"
TITLE = "กรมอนามัย แนะสร้างสุขอนามัยที่ดี เสริมเกราะป้องกัน ลดเสี่ยงโรค"
LABELLED_LINES = (SHARED / "corpus" / "pages" / "066.txt").read_text(encoding="utf-8").splitlines()
BODY = LABELLED_LINES[4].strip() + "\n" + LABELLED_LINES[6].strip()
PROFILE_TOML = '''
[[profiles]]
name = "anamai"
host = "multimedia.anamai.moph.go.th"
title = "div.news-head"
date = "li.news-posted"
body = "div.news-body"
drop = [".share", ".sidebar"]
agency = "กรมอนามัย"
'''
DATASET_TOML = '''
[defaults.gdc]
data_type = "ข้อมูลระเบียน"
objective = ["เพื่อการให้บริการประชาชน"]
update_frequency_unit = "วัน"
update_frequency_interval = "1"
geo_coverage = "ประเทศ"
data_format = ["CSV"]
data_category = "ข้อมูลสาธารณะ"
data_classification = "เปิดเผย"
data_language = ["ไทย"]
allow_harvest = "True"
accessible_condition = "เผยแพร่ต่อสาธารณะ"
data_support = "ไม่มี"
data_collect = "ไม่มี"
high_value_dataset = "False"
reference_data = "False"
data_source = "anamai.moph.go.th"

[datasets.anamai-news]
title = "ข่าวกรมอนามัย"
title_en = "Department of Health news"
description = "Releases of the Department of Health"
organization = "anamai"
license = "CC-BY-4.0"
inputs = ["in"]
maintainer = "Data team"
maintainer_email = "data@anamai.example.go.th"
keywords = ["ข่าว"]
'''


def _config(tmp_path: Path, profiles: str = PROFILE_TOML, dataset: str = DATASET_TOML) -> Path:
    path = tmp_path / "datasets.toml"
    path.write_text(profiles + dataset, encoding="utf-8")
    return path


def _read(profiles=None):
    text, encoding = decode(PAGE.read_bytes())
    return transform_text(text, encoding, PAGE.name, profiles=profiles)


def test_the_generic_reader_gets_this_custom_cms_page_wrong() -> None:
    # Its <title> and only <h1> are the site's name: no headline, so no date line either.
    outcome, = _read()
    assert outcome.problem is not None and outcome.problem.reason == "not-a-release"


def test_a_profile_in_datasets_toml_reads_the_page_right(tmp_path: Path) -> None:
    dataset = load_config(_config(tmp_path))["anamai-news"]
    outcome, = _read(dataset.site_profiles())
    release = outcome.release
    assert outcome.problem is None and release.item is None
    assert release.title == TITLE
    assert (release.published_date, release.published_date_text, release.date_source) == (
        dt.date(2023, 12, 14), "14 ธันวาคม 2566", "metadata")
    assert release.body == BODY
    assert (release.agency, release.office) == ("กรมอนามัย", None)
    assert release.source_url == "https://multimedia.anamai.moph.go.th/news/141266/"


def test_drop_lines_and_byline() -> None:
    html = ("<!DOCTYPE html><html><head><title>ศูนย์ข่าว</title>"
            "<link rel='canonical' href='https://news.example.go.th/n/1'></head><body>"
            "<h2 class='topic'>จังหวัดจัดประชุมคณะกรรมการขับเคลื่อนการพัฒนาจังหวัด</h2>"
            "<span class='when'>วันที่ 12 มกราคม 2568</span><div class='text'>"
            "<p>ผู้ว่าราชการจังหวัดเป็นประธานการประชุมคณะกรรมการขับเคลื่อนการพัฒนาจังหวัด เพื่อติดตามความก้าวหน้าของโครงการ</p>"
            "<p>ข่าว/ภาพ : สมชาย ใจดี</p><p>#ข่าวจังหวัด</p></div></body></html>")
    profiles = combine((SiteProfile(hosts=("news.example.go.th",), title="h2.topic", date="span.when", body="div.text",
                                    byline="div.text p:nth-child(2)", drop_lines=(r"^#\S+$",)),))
    outcome, = transform_text(html, "utf-8", "n1.html", profiles=profiles)
    release = outcome.release
    assert release.title == "จังหวัดจัดประชุมคณะกรรมการขับเคลื่อนการพัฒนาจังหวัด"
    assert release.byline == "ข่าว/ภาพ : สมชาย ใจดี"
    assert release.body == ("ผู้ว่าราชการจังหวัดเป็นประธานการประชุมคณะกรรมการขับเคลื่อนการพัฒนาจังหวัด "
                            "เพื่อติดตามความก้าวหน้าของโครงการ")
    assert release.published_date == dt.date(2025, 1, 12)


@pytest.mark.parametrize(("pattern", "host", "matches"), [
    ("*.prd.go.th", "phichit.prd.go.th", True),
    ("*.prd.go.th", "prd.go.th", False),  # as in agencies.json: "*." is a sub-host
    ("*.prd.go.th", "phichit.prd.go.th.example.com", False),
    ("mfa.go.th", "mfa.go.th", True),
    ("mfa.go.th", "en.mfa.go.th", False),
])
def test_host_patterns(pattern: str, host: str, matches: bool) -> None:
    assert SiteProfile(hosts=(pattern,), title="h1").matches(host) is matches


def test_the_first_matching_profile_wins_and_www_is_ignored() -> None:
    team = SiteProfile(hosts=("mfa.go.th",), title="h2.team")
    other = SiteProfile(hosts=("*.go.th",), title="h2.other")
    profiles = combine((team, other))
    assert profiles.for_url("https://www.mfa.go.th/th/content/x") is team
    assert profiles.for_url("https://moe.go.th/x") is other
    assert profiles.for_url(None) is None


@pytest.mark.parametrize(("toml", "problem"), [
    ('[[profiles]]\nhost = "a.go.th"\ntitel = "h1"\n',
     "[[profiles]] #1: unknown key 'titel' (known: name, host, title, date, body, byline, items, drop, drop_lines, "
     "agency, office)"),
    ('[[profiles]]\ntitle = "h1"\n',
     "[[profiles]] #1: host is required: a host name (\"mfa.go.th\") or \"*.\" and a domain (\"*.prd.go.th\"), "
     "or a list of them"),
    ('[[profiles]]\nname = "x"\nhost = "https://a.go.th/news"\ntitle = "h1"\n',
     "[[profiles]] #1 (x): host 'https://a.go.th/news' is not a host name (lower case, no scheme or path: "
     "\"news.example.go.th\" or \"*.example.go.th\")"),
    ('[[profiles]]\nhost = "a.go.th"\nbody = "div["\n',
     "[[profiles]] #1: body: 'div[' is not a CSS selector (Can't parse CSS selector.)"),
    ('[[profiles]]\nhost = "a.go.th"\ndrop = ["nav", "p >"]\n',
     "[[profiles]] #1: drop: 'p >' is not a CSS selector (Can't parse CSS selector.)"),
    ('[[profiles]]\nhost = "a.go.th"\ndrop_lines = "(unclosed"\n',
     "[[profiles]] #1: drop_lines: '(unclosed' is not a regular expression (missing ), unterminated subpattern "
     "at position 0)"),
    ('[[profiles]]\nhost = "a.go.th"\noffice = "สำนักงาน"\n',
     "[[profiles]] #1: office needs agency (the office is a part of the agency)"),
    ('[[profiles]]\nhost = "a.go.th"\n',
     "[[profiles]] #1: a profile must change something: give at least one of title, date, body, byline, items, "
     "drop, drop_lines, agency, office"),
    ('[[profiles]]\nhost = "a.go.th"\ntitle = 3\n', "[[profiles]] #1: title must be a non-empty string"),
    ('[[profiles]]\nhost = "a.go.th"\ndrop = [1]\n', "[[profiles]] #1: drop must be a string or a list of strings"),
    ('profiles = "h1"\n',
     '[[profiles]] must be an array of tables: [[profiles]] host = "news.example.go.th" title = "h2.topic"'),
])
def test_a_bad_profile_is_refused_naming_its_table_and_key(tmp_path: Path, toml: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_config(tmp_path, toml))
    assert raised.value.problems == [problem]


def test_every_bad_profile_is_reported_at_once_with_the_datasets_problems(tmp_path: Path) -> None:
    toml = '[[profiles]]\nhost = "a.go.th"\ntitle = "h1"\n[[profiles]]\nhost = "B"\ntitle = "h1"\n'
    with pytest.raises(ConfigError) as raised:
        load_config(_config(tmp_path, toml, DATASET_TOML + "max_quarantine_ratio = 2\n"))
    assert raised.value.problems == [
        "[[profiles]] #2: host 'B' is not a host name (lower case, no scheme or path: \"news.example.go.th\" or "
        "\"*.example.go.th\")",
        "[datasets.anamai-news]: max_quarantine_ratio must be a number from 0 to 1",
    ]


def test_a_profile_under_a_dataset_is_pointed_to_the_top_of_the_file(tmp_path: Path) -> None:
    dataset = DATASET_TOML + '[[datasets.anamai-news.profiles]]\nhost = "a.go.th"\ntitle = "h1"\n'
    with pytest.raises(ConfigError) as raised:
        load_config(_config(tmp_path, "", dataset))
    assert raised.value.problems == [
        "[datasets.anamai-news]: site profiles go at the top of the file, as [[profiles]] tables (they describe "
        "websites and apply to every dataset; README: Site profiles)"]


def test_an_ad_hoc_build_uses_the_profiles_of_the_configuration(tmp_path: Path) -> None:
    dataset = ad_hoc_dataset("adhoc", [tmp_path], "auto", 1.0, config_path=_config(tmp_path))
    assert [profile.name for profile in dataset.profiles] == ["anamai"]


def test_the_bundled_profiles_are_valid_and_ship_with_the_package() -> None:
    data = json.loads((REPO / "pipeline" / "sources" / "profiles.json").read_text(encoding="utf-8"))
    profiles, problems = parse_profiles(data["profiles"], "profiles.json profiles")
    assert problems == []
    assert bundled_profiles() == profiles
    assert '"sources/profiles.json"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")


def test_the_profiles_reach_the_worker_processes(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for number in range(70):  # transform_all uses processes from 64 inputs on
        shutil.copy(PAGE, folder / f"page-{number:02d}.html")
    _, files = discover([folder])
    profiles = load_config(_config(tmp_path))["anamai-news"].site_profiles()
    outcomes = [outcome for item_outcomes in transform_all(files, "auto", workers=2, profiles=profiles)
                for outcome in item_outcomes]
    assert len(outcomes) == 70
    assert {outcome.row["title"].decode("utf-8") if outcome.row else outcome.problem.reason
            for outcome in outcomes} == {TITLE}


def test_a_changed_profile_invalidates_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PAGE, folder / "page.html")
    (folder / "other.html").write_bytes((TESTS / "html_pages" / "wordpress.html").read_bytes())
    dataset = load_config(_config(tmp_path))["anamai-news"]
    out = tmp_path / "out"
    first = build_dataset(dataset, out)
    again = build_dataset(dataset, out)
    assert (first.counts["records"], first.counts["reused"], again.counts["reused"]) == (2, 0, 2)
    assert json.loads((out / "datapackage.json").read_text(encoding="utf-8"))["x_ogd"]["profiles_sha256"] == \
        dataset.site_profiles().digest
    changed = dataclasses.replace(dataset, profiles=(dataclasses.replace(dataset.profiles[0], agency="กรมอนามัย (แก้)"),))
    rebuilt = build_dataset(changed, out)
    assert (rebuilt.counts["records"], rebuilt.counts["reused"]) == (2, 0)
    assert rebuilt.build_report.reuse.copy_refused == ("the site profiles ([[profiles]] or the bundled ones) changed "
                                                       "since the previous build")


def test_the_readme_example_is_a_valid_profile() -> None:
    import tomllib
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Site profiles"):]
    start = section.index("```toml\n") + len("```toml\n")
    example = tomllib.loads(section[start:section.index("```", start)])
    profiles, problems = parse_profiles(example["profiles"])
    assert problems == []
    assert (profiles[0].hosts, profiles[0].agency) == (("multimedia.anamai.moph.go.th",), "กรมอนามัย")
