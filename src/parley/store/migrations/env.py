"""Alembic environment: runs on the connection Parley hands it (see store/db.py)."""

from __future__ import annotations

from alembic import context

from parley.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Parley runs its migrations itself at start-up (parley.store.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
