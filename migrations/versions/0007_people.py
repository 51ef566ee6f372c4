"""People: identities on several platforms linked into one person with /link.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # `person` is the identity that started the link; it names the person everywhere
    # (memory, private documents, quota).
    op.execute(
        """
        CREATE TABLE people_links (
            identity   text PRIMARY KEY,
            person     text NOT NULL,
            linked_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX people_links_person_idx ON people_links (person)")


def downgrade() -> None:
    op.execute("DROP TABLE people_links")
