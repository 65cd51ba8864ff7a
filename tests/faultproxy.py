"""Test servers on 127.0.0.1 that misbehave on purpose: a fault proxy in front of the portal, and a silent server.

Each stops itself: ``close()`` (use them in ``with``), and every wait inside is bounded.
"""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections import Counter

import requests

HOLD_LIMIT = 60.0  # seconds a held request is kept at most


def action_of(path: str) -> str:
    match = re.search(r"/api/(?:\d+/)?action/([a-z_]+)", path)
    return match.group(1) if match else ""


class FaultProxy:
    """Forwards to the portal, with chosen faults:

    * ``fail_from=N``: answer 503 to every request from the Nth on (nothing forwarded);
    * ``drop_after={action: n}``: forward the first n requests of ``action``, then drop the answer (close the
      connection without a response): the portal did the work, the client sees a connection error;
    * ``hold_after={action}``: forward a request of ``action``, then answer nothing until closed (``held`` is set
      when that happens; a test kills the client then).
    """

    def __init__(self, target: str, fail_from: int | None = None, *, drop_after: dict[str, int] | None = None,
                 hold_after: set[str] | None = None) -> None:
        self.target, self.fail_from, self.count = target, fail_from, 0
        self.drop_after = dict(drop_after or {})
        self.hold_after = set(hold_after or ())
        self.actions: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.held = threading.Event()
        self.closing = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                proxy.count += 1
                action = action_of(self.path)
                proxy.actions[action] += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.fail_from is not None and proxy.count >= proxy.fail_from:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                upstream = requests.request(self.command, proxy.target + self.path, data=body, headers=headers, timeout=120)
                if proxy.drop_after.get(action, 0) > 0:
                    proxy.drop_after[action] -= 1
                    proxy.dropped[action] += 1
                    self.close_connection = True
                    return  # the portal did it; the client gets no answer
                if action in proxy.hold_after:
                    proxy.held.set()
                    proxy.closing.wait(HOLD_LIMIT)
                    self.close_connection = True
                    return
                self.send_response(upstream.status_code)
                for key, value in upstream.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = do_POST = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SilentServer:
    """Accepts TCP connections and never answers (a hung portal); closes them all on ``close()``."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.socket.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for _ in range(int(HOLD_LIMIT / 0.2)):  # bounded: at most HOLD_LIMIT seconds
            if self.stop.is_set():
                break
            try:
                connection, _ = self.socket.accept()
                self.accepted.append(connection)
            except socket.timeout:
                continue
        for connection in self.accepted:
            connection.close()
        self.socket.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)

    def __enter__(self) -> "SilentServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
