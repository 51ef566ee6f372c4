"""The procrastinate job engine's schema, in the same database.

procrastinate keeps no record of applied schema versions, so its SQL is applied here,
once, through alembic. Later procrastinate upgrades add revisions that apply the SQL
files it ships under `SchemaManager.get_migrations_path()`.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Raw driver SQL: `%` must be doubled so psycopg does not read it as a placeholder.
    op.get_bind().exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade() -> None:
    raise NotImplementedError("the job engine schema is not removed automatically")
