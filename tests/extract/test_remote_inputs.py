"""Inputs on object storage: listed and read through fsspec (s3:// against moto's S3 server on 127.0.0.1),
accounted for as local inputs are, cached by their listing, and never a secret in the output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest

from conftest import REPO
from helpers import copy_thaigov, read_quarantine
from s3server import SECRET_KEY, S3Server, start_s3_server, stop_s3_server

import pipeline.extract.remote
from pipeline.build.run import build_dataset
from pipeline.config import ad_hoc_dataset, load_config

PREFIX = "releases/news"
URL = f"s3://{PREFIX}/"
MAX_BYTES = 300_000


@pytest.fixture(scope="module")
def s3() -> S3Server:
    server = start_s3_server()
    yield server
    stop_s3_server(server)


@pytest.fixture(scope="module")
def inputs(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """70 thaigov releases, an empty file, one too large, editor litter; the same files on S3 under PREFIX."""
    folder = tmp_path_factory.mktemp("remote") / "in"
    copy_thaigov(folder, 70, step=37)
    (folder / "thaigov" / "empty.txt").write_bytes(b"")
    (folder / "thaigov" / "huge.txt").write_bytes(b"x" * (MAX_BYTES + 1))
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / ".trash").mkdir()
    (folder / ".trash" / "old.txt").write_text("an old draft", encoding="utf-8")
    assert s3.upload(folder, PREFIX) == 70 + 4
    return folder


@pytest.fixture
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """This process reads s3:// as a deployed one would: credentials and endpoint from the environment
    (fsspec reads FSSPEC_S3_ENDPOINT_URL when it is imported: here it already is, so its config is set too)."""
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3.endpoint})
    return s3


def data_files(package: Path) -> dict[str, bytes]:
    return {name: (package / name).read_bytes()
            for name in ("data/releases.csv", "data/releases.parquet", "quarantine.jsonl")}


def test_a_build_from_s3_is_the_build_of_the_same_files(inputs: Path, s3_env: S3Server, tmp_path: Path) -> None:
    remote = build_dataset(ad_hoc_dataset("news", [URL], "auto", 1.0), tmp_path / "remote", workers=2,
                           max_input_bytes=MAX_BYTES)
    local = build_dataset(ad_hoc_dataset("news", [inputs], "auto", 1.0), tmp_path / "local", workers=2,
                          max_input_bytes=MAX_BYTES)
    assert remote.ok and local.ok
    assert remote.counts["records"] == 70 and remote.counts["inputs"] == 72
    assert remote.report["per_reason"] == {"empty-file": 1, "too-large": 1}
    # Hidden objects are skipped as hidden files are: a hidden prefix once, like a hidden folder.
    assert [(entry["path"], entry["reason"]) for entry in remote.report["skipped"]] == [
        (".DS_Store", "hidden"), (".trash", "hidden")]
    assert [(entry["path"], entry["reason"]) for entry in local.report["skipped"]] == [
        (".DS_Store", "hidden"), (".trash", "hidden")]
    assert remote.report["input_root"] == "s3://releases/news"
    assert data_files(tmp_path / "remote") == data_files(tmp_path / "local")
    quarantine = {entry["path"]: entry for entry in read_quarantine(tmp_path / "remote")}
    # The empty object is kept in the quarantine as a local file would be (the sha256 of no bytes).
    assert quarantine["thaigov/empty.txt"]["sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert (tmp_path / "remote" / quarantine["thaigov/empty.txt"]["kept_copy"]).read_bytes() == b""
    assert quarantine["thaigov/huge.txt"]["details"]["bytes"] == MAX_BYTES + 1


def test_unchanged_objects_are_reused_unread_and_a_changed_one_is_read_again(
        inputs: Path, s3_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = ad_hoc_dataset("news", [URL], "auto", 1.0)
    out = tmp_path / "pkg"
    assert build_dataset(dataset, out, workers=1, max_input_bytes=MAX_BYTES).ok

    real_read_url = pipeline.extract.remote.read_url
    read: list[str] = []

    def reading(url: str, *args: object) -> bytes:
        read.append(url)
        return real_read_url(url, *args)

    with monkeypatch.context() as patched:
        patched.setattr(pipeline.extract.remote, "read_url", reading)
        again = build_dataset(dataset, out, workers=1, max_input_bytes=MAX_BYTES)
    # Only the too-large object's bytes, for its quarantine copy (a local build copies such a file again too).
    assert read == [f"s3://{PREFIX}/thaigov/huge.txt"]
    # Every input but the too-large one, decided again each build (by its listed size: still not fetched).
    assert again.ok and again.counts["reused"] == 71
    assert again.report["per_reason"] == {"empty-file": 1, "too-large": 1}

    first = sorted(path for path in inputs.rglob("*.txt") if path.parent.name != ".trash" and "_" in path.name)[0]
    other = sorted(path for path in inputs.rglob("*.txt") if "_" in path.name)[-1]
    changed_key = f"{PREFIX}/{first.relative_to(inputs).as_posix()}"
    s3_env.filesystem().pipe_file(changed_key, other.read_bytes())  # another release's text under this name
    try:
        third = build_dataset(dataset, out, workers=1, max_input_bytes=MAX_BYTES)
    finally:
        s3_env.filesystem().pipe_file(changed_key, first.read_bytes())
    assert third.counts["reused"] == 70
    assert third.counts["duplicates"] == 1  # the same release as the one it was copied from


def test_the_cli_builds_from_s3_with_credentials_from_the_environment_and_never_shows_the_secret(
        inputs: Path, s3: S3Server, tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "build", URL, "--out", str(out),
                             "--max-input-bytes", str(MAX_BYTES), "--json"], cwd=tmp_path, capture_output=True,
                            text=True, env={**_clean_env(), **s3.env()}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["counts"]["records"] == 70
    assert SECRET_KEY not in result.stdout + result.stderr
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert written and not [path for path in written if SECRET_KEY.encode() in path.read_bytes()]


def test_inputs_here_and_on_object_storage_in_one_build_are_refused(inputs: Path, s3: S3Server,
                                                                    tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "build", URL, str(inputs), "--out",
                             str(tmp_path / "pkg")], cwd=tmp_path, capture_output=True, text=True,
                            env={**_clean_env(), **s3.env()}, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "inputs on this machine and on object storage in one build" in result.stderr
    assert not (tmp_path / "pkg").exists()


def test_a_url_under_which_nothing_is_stored_is_a_usage_error(inputs: Path, s3: S3Server, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "build", "s3://releases/nothing-here/", "--out",
                             str(tmp_path / "pkg")], cwd=tmp_path, capture_output=True, text=True,
                            env={**_clean_env(), **s3.env()}, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "error: input URL 's3://releases/nothing-here/' holds no object" in result.stderr


def test_datasets_toml_inputs_may_be_urls(tmp_path: Path) -> None:
    (tmp_path / "samples" / "thaigov").mkdir(parents=True)
    text = (REPO / "datasets.toml").read_text(encoding="utf-8")
    assert text.count('inputs = ["samples/thaigov"]') == 1
    (tmp_path / "datasets.toml").write_text(text.replace(
        'inputs = ["samples/thaigov"]', 'inputs = ["s3://releases/news/", "samples/thaigov", "file:///shared/news"]'),
        encoding="utf-8")
    dataset = load_config(tmp_path / "datasets.toml")["thaigov-news-sample"]
    # A URL as written (the workers read it); a path relative to the file.
    assert dataset.inputs == ("s3://releases/news/", (tmp_path / "samples" / "thaigov").resolve(),
                              "file:///shared/news")


def _clean_env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items()
            if not key.startswith(("AWS_", "FSSPEC_", "CKAN_", "OGD_DASK"))} | {"PYTHONPATH": str(REPO)}


def test_a_harvest_archive_on_s3_builds_as_the_same_archive_on_disk(s3_env: S3Server, tmp_path: Path) -> None:
    # A real harvest of the test web (pages, feeds, a sitemap...), kept on S3 as a team keeps its archive.
    sys.path.insert(0, str(REPO / "tests" / "builds"))
    from test_archive_build import FAST, build_web, harvest, sources_of

    sites = build_web()
    try:
        harvest(sources_of(sites), tmp_path / "archive", FAST)
    finally:
        sites["web"].close()
    s3_env.upload(tmp_path / "archive", "archives/web")
    remote = build_dataset(ad_hoc_dataset("web", ["s3://archives/web"], "auto", 1.0), tmp_path / "remote",
                           workers=2)
    local = build_dataset(ad_hoc_dataset("web", [tmp_path / "archive"], "auto", 1.0), tmp_path / "local",
                          workers=2)
    assert remote.ok and local.ok
    # Every record read from its WARC file on S3 (the index copied to the client), the same package.
    assert remote.report["archive"]["inputs"] == local.report["archive"]["inputs"] == {"pages": 35, "feeds": 0}
    assert remote.report["archive"]["not_inputs"] == local.report["archive"]["not_inputs"]
    assert data_files(tmp_path / "remote") == data_files(tmp_path / "local")
    again = build_dataset(ad_hoc_dataset("web", ["s3://archives/web"], "auto", 1.0), tmp_path / "remote", workers=2)
    assert again.counts["reused"] == 35 - again.counts["duplicates"]  # records known unchanged from the index
