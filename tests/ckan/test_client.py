"""The portal client and publish without a portal: token form and redaction, timeouts and the deadline,
transient conflicts, the lock's value. Servers here are local stand-ins (127.0.0.1) that stop themselves."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import ckanapi
import pytest
import requests
from conftest import REPO
from faultproxy import SilentServer
from helpers import copy_thaigov

from pipeline.build.run import build_dataset
from pipeline.ckan.client import PortalClient, ambiguous_failure, portal_settings
from pipeline.ckan.datastore import upsert as _upsert
from pipeline.ckan.lock import LockValue, extras_with_lock, host_id
from pipeline.ckan.publish import publish_package
from pipeline.config import load_config
from pipeline.problems import PortalRejected, PortalUnavailable
from pipeline.retry import RetryPolicy

FAKE_TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLWZvci10ZXN0cw.c2lnbmF0dXJlLWZvci10ZXN0cy0xMjM0"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("client")
    inputs = base / "inputs"
    copy_thaigov(inputs, 3, step=131)
    dataset = dataclasses.replace(load_config()["thaigov-news-sample"], name="client-test", inputs=(inputs,),
                                  organization="prd")
    result = build_dataset(dataset, base / "client-test", workers=1)
    assert result.ok, result.failure
    return base / "client-test"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_", "OGD_"))}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**clean, **env}, timeout=120)


@pytest.mark.parametrize("bad, where", [(FAKE_TOKEN + "\n", "a newline at position 85 of 85"),
                                        (FAKE_TOKEN[:20] + " " + FAKE_TOKEN[20:], "a space at position 21 of 85")])
def test_a_token_with_white_space_exits_4_with_the_position_and_is_never_printed(tmp_path: Path, bad: str, where: str) -> None:
    result = run_cli("publish", str(tmp_path), env={"CKAN_URL": "http://127.0.0.1:9", "CKAN_API_TOKEN": bad})
    assert result.returncode == 4, result.stderr
    assert where in result.stderr and "CKAN_API_TOKEN" in result.stderr
    for text in (result.stdout, result.stderr):
        assert FAKE_TOKEN not in text and FAKE_TOKEN[:20] not in text and FAKE_TOKEN[21:] not in text


def test_an_internal_error_prints_its_traceback_with_the_token_redacted(tmp_path: Path) -> None:
    (tmp_path / "datapackage.json").write_text("{}")  # a package folder, as far as the command line checks
    script = (
        "import sys, pipeline.ckan.publish as p\n"
        "def boom(*a, **k): raise RuntimeError('failed with header Authorization: ' + __import__('os').environ['CKAN_API_TOKEN'])\n"
        "p.publish_package = boom\n"
        f"sys.argv = ['ogd', 'publish', {str(tmp_path)!r}]\n"
        "from pipeline.cli.main import main\nmain()\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_", "OGD_"))}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**clean, "CKAN_URL": "http://127.0.0.1:9", "CKAN_API_TOKEN": FAKE_TOKEN})
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError" in result.stderr
    assert "Authorization: [REDACTED]" in result.stderr
    assert FAKE_TOKEN not in result.stderr + result.stdout


def test_a_token_from_a_variable_of_any_name_is_redacted_from_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "datapackage.json").write_text("{}")  # a package folder, as far as the command line checks
    """--token-env may name a variable without TOKEN in its name: the token in use is redacted all the same."""
    script = (
        "import sys, pipeline.ckan.publish as p\n"
        "def boom(*a, **k): raise RuntimeError('sent ' + __import__('os').environ['PRD_SECRET'])\n"
        "p.publish_package = boom\n"
        f"sys.argv = ['ogd', 'publish', {str(tmp_path)!r}, '--token-env', 'PRD_SECRET']\n"
        "from pipeline.cli.main import main\nmain()\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_", "OGD_"))}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**clean, "CKAN_URL": "http://127.0.0.1:9", "PRD_SECRET": FAKE_TOKEN})
    assert result.returncode == 1
    assert "RuntimeError: sent [REDACTED]" in result.stderr
    assert FAKE_TOKEN not in result.stderr + result.stdout


def test_a_requests_error_that_quotes_a_header_never_reaches_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    client = PortalClient("http://127.0.0.1:9", FAKE_TOKEN, attempts=1, backoff=0)

    def invalid_header(*args: object, **kwargs: object) -> None:
        raise requests.exceptions.InvalidHeader(f"Invalid return character or leading space in header: "
                                                f"Authorization: {FAKE_TOKEN}")

    monkeypatch.setattr(client.session, "post", invalid_header)
    with pytest.raises(PortalUnavailable) as failed:
        client.call_action("status_show", {})
    assert "InvalidHeader" in failed.value.message and "status_show" in failed.value.message
    assert FAKE_TOKEN not in failed.value.message + str(failed.value.hint)


class EchoingPortal:
    """Answers every request with HTTP 400 and a non-JSON page quoting the request's headers (a broken proxy)."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = f"<html>bad request; headers were: {dict(self.headers)}</html>".encode()
                self.send_response(400)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_unexpected_portal_answer_that_echoes_the_token_is_reported_without_it(package: Path) -> None:
    """A page that is not CKAN's answer is described (status, kind), never quoted: it may echo the headers."""
    from pipeline.problems import UsageError

    portal = EchoingPortal()
    try:
        with pytest.raises(UsageError) as refused:
            publish_package(package, PortalClient(portal.url, FAKE_TOKEN, attempts=1, backoff=0))
    finally:
        portal.close()
    assert "does not answer like a CKAN API" in refused.value.message and "HTTP 400, an HTML page" in refused.value.message
    assert FAKE_TOKEN not in refused.value.message + str(refused.value.hint)


