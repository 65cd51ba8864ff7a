"""A newcomer's mistakes with `ogd build --executor dask` (review of issue #20, from the README alone).

Each is a wrong address a person really types: the dashboard's port (8787, printed by
every build) instead of the scheduler's, the dashboard's http:// link, and --scheduler
without --executor dask. Each must end promptly with its exit code and a message that
says what to fix; none may hang, print a traceback, or quietly build on this machine.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import copy_thaigov


def ogd_build(tmp_path: Path, *args: str, timeout_env: str = "2") -> subprocess.CompletedProcess[str]:
    copy_thaigov(tmp_path / "in", 3)
    env = {key: value for key, value in os.environ.items() if key != "OGD_DASK_SCHEDULER"}
    env["OGD_DASK_TIMEOUT"] = timeout_env
    # The subprocess timeout only keeps a hang from stopping the test run: a hang is the failure.
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "build", str(tmp_path / "in"), "--out",
                           str(tmp_path / "pkg"), *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.fixture
def web_server() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 (as the Dask dashboard on port 8787 is): it never speaks Dask's protocol."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_that_is_no_dask_scheduler_is_exit_10_not_a_hang(web_server: int, tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{web_server}"
    try:
        result = ogd_build(tmp_path, "--executor", "dask", "--scheduler", address)
    except subprocess.TimeoutExpired:
        pytest.fail("ogd build hung on a port that answers no Dask handshake (dask/distributed#8071)")
    assert result.returncode == 10, result.stderr
    assert (f"error: the Dask scheduler {address} did not answer as a Dask scheduler within 2 s"
            in result.stderr), result.stderr
    assert "8786" in result.stderr  # the hint names the scheduler's usual port
    assert not (tmp_path / "pkg").exists()


def test_the_dashboard_link_as_scheduler_is_a_usage_error_without_a_traceback(tmp_path: Path) -> None:
    result = ogd_build(tmp_path, "--executor", "dask", "--scheduler", "http://127.0.0.1:8787/status")
    assert result.returncode == 2, result.stderr
    assert ("error: --scheduler 'http://127.0.0.1:8787/status' is not a Dask scheduler address: unknown address "
            "scheme 'http'") in result.stderr
    assert "hint: give it as tcp://HOST:8786" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr


def test_scheduler_without_the_dask_executor_is_a_usage_error_not_a_local_build(tmp_path: Path) -> None:
    result = ogd_build(tmp_path, "--scheduler", "tcp://127.0.0.1:8786")
    assert result.returncode == 2, result.stderr
    assert "--scheduler is the address of --executor dask's scheduler: add --executor dask" in result.stderr
    assert not (tmp_path / "pkg").exists()


def test_the_scheduler_from_the_environment_leaves_a_local_build_local(tmp_path: Path) -> None:
    """A team may export OGD_DASK_SCHEDULER for its cluster builds; a build without --executor dask stays here."""
    copy_thaigov(tmp_path / "in", 3)
    env = {**os.environ, "OGD_DASK_SCHEDULER": "tcp://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "build", str(tmp_path / "in"), "--out",
                             str(tmp_path / "pkg"), "--source", "thaigov"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "pkg: ok: 3 records" in result.stderr
