"""Access and limits: who an admin allowed (allow-list mode) and per-user daily quotas.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE users ADD COLUMN is_allowed boolean NOT NULL DEFAULT false")
    # NULL: the configured DAILY_MESSAGE_QUOTA; 0: unlimited for this user.
    op.execute("ALTER TABLE users ADD COLUMN daily_quota integer CHECK (daily_quota >= 0)")


def downgrade() -> None:
    op.execute("ALTER TABLE users DROP COLUMN daily_quota")
    op.execute("ALTER TABLE users DROP COLUMN is_allowed")
