"""The head of each audit chain in a row of its own.

An append used to take a PostgreSQL advisory lock and then read the chain's
newest entry in a second statement (read committed takes a statement's
snapshot before it waits for a lock). Locking the head row with ``SELECT ...
FOR UPDATE`` waits and reads the newest head in one statement, and a walk of
the chain can now tell when entries were removed from its end.

Each chain's head is filled from its newest entry, and every school without
an entry gets its row at the genesis hash. Run this with the web processes
and workers stopped, as every upgrade: an append by the old code after it
would not move the head, and the chain would read as cut short.

Revision ID: 0007_audit_chain_head
Revises: 0006_audit_checkpoint
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_audit_chain_head'
down_revision = '0006_audit_checkpoint'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_chain',
        sa.Column('chain_key', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('head_hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('chain_key', name=op.f('pk_audit_chain')),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("LOCK TABLE audit_entry IN SHARE MODE")  # no append during the backfill
    # The newest entry of each school's chain (key 0: entries of no school), by id, which
    # follows the chain's order: entries were appended under the chain's lock.
    op.execute(
        "INSERT INTO audit_chain (chain_key, head_hash)"
        " SELECT newest.chain_key, a.entry_hash FROM audit_entry a"
        " JOIN (SELECT COALESCE(school_id, 0) AS chain_key, MAX(id) AS id"
        "       FROM audit_entry GROUP BY COALESCE(school_id, 0)) newest ON a.id = newest.id")
    # Every other school's chain starts at the genesis hash; the row is there to lock.
    op.execute(
        "INSERT INTO audit_chain (chain_key, head_hash)"
        f" SELECT id, '{'0' * 64}' FROM school WHERE id NOT IN (SELECT chain_key FROM audit_chain)")


def downgrade():
    op.drop_table('audit_chain')
