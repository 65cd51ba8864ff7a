"""Shared test fixtures: paths to the shared corpus and helpers to build packages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OGD_SHARED", REPO.parent / "shared")).resolve()
TESTS = REPO / "tests"  # fixtures written for the tests (html_pages/, thaigov_gaps/)
PRD_CORPUS = SHARED / "corpus" / "prd"
THAIGOV_CORPUS = SHARED / "corpus" / "thaigov"
PRD_NEWS = PRD_CORPUS / "000_0f25a3f35e236339.txt"
PRD_PHOTO = PRD_CORPUS / "001_22b4de80ec084c13.txt"

# Builds date their versions by SOURCE_DATE_EPOCH when it is set (reproducible builds): two builds in one test
# give the same bytes even across midnight. 1764460800 = 2025-11-30 00:00 UTC. Tests of dates set their own.
os.environ.setdefault("SOURCE_DATE_EPOCH", "1764460800")


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


# --------------------------------------------------------------------------- the installed wheel

import shutil as _shutil


@_dataclass(frozen=True)
class InstalledOgd:
    """The project built as a wheel and installed into a fresh venv outside the checkout."""

    wheel: Path
    venv: Path
    ogd: Path  # the installed console script

    def env(self, **extra: str) -> dict[str, str]:
        """An environment that can only reach the installed package: no PYTHONPATH, no portal or
        token of the caller (tests pass the ones they mean), the venv's bin first on PATH."""
        env = {key: value for key, value in os.environ.items()
               if key not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP"}
               and not key.startswith(("CKAN_", "OGD_"))}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return {**env, **extra}

    def run(self, *args: str, cwd: Path, timeout: float = 300, **env: str) -> _subprocess.CompletedProcess[str]:
        assert REPO not in [cwd, *cwd.parents], f"{cwd} is inside the checkout"
        return _subprocess.run([str(self.ogd), *args], cwd=cwd, env=self.env(**env), capture_output=True, text=True,
                               timeout=timeout)


def source_copy(target: Path) -> Path:
    """The checkout's files as a clean clone would have them (tracked and new files, nothing ignored):
    a wheel built in the checkout itself would also ship whatever a stale, ignored build/ holds."""
    listed = _subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, check=True).stdout.decode().split("\0")
    for relative in filter(None, listed):
        source = REPO / relative
        if source.is_file():  # a file deleted but not yet committed is still listed
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            _shutil.copy2(source, target / relative)
    return target


@pytest.fixture(scope="session")
def installed_ogd(tmp_path_factory: pytest.TempPathFactory) -> InstalledOgd:
    """`pip wheel --no-deps` of the project, `pip install` of that wheel into a fresh venv (the
    dependencies come from the local wheel store and pip's cache; about a minute on a busy machine)."""
    base = tmp_path_factory.mktemp("wheel")
    assert REPO not in base.parents
    source = source_copy(base / "source")
    dist = base / "dist"
    pip = [_sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    built = _subprocess.run([*pip, "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(source)],
                            cwd=base, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [wheel] = dist.glob("ogd_pipeline-*.whl")
    venv = base / "venv"
    _subprocess.run([_sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    installed = _subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check",
                                 "install", "--quiet", str(wheel)],
                                cwd=base, capture_output=True, text=True, timeout=1200,
                                env={k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}})
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return InstalledOgd(wheel=wheel, venv=venv, ogd=venv / "bin" / "ogd")
