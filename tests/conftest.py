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


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback only: a proxy from the environment must not intercept the tests' local servers."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
