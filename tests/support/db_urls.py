"""Throwaway databases for tests that run on both SQLite and PostgreSQL (one schema per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

PG_URL = os.environ.get("DATABASE_URL_TEST", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def postgres_schema(prefix: str = "zops_test") -> Iterator[str]:
    """Create a schema, yield a URL whose connections use only it, drop it afterwards.

    An unreachable server raises here, so PostgreSQL tests error rather than skip.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        url = sa.make_url(PG_URL).update_query_dict(
            {"options": f"-csearch_path={name}", "application_name": name}
        )
        yield url.render_as_string(hide_password=False)
    finally:
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            admin.dispose()


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty database of `kind` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'zuora-ops.db'}"
        return
    with postgres_schema() as url:
        yield url