def test_token_env_names_the_variable_and_a_missing_one_is_a_usage_error(tmp_path: Path) -> None:
    named = run_cli("publish", str(tmp_path), "--url", "http://127.0.0.1:9", "--token-env", "PRD_PUBLISH_TOKEN",
                    env={"PRD_PUBLISH_TOKEN": FAKE_TOKEN})
    assert "portal http://127.0.0.1:9 (from --url); token: PRD_PUBLISH_TOKEN" in named.stderr
    assert named.returncode == 2  # got as far as the (empty) folder: not a package, as `ogd validate` says too
    assert f"error: not a data package (no datapackage.json): {tmp_path}" in named.stderr
    assert FAKE_TOKEN not in named.stderr + named.stdout
    missing = run_cli("publish", str(tmp_path), "--url", "http://127.0.0.1:9", "--token-env", "PRD_PUBLISH_TOKEN", env={})
    assert missing.returncode == 2 and "PRD_PUBLISH_TOKEN (--token-env) is not set" in missing.stderr
    pasted = run_cli("publish", str(tmp_path), "--url", "http://127.0.0.1:9", "--token-env", FAKE_TOKEN, env={})
    assert pasted.returncode == 2 and "--token-env takes the NAME of an environment variable" in pasted.stderr
    assert FAKE_TOKEN not in pasted.stderr  # a token pasted where the name belongs is not echoed back


def test_a_portal_that_never_answers_exits_5_after_the_timeout(package: Path) -> None:
    with SilentServer() as silent:
        result = run_cli("publish", str(package), "--url", silent.url, "--timeout", "1",
                         env={"CKAN_API_TOKEN": FAKE_TOKEN, "OGD_PUBLISH_ATTEMPTS": "2", "OGD_PUBLISH_BACKOFF": "0.1"})
    assert result.returncode == 5, result.stderr
    assert f"the portal at {silent.url} did not answer organization_list_for_user within 1 s; after 2 attempt(s)" in result.stderr
    assert "--timeout" in result.stderr


def test_the_deadline_stops_retrying_and_exits_5(package: Path) -> None:
    with SilentServer() as silent:
        result = run_cli("publish", str(package), "--url", silent.url, "--timeout", "1", "--deadline", "3",
                         env={"CKAN_API_TOKEN": FAKE_TOKEN, "OGD_PUBLISH_ATTEMPTS": "1000", "OGD_PUBLISH_BACKOFF": "0.1"})
    assert result.returncode == 5, result.stderr
    assert "the command's deadline of 3 s ran out" in result.stderr


def test_a_bad_timeout_setting_is_a_usage_error(package: Path) -> None:
    result = run_cli("publish", str(package), "--url", "http://127.0.0.1:9",
                     env={"CKAN_API_TOKEN": FAKE_TOKEN, "OGD_HTTP_TIMEOUT": "soon"})
    assert result.returncode == 2 and "OGD_HTTP_TIMEOUT='soon' is not a number of seconds" in result.stderr
    for name, value, said in (("OGD_PUBLISH_ATTEMPTS", "abc", "is not a number of attempts"),
                              ("OGD_PUBLISH_ATTEMPTS", "0", "is not a number of attempts"),
                              ("OGD_PUBLISH_BACKOFF", "x", "is not a number of seconds")):
        bad = run_cli("publish", str(package), "--url", "http://127.0.0.1:9",
                      env={"CKAN_API_TOKEN": FAKE_TOKEN, name: value})
        assert bad.returncode == 2 and f"{name}={value!r} {said}" in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr


