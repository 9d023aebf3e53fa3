"""Alembic environment: runs on the connection the store hands over (no alembic.ini, no global URL)."""

from __future__ import annotations

from alembic import context

from greenci.service.store import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
