"""ogd pull under misuse, faults and hostile servers (issue #11), against local stand-in servers on 127.0.0.1.

The real portal's side (publish, then pull; a private dataset) is in test_pull.py.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner, Result
from pull_servers import Server, closed_port_url, write_small_package

from pipeline.cli.main import cli

NAME = "pulltest-fake"
TOKEN = "pulltest-token-0123456789abcdef"  # a well-formed stand-in token: only the servers here ever see it


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_package(tmp_path_factory.mktemp("pull-package") / NAME, NAME)


@pytest.fixture
def portal(package: Path) -> Iterator[Server]:
    server = Server()
    server.publish(package, NAME)
    yield server
    server.close()


@pytest.fixture
def attacker() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


def pull(portal_url: str, out: Path | str, *extra: str, token: str | None = None) -> Result:
    env: dict[str, str | None] = {"CKAN_URL": portal_url, "CKAN_API_TOKEN": None, "PULLTEST_TOKEN": token,
                                  "OGD_PUBLISH_ATTEMPTS": "3", "OGD_PUBLISH_BACKOFF": "0"}
    args = ["pull", NAME, "--out", str(out), *extra]
    if token:
        args += ["--token-env", "PULLTEST_TOKEN"]
    result = CliRunner().invoke(cli, args, env=env)
    # Every outcome is a clear message with an exit code, never a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.endswith((".pulling", ".replaced")))


def package_files(package: Path) -> dict[str, bytes]:
    return {path: (package / path).read_bytes() for path in ("datapackage.json", "data/releases.csv", "data/releases.parquet")}


# --------------------------------------------------------------------------- the output folder


def test_a_new_folder_gets_the_verified_package(portal: Server, package: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    result = pull(portal.url, out, "--json")
    assert result.exit_code == 0, result.output
    assert tree(out) == package_files(package)
    assert json.loads(result.stdout)["ok"] is True
    assert leftovers(tmp_path) == []


def test_a_folder_with_other_files_is_refused_and_left_as_it_was(portal: Server, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes\n")
    result = pull(portal.url, out)
    assert result.exit_code == 2
    assert "not a data package" in result.stderr and "--force" in result.stderr
    assert tree(out) == {"notes.txt": b"my notes\n"}
    assert portal.seen == []  # refused before asking the portal anything
    assert leftovers(tmp_path) == []


def test_force_replaces_a_folder_of_other_files(portal: Server, package: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes\n")
    result = pull(portal.url, out, "--force")
    assert result.exit_code == 0, result.output
    assert tree(out) == package_files(package)


def test_a_package_of_another_dataset_is_refused(portal: Server, tmp_path: Path) -> None:
    out = tmp_path / "other"
    out.mkdir()
    (out / "datapackage.json").write_text(json.dumps({"name": "someone-elses", "resources": []}))
    before = tree(out)
    result = pull(portal.url, out)
    assert result.exit_code == 2
    assert "'someone-elses'" in result.stderr and NAME in result.stderr and "--force" in result.stderr
    assert tree(out) == before
    assert leftovers(tmp_path) == []


def test_a_previous_copy_with_a_file_of_the_users_is_refused(portal: Server, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    assert pull(portal.url, out).exit_code == 0
    (out / "analysis.txt").write_text("mine\n")
    before = tree(out)
    result = pull(portal.url, out)
    assert result.exit_code == 2 and "analysis.txt" in result.stderr
    assert tree(out) == before


def test_a_file_added_to_the_folder_during_the_download_is_not_deleted(portal: Server, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    assert pull(portal.url, out).exit_code == 0
    portal.faults["data/releases.parquet"] = [lambda: (out / "late.txt").write_text("written meanwhile\n")]
    result = pull(portal.url, out)
    assert result.exit_code == 2 and "late.txt" in result.stderr
    assert (out / "late.txt").read_text() == "written meanwhile\n"
    assert leftovers(tmp_path) == []


def test_a_previous_copy_and_a_built_package_are_replaced(portal: Server, package: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    assert pull(portal.url, out).exit_code == 0
    again = pull(portal.url, out)
    assert again.exit_code == 0, again.output
    assert "replaced the previous copy" in again.stderr
    assert tree(out) == package_files(package)
    built = tmp_path / "built"
    shutil.copytree(package, built)  # as `ogd build` wrote it: with report.json and quarantine.jsonl
    assert pull(portal.url, built).exit_code == 0
    assert tree(built) == package_files(package)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("out, what", [(".", "the current folder"), ("..", "a parent of the current folder"),
                                       ("../..", "a parent of the current folder")])
def test_the_current_folder_and_its_parents_are_refused(portal: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        out: str, what: str) -> None:
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    (here / "keep.txt").write_text("keep\n")
    monkeypatch.chdir(here)
    for force in ((), ("--force",)):
        result = pull(portal.url, out, *force)
        assert result.exit_code == 2
        assert what in result.stderr and "--out ./NAME" in result.stderr
    assert (here / "keep.txt").read_text() == "keep\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "keep.txt"]
    assert portal.seen == []


def test_a_file_or_a_link_as_out_is_refused(portal: Server, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert pull(portal.url, tmp_path / "file").exit_code == 2
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = pull(portal.url, tmp_path / "link")
    assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert (tmp_path / "file").read_text() == "x" and (tmp_path / "link").is_symlink()


def test_an_unverified_pull_keeps_the_old_copy_and_the_download_beside_it(portal: Server, package: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    assert pull(portal.url, out).exit_code == 0
    verified = tree(out)
    csv = bytearray(portal.files["data/releases.csv"])
    csv[-2:-1] = b"#"  # same size, other bytes: the portal's hash no longer matches
    portal.files["data/releases.csv"] = bytes(csv)
    result = pull(portal.url, out, "--json")
    assert result.exit_code == 3
    assert tree(out) == verified
    kept = tmp_path / "copy.unverified"
    assert (kept / "data" / "releases.csv").read_bytes() == bytes(csv)
    assert "NOT verified" in result.stderr and str(kept) in result.stderr and "was not changed" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is False and summary["folder"] == str(kept)
    assert any("releases.csv" in m and "hash" in m for m in summary["mismatches"])
    assert leftovers(tmp_path) == []


def test_a_second_pull_into_the_same_folder_is_refused_while_one_runs(portal: Server, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    staging = tmp_path / ".copy.pulling"
    staging.mkdir()
    (staging / "partial").write_text("the other pull's file")
    handle = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the other pull holds it
        result = pull(portal.url, out)
    finally:
        os.close(handle)
    assert result.exit_code == 7 and "another ogd pull" in result.stderr
    assert (staging / "partial").read_text() == "the other pull's file"
    assert not out.exists()
    # Once that pull is gone, its leftover staging folder is ours to clear.
    assert pull(portal.url, out).exit_code == 0
    assert leftovers(tmp_path) == []


def test_a_swap_cut_short_by_a_killed_pull_is_undone_by_the_next(portal: Server, package: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    assert pull(portal.url, out).exit_code == 0
    verified = tree(out)
    out.rename(tmp_path / ".copy.replaced")  # killed between its two renames: the old copy is aside, DIR is gone
    del portal.files["data/releases.parquet"]  # and the next pull fails
    assert pull(portal.url, out).exit_code == 3
    assert tree(out) == verified
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- downloads


def test_a_failing_download_is_retried(portal: Server, package: Path, tmp_path: Path) -> None:
    portal.faults["data/releases.csv"] = [500, "drop"]
    portal.faults["data/releases.parquet"] = [429]
    out = tmp_path / "copy"
    result = pull(portal.url, out)
    assert result.exit_code == 0, result.output
    assert len(portal.requests_for("/files/data/releases.csv")) == 3
    assert len(portal.requests_for("/files/data/releases.parquet")) == 2
    assert tree(out) == package_files(package)


def test_a_download_that_keeps_failing_is_exit_5_and_leaves_nothing(portal: Server, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    assert pull(portal.url, out).exit_code == 0
    before = tree(out)
    portal.faults["data/releases.parquet"] = [503, 503, 503]
    result = pull(portal.url, out)
    assert result.exit_code == 5
    assert "releases.parquet" in result.stderr and "HTTP 503; after 3 attempt(s)" in result.stderr
    assert tree(out) == before
    assert leftovers(tmp_path) == [] and not (tmp_path / "copy.unverified").exists()


def test_a_file_server_that_never_answers_is_given_up_after_the_timeout(portal: Server, tmp_path: Path) -> None:
    portal.faults["data/releases.csv"] = ["hang", "hang", "hang"]
    result = pull(portal.url, tmp_path / "copy", "--timeout", "0.2")
    assert result.exit_code == 5
    assert "releases.csv" in result.stderr and "ReadTimeout" in result.stderr and "3 attempt(s)" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_unreachable_file_server_is_exit_5_and_leaves_nothing(portal: Server, tmp_path: Path) -> None:
    portal.datasets[NAME]["resources"][0]["url"] = closed_port_url() + "/files/data/releases.csv"
    result = pull(portal.url, tmp_path / "copy")
    assert result.exit_code == 5 and "ConnectionError" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_unreachable_portal_is_exit_5(tmp_path: Path) -> None:
    result = pull(closed_port_url(), tmp_path / "copy")
    assert result.exit_code == 5 and "could not be reached" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_missing_file_is_exit_3_naming_the_resource(portal: Server, tmp_path: Path) -> None:
    del portal.files["data/releases.parquet"]
    result = pull(portal.url, tmp_path / "copy")
    assert result.exit_code == 3
    assert "releases.parquet" in result.stderr and "HTTP 404" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["declared length", "streamed"])
def test_a_download_far_larger_than_declared_is_stopped(portal: Server, tmp_path: Path, how: str) -> None:
    declared = len(portal.files["data/releases.csv"])
    if how == "streamed":  # no Content-Length: stopped while reading, at the declared size + 1 MiB
        portal.faults["data/releases.csv"] = [("stream", declared + (8 << 20))]
    else:
        portal.files["data/releases.csv"] = b"x" * (declared + (3 << 20))
    result = pull(portal.url, tmp_path / "copy")
    assert result.exit_code == 3
    assert "releases.csv" in result.stderr and f"the {declared} bytes the portal declares" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_without_a_declared_size_the_descriptor_bounds_the_download(portal: Server, package: Path, tmp_path: Path) -> None:
    csv = next(r for r in portal.datasets[NAME]["resources"] if r["name"] == "releases.csv")
    del csv["size"]
    described = json.loads((package / "datapackage.json").read_text())["resources"][0]["bytes"]
    portal.faults["data/releases.csv"] = [("stream", described + (8 << 20))]
    result = pull(portal.url, tmp_path / "copy")
    assert result.exit_code == 3
    assert f"the {described} bytes its datapackage.json declares" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_empty_folder_is_used(portal: Server, package: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    result = pull(portal.url, out)
    assert result.exit_code == 0 and "replaced" not in result.stderr
    assert tree(out) == package_files(package)


def test_a_resource_url_that_is_not_http_is_refused(portal: Server, tmp_path: Path) -> None:
    portal.datasets[NAME]["resources"][1]["url"] = "file:///etc/passwd"
    result = pull(portal.url, tmp_path / "copy")
    assert result.exit_code == 3 and "file:///etc/passwd" in result.stderr and "http(s)" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the token


def test_the_origin_rule_pull_sends_the_token_by() -> None:
    from pipeline.ckan.client import same_origin

    assert same_origin("http://Portal.example:80/a", "http://portal.example/b")
    assert same_origin("https://portal.example:443/a", "https://portal.example")
    assert not same_origin("http://portal.example/a", "https://portal.example/a")
    assert not same_origin("http://127.0.0.1:5050/", "http://127.0.0.1:5051/")
    assert not same_origin("http://portal.example.evil.test/", "http://portal.example/")
    assert not same_origin("http://portal.example@evil.test/", "http://portal.example/")


def test_the_token_goes_to_the_portal_only(portal: Server, attacker: Server, package: Path, tmp_path: Path) -> None:
    resources = portal.datasets[NAME]["resources"]
    csv = next(r for r in resources if r["name"] == "releases.csv")
    attacker.files["data/releases.csv"] = portal.files["data/releases.csv"]
    attacker.files["data/releases.parquet"] = portal.files["data/releases.parquet"]
    csv["url"] = f"{attacker.url}/files/data/releases.csv"  # an editor pointed the resource at their server
    portal.faults["data/releases.parquet"] = [("redirect", f"{attacker.url}/files/data/releases.parquet")]
    result = pull(portal.url, tmp_path / "copy", token=TOKEN)
    assert result.exit_code == 0, result.output
    assert tree(tmp_path / "copy") == package_files(package)
    assert [s.path for s in attacker.seen] == ["/files/data/releases.csv", "/files/data/releases.parquet"]
    for seen in attacker.seen:
        assert "Authorization" not in seen.headers and TOKEN not in json.dumps(seen.headers)
    # The portal's own origin did get it: the API call, its own file, and the request it redirected.
    assert all(seen.headers.get("Authorization") == TOKEN for seen in portal.seen)
    assert {s.path for s in portal.seen} == {"/api/action/package_show", "/files/datapackage.json",
                                             "/files/data/releases.parquet"}
    assert TOKEN not in result.output


def test_a_redirect_back_to_the_portal_after_leaving_it_carries_no_token(portal: Server, attacker: Server, tmp_path: Path) -> None:
    portal.faults["data/releases.csv"] = [("redirect", f"{attacker.url}/files/bounce"), None]
    attacker.faults["bounce"] = [("redirect", f"{portal.url}/files/data/releases.csv")]
    result = pull(portal.url, tmp_path / "copy", token=TOKEN)
    assert result.exit_code == 0, result.output
    csv_requests = portal.requests_for("/files/data/releases.csv")
    assert [s.headers.get("Authorization") for s in csv_requests] == [TOKEN, None]
    assert all("Authorization" not in s.headers for s in attacker.seen)


def test_anonymous_unless_a_token_is_given_and_the_source_is_said(portal: Server, tmp_path: Path) -> None:
    anonymous = pull(portal.url, tmp_path / "one")
    assert anonymous.exit_code == 0
    assert f"portal {portal.url} (from CKAN_URL); token: none (anonymous)" in anonymous.stderr
    assert all("Authorization" not in s.headers for s in portal.seen)
    with_token = pull(portal.url, tmp_path / "two", token=TOKEN)
    assert with_token.exit_code == 0
    assert "token: PULLTEST_TOKEN" in with_token.stderr and TOKEN not in with_token.output
    other = Server()
    try:
        by_option = CliRunner().invoke(cli, ["pull", NAME, "--out", str(tmp_path / "three"), "--url", portal.url],
                                       env={"CKAN_URL": other.url, "CKAN_API_TOKEN": None})
    finally:
        other.close()
    assert by_option.exit_code == 0, by_option.output
    assert f"portal {portal.url} (from --url)" in by_option.stderr and other.seen == []


def test_token_env_must_name_a_set_variable_and_a_token_in_its_place_is_not_echoed(portal: Server, tmp_path: Path) -> None:
    unset = CliRunner().invoke(cli, ["pull", NAME, "--out", str(tmp_path / "x"), "--token-env", "PULLTEST_UNSET"],
                               env={"CKAN_URL": portal.url, "PULLTEST_UNSET": None})
    assert unset.exit_code == 2 and "PULLTEST_UNSET (--token-env) is not set" in unset.stderr
    pasted = "eyJhbGciOiJIUzI1NiJ9.pulltest.secret-part"
    misused = CliRunner().invoke(cli, ["pull", NAME, "--out", str(tmp_path / "x"), "--token-env", pasted],
                                 env={"CKAN_URL": portal.url})
    assert misused.exit_code == 2 and "NAME of an environment variable" in misused.stderr
    assert pasted not in misused.output
    assert portal.seen == []


def test_a_private_dataset_without_a_token_is_exit_4(portal: Server, package: Path, tmp_path: Path) -> None:
    portal.private.add(NAME)
    result = pull(portal.url, tmp_path / "copy")
    assert result.exit_code == 4
    assert "is private" in result.stderr and "--token-env" in result.stderr
    assert pull(portal.url, tmp_path / "copy", token=TOKEN).exit_code == 0


def test_a_private_dataset_the_token_may_not_read_is_exit_4_as_in_publish(portal: Server, tmp_path: Path) -> None:
    portal.private.add(NAME)
    portal.readers = {"another-token-0123456789abcdef"}
    result = pull(portal.url, tmp_path / "copy", token=TOKEN)
    assert result.exit_code == 4, result.output
    assert f"error: dataset {NAME!r} on {portal.url} is private and this token may not read it" in result.stderr
    assert not (tmp_path / "copy").exists()


def test_quiet_pull_prints_nothing_but_json_and_the_progress_callback_counts_every_byte(
        portal: Server, package: Path, tmp_path: Path) -> None:
    quiet = pull(portal.url, tmp_path / "quiet", "-q", "--json")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout)["ok"] is True

    from pipeline.ckan.client import PortalClient
    from pipeline.ckan.pull import pull_dataset

    seen: list[tuple[str, int, int]] = []
    pull_dataset(PortalClient(portal.url, None, attempts=1, backoff=0), NAME, tmp_path / "copy",
                 progress=lambda what, done, total: seen.append((what, done, total)))
    sizes = sum((package / path).stat().st_size for path in ("datapackage.json", "data/releases.csv",
                                                            "data/releases.parquet"))
    assert {what for what, _, _ in seen} == {"bytes"}
    assert seen[-1] == ("bytes", sizes, sizes)  # the portal declares each size (stand-in: as publish writes them)


# --------------------------------------------------------------------------- answers that are not CKAN's


@pytest.mark.parametrize("api, expected", [
    (("redirect", "http://127.0.0.1:9/login"), "HTTP 302 to http://127.0.0.1:9/login, an empty answer"),
    ("html404", "HTTP 404, an HTML page"),
    ("html200", "HTTP 200, an HTML page"),
    ("badjson", "HTTP 200, JSON that is not a CKAN API answer"),
])
def test_an_address_that_is_not_a_ckan_api_is_a_clear_error(portal: Server, tmp_path: Path, api: Any, expected: str) -> None:
    portal.api = api
    result = pull(portal.url, tmp_path / "copy")
    assert result.exit_code == 2
    assert f"the address {portal.url} does not answer like a CKAN API" in result.stderr
    assert expected in result.stderr and "check CKAN_URL" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_dataset_answer_that_is_not_a_ckan_dataset_is_a_clear_error(portal: Server, tmp_path: Path) -> None:
    portal.datasets[NAME] = ["not", "a", "dataset"]  # type: ignore[assignment]
    result = pull(portal.url, tmp_path / "copy")
    assert result.exit_code == 2 and "does not answer like a CKAN API" in result.stderr


def test_a_descriptor_naming_files_elsewhere_is_not_validated_nor_followed(portal: Server, attacker: Server, tmp_path: Path) -> None:
    descriptor = json.loads(portal.files["datapackage.json"])
    descriptor["resources"].append({"name": "elsewhere", "path": f"{attacker.url}/files/x.csv"})
    changed = json.dumps(descriptor).encode()
    portal.files["datapackage.json"] = changed
    entry = next(r for r in portal.datasets[NAME]["resources"] if r["name"] == "datapackage.json")
    entry["size"], entry["hash"] = len(changed), "sha256:" + hashlib.sha256(changed).hexdigest()
    result = pull(portal.url, tmp_path / "copy")
    assert result.exit_code == 3 and "named in datapackage.json but not a resource" in result.stderr
    assert attacker.seen == []
    assert not (tmp_path / "copy").exists() and (tmp_path / "copy.unverified").is_dir()


# --------------------------------------------------------------------------- review of the #11 fixes


def test_ckan_api_token_meant_for_ckan_url_is_not_sent_to_another_url(portal: Server, tmp_path: Path) -> None:
    elsewhere = closed_port_url()  # the portal CKAN_API_TOKEN is meant for: never contacted here
    result = CliRunner().invoke(cli, ["pull", NAME, "--out", str(tmp_path / "copy"), "--url", portal.url],
                                env={"CKAN_URL": elsewhere, "CKAN_API_TOKEN": TOKEN, "PULLTEST_TOKEN": None})
    assert result.exit_code == 0, result.output
    assert portal.seen and all("Authorization" not in seen.headers for seen in portal.seen)
    assert (f"token: none (anonymous) (CKAN_API_TOKEN is for CKAN_URL {elsewhere}, not sent to another portal; "
            "give --token-env VARIABLE to send a token there)") in result.stderr
    assert TOKEN not in result.output
    # An explicit --token-env always applies to the --url given.
    named = CliRunner().invoke(cli, ["pull", NAME, "--out", str(tmp_path / "two"), "--url", portal.url,
                                     "--token-env", "PULLTEST_TOKEN"],
                               env={"CKAN_URL": elsewhere, "CKAN_API_TOKEN": TOKEN, "PULLTEST_TOKEN": TOKEN})
    assert named.exit_code == 0, named.output
    assert portal.requests_for("/api/action/package_show")[-1].headers.get("Authorization") == TOKEN


def test_ckan_url_unset_the_token_goes_to_url_and_that_is_said(portal: Server, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["pull", NAME, "--out", str(tmp_path / "copy"), "--url", portal.url],
                                env={"CKAN_URL": None, "CKAN_API_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert "token: CKAN_API_TOKEN (CKAN_URL is unset: CKAN_API_TOKEN is sent to --url)" in result.stderr
    assert portal.requests_for("/api/action/package_show")[0].headers.get("Authorization") == TOKEN


def test_an_empty_token_pulls_anonymously_with_a_note(portal: Server, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["pull", NAME, "--out", str(tmp_path / "copy")],
                                env={"CKAN_URL": portal.url, "CKAN_API_TOKEN": ""})
    assert result.exit_code == 0, result.output
    assert ("token: none (anonymous) (CKAN_API_TOKEN is set but empty (a missing CI secret?): pulling anonymously)"
            in result.stderr)
    assert all("Authorization" not in seen.headers for seen in portal.seen)


def test_messages_name_the_pull_and_do_not_claim_an_absent_folder_unchanged(portal: Server, tmp_path: Path) -> None:
    from faultproxy import SilentServer

    with SilentServer() as silent:
        hung = CliRunner().invoke(cli, ["pull", NAME, "--out", str(tmp_path / "hung"), "--timeout", "0.5"],
                                  env={"CKAN_URL": silent.url, "CKAN_API_TOKEN": None, "OGD_PUBLISH_ATTEMPTS": "1"})
    assert hung.exit_code == 5, hung.output
    assert "pulling is safe to re-run" in hung.stderr and "publishing" not in hung.stderr
    csv = bytearray(portal.files["data/releases.csv"])
    csv[-2:-1] = b"#"
    portal.files["data/releases.csv"] = bytes(csv)
    result = pull(portal.url, tmp_path / "q")
    assert result.exit_code == 3
    assert f"{tmp_path / 'q'} was not created" in result.stderr and "was not changed" not in result.stderr


@pytest.fixture
def excel_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    package = write_small_package(tmp_path_factory.mktemp("excel") / NAME, NAME, spreadsheet=True)
    server = Server()
    server.publish(package, NAME)
    yield server, package
    server.close()


def test_the_spreadsheet_file_is_pulled_and_verified(excel_portal: tuple[Server, Path], tmp_path: Path) -> None:
    portal, package = excel_portal
    result = pull(portal.url, tmp_path / "copy", "--json")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "copy" / "data" / "releases-excel.csv").read_bytes() == (
        package / "data" / "releases-excel.csv").read_bytes()
    assert (tmp_path / "copy" / "data" / "releases-excel.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    assert "data/releases-excel.csv" in [f["path"] for f in json.loads(result.stdout)["files"]]
    # Replaced on the portal with its portal hash updated too: only datapackage.json's x_ogd.spreadsheet tells.
    tampered = portal.files["data/releases-excel.csv"] + b'"=HYPERLINK(""http://127.0.0.1:9"")"\r\n'
    portal.files["data/releases-excel.csv"] = tampered
    entry = next(r for r in portal.datasets[NAME]["resources"] if r["ogd_key"] == "releases-excel")
    entry["size"], entry["hash"] = len(tampered), "sha256:" + hashlib.sha256(tampered).hexdigest()
    again = pull(portal.url, tmp_path / "copy", "--json")
    assert again.exit_code == 3
    assert set(json.loads(again.stdout)["mismatches"]) == {
        "data/releases-excel.csv: sha256 differs from datapackage.json (x_ogd.spreadsheet)",
        "data/releases-excel.csv: size differs from datapackage.json (x_ogd.spreadsheet)"}


def test_a_declared_spreadsheet_missing_on_the_portal_is_a_mismatch(excel_portal: tuple[Server, Path], tmp_path: Path) -> None:
    portal, _ = excel_portal
    portal.datasets[NAME]["resources"] = [r for r in portal.datasets[NAME]["resources"] if r["ogd_key"] != "releases-excel"]
    result = pull(portal.url, tmp_path / "copy", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["mismatches"] == [
        "data/releases-excel.csv: named in datapackage.json (x_ogd.spreadsheet) but not a resource of the dataset"]