def test_which_failures_are_ambiguous() -> None:
    refused = requests.ConnectionError("HTTPConnectionPool: Max retries exceeded (Caused by NewConnectionError("
                                       "'Failed to establish a new connection: [Errno 111] Connection refused'))")
    dropped = requests.ConnectionError("('Connection aborted.', RemoteDisconnected('Remote end closed connection "
                                       "without response'))")
    assert not ambiguous_failure(refused) and not ambiguous_failure(requests.ConnectTimeout("connect"))
    assert ambiguous_failure(dropped) and ambiguous_failure(requests.ReadTimeout("read"))


class ConflictThenOk:
    """A stand-in client whose first datastore_upsert meets a concurrent writer's uniqueness conflict."""

    url, attempts, backoff = "http://127.0.0.1:9", 3, 0.0

    def __init__(self) -> None:
        self.calls = 0

    def remaining(self) -> float:
        return 100.0

    def next_wait(self, attempt: int, error: BaseException) -> float | None:
        return RetryPolicy(attempts=self.attempts, backoff=0.0).wait_seconds(attempt)

    def call_action(self, action: str, data: dict) -> dict:
        self.calls += 1
        if self.calls == 1:
            raise ckanapi.ValidationError({
                "constraints": ["Cannot insert records or create index because of uniqueness constraint"],
                "info": {"orig": 'duplicate key value violates unique constraint "abc_pkey"', "pgcode": "23505"},
                "__type": "Validation Error"})
        return {}


def test_a_duplicate_key_conflict_of_a_concurrent_upsert_is_retried_not_a_metadata_error() -> None:
    client = ConflictThenOk()
    _upsert(client, "resource-id", [{"release_id": "a"}])  # type: ignore[arg-type]
    assert client.calls == 2


def test_lock_values_round_trip_and_a_gone_local_holder_is_detected() -> None:
    expires = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    value = LockValue("0123abcd" * 4, expires, "hostid", 4242)
    assert value.render() == f"{'0123abcd' * 4} 2030-01-02T03:04:05Z hostid 4242"
    assert LockValue.parse(value.render()) == value
    assert LockValue.parse("") is None and LockValue.parse("garbage").expired()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = LockValue("x", expires, host_id(), int(finished.stdout))
    assert gone.holder_gone() and not LockValue("x", expires, host_id(), os.getpid()).holder_gone()
    assert not LockValue("x", expires, "another-host", int(finished.stdout)).holder_gone()
    assert extras_with_lock([{"key": "a", "value": "1"}, {"key": "ogd_publish_lock", "value": "old"}], "new") == [
        {"key": "a", "value": "1"}, {"key": "ogd_publish_lock", "value": "new"}]
    assert extras_with_lock([{"key": "ogd_publish_lock", "value": "old"}], None) == []


# ------------------------------------------------------------------ the local publish lock's folder (issue #11 review)

NOBODY = 65534


def lock_name(portal_url: str, name: str) -> str:
    import hashlib

    return f"publish-{hashlib.sha256(f'{portal_url} {name}'.encode()).hexdigest()[:24]}.lock"


@pytest.mark.skipif(os.getuid() != 0, reason="planting a folder as another user needs root (chown)")
@pytest.mark.parametrize("how", ["OGD_LOCK_DIR", "TMPDIR"])
def test_a_lock_folder_planted_by_another_user_is_refused_and_its_link_not_followed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    from pipeline.ckan.lock import local_lock
    from pipeline.problems import ExitCode, OutputError

    target = tmp_path / "victim" / "created-by-root"
    target.parent.mkdir()
    if how == "OGD_LOCK_DIR":
        planted = tmp_path / "locks"
        monkeypatch.setenv("OGD_LOCK_DIR", str(planted))
    else:
        planted = tmp_path / f"ogd-locks-{os.getuid()}"
        monkeypatch.delenv("OGD_LOCK_DIR", raising=False)
        monkeypatch.setenv("TMPDIR", str(tmp_path))
        import tempfile
        monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    planted.mkdir()
    (planted / lock_name("http://127.0.0.1:9", "planted")).symlink_to(target)
    os.chown(planted, NOBODY, NOBODY)
    os.chmod(planted, 0o777)
    with pytest.raises(OutputError) as refused:
        with local_lock("http://127.0.0.1:9", "planted", wait=0):
            pass
    assert refused.value.exit_code == ExitCode.OUTPUT
    assert f"refusing the publish lock folder {planted}: it belongs to" in refused.value.message
    assert "another user may have planted it" in refused.value.message and "OGD_LOCK_DIR" in str(refused.value.hint)
    assert not os.path.lexists(target)


