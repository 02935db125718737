"""The tracker's tables: documents, deliveries, hash-chained history, positions, quarantine

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 02:24:03.710886
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None


def upgrade() -> None:
    op.create_table('consumer_positions',
    sa.Column('consumer_group', sa.String(length=255), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('next_offset', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('consumer_group', 'topic', 'partition', name=op.f('pk_consumer_positions'))
    )
    op.create_table('deliveries',
    sa.Column('document_id', sa.String(length=255), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('recipient_name', sa.Text(), nullable=True),
    sa.Column('recipient_level', sa.Integer(), nullable=True),
    sa.Column('recipient_unit', sa.String(length=8), nullable=True),
    sa.Column('recipient_g3', sa.String(length=4), nullable=True),
    sa.Column('recipient_g2', sa.String(length=4), nullable=True),
    sa.Column('recipient_g1', sa.String(length=4), nullable=True),
    sa.Column('recipient_parent', sa.String(length=64), nullable=True),
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.Column('listed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_code', sa.String(length=2), nullable=True),
    sa.Column('status_description', sa.Text(), nullable=True),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('processing_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('take_back_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('agreed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disagreed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source_topic', sa.String(length=255), nullable=True),
    sa.Column('source_partition', sa.Integer(), nullable=True),
    sa.Column('source_offset', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('document_id', 'recipient', name=op.f('pk_deliveries'))
    )
    op.create_index(op.f('ix_deliveries_recipient'), 'deliveries', ['recipient'], unique=False)
    op.create_index(op.f('ix_deliveries_recipient_unit_recipient_g3_recipient_g2'), 'deliveries', ['recipient_unit', 'recipient_g3', 'recipient_g2'], unique=False)
    op.create_index(op.f('ix_deliveries_sender'), 'deliveries', ['sender'], unique=False)
    op.create_table('documents',
    sa.Column('document_id', sa.String(length=255), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.Column('sender_name', sa.Text(), nullable=True),
    sa.Column('sender_level', sa.Integer(), nullable=True),
    sa.Column('sender_unit', sa.String(length=8), nullable=True),
    sa.Column('package_kind', sa.String(length=16), nullable=False),
    sa.Column('business_type', sa.String(length=32), nullable=True),
    sa.Column('target_document_id', sa.String(length=255), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('code_number', sa.String(length=64), nullable=True),
    sa.Column('code_notation', sa.String(length=128), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('content_digest', sa.String(length=64), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason_code', sa.String(length=64), nullable=True),
    sa.Column('taken_back_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source_topic', sa.String(length=255), nullable=True),
    sa.Column('source_partition', sa.Integer(), nullable=True),
    sa.Column('source_offset', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('document_id', name=op.f('pk_documents'))
    )
    op.create_index(op.f('ix_documents_sender'), 'documents', ['sender'], unique=False)
    op.create_index(op.f('ix_documents_submitted_at'), 'documents', ['submitted_at'], unique=False)
    op.create_table('history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('document_id', sa.String(length=255), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=True),
    sa.Column('package_kind', sa.String(length=16), nullable=False),
    sa.Column('status_code', sa.String(length=2), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('reason_code', sa.String(length=64), nullable=True),
    sa.Column('content_digest', sa.String(length=64), nullable=False),
    sa.Column('source_topic', sa.String(length=255), nullable=False),
    sa.Column('source_partition', sa.Integer(), nullable=False),
    sa.Column('source_offset', sa.BigInteger(), nullable=False),
    sa.Column('events_topic', sa.String(length=255), nullable=False),
    sa.Column('events_partition', sa.Integer(), nullable=False),
    sa.Column('events_offset', sa.BigInteger(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('row_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_history')),
    sa.UniqueConstraint('document_id', 'sequence', name=op.f('uq_history_document_id_sequence')),
    sa.UniqueConstraint('event_id', name=op.f('uq_history_event_id'))
    )
    op.create_index(op.f('ix_history_source_topic_source_partition_source_offset'), 'history', ['source_topic', 'source_partition', 'source_offset'], unique=False)
    op.create_table('quarantine',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('record_key', sa.LargeBinary(), nullable=True),
    sa.Column('record_value', sa.LargeBinary(), nullable=True),
    sa.Column('reason_code', sa.String(length=64), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('quarantined_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine')),
    sa.UniqueConstraint('topic', 'partition', 'offset', name=op.f('uq_quarantine_topic_partition_offset'))
    )


def downgrade() -> None:
    op.drop_table('quarantine')
    op.drop_index(op.f('ix_history_source_topic_source_partition_source_offset'), table_name='history')
    op.drop_table('history')
    op.drop_index(op.f('ix_documents_submitted_at'), table_name='documents')
    op.drop_index(op.f('ix_documents_sender'), table_name='documents')
    op.drop_table('documents')
    op.drop_index(op.f('ix_deliveries_sender'), table_name='deliveries')
    op.drop_index(op.f('ix_deliveries_recipient_unit_recipient_g3_recipient_g2'), table_name='deliveries')
    op.drop_index(op.f('ix_deliveries_recipient'), table_name='deliveries')
    op.drop_table('deliveries')
    op.drop_table('consumer_positions')
