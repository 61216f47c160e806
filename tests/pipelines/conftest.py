"""Fixtures of the pipeline tests: a throwaway PostgreSQL cluster shared by the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, throwaway_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster (database ``perpetua_test``), stopped and deleted after the session.

    Tests that need a clean slate take ``postgres.create_database("name")``. Skips (with the reason)
    where no Postgres server binaries are installed.
    """
    with throwaway_postgres() as server:
        yield server