def test_a_lock_folder_others_may_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.ckan.lock import local_lock
    from pipeline.problems import OutputError

    folder = tmp_path / "locks"
    folder.mkdir()
    os.chmod(folder, 0o777)
    monkeypatch.setenv("OGD_LOCK_DIR", str(folder))
    with pytest.raises(OutputError) as refused:
        with local_lock("http://127.0.0.1:9", "open", wait=0):
            pass
    assert "others may write in it (mode 777)" in refused.value.message
    assert list(folder.iterdir()) == []


def test_a_symlinked_lock_file_in_our_own_folder_is_refused_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.ckan.lock import local_lock
    from pipeline.problems import OutputError

    folder = tmp_path / "locks"
    folder.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    (folder / lock_name("http://127.0.0.1:9", "linked")).symlink_to(target)
    monkeypatch.setenv("OGD_LOCK_DIR", str(folder))
    with pytest.raises(OutputError) as refused:
        with local_lock("http://127.0.0.1:9", "linked", wait=0):
            pass
    assert "it is a symbolic link" in refused.value.message
    assert not os.path.lexists(target)


def test_a_missing_lock_folder_is_created_0700_and_the_lock_file_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import stat as stat_module

    from pipeline.ckan.lock import local_lock

    folder = tmp_path / "new" / "locks"
    monkeypatch.setenv("OGD_LOCK_DIR", str(folder))
    with local_lock("http://127.0.0.1:9", "fresh", wait=0):
        pass
    assert stat_module.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat_module.S_IMODE((folder / lock_name("http://127.0.0.1:9", "fresh")).stat().st_mode) == 0o600


# ------------------------------------------------------------------ which token goes where (review item 2, 6)

from pull_servers import Server, closed_port_url  # noqa: E402


def test_ckan_api_token_is_not_sent_to_another_url_by_publish_but_token_env_is(tmp_path: Path) -> None:
    recorder = Server()
    try:
        withheld = run_cli("publish", str(tmp_path), "--url", recorder.url,
                           env={"CKAN_URL": closed_port_url(), "CKAN_API_TOKEN": FAKE_TOKEN})
        assert withheld.returncode == 2, withheld.stderr
        assert "CKAN_API_TOKEN is meant for CKAN_URL" in withheld.stderr and "--token-env" in withheld.stderr
        assert recorder.seen == []
        named = run_cli("publish", str(package_copy_or(tmp_path)), "--url", recorder.url, "--token-env", "OTHER_TOKEN",
                        env={"CKAN_URL": closed_port_url(), "CKAN_API_TOKEN": "x" * 40, "OTHER_TOKEN": FAKE_TOKEN})
        assert "token: OTHER_TOKEN" in named.stderr
        assert recorder.seen and all(seen.headers.get("Authorization") == FAKE_TOKEN for seen in recorder.seen)
        assert FAKE_TOKEN not in named.stderr + named.stdout
    finally:
        recorder.close()


def package_copy_or(tmp_path: Path) -> Path:
    """A folder publish reads as far as the portal: a hand-made valid package (the token check comes first)."""
    import json as json_module

    from pull_servers import write_small_package

    folder = write_small_package(tmp_path / "small", "small")
    descriptor = json_module.loads((folder / "datapackage.json").read_text())
    descriptor["x_ogd"] = {"organization": "prd"}
    (folder / "datapackage.json").write_text(json_module.dumps(descriptor))
    (folder / "report.json").write_text('{"ok": true, "validation": {"valid": true}}\n')
    return folder


