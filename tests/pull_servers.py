"""Local HTTP servers for the pull tests: a CKAN stand-in that can misbehave, on 127.0.0.1 only.

Each server records every request (method, path, headers) so a test can say
which origin received the Authorization header. Behaviour per file path is
scripted: a list of faults consumed one request at a time, then the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import threading
from pathlib import Path
from typing import Any

from pipeline.package.layout import CSV_PATH, DESCRIPTOR_PATH, PARQUET_PATH, QUARANTINE_PATH, REPORT_PATH
from pipeline.ckan.resources import RESOURCES


def write_small_package(folder: Path, name: str, *, spreadsheet: bool = False) -> Path:
    """A tiny valid data package NAME (a CSV and a Parquet file of three rows), written by hand.

    By hand rather than by ``ogd build`` so that these tests of pulling depend on nothing but the files.
    ``spreadsheet``: also the spreadsheet-facing CSV (data/releases-excel.csv), described in x_ogd.spreadsheet.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True)
    rows = [("r-001", "ข่าวแรก"), ("r-002", "ข่าวที่สอง, มีจุลภาค"), ("r-003", "third release")]
    csv = "release_id,title\r\n" + "".join(f'{rid},"{title}"\r\n' for rid, title in rows)
    (folder / CSV_PATH).write_bytes(csv.encode("utf-8"))
    table = pa.table({"release_id": [r[0] for r in rows], "title": [r[1] for r in rows]})
    pq.write_table(table, folder / PARQUET_PATH)
    schema = {"fields": [{"name": "release_id", "type": "string", "constraints": {"required": True, "unique": True}},
                         {"name": "title", "type": "string"}], "primaryKey": ["release_id"]}

    def digest(path: str) -> str:
        return "sha256:" + hashlib.sha256((folder / path).read_bytes()).hexdigest()

    descriptor = {
        "profile": "tabular-data-package", "name": name, "title": "pull test",
        "resources": [
            {"name": "releases", "path": CSV_PATH, "profile": "tabular-data-resource", "format": "csv",
             "mediatype": "text/csv", "encoding": "utf-8", "bytes": (folder / CSV_PATH).stat().st_size,
             "hash": digest(CSV_PATH), "schema": schema},
            {"name": "releases-parquet", "path": PARQUET_PATH, "profile": "tabular-data-resource",
             "format": "parquet", "x_bytes": (folder / PARQUET_PATH).stat().st_size, "x_hash": digest(PARQUET_PATH),
             "schema": schema},
        ],
    }
    if spreadsheet:
        from pipeline.spreadsheet import SPREADSHEET_PATH
        from pipeline.spreadsheet import write_spreadsheet_csv

        write_spreadsheet_csv(folder / PARQUET_PATH, schema, folder / SPREADSHEET_PATH)
        descriptor["x_ogd"] = {"spreadsheet": {"path": SPREADSHEET_PATH, "bytes": (folder / SPREADSHEET_PATH).stat().st_size,
                                               "hash": digest(SPREADSHEET_PATH), "description": "for spreadsheets"}}
    (folder / DESCRIPTOR_PATH).write_text(json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (folder / REPORT_PATH).write_text('{"valid": true}\n', encoding="utf-8")  # as a build leaves them
    (folder / QUARANTINE_PATH).write_text("", encoding="utf-8")
    return folder


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class Server:
    """A threaded HTTP server on 127.0.0.1 (its own port: its own origin).

    ``files``: path -> bytes served at GET /files/<path>. ``faults``: path -> list of what to do for the next
    requests of that path, one item each: an HTTP status (int), ``("redirect", url)``, ``"drop"`` (close the
    connection without an answer), ``"hang"`` (no answer until the server closes), or a function to call first or ``("stream", n)`` (n bytes, no Content-Length). ``api``: how
    /api/action/package_show answers: "ckan" (``datasets``), ``("redirect", url)``, "html404", "badjson",
    "html200", "wrongshape" (JSON of another shape). ``private``: dataset names shown only to a request with an Authorization header
    (and, when ``readers`` is not None, only one of those tokens).
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[Any]] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.private: set[str] = set()
        self.readers: set[str] | None = None  # tokens that may read private datasets (None: any token)
        self.api: Any = "ckan"
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.released = threading.Event()  # set by close(): a "hang" ends then (or after 10 s at most)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _record(self) -> None:
                with server.lock:
                    server.seen.append(Seen(self.command, self.path, dict(self.headers.items())))

            def do_POST(self) -> None:  # noqa: N802 — the name http.server calls
                self._record()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if server.api != "ckan":
                    self._misbehave(server.api)
                    return
                try:
                    wanted = json.loads(body or b"{}").get("id")
                except ValueError:
                    wanted = None
                dataset = server.datasets.get(wanted)
                if dataset is None:
                    self._answer(404, json.dumps({"success": False, "error": {
                        "__type": "Not Found Error", "message": "Not found"}}).encode(), "application/json")
                elif wanted in server.private and (not self.headers.get("Authorization") or (
                        server.readers is not None and self.headers.get("Authorization") not in server.readers)):
                    self._answer(403, json.dumps({"success": False, "error": {
                        "__type": "Authorization Error", "message": "Access denied"}}).encode(), "application/json")
                else:
                    self._answer(200, json.dumps({"success": True, "result": dataset}).encode(), "application/json")

            def _misbehave(self, how: Any) -> None:
                page = b"<!DOCTYPE html><html><body><h1>Not here</h1></body></html>"
                if isinstance(how, tuple) and how[0] == "redirect":
                    self._answer(302, b"", "text/html", {"Location": how[1]})
                elif how == "html404":
                    self._answer(404, page, "text/html; charset=utf-8")
                elif how == "html200":
                    self._answer(200, page, "text/html; charset=utf-8")
                elif how == "badjson":
                    self._answer(200, b'{"success": true, "result": ', "application/json")
                elif how == "wrongshape":  # JSON that says success, of another shape than CKAN's
                    self._answer(200, b'{"success": true, "result": {"organizations": "prd"}}', "application/json")
                else:
                    raise AssertionError(f"unknown behaviour {how!r}")

            def do_GET(self) -> None:  # noqa: N802
                self._record()
                path = self.path.removeprefix("/files/")
                with server.lock:
                    queue = server.faults.get(path) or []
                    fault = queue.pop(0) if queue else None
                if callable(fault):  # something to do while the client waits, then the file as usual
                    fault()
                    fault = None
                if fault == "hang":  # accepts the request and says nothing
                    server.released.wait(10)
                    self.close_connection = True
                    return
                if fault == "drop":
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                if isinstance(fault, int):
                    self._answer(fault, b"<html><body>error</body></html>", "text/html")
                    return
                if isinstance(fault, tuple) and fault[0] == "redirect":
                    self._answer(302, b"", "text/html", {"Location": fault[1]})
                    return
                if isinstance(fault, tuple) and fault[0] == "stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    block = b"x" * (1 << 16)
                    sent = 0
                    try:
                        while sent < fault[1]:
                            self.wfile.write(block)
                            sent += len(block)
                    except OSError:  # the client stopped reading: what the test wants
                        pass
                    return
                if path not in server.files:
                    self._answer(404, b"<html><body>no such file</body></html>", "text/html")
                    return
                self._answer(200, server.files[path], "application/octet-stream")

        class Quiet(http.server.ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hangs up (a stopped oversize download) is expected, not news

        self.server = Quiet(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def publish(self, package: Path, name: str, *, file_host: "Server | None" = None) -> dict[str, Any]:
        """Serve PACKAGE's files as dataset NAME, like ogd publish would describe them (size, sha256, ogd_key)."""
        host = file_host or self
        resources = []
        for key, path, res_name, *_ in RESOURCES:
            if not (package / path).exists():
                continue  # e.g. no spreadsheet file in an older package
            data = (package / path).read_bytes()
            host.files[path] = data
            resources.append({"id": f"id-{key}", "name": res_name, "ogd_key": key, "url": f"{host.url}/files/{path}",
                              "size": len(data), "hash": "sha256:" + hashlib.sha256(data).hexdigest()})
        dataset = {"name": name, "private": name in self.private, "resources": resources}
        self.datasets[name] = dataset
        return dataset

    def requests_for(self, path: str) -> list[Seen]:
        with self.lock:
            return [seen for seen in self.seen if seen.path == path]

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """An http://127.0.0.1 URL where nothing listens (a port just released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
