"""Shared fixtures: the real datasets live in ../shared/datasets (never in the repo).

Tests that need them skip with a clear message when the folder is absent; CI sets
FER_REQUIRE_DATA=1 so that a missing folder fails instead of silently skipping.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("FER_DATASETS", REPO.parent / "shared" / "datasets"))


def _require(path: Path) -> Path:
    if not path.exists():
        msg = (f"real dataset folder {path} not found; set FER_DATASETS to the folder that holds "
               "fer2013/, ckplus48/ and faces/")
        if os.environ.get("FER_REQUIRE_DATA"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def datasets_root() -> Path:
    return _require(DATASETS)


@pytest.fixture(scope="session")
def fer_root(datasets_root) -> Path:
    return _require(datasets_root / "fer2013")


@pytest.fixture(scope="session")
def ck_root(datasets_root) -> Path:
    return _require(datasets_root / "ckplus48")


@pytest.fixture(scope="session")
def faces_root(datasets_root) -> Path:
    return _require(datasets_root / "faces")


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch) -> Path:
    """An empty on-disk cache for one test, so tests never share cached arrays."""
    d = tmp_path / "cache"
    monkeypatch.setenv("FER_CACHE_DIR", str(d))
    return d
