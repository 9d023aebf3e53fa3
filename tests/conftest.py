"""Shared fixtures: the real data folder (skipped with a reason when absent); SQLite and PostgreSQL stores."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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


# --- databases for the service tests: SQLite and a real PostgreSQL ------------------------------------------------

POSTGRES_URL_ENV = "GREENCI_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "GREENCI_TEST_REQUIRE_POSTGRES"  # set (CI): no server is a failure, not a skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: runs on a PostgreSQL server (deselect with -m 'not postgres')")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An SQLAlchemy URL of a PostgreSQL database the tests may create databases from.

    ``$GREENCI_TEST_POSTGRES_URL`` when set (CI may start its own server); otherwise a throwaway server started
    here (tests/pgserver.py) for the session. Skips the test, saying why, when neither is possible (fails
    instead when ``$GREENCI_TEST_REQUIRE_POSTGRES`` is set, as in CI).
    """
    given = os.environ.get(POSTGRES_URL_ENV)
    if given:
        yield given
        return
    import pgserver

    with ExitStack() as stack:
        try:
            url = stack.enter_context(pgserver.running_postgres())
        except pgserver.PostgresUnavailable as exc:
            reason = f"no PostgreSQL to test on (set {POSTGRES_URL_ENV} or install the server): {exc}"
            if os.environ.get(REQUIRE_POSTGRES_ENV, "") not in ("", "0"):
                pytest.fail(f"{reason} [{REQUIRE_POSTGRES_ENV} is set: PostgreSQL is required]", pytrace=False)
            pytest.skip(reason)
        yield url


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url`` (unique name); dropped on exit."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    name = f"greenci_t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as c:  # FORCE: the store under test may still hold pooled connections
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Each store the service supports, empty for each test: ``None`` (SQLite in the data folder) or the URL
    of a fresh database on PostgreSQL (see ``postgres_url``)."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url
