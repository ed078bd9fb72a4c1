"""Shared test fixtures: where ../shared lives, and skipping cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference"


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs {path} (the shared reference data beside the repo; CI always has it)")
    return path


@pytest.fixture(scope="session")
def reference_checkpoints() -> Path:
    return require_shared(REFERENCE / "checkpoints")


@pytest.fixture(scope="session")
def reference_vectors() -> Path:
    return require_shared(REFERENCE / "vectors")
