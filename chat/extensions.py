"""Flask extensions, created unbound so every app (and every test) gets its own state,
and the engine helpers shared by the app and its background threads."""

import contextlib

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.dialects import postgresql, sqlite

# Explicit constraint names keep migrations reviewable and identical on SQLite and PostgreSQL.
naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=naming_convention))
migrate = Migrate()


def insert_for(engine):
    """The engine's INSERT construct, which has ON CONFLICT (both supported dialects)."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


@contextlib.contextmanager
def autocommit_connection(engine):
    """A pooled connection on which each statement is its own snapshot: no BEGIN before,
    no ROLLBACK after. On PostgreSQL the driver's autocommit flag is set and cleared on
    the connection itself, which sends nothing: SQLAlchemy's AUTOCOMMIT isolation level
    restores the level when the connection goes back to the pool, a round trip that was
    5 % of a stream open's CPU (docs/benchmarks.md, sections 3d and 11)."""
    if engine.dialect.name != "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            yield connection
        return
    with engine.connect() as connection:
        driver = connection.connection.dbapi_connection
        driver.autocommit = True
        try:
            yield connection
        finally:
            if not driver.closed:  # a connection the database cut is discarded anyway
                driver.autocommit = False
