"""Users (platform identity, chosen and last seen locale, role, model) and daily usage.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE users (
            identity      text PRIMARY KEY,
            platform      text NOT NULL CHECK (platform IN ('tg', 'dc', 'cli')),
            display_name  text NOT NULL DEFAULT '',
            locale        text CHECK (locale IN ('en', 'pt-BR')),
            last_locale   text CHECK (last_locale IN ('en', 'pt-BR')),
            role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin', 'blocked')),
            model         text,
            created_at    timestamptz NOT NULL DEFAULT now(),
            last_seen_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE usage_counters (
            identity       text NOT NULL REFERENCES users (identity) ON DELETE CASCADE,
            day            date NOT NULL,
            messages       integer NOT NULL DEFAULT 0,
            input_tokens   bigint NOT NULL DEFAULT 0,
            output_tokens  bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (identity, day)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE usage_counters")
    op.execute("DROP TABLE users")
