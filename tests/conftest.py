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
