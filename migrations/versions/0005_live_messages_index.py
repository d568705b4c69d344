"""an index of the live messages of each room by seq, with their authors

The room list counts, per room, the live messages after the reader's read marker that
others wrote (`unread_count`, chat/rooms.py); history pages walk one room's live messages
by seq (chat/messages.py). With the author in the index and the deleted messages left out
of it, the count is an index range from the marker on that never reads the table (an
index-only scan on PostgreSQL, a covering index on SQLite), and a history page reads only
the rows it returns. The table's ix_messages_room_seq stays: resume and the cursor lookups
walk all messages, deleted ones included.

An index-only scan reads the table for every entry on a page that VACUUM has not yet
marked all-visible, and the unread messages are exactly the newest ones. By default
autovacuum visits an insert-only table after inserts of 20 % of its size (200,000 messages
at a million), so on PostgreSQL messages is vacuumed after every 10,000 inserts instead
(such a vacuum reads mainly the pages written since the last one). Measured at 1,000,000
messages: 50,000 unread messages on pages not yet vacuumed made the room list 44 ms
instead of 27 ms (docs/benchmarks.md, section 10).

On PostgreSQL the build takes a share lock on messages (writes wait): about a second per
million messages.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

LIVE = "deleted_at IS NULL"


VACUUM_AFTER_INSERTS = ("autovacuum_vacuum_insert_threshold = 10000, "
                        "autovacuum_vacuum_insert_scale_factor = 0")


def upgrade():
    op.create_index('ix_messages_live_room_seq', 'messages', ['room_id', 'seq', 'user_id'],
                    postgresql_where=sa.text(LIVE), sqlite_where=sa.text(LIVE))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE messages SET ({VACUUM_AFTER_INSERTS})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE messages RESET (autovacuum_vacuum_insert_threshold, "
                   "autovacuum_vacuum_insert_scale_factor)")
    op.drop_index('ix_messages_live_room_seq', table_name='messages')
