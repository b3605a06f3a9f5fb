"""The guard's own tables: the audit trail and the fast-path state record."""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa

# Each table is built once per name (a Table costs ~0.2 ms to build, more than a fast-path
# check) and only read afterwards: DDL, inserts and selects never change it.


@lru_cache(maxsize=32)
def audit_table(name: str) -> sa.Table:
    """One row per applied or failed operation."""
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("bind", sa.String(128)),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("table_name", sa.String(255), nullable=False),
        sa.Column("object_name", sa.String(255)),
        sa.Column("ddl", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("duration_ms", sa.Float),
    )


@lru_cache(maxsize=32)
def state_table(name: str) -> sa.Table:
    """The last in-sync check per models hash: schema fingerprint and report items (JSON)."""
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("models_hash", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("items", sa.Text, nullable=False),
        sa.Column("checked_at", sa.DateTime, nullable=False),
    )