def test_with_ckan_url_unset_the_token_goes_to_url_and_that_is_said(tmp_path: Path) -> None:
    recorder = Server()
    try:
        result = run_cli("publish", str(package_copy_or(tmp_path)), "--url", recorder.url,
                         env={"CKAN_API_TOKEN": FAKE_TOKEN})
    finally:
        recorder.close()
    assert f"portal {recorder.url} (from --url); token: CKAN_API_TOKEN (CKAN_URL is unset: CKAN_API_TOKEN is sent " \
           "to --url)" in result.stderr
    assert recorder.seen and recorder.seen[0].headers.get("Authorization") == FAKE_TOKEN


def test_an_empty_ckan_api_token_is_an_error_for_publish_never_the_local_sysadmin_token(tmp_path: Path) -> None:
    # CKAN_URL unset: with the local portal's .portal/env present, an unset token would mean its sysadmin token.
    empty = run_cli("publish", str(tmp_path), env={"CKAN_API_TOKEN": ""})
    assert empty.returncode == 4, empty.stderr
    assert "CKAN_API_TOKEN is set but empty: a missing CI secret?" in empty.stderr
    assert "sysadmin" not in empty.stderr
    named = run_cli("publish", str(tmp_path), "--url", "http://127.0.0.1:9", "--token-env", "CI_TOKEN",
                    env={"CI_TOKEN": ""})
    assert named.returncode == 4 and "CI_TOKEN is set but empty" in named.stderr


def test_a_very_long_token_is_called_too_long_not_too_short(tmp_path: Path) -> None:
    result = run_cli("publish", str(tmp_path), "--url", "http://127.0.0.1:9", env={"CKAN_API_TOKEN": "a" * 100_000})
    assert result.returncode == 4
    assert "100,000 characters, too long to be a CKAN API token (at most 4,096)" in result.stderr
    assert "too short" not in result.stderr and "a" * 100 not in result.stderr


# ------------------------------------------------------------------ an address that is not CKAN (review item 5)


class PlainFileServer:
    """python -m http.server's handler on 127.0.0.1: answers GET with pages and POST with HTTP 501."""

    def __init__(self, root: Path) -> None:
        import functools

        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *args: None  # type: ignore[attr-defined]
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_publish_to_a_plain_web_server_is_a_usage_error_like_pull(tmp_path: Path) -> None:
    plain = PlainFileServer(tmp_path)
    try:
        result = run_cli("publish", str(package_copy_or(tmp_path)), "--url", plain.url, env={"CKAN_API_TOKEN": FAKE_TOKEN})
    finally:
        plain.close()
    assert result.returncode == 2, result.stderr
    assert (f"the address {plain.url} does not answer like a CKAN API ({plain.url}/api/action/organization_list_for_user:"
            " HTTP 501, an HTML page)") in result.stderr
    assert "check CKAN_URL (or --url)" in result.stderr
    assert "<html" not in result.stderr.lower() and "Traceback" not in result.stderr


def test_publish_to_json_of_another_shape_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    other = Server()
    other.api = "wrongshape"
    try:
        result = run_cli("publish", str(package_copy_or(tmp_path)), "--url", other.url, env={"CKAN_API_TOKEN": FAKE_TOKEN})
    finally:
        other.close()
    assert result.returncode == 2, result.stderr
    assert "does not answer like a CKAN API" in result.stderr and "HTTP 200, JSON that is not a CKAN API answer" in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ the package as publish reads it (items 3, 4, 9)

from pipeline.ckan.package import load_package  # noqa: E402
from pipeline.problems import DataError, ExitCode  # noqa: E402


def editable_copy(package: Path, tmp_path: Path, *, keep_descriptor_hash: bool = False) -> Path:
    """A copy of the built package; without report.json's descriptor_sha256 unless asked (an older package)."""
    import json as json_module
    import shutil

    copy = tmp_path / package.name
    shutil.copytree(package, copy)
    if not keep_descriptor_hash:
        report = json_module.loads((copy / "report.json").read_text())
        report.pop("descriptor_sha256", None)
        (copy / "report.json").write_text(json_module.dumps(report))
    return copy


def edit_descriptor(folder: Path, change: "Callable[[dict], None]") -> None:
    import json as json_module

    descriptor = json_module.loads((folder / "datapackage.json").read_text())
    change(descriptor)
    (folder / "datapackage.json").write_text(json_module.dumps(descriptor, ensure_ascii=False, indent=2))


from typing import Callable  # noqa: E402


