"""A checkpoint per school's audit chain, so the log viewer checks only what is new.

The viewer walked every entry of the school's chain on each view: 17 s for the
largest school of the 1M-case bench database (324,024 entries). A nightly job
now checks each chain in full and records how far it is intact; the viewer
goes on from there.

Revision ID: 0006_audit_checkpoint
Revises: 0005_scan_and_dashboard_indexes
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_audit_checkpoint'
down_revision = '0005_scan_and_dashboard_indexes'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_checkpoint',
        sa.Column('school_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('entry_hash', sa.String(length=64), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.Column('checked_dt', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('school_id', name=op.f('pk_audit_checkpoint')),
    )


def downgrade():
    op.drop_table('audit_checkpoint')
