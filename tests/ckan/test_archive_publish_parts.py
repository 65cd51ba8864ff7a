"""Pieces of archive-scale publishing (issue 17) tested without a portal: which recorded hash is ours, the
publishing variables, and the DataStore answer that is drained unread (against an HTTP server on 127.0.0.1)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import ckanapi
import pytest

from pipeline.ckan.client import PortalClient
from pipeline.ckan.datastore import requests_in_flight
from pipeline.ckan.resources import recorded_sha256
from pipeline.ckan.xloader import timeout_seconds
from pipeline.problems import UsageError

OURS = "sha256:" + "ab" * 32


def test_the_recorded_sha256_survives_xloaders_md5_and_a_declared_other_file_wins() -> None:
    # xloader wrote its MD5 of the file into hash: ours is read from ogd_sha256.
    assert recorded_sha256({"hash": "0cc175b9c0f1b6a831c399e269772661", "ogd_sha256": OURS}) == OURS
    # A sha256 in hash that differs from ogd_sha256: someone declared other bytes; that is what the portal says.
    assert recorded_sha256({"hash": "sha256:" + "cd" * 32, "ogd_sha256": OURS}) == "sha256:" + "cd" * 32
    # Published before ogd_sha256 existed; a bare hex sha256 of another tool counts too.
    assert recorded_sha256({"hash": OURS}) == OURS
    assert recorded_sha256({"hash": "ab" * 32}) == OURS
    # Another tool's MD5 alone says nothing about our file.
    assert recorded_sha256({"hash": "0cc175b9c0f1b6a831c399e269772661"}) is None
    assert recorded_sha256(None) is None


def test_the_publishing_variables_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OGD_DATASTORE_REQUESTS", raising=False)
    monkeypatch.delenv("OGD_XLOADER_TIMEOUT", raising=False)
    assert (requests_in_flight(), timeout_seconds()) == (2, 3600.0)
    monkeypatch.setenv("OGD_DATASTORE_REQUESTS", "3")
    monkeypatch.setenv("OGD_XLOADER_TIMEOUT", "90")
    assert (requests_in_flight(), timeout_seconds()) == (3, 90.0)
    for value in ("0", "17", "two", "-1"):
        monkeypatch.setenv("OGD_DATASTORE_REQUESTS", value)
        with pytest.raises(UsageError) as refused:
            requests_in_flight()
        assert refused.value.exit_code == 2 and f"OGD_DATASTORE_REQUESTS={value!r}" in refused.value.message
    for value in ("0", "soon", "-5"):
        monkeypatch.setenv("OGD_XLOADER_TIMEOUT", value)
        with pytest.raises(UsageError) as refused:
            timeout_seconds()
        assert f"OGD_XLOADER_TIMEOUT={value!r}" in refused.value.message


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers POSTs of /api/3/action/datastore_upsert with what the test queued: (status, body)."""

    queue: list[tuple[int, bytes]] = []
    received: list[int] = []

    def do_POST(self) -> None:  # noqa: N802 (the library's name)
        self.received.append(len(self.rfile.read(int(self.headers["Content-Length"]))))
        status, body = self.queue.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def answers() -> Iterator[tuple[str, type[_Answers]]]:
    _Answers.queue, _Answers.received = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Answers
    finally:
        server.shutdown()
        server.server_close()


def test_datastore_upserts_echo_is_drained_unread_and_errors_are_still_read(answers: tuple[str, type[_Answers]]) -> None:
    url, handler = answers
    records = [{"release_id": f"r{i}", "body": "ข่าว" * 2000} for i in range(50)]
    echo = json.dumps({"help": f"{url}/api/3/action/help_show?name=datastore_upsert", "success": True,
                       "result": {"records": records, "method": "insert"}}).encode()  # CKAN's way: ASCII escapes
    refusal = json.dumps({"help": "h", "success": False,
                          "error": {"__type": "Validation Error", "records": ["row \"1\" has extra keys \"x\""]}}).encode()
    handler.queue = [(200, echo), (409, refusal), (503, b"busy"), (200, echo)]
    client = PortalClient(url, "token-0123456789abcdef", attempts=2, backoff=0.0)
    data = {"resource_id": "r", "method": "insert", "records": records}
    assert client.call_action("datastore_upsert", data) is None  # the echo: megabytes never parsed
    with pytest.raises(ckanapi.ValidationError) as refused:  # CKAN's refusal is read as before
        client.call_action("datastore_upsert", data)
    assert "extra keys" in str(refused.value.error_dict)
    assert client.call_action("datastore_upsert", data) is None  # 503: retried, then the echo
    assert handler.queue == [] and len(handler.received) == 4 and client.http_requests == 4
    assert client.last_answer is not None and client.last_answer[0] == 200 and len(client.last_answer[2]) <= 2048