def test_a_descriptor_edited_after_the_build_is_refused(package: Path, tmp_path: Path) -> None:
    copy = editable_copy(package, tmp_path, keep_descriptor_hash=True)
    assert "descriptor_sha256" in (copy / "report.json").read_text()  # the build records it
    edit_descriptor(copy, lambda d: d.update(title="a title changed by hand"))
    with pytest.raises(DataError) as refused:
        load_package(copy)
    assert "datapackage.json changed after the build" in refused.value.message and "rebuild" in refused.value.message


@pytest.mark.parametrize("path, said", [
    ("../../../../etc/passwd", "only a plain relative path inside the package"),
    ("/etc/passwd", "only a plain relative path inside the package"),
    ("http://127.0.0.1:9/x.csv", "only a plain relative path inside the package"),
    ("data/../../x.csv", "only a plain relative path inside the package"),
])
def test_a_resource_path_outside_the_package_is_refused(package: Path, tmp_path: Path, path: str, said: str) -> None:
    copy = editable_copy(package, tmp_path)
    edit_descriptor(copy, lambda d: d["resources"][0].update(path=path))
    with pytest.raises(DataError) as refused:
        load_package(copy)
    assert refused.value.exit_code == ExitCode.DATA
    assert f"names {path!r}: {said}" in refused.value.message


def test_a_resource_or_package_file_that_is_a_link_is_refused(package: Path, tmp_path: Path) -> None:
    copy = editable_copy(package, tmp_path)
    secret = tmp_path / "secret.csv"
    secret.write_bytes((copy / "data" / "releases.csv").read_bytes())
    (copy / "data" / "releases.csv").unlink()
    (copy / "data" / "releases.csv").symlink_to(secret)
    with pytest.raises(DataError) as refused:
        load_package(copy)
    assert f"data/releases.csv is a symbolic link (to {secret})" in refused.value.message


@pytest.mark.parametrize("how", ["not json", "a link"])
def test_a_descriptor_that_is_not_json_or_a_link_is_exit_3_without_a_traceback(package: Path, tmp_path: Path, how: str) -> None:
    copy = editable_copy(package, tmp_path)
    if how == "not json":
        (copy / "datapackage.json").write_text('{"name": "x", oops}')
        said = "its datapackage.json is not valid JSON (Expecting property name enclosed in double quotes at line 1"
    else:
        real = tmp_path / "elsewhere.json"
        real.write_bytes((copy / "datapackage.json").read_bytes())
        (copy / "datapackage.json").unlink()
        (copy / "datapackage.json").symlink_to(real)
        said = f"its datapackage.json is a symbolic link (to {real})"
    result = run_cli("publish", str(copy), "--url", "http://127.0.0.1:9", env={"CKAN_API_TOKEN": FAKE_TOKEN})
    assert result.returncode == 3, result.stderr
    assert f"{copy} is not a data package: {said}" in result.stderr
    assert "Traceback" not in result.stderr


