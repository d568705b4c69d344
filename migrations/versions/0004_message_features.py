"""message features of API 1.1: edits, deletions, replies, mentions, reactions, search;
room names unique after NFKC + case folding

Search has one index per database (chat/search.py reads them): on PostgreSQL a stored
generated tsvector with a GIN index, on SQLite an FTS5 table kept by triggers. Both follow
the message text by themselves on post, edit and deletion (whose text is erased).

Revision ID: 0004
Revises: 0003
"""
import string
import unicodedata

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

LIVE_NAMED = "active AND kind <> 'direct'"
# translate()'s arguments: the ASCII punctuation and as many spaces, as SQL literals.
_PUNCTUATION = "'" + string.punctuation.replace("'", "''") + "'"
_SPACES = "'" + " " * len(string.punctuation) + "'"
# What PostgreSQL indexes for search (chat/search.py reads it):
# - the words: to_tsvector 'simple' (lower-cased, no stemming, no stop words: "every word
#   must occur as a word", in any language) of the text with its ASCII punctuation made
#   spaces first, as FTS5 splits it: the default parser would keep `bob@example.com`,
#   `github.com/x`, `3.14` or `foo-bar` as single lexemes, and "example" would not find
#   them (translate() is immutable and does not depend on the locale);
# - each word again as '#<first 8 hex digits of the room id>:<word>', so that the GIN
#   index finds a word in a set of rooms without fetching its matches in every other
#   room. No word can look like one ('#' is punctuation). A near-2047-byte word, which
#   would not fit with the prefix, is left out of them.
SEARCH_VECTOR_FUNCTION = f"""
CREATE FUNCTION message_search_vector(message text, room_id uuid) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT words || array_to_tsvector(ARRAY(
        SELECT '#' || left(room_id::text, 8) || ':' || lexeme
        FROM unnest(tsvector_to_array(words)) AS lexeme
        WHERE octet_length(lexeme) <= 2037))
    FROM to_tsvector('simple', translate(message, {_PUNCTUATION}, {_SPACES})) AS words
$$"""


def _name_key(name):  # chat.models.name_key, frozen here as of this revision
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"

    op.add_column('rooms', sa.Column('name_key', sa.String(length=256), nullable=True))
    rooms = sa.table('rooms', sa.column('id', sa.Uuid()), sa.column('name', sa.String()),
                     sa.column('name_key', sa.String()), sa.column('active', sa.Boolean()),
                     sa.column('kind', sa.String()))
    bind = op.get_bind()
    taken = set()
    for room_id, name, active, kind in bind.execute(
            sa.select(rooms.c.id, rooms.c.name, rooms.c.active, rooms.c.kind)).all():
        key = _name_key(name)
        if active and kind != 'direct':
            # Names that were distinct before but are one name now keep working: the
            # later ones get a key of their own (renaming them is the owners' call).
            if key in taken:
                key = f"{key}#{room_id}"
            taken.add(key)
        bind.execute(rooms.update().where(rooms.c.id == room_id).values(name_key=key))
    if postgres:
        op.alter_column('rooms', 'name_key', nullable=False)
    op.drop_index('uq_rooms_live_name_lower', table_name='rooms')
    op.create_index('uq_rooms_live_name_key', 'rooms', ['name_key'], unique=True,
                    postgresql_where=sa.text(LIVE_NAMED), sqlite_where=sa.text(LIVE_NAMED))

    op.add_column('messages', sa.Column('reply_to', sa.Uuid(), nullable=True))
    op.add_column('messages', sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('messages', sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('room_events', sa.Column('message_id', sa.Uuid(), nullable=True))
    op.add_column('room_events', sa.Column('emoji', sa.String(length=128), nullable=True))

    op.create_table(
        'mentions',
        sa.Column('message_id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('room_id', sa.Uuid(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'],
                                name=op.f('fk_mentions_message_id_messages'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('message_id', 'user_id', name=op.f('pk_mentions')),
    )
    op.create_index('ix_mentions_user_room_seq', 'mentions', ['user_id', 'room_id', 'seq'])
    op.create_table(
        'reactions',
        sa.Column('message_id', sa.Uuid(), nullable=False),
        sa.Column('emoji', sa.String(length=128), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'],
                                name=op.f('fk_reactions_message_id_messages'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('message_id', 'emoji', 'user_id', name=op.f('pk_reactions')),
    )

    if postgres:
        op.execute(SEARCH_VECTOR_FUNCTION)
        op.execute("ALTER TABLE messages ADD COLUMN search_vector tsvector "
                   "GENERATED ALWAYS AS (message_search_vector(message, room_id)) STORED")
        op.execute("CREATE INDEX ix_messages_search ON messages USING gin (search_vector)")
    else:
        op.execute("CREATE VIRTUAL TABLE messages_fts USING fts5(message, content='messages', "
                   "content_rowid='seq', tokenize='unicode61 remove_diacritics 0')")
        op.execute("CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
                   "INSERT INTO messages_fts(rowid, message) VALUES (new.seq, new.message); END")
        op.execute("CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
                   "INSERT INTO messages_fts(messages_fts, rowid, message) "
                   "VALUES ('delete', old.seq, old.message); END")
        op.execute("CREATE TRIGGER messages_fts_update AFTER UPDATE OF message ON messages BEGIN "
                   "INSERT INTO messages_fts(messages_fts, rowid, message) "
                   "VALUES ('delete', old.seq, old.message); "
                   "INSERT INTO messages_fts(rowid, message) VALUES (new.seq, new.message); END")
        op.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP INDEX ix_messages_search")
        op.execute("ALTER TABLE messages DROP COLUMN search_vector")
        op.execute("DROP FUNCTION message_search_vector(text, uuid)")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER messages_fts_{trigger}")
        op.execute("DROP TABLE messages_fts")
    op.drop_table('reactions')
    op.drop_index('ix_mentions_user_room_seq', table_name='mentions')
    op.drop_table('mentions')
    op.drop_column('room_events', 'emoji')
    op.drop_column('room_events', 'message_id')
    op.drop_column('messages', 'deleted_at')
    op.drop_column('messages', 'edited_at')
    op.drop_column('messages', 'reply_to')
    op.drop_index('uq_rooms_live_name_key', table_name='rooms')
    op.create_index('uq_rooms_live_name_lower', 'rooms', [sa.text('lower(name)')], unique=True,
                    postgresql_where=sa.text(LIVE_NAMED), sqlite_where=sa.text(LIVE_NAMED))
    op.drop_column('rooms', 'name_key')
