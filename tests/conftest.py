"""Shared fixtures. Slow tiers (real browsers, notebooks, JupyterLab) carry the ``slow`` marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "test-output"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh database path in a temporary folder."""
    return tmp_path / "results.duckdb"


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests keep artefacts a person should look at (screenshots, reports)."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture(autouse=True)
def _isolated_default_db(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test writes to the user's default database."""
    if "ACCEL_TOOLKIT_DB" not in os.environ or not os.environ["ACCEL_TOOLKIT_DB"].startswith(
        "/tmp"
    ):
        monkeypatch.setenv(
            "ACCEL_TOOLKIT_DB", str(tmp_path_factory.mktemp("defaultdb") / "default.duckdb")
        )
