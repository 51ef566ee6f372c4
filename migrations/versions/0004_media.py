"""Media: transcripts made once per source, and chunk timestamps for citations.

A transcript is keyed by its source (a YouTube id, or a file's content hash), so a video
sent by many people or chats is downloaded and transcribed once; each scope still gets
its own document and chunks.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE transcripts (
            source_key  text PRIMARY KEY,
            url         text,
            title       text NOT NULL,
            channel     text,
            language    text NOT NULL,
            duration    real NOT NULL,
            origin      text NOT NULL CHECK (origin IN ('captions', 'whisper')),
            segments    jsonb NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("ALTER TABLE knowledge_chunks ADD COLUMN start_seconds real")
    op.execute("ALTER TABLE documents ADD COLUMN transcript_key text")


def downgrade() -> None:
    op.execute("ALTER TABLE documents DROP COLUMN transcript_key")
    op.execute("ALTER TABLE knowledge_chunks DROP COLUMN start_seconds")
    op.execute("DROP TABLE transcripts")
