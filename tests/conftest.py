"""Shared test fixtures: paths to the shared corpus and helpers to build packages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OGD_SHARED", REPO.parent / "shared")).resolve()
PRD_CORPUS = SHARED / "corpus" / "prd"
THAIGOV_CORPUS = SHARED / "corpus" / "thaigov"
PRD_NEWS = PRD_CORPUS / "000_0f25a3f35e236339.txt"
PRD_PHOTO = PRD_CORPUS / "001_22b4de80ec084c13.txt"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not SHARED.is_dir():
        raise pytest.UsageError(
            f"the shared corpus is missing at {SHARED}: clone the project beside ../shared "
            "or set OGD_SHARED to its path"
        )


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def corpus_texts() -> dict[Path, str]:
    """Every thaigov and prd corpus file with its text, read once per session (see helpers)."""
    from helpers import prd_texts, thaigov_texts

    return {**thaigov_texts(), **prd_texts()}


# --------------------------------------------------------------------------- the portal

import json as _json
import subprocess as _subprocess
import sys as _sys
import urllib.request as _urllib_request
from dataclasses import dataclass as _dataclass


@_dataclass(frozen=True)
class Portal:
    url: str
    admin_token: str
    editor_token: str
    org: str
    other_org: str
    local: bool  # the project's own .portal (may be stopped and restarted by lifecycle tests)


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def portal_answers(url: str) -> bool:
    try:
        with _urllib_request.urlopen(f"{url}/api/action/status_show", timeout=5) as response:
            return bool(_json.load(response).get("success"))
    except Exception:
        return False


def manage_portal(command: str) -> _subprocess.CompletedProcess[str]:
    return _subprocess.run([_sys.executable, "-m", "portal.manage", command], cwd=REPO,
                           capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def portal() -> "Portal":
    """The real CKAN portal: the one named by CKAN_URL/CKAN_API_TOKEN when it answers,
    else the project's local portal (started for this test session when not running,
    and stopped again at the end)."""
    env = os.environ
    if env.get("CKAN_URL") and env.get("CKAN_API_TOKEN") and env.get("CKAN_EDITOR_TOKEN") and portal_answers(env["CKAN_URL"]):
        yield Portal(env["CKAN_URL"].rstrip("/"), env["CKAN_API_TOKEN"], env["CKAN_EDITOR_TOKEN"],
                     env.get("CKAN_ORG", "prd"), env.get("CKAN_OTHER_ORG", "other-agency"), local=False)
        return
    env_file = Path(os.environ.get("OGD_PORTAL_DIR", REPO / ".portal")) / "env"
    started = False
    if not (env_file.exists() and portal_answers(read_env_file(env_file)["CKAN_URL"])):
        result = manage_portal("up")
        assert result.returncode == 0, f"could not start the local portal:\n{result.stderr[-3000:]}"
        started = True
    values = read_env_file(env_file)
    yield Portal(values["CKAN_URL"], values["CKAN_API_TOKEN"], values["CKAN_EDITOR_TOKEN"], values["CKAN_ORG"],
                 values["CKAN_OTHER_ORG"], local=True)
    if started:
        manage_portal("down")
