"""Flask extensions, created unbound so every app (and every test) gets its own state."""

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
