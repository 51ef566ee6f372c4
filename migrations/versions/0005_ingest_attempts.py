"""Ingestion attempts counted on the document, however each attempt ended.

A worker killed mid-job (out of memory) never reaches the job engine's retry count, so
the count lives on the document: it grows when an attempt starts.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE documents ADD COLUMN attempts integer NOT NULL DEFAULT 0")


def downgrade() -> None:
    op.execute("ALTER TABLE documents DROP COLUMN attempts")
