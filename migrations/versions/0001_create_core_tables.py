"""Create the core tables: schools, staff, reports, cases, chronology, audit log.

On PostgreSQL the audit log is made append-only by a trigger that refuses
UPDATE and DELETE, so even a buggy or compromised app cannot rewrite history.

Revision ID: 0001_core
Revises:
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001_core'
down_revision = None
branch_labels = None
depends_on = None


AUDIT_TRIGGER = """
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_entry is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_entry_append_only
    BEFORE UPDATE OR DELETE ON audit_entry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only();
CREATE TRIGGER audit_entry_no_truncate
    BEFORE TRUNCATE ON audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only();
"""


def upgrade():
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('target', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry')),
    sa.UniqueConstraint('entry_hash', name=op.f('uq_audit_entry_entry_hash'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_action'), ['action'], unique=False)
        batch_op.create_index('ix_audit_entry_case_id', ['case_id'], unique=False)
        batch_op.create_index('ix_audit_entry_school_id_id', ['school_id', 'id'], unique=False)

    op.create_table('heartbeat',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('last_seen_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_by', sa.String(length=120), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_heartbeat'))
    )
    op.create_table('school',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('term_calendar', sa.JSON(), nullable=False),
    sa.Column('weekend_days', sa.JSON(), nullable=False),
    sa.Column('helplines', sa.JSON(), nullable=False),
    sa.Column('emergency_number', sa.String(length=20), nullable=False),
    sa.Column('admin_contact_email', sa.String(length=254), nullable=True),
    sa.Column('critical_response_hours', sa.Integer(), nullable=False),
    sa.Column('high_response_days', sa.Integer(), nullable=False),
    sa.Column('medium_response_days', sa.Integer(), nullable=False),
    sa.Column('low_response_days', sa.Integer(), nullable=False),
    sa.Column('stale_after_days', sa.Integer(), nullable=False),
    sa.Column('retention_years', sa.Integer(), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_school')),
    sa.UniqueConstraint('slug', name=op.f('uq_school_slug'))
    )
    op.create_table('staff_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('case_role', sa.Enum('counsellor', 'lead', name='caserole', native_enum=False, length=20), nullable=True),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('totp_secret', sa.LargeBinary(), nullable=True),
    sa.Column('is_totp_enabled', sa.Boolean(), nullable=False),
    sa.Column('totp_last_step', sa.Integer(), nullable=True),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_login_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('session_nonce', sa.String(length=32), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_staff_user_school_id_school'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_user')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_user_email'))
    )
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_user_school_id'), ['school_id'], unique=False)

    op.create_table('case_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=False),
    sa.Column('status', sa.Enum('new', 'triaged', 'in_progress', 'awaiting_follow_up', 'resolved', 'closed', name='casestatus', native_enum=False, length=32), nullable=False),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('risk', sa.Enum('critical', 'high', 'medium', 'low', name='risk', native_enum=False, length=32), nullable=False),
    sa.Column('risk_rank', sa.SmallInteger(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('response_due_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_response_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_activity_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('kinds_mask', sa.Integer(), nullable=False),
    sa.Column('platforms_mask', sa.Integer(), nullable=False),
    sa.Column('year_group', sa.SmallInteger(), nullable=True),
    sa.Column('escalation_level', sa.SmallInteger(), nullable=False),
    sa.Column('unread_reporter_messages', sa.Integer(), nullable=False),
    sa.Column('is_purged', sa.Boolean(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['staff_user.id'], name=op.f('fk_case_file_assignee_id_staff_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_case_file_school_id_school'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_file')),
    sa.UniqueConstraint('school_id', 'reference', name=op.f('uq_case_file_school_id_reference'))
    )
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.create_index('ix_case_awaiting_response', ['response_due_dt'], unique=False, postgresql_where=sa.text('first_response_dt IS NULL AND is_open'), sqlite_where=sa.text('first_response_dt IS NULL AND is_open'))
        batch_op.create_index(batch_op.f('ix_case_file_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_file_school_id'), ['school_id'], unique=False)
        batch_op.create_index('ix_case_queue', ['school_id', 'is_open', 'risk_rank', 'response_due_dt', 'id'], unique=False)

    op.create_table('case_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('report_submitted', 'message_from_reporter', 'message_to_reporter', 'note', 'status_changed', 'risk_changed', 'assigned', 'session', 'escalation', 'evidence_added', 'evidence_viewed', 'report_linked', 'person_recorded', name='eventkind', native_enum=False, length=32), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('is_restricted', sa.Boolean(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['staff_user.id'], name=op.f('fk_case_event_actor_id_staff_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_case_event_case_id_case_file'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_case_event_school_id_school'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_event'))
    )
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.create_index('ix_case_event_case_time', ['case_id', 'created_dt', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_event_school_id'), ['school_id'], unique=False)

    op.create_table('report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('case_key_digest', sa.String(length=64), nullable=False),
    sa.Column('is_anonymous', sa.Boolean(), nullable=False),
    sa.Column('reporter_role', sa.Enum('target', 'bystander', 'parent', name='reporterrole', native_enum=False, length=32), nullable=False),
    sa.Column('is_danger', sa.Boolean(), nullable=False),
    sa.Column('is_self_harm', sa.Boolean(), nullable=False),
    sa.Column('is_ongoing', sa.Boolean(), nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=False),
    sa.Column('platforms', sa.JSON(), nullable=False),
    sa.Column('occurred_period', sa.String(length=20), nullable=True),
    sa.Column('year_group', sa.SmallInteger(), nullable=True),
    sa.Column('details', sa.LargeBinary(), nullable=False),
    sa.Column('involved', sa.LargeBinary(), nullable=True),
    sa.Column('handles', sa.LargeBinary(), nullable=True),
    sa.Column('reporter_identity', sa.LargeBinary(), nullable=True),
    sa.Column('reply_email', sa.LargeBinary(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_report_case_id_case_file'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_report_school_id_school'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report')),
    sa.UniqueConstraint('case_key_digest', name=op.f('uq_report_case_key_digest'))
    )
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_school_id'), ['school_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(AUDIT_TRIGGER)



def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_school_id'))
        batch_op.drop_index(batch_op.f('ix_report_case_id'))

    op.drop_table('report')
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_event_school_id'))
        batch_op.drop_index('ix_case_event_case_time')

    op.drop_table('case_event')
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.drop_index('ix_case_queue')
        batch_op.drop_index(batch_op.f('ix_case_file_school_id'))
        batch_op.drop_index(batch_op.f('ix_case_file_assignee_id'))
        batch_op.drop_index('ix_case_awaiting_response', postgresql_where=sa.text('first_response_dt IS NULL AND is_open'), sqlite_where=sa.text('first_response_dt IS NULL AND is_open'))

    op.drop_table('case_file')
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_user_school_id'))

    op.drop_table('staff_user')
    op.drop_table('school')
    op.drop_table('heartbeat')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entry_school_id_id')
        batch_op.drop_index('ix_audit_entry_case_id')
        batch_op.drop_index(batch_op.f('ix_audit_entry_action'))

    op.drop_table('audit_entry')
