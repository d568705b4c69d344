"""an index of the live messages of each room by seq, with their authors

The room list counts, per room, the live messages after the reader's read marker that
others wrote (`unread_count`, chat/rooms.py); history pages walk one room's live messages
by seq (chat/messages.py). With the author in the index and the deleted messages left out
of it, the count is an index range from the marker on that never reads the table (an
index-only scan on PostgreSQL, a covering index on SQLite), and a history page reads only
the rows it returns. The table's ix_messages_room_seq stays: resume and the cursor lookups
walk all messages, deleted ones included.

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


def upgrade():
    op.create_index('ix_messages_live_room_seq', 'messages', ['room_id', 'seq', 'user_id'],
                    postgresql_where=sa.text(LIVE), sqlite_where=sa.text(LIVE))


def downgrade():
    op.drop_index('ix_messages_live_room_seq', table_name='messages')
