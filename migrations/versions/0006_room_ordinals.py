"""each message's ordinal in its room, and indexes that make unread counts cost O(1)

The room list's `unread_count` counted the reader's unread messages one index entry at a
time: about 0.15-0.2 µs each, 15-20 ms for a reader 100,000 messages behind. Each message
now carries `room_ordinal`, its place among the messages stored in its room (1, 2, 3, ...,
deleted ones included; the processor assigns it under the ordered log's lock, so ordinals
follow seq within a room). The messages after a read marker are then a subtraction, and
what is not unread among them is counted in two small ranges (chat/rooms.py):

    unread = (last ordinal - marker's ordinal) - the reader's own after the marker
                                               - others' deleted after the marker

ix_messages_user_room_seq holds each author's messages by room and seq (and also serves
the account deletion's move of a user's messages to `ghost`, which read the whole table);
ix_messages_deleted_room_seq holds only deleted messages, with their authors.

On PostgreSQL the backfill rewrites every row: the whole upgrade took 51 s at 1,000,000
messages (docs/benchmarks.md, section 10), during which writes to messages wait. Plan
it for a quiet moment on a big database.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

DELETED = "deleted_at IS NOT NULL"

# Both databases number rows with a window function and update from a subquery
# (SQLite 3.33 and newer).
BACKFILL = """
UPDATE messages SET room_ordinal = numbered.ordinal
FROM (SELECT id, row_number() OVER (PARTITION BY room_id ORDER BY seq) AS ordinal
      FROM messages) AS numbered
WHERE messages.id = numbered.id
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.add_column('messages', sa.Column('room_ordinal', sa.BigInteger(), nullable=True))
        op.execute(BACKFILL)
        op.alter_column('messages', 'room_ordinal', nullable=False)
    else:
        # SQLite adds a NOT NULL column only with a default, and changing it afterwards
        # would rebuild the table, which drops the search index's triggers (0004).
        op.add_column('messages', sa.Column('room_ordinal', sa.BigInteger(), nullable=False,
                                            server_default='0'))
        op.execute(BACKFILL)
    op.create_index('ix_messages_user_room_seq', 'messages', ['user_id', 'room_id', 'seq'])
    op.create_index('ix_messages_deleted_room_seq', 'messages', ['room_id', 'seq', 'user_id'],
                    postgresql_where=sa.text(DELETED), sqlite_where=sa.text(DELETED))


def downgrade():
    op.drop_index('ix_messages_deleted_room_seq', table_name='messages')
    op.drop_index('ix_messages_user_room_seq', table_name='messages')
    op.execute("ALTER TABLE messages DROP COLUMN room_ordinal")  # SQLite 3.35 and newer