def add_spreadsheet(folder: Path) -> Path:
    """What the build will add (pipeline/spreadsheet.py): data/releases-excel.csv, described in x_ogd.spreadsheet."""
    import hashlib
    import json as json_module

    from pipeline.spreadsheet import write_spreadsheet_csv

    descriptor = json_module.loads((folder / "datapackage.json").read_text())
    target = folder / "data" / "releases-excel.csv"
    write_spreadsheet_csv(folder / "data" / "releases.parquet", descriptor["resources"][0]["schema"], target)
    data = target.read_bytes()
    descriptor.setdefault("x_ogd", {})["spreadsheet"] = {
        "path": "data/releases-excel.csv", "bytes": len(data), "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
        "description": "for Excel and other spreadsheets"}
    text = json_module.dumps(descriptor, ensure_ascii=False, indent=2) + "\n"
    (folder / "datapackage.json").write_text(text, encoding="utf-8")
    report = json_module.loads((folder / "report.json").read_text())
    report["descriptor_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (folder / "report.json").write_text(json_module.dumps(report))
    return folder


def test_the_spreadsheet_file_is_checked_against_x_ogd_and_an_older_package_goes_without(package: Path, tmp_path: Path) -> None:
    older_copy = editable_copy(package, tmp_path / "older")  # no descriptor_sha256
    edit_descriptor(older_copy, lambda d: d.get("x_ogd", {}).pop("spreadsheet", None))  # as built before it existed
    (older_copy / "data" / "releases-excel.csv").unlink(missing_ok=True)
    older = load_package(older_copy)
    assert "releases-excel" not in older.hashes
    assert any("no spreadsheet file (x_ogd.spreadsheet" in note for note in older.notes)
    assert any("records no descriptor_sha256" in note for note in older.notes)

    newer = add_spreadsheet(editable_copy(package, tmp_path / "newer"))
    loaded = load_package(newer)
    assert loaded.hashes["releases-excel"].startswith("sha256:") and loaded.notes == []
    assert (newer / "data" / "releases-excel.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    with open(newer / "data" / "releases-excel.csv", "ab") as handle:
        handle.write(b'"tampered"\r\n')
    with pytest.raises(DataError) as refused:
        load_package(newer)
    assert "data/releases-excel.csv in" in refused.value.message and "changed after the build" in refused.value.message


# ------------------------------------------------------------------ tags (item 8)


def test_tags_are_checked_against_ckans_rules_before_any_write() -> None:
    from pipeline.ckan.metadata import check_metadata

    check_metadata({"tag_string": "ข่าว,ข่าวประชาสัมพันธ์,open data,v1.0"}, None)  # Thai marks included
    with pytest.raises(PortalRejected) as refused:
        check_metadata({"tag_string": "ข่าว,x,a/b"}, None)
    assert refused.value.exit_code == ExitCode.PORTAL_REJECTED
    assert refused.value.field_errors["tags"] == [
        "tag 'x' has 1 character(s); CKAN allows 2 to 100",
        "tag 'a/b' has character(s) CKAN refuses in tags ('/'); allowed: letters (Thai included), digits, spaces, "
        "'-', '_' and '.'"]


def _answer(status: int, headers: dict[str, str], body: bytes = b'{"success": true, "result": {"ok": 1}}') -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers.update(headers)
    return response


def test_the_ckan_client_retries_by_the_projects_one_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry-After as an HTTP date (the policy reads both forms), and a wait longer than the policy allows gives up."""
    import email.utils

    import pipeline.ckan.client as client_module

    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    client = PortalClient("http://127.0.0.1:9", None, attempts=3, backoff=0.01)
    later = email.utils.formatdate(time.time() + 20, usegmt=True)
    answers = iter([_answer(503, {"Retry-After": later}), _answer(200, {"Content-Type": "application/json"})])
    monkeypatch.setattr(client.session, "post", lambda *a, **k: next(answers))
    assert client.call_action("status_show", {}) == {"ok": 1}
    assert len(slept) == 1 and 15 <= slept[0] <= 20  # the date's seconds, not the 0.01 s backoff

    too_long = iter([_answer(429, {"Retry-After": "3600"})])
    monkeypatch.setattr(client.session, "post", lambda *a, **k: next(too_long))
    with pytest.raises(PortalUnavailable) as gave_up:
        client.call_action("status_show", {})
    assert "it asked to wait 3600 s (Retry-After), longer than the 120 s allowed, after 1 attempt(s)" in gave_up.value.message
    assert len(slept) == 1  # nothing more was slept


def test_an_installed_command_finds_the_local_portal_through_ogd_portal_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed `ogd` has no checkout beside it: OGD_PORTAL_DIR names the portal; without it the hint says so."""
    import pipeline.ckan.client as client_module
    from pipeline.problems import UsageError

    monkeypatch.delenv("CKAN_URL", raising=False)
    monkeypatch.delenv("CKAN_API_TOKEN", raising=False)
    monkeypatch.setattr(client_module, "CHECKOUT", tmp_path / "site-packages")  # as in a wheel: no .portal beside it
    monkeypatch.delenv("OGD_PORTAL_DIR", raising=False)
    with pytest.raises(UsageError) as missing:
        portal_settings()
    assert "no local development portal was found" in missing.value.message
    assert "export OGD_PORTAL_DIR=/path/to/ogd-pipeline/.portal" in missing.value.hint
    portal_dir = tmp_path / "checkout" / ".portal"
    portal_dir.mkdir(parents=True)
    (portal_dir / "env").write_text(f"CKAN_URL=http://127.0.0.1:5999\nCKAN_API_TOKEN={FAKE_TOKEN}\n", encoding="utf-8")
    monkeypatch.setenv("OGD_PORTAL_DIR", str(portal_dir))
    settings = portal_settings()
    assert (settings.url, settings.token) == ("http://127.0.0.1:5999", FAKE_TOKEN)
    assert settings.url_source == f"the local portal ({portal_dir / 'env'})"
