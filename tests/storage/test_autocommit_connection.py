"""chat/extensions.py `autocommit_connection`, which the stream open reads with: each
statement is its own snapshot, and the connection goes back to the pool as it came, with
transactions again (on PostgreSQL the driver's flag is set by hand, so this is the part
that could leak)."""

import pytest
from sqlalchemy import create_engine, exc, text
from sqlalchemy.pool import NullPool

from chat.config import normalize_database_url
from chat.extensions import autocommit_connection


@pytest.fixture
def engine(database_url):
    engine = create_engine(normalize_database_url(database_url), pool_size=1,
                           max_overflow=0)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS autocommit_probe (n integer)"))
        connection.execute(text("DELETE FROM autocommit_probe"))
    yield engine
    engine.dispose()


def _count(engine):
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM autocommit_probe")).scalar()


def test_each_statement_is_committed_on_its_own(engine):
    other = create_engine(engine.url, poolclass=NullPool)  # another connection looks
    try:
        with autocommit_connection(engine) as connection:
            connection.execute(text("INSERT INTO autocommit_probe VALUES (1)"))
            assert _count(other) == 1  # committed while the connection is still held
    finally:
        other.dispose()
    assert _count(engine) == 1


def test_the_connection_goes_back_to_the_pool_with_transactions_again(engine):
    with autocommit_connection(engine):
        pass
    # The pool holds one connection, so this is the same one: a rollback must undo.
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO autocommit_probe VALUES (2)"))
        connection.rollback()
    assert _count(engine) == 0


def test_a_failing_statement_leaves_the_connection_usable_and_raises_its_own_error(engine):
    with pytest.raises(exc.ProgrammingError if engine.dialect.name == "postgresql"
                       else exc.OperationalError):
        with autocommit_connection(engine) as connection:
            connection.execute(text("SELECT * FROM no_such_table"))
    with autocommit_connection(engine) as connection:
        connection.execute(text("INSERT INTO autocommit_probe VALUES (3)"))
    assert _count(engine) == 1


def test_a_connection_the_database_cut_raises_the_cut_not_the_flag_reset(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("a server-side cut is a PostgreSQL matter")
    with pytest.raises(exc.OperationalError):
        with autocommit_connection(engine) as connection:
            connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    assert _count(engine) == 0  # the pool replaced the dead connection
