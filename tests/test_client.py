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
from pathlib import Path

import ckanapi
import pytest
import requests

from conftest import REPO
from faultproxy import SilentServer
from helpers import copy_thaigov

from pipeline.build import build_dataset
from pipeline.ckan_client import PortalClient, ambiguous_failure
from pipeline.config import load_config
from pipeline.errors import PortalRejected, PortalUnavailable
from pipeline.publish import _upsert, publish_package
from pipeline.publish_lock import LockValue, extras_with_lock, host_id

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


def test_an_internal_error_prints_its_traceback_with_the_token_redacted() -> None:
    script = (
        "import sys, pipeline.publish as p\n"
        "def boom(*a, **k): raise RuntimeError('failed with header Authorization: ' + __import__('os').environ['CKAN_API_TOKEN'])\n"
        "p.publish_package = boom\n"
        "sys.argv = ['ogd', 'publish', '.']\n"
        "from pipeline.cli import main\nmain()\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_", "OGD_"))}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**clean, "CKAN_URL": "http://127.0.0.1:9", "CKAN_API_TOKEN": FAKE_TOKEN})
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError" in result.stderr
    assert "Authorization: [REDACTED]" in result.stderr
    assert FAKE_TOKEN not in result.stderr + result.stdout


def test_a_token_from_a_variable_of_any_name_is_redacted_from_a_traceback() -> None:
    """--token-env may name a variable without TOKEN in its name: the token in use is redacted all the same."""
    script = (
        "import sys, pipeline.publish as p\n"
        "def boom(*a, **k): raise RuntimeError('sent ' + __import__('os').environ['PRD_SECRET'])\n"
        "p.publish_package = boom\n"
        "sys.argv = ['ogd', 'publish', '.', '--token-env', 'PRD_SECRET']\n"
        "from pipeline.cli import main\nmain()\n"
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
    portal = EchoingPortal()
    try:
        with pytest.raises(PortalRejected) as refused:
            publish_package(package, PortalClient(portal.url, FAKE_TOKEN, attempts=1, backoff=0))
    finally:
        portal.close()
    assert "unexpected error" in refused.value.message and "[REDACTED]" in refused.value.message
    assert FAKE_TOKEN not in refused.value.message


def test_token_env_names_the_variable_and_a_missing_one_is_a_usage_error(tmp_path: Path) -> None:
    named = run_cli("publish", str(tmp_path), "--url", "http://127.0.0.1:9", "--token-env", "PRD_PUBLISH_TOKEN",
                    env={"PRD_PUBLISH_TOKEN": FAKE_TOKEN})
    assert "portal http://127.0.0.1:9 (from --url); token: PRD_PUBLISH_TOKEN" in named.stderr
    assert named.returncode == 3  # got as far as reading the (empty) package folder
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
    from pipeline.errors import ExitCode, OutputError
    from pipeline.publish_lock import local_lock

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
    from pipeline.errors import OutputError
    from pipeline.publish_lock import local_lock

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
    from pipeline.errors import OutputError
    from pipeline.publish_lock import local_lock

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

    from pipeline.publish_lock import local_lock

    folder = tmp_path / "new" / "locks"
    monkeypatch.setenv("OGD_LOCK_DIR", str(folder))
    with local_lock("http://127.0.0.1:9", "fresh", wait=0):
        pass
    assert stat_module.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat_module.S_IMODE((folder / lock_name("http://127.0.0.1:9", "fresh")).stat().st_mode) == 0o600
