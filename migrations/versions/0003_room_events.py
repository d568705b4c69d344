"""room events: membership changes take a place in the message order

Revision ID: 0003
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'room_events',
        sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('room_id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['room_id'], ['rooms.id'],
                                name=op.f('fk_room_events_room_id_rooms'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_room_events')),
    )
    op.create_index('ix_room_events_room_seq', 'room_events', ['room_id', 'seq'])
    op.create_index('ix_room_events_user_seq', 'room_events', ['user_id', 'seq'])


def downgrade():
    op.drop_index('ix_room_events_user_seq', table_name='room_events')
    op.drop_index('ix_room_events_room_seq', table_name='room_events')
    op.drop_table('room_events')
