"""Shared fixtures: the real data folder (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenci.shared_data import find_shared_data


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$GREENCI_SHARED``); skips the test when it is not on this machine."""
    found = find_shared_data()
    if found is None:
        pytest.skip("real data not found: set GREENCI_SHARED or place ../shared beside the checkout")
    return found
