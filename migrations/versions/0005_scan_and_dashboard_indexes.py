"""Stamp stale-case reminders on the case; cover the dashboard's trends and repeat names.

Measured on the 1M-case bench database (bench/README.md):

* The stale-case scan found "not reminded since the last activity" with a NOT
  EXISTS over the outbox, re-reading every idle case it had already reminded
  on every run, so its cost grew with the table. A reminded case now carries
  ``stale_reminded_dt`` and leaves a partial index until someone acts on it
  again. Existing reminders are copied from the outbox, so an upgrade sends
  nothing twice; the index it replaces (open cases by last activity) had no
  other reader.
* The dashboard's trends read a year of one school's cases five times over the
  heap; the (school, created) index now includes the columns they read, so
  PostgreSQL answers from the index alone. Sessions held in a period get an
  index of their own, the identifier index carries the kind and the source
  (the queue's search and repeat names read nothing else), and the few
  merged-away cases (which the figures leave out) have a partial index, so
  repeat names and workload need no look at each case.

Revision ID: 0005_scan_and_dashboard_indexes
Revises: 0004_dashboard_indexes
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_scan_and_dashboard_indexes'
down_revision = '0004_dashboard_indexes'
branch_labels = None
depends_on = None

UNREMINDED = "is_open AND (stale_reminded_dt IS NULL OR stale_reminded_dt < last_activity_dt)"
TRENDS_COLUMNS = ['merged_into_id', 'risk', 'kinds_mask', 'platforms_mask', 'year_group',
                  'first_response_dt', 'response_due_dt', 'resolved_dt']


def upgrade():
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stale_reminded_dt', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE case_file SET stale_reminded_dt = ("
        " SELECT max(n.created_dt) FROM notification n"
        " WHERE n.case_id = case_file.id AND n.kind = 'stale_case')"
        " WHERE is_open AND EXISTS (SELECT 1 FROM notification n"
        " WHERE n.case_id = case_file.id AND n.kind = 'stale_case')")
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.drop_index('ix_case_open_activity')
        batch_op.create_index('ix_case_stale_unreminded', ['school_id', 'last_activity_dt'],
                              unique=False, postgresql_where=sa.text(UNREMINDED),
                              sqlite_where=sa.text(UNREMINDED))
        batch_op.drop_index('ix_case_school_created')
        batch_op.create_index('ix_case_school_created', ['school_id', 'created_dt'], unique=False,
                              postgresql_include=TRENDS_COLUMNS)
        batch_op.create_index('ix_case_merged_away', ['school_id', 'id'], unique=False,
                              postgresql_where=sa.text('merged_into_id IS NOT NULL'),
                              sqlite_where=sa.text('merged_into_id IS NOT NULL'))
    with op.batch_alter_table('follow_up_session', schema=None) as batch_op:
        batch_op.create_index('ix_follow_up_session_school_held',
                              ['school_id', 'status', 'start_dt'], unique=False,
                              postgresql_include=['case_id', 'counsellor_id', 'outcome_total'])
    with op.batch_alter_table('case_identifier', schema=None) as batch_op:
        batch_op.drop_index('ix_case_identifier_lookup')
        batch_op.create_index('ix_case_identifier_lookup', ['school_id', 'digest', 'case_id', 'kind'],
                              unique=False, postgresql_include=['source'])


def downgrade():
    with op.batch_alter_table('case_identifier', schema=None) as batch_op:
        batch_op.drop_index('ix_case_identifier_lookup')
        batch_op.create_index('ix_case_identifier_lookup', ['school_id', 'digest', 'case_id'],
                              unique=False)
    with op.batch_alter_table('follow_up_session', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_session_school_held')
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.drop_index('ix_case_merged_away')
        batch_op.drop_index('ix_case_school_created')
        batch_op.create_index('ix_case_school_created', ['school_id', 'created_dt'], unique=False)
        batch_op.drop_index('ix_case_stale_unreminded')
        batch_op.create_index('ix_case_open_activity', ['is_open', 'last_activity_dt'], unique=False)
        batch_op.drop_column('stale_reminded_dt')
