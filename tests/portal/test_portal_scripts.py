"""The portal scripts fail clearly on port clashes and clean up after half-started runs
(no portal needed: these fail before anything is installed or started)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def manage(command: str, state: Path, **ports: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OGD_PORTAL_DIR": str(state)}
    env.update({f"OGD_PORTAL_{key.upper()}": str(value) for key, value in ports.items()})
    return subprocess.run([sys.executable, "-m", "portal.manage", command], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_port_clash_is_reported_with_the_variable_to_change(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = manage("up", tmp_path / "state", port=port)
    assert result.returncode == 1
    assert f"port {port} (for ckan) is in use by another process" in result.stderr
    assert "OGD_PORTAL_PORT" in result.stderr


def test_stale_pid_of_a_half_started_run_is_cleaned_up(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "run").mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (state / "run" / "redis.pid").write_text(f"{dead.pid}\n")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        result = manage("up", state, port=blocker.getsockname()[1])
    assert f"redis: a previous run left a stale PID {dead.pid} (not running); cleaning it up" in result.stderr
    assert not (state / "run" / "redis.pid").exists()
    assert result.returncode == 1  # then stopped by the occupied CKAN port, before starting anything


def test_status_and_down_of_a_portal_that_never_ran(tmp_path: Path) -> None:
    status = manage("status", tmp_path / "none")
    assert status.returncode == 3 and "ckan      stopped" in status.stdout
    assert manage("down", tmp_path / "none").returncode == 0
