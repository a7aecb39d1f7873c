"""Add evidence (with its encrypted bytes), blind indexes of handles and names,
the notification outbox, and the report a message belongs to.

Revision ID: 0002_reporting
Revises: 0001_core
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_reporting'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('evidence_blob',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_evidence_blob'))
    )
    op.create_table('case_identifier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('handle', 'student_name', name='identifierkind', native_enum=False, length=20), nullable=False),
    sa.Column('digest', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_case_identifier_case_id_case_file'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_case_identifier_school_id_school'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_identifier'))
    )
    with op.batch_alter_table('case_identifier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_identifier_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_case_identifier_lookup', ['school_id', 'digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_identifier_school_id'), ['school_id'], unique=False)

    op.create_table('evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('original_sha256', sa.String(length=64), nullable=False),
    sa.Column('stored_sha256', sa.String(length=64), nullable=False),
    sa.Column('is_metadata_stripped', sa.Boolean(), nullable=False),
    sa.Column('filename', sa.LargeBinary(), nullable=True),
    sa.Column('storage_key', sa.String(length=100), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_evidence_case_id_case_file'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['report_id'], ['report.id'], name=op.f('fk_evidence_report_id_report'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_evidence_school_id_school'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence'))
    )
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_report_id'), ['report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_school_id'), ['school_id'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recipient_staff_id', sa.Integer(), nullable=True),
    sa.Column('recipient_report_id', sa.Integer(), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sent', 'failed', name='notificationstatus', native_enum=False, length=16), nullable=False),
    sa.Column('next_attempt_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sent_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('is_read', sa.Boolean(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_notification_case_id_case_file'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recipient_report_id'], ['report.id'], name=op.f('fk_notification_recipient_report_id_report'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recipient_staff_id'], ['staff_user.id'], name=op.f('fk_notification_recipient_staff_id_staff_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_notification_school_id_school'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('key', name=op.f('uq_notification_key'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_notification_due', ['next_attempt_dt'], unique=False, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.create_index(batch_op.f('ix_notification_school_id'), ['school_id'], unique=False)
        batch_op.create_index('ix_notification_staff_unread', ['recipient_staff_id', 'is_read'], unique=False)

    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_case_event_report_id'), ['report_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_case_event_report_id_report'), 'report', ['report_id'], ['id'], ondelete='CASCADE')



def downgrade():
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_case_event_report_id_report'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_case_event_report_id'))
        batch_op.drop_column('report_id')

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_staff_unread')
        batch_op.drop_index(batch_op.f('ix_notification_school_id'))
        batch_op.drop_index('ix_notification_due', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_notification_case_id'))

    op.drop_table('notification')
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_school_id'))
        batch_op.drop_index(batch_op.f('ix_evidence_report_id'))
        batch_op.drop_index(batch_op.f('ix_evidence_case_id'))

    op.drop_table('evidence')
    with op.batch_alter_table('case_identifier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_identifier_school_id'))
        batch_op.drop_index('ix_case_identifier_lookup')
        batch_op.drop_index(batch_op.f('ix_case_identifier_case_id'))

    op.drop_table('case_identifier')
    op.drop_table('evidence_blob')
