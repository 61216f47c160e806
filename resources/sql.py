"""The SQLAlchemy engine of a small Perpetua table store (kill switch, order journal) from its URL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa


def engine_for(url: str, metadata: sa.MetaData) -> sa.Engine:
    """An engine on ``url`` with ``metadata``'s tables created where missing (a SQLite file's folder too)."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, future=True)
    metadata.create_all(engine, checkfirst=True)
    return engine
