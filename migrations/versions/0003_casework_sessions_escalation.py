"""Add follow-up sessions with outcome scores, people involved, escalation and merge
fields on cases, outcome labels and cut-offs per school, and calendar feed tokens.

Revision ID: 0003_casework
Revises: 0002_reporting
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_casework'
down_revision = '0002_reporting'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('target', 'student_who_bullied', 'witness', name='personrole', native_enum=False, length=32), nullable=False),
    sa.Column('kind', sa.Enum('student', 'online_account', name='personkind', native_enum=False, length=32), nullable=False),
    sa.Column('name', sa.LargeBinary(), nullable=True),
    sa.Column('year_group', sa.SmallInteger(), nullable=True),
    sa.Column('platform', sa.String(length=32), nullable=True),
    sa.Column('handle', sa.LargeBinary(), nullable=True),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_case_person_case_id_case_file'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_user.id'], name=op.f('fk_case_person_created_by_id_staff_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_case_person_school_id_school'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_person'))
    )
    with op.batch_alter_table('case_person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_person_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_person_school_id'), ['school_id'], unique=False)

    op.create_table('follow_up_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('counsellor_id', sa.Integer(), nullable=False),
    sa.Column('start_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('end_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.Enum('target_check_in', 'perpetrator_support', 'restorative', 'parent', 'group', name='sessionkind', native_enum=False, length=32), nullable=False),
    sa.Column('mode', sa.Enum('in_person', 'phone', 'video', name='sessionmode', native_enum=False, length=32), nullable=False),
    sa.Column('location', sa.String(length=120), nullable=True),
    sa.Column('status', sa.Enum('scheduled', 'completed', 'missed', 'cancelled', name='sessionstatus', native_enum=False, length=32), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notes', sa.LargeBinary(), nullable=True),
    sa.Column('strategies', sa.LargeBinary(), nullable=True),
    sa.Column('outcome_scores', sa.JSON(), nullable=True),
    sa.Column('session_scores', sa.JSON(), nullable=True),
    sa.Column('outcome_total', sa.SmallInteger(), nullable=True),
    sa.Column('session_total', sa.SmallInteger(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_follow_up_session_case_id_case_file'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['counsellor_id'], ['staff_user.id'], name=op.f('fk_follow_up_session_counsellor_id_staff_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_follow_up_session_school_id_school'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_session'))
    )
    with op.batch_alter_table('follow_up_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_session_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_follow_up_session_counsellor_time', ['counsellor_id', 'start_dt', 'end_dt'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_session_school_id'), ['school_id'], unique=False)

    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deadline_start_dt', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_escalation_dt', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_case_escalation_due', ['next_escalation_dt'], unique=False, postgresql_where=sa.text('next_escalation_dt IS NOT NULL'), sqlite_where=sa.text('next_escalation_dt IS NOT NULL'))
        batch_op.create_index('ix_case_open_activity', ['is_open', 'last_activity_dt'], unique=False)
        batch_op.create_index('ix_case_school_created', ['school_id', 'created_dt'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_case_file_merged_into_id_case_file'), 'case_file', ['merged_into_id'], ['id'], ondelete='SET NULL')
    # The first-response clock of existing cases started when they were reported.
    op.execute("UPDATE case_file SET deadline_start_dt = created_dt")
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.alter_column('deadline_start_dt', nullable=False)

    # Existing schools get the default labels and cut-offs before the columns become required.
    with op.batch_alter_table('school', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome_labels', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('session_labels', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('outcome_cutoff', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('session_cutoff', sa.Integer(), nullable=True))
    school = sa.table('school', sa.column('outcome_labels', sa.JSON()),
                      sa.column('session_labels', sa.JSON()),
                      sa.column('outcome_cutoff', sa.Integer()),
                      sa.column('session_cutoff', sa.Integer()))
    op.execute(school.update().values(
        outcome_labels=["How I am doing myself", "How things are at home",
                        "How things are at school", "How things are overall"],
        session_labels=["I felt listened to", "We talked about what I wanted to",
                        "The way we worked suited me", "Overall, today was right for me"],
        outcome_cutoff=32, session_cutoff=36))
    with op.batch_alter_table('school', schema=None) as batch_op:
        for name in ('outcome_labels', 'session_labels', 'outcome_cutoff', 'session_cutoff'):
            batch_op.alter_column(name, nullable=False)

    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ical_token_digest', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_staff_user_ical_token_digest'), ['ical_token_digest'])



def downgrade():
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_staff_user_ical_token_digest'), type_='unique')
        batch_op.drop_column('ical_token_digest')

    with op.batch_alter_table('school', schema=None) as batch_op:
        batch_op.drop_column('session_cutoff')
        batch_op.drop_column('outcome_cutoff')
        batch_op.drop_column('session_labels')
        batch_op.drop_column('outcome_labels')

    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_case_file_merged_into_id_case_file'), type_='foreignkey')
        batch_op.drop_index('ix_case_school_created')
        batch_op.drop_index('ix_case_open_activity')
        batch_op.drop_index('ix_case_escalation_due', postgresql_where=sa.text('next_escalation_dt IS NOT NULL'), sqlite_where=sa.text('next_escalation_dt IS NOT NULL'))
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('next_escalation_dt')
        batch_op.drop_column('deadline_start_dt')

    with op.batch_alter_table('follow_up_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_session_school_id'))
        batch_op.drop_index('ix_follow_up_session_counsellor_time')
        batch_op.drop_index(batch_op.f('ix_follow_up_session_case_id'))

    op.drop_table('follow_up_session')
    with op.batch_alter_table('case_person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_person_school_id'))
        batch_op.drop_index(batch_op.f('ix_case_person_case_id'))

    op.drop_table('case_person')
