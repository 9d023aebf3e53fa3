"""The Alembic migrations build exactly the schema the store's code describes (no drift), on both stores."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("alembic", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.migration import MigrationContext  # noqa: E402

from greenci.service.settings import ServiceSettings  # noqa: E402
from greenci.service.store import JobStore, metadata  # noqa: E402


def test_migrations_match_the_tables_in_code(tmp_path: Path, database_url: str | None) -> None:
    store = JobStore(ServiceSettings(data_dir=tmp_path, database_url=database_url).url)
    try:
        with store.engine.connect() as c:
            diff = compare_metadata(MigrationContext.configure(c), metadata)
    finally:
        store.close()
    assert diff == [], diff
