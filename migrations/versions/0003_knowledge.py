"""Knowledge base: documents with their original bytes, and chunks for hybrid search.

Chunks are the table langchain-postgres' PGVectorStore reads and writes (id, content,
embedding, metadata JSON, plus metadata columns), with a generated full-text column that
indexes each chunk under both the English and the Portuguese dictionaries, so questions in
either language match by stem. The HNSW index serves cosine search; the vector dimension
is that of the default offline embedding model and `assistant reindex` changes it when
the configured model needs another.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DEFAULT_DIMENSIONS = 384


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """
        CREATE TABLE documents (
            id                   text PRIMARY KEY DEFAULT gen_random_uuid()::text,
            scope                text NOT NULL,
            added_by             text NOT NULL,
            title                text NOT NULL,
            kind                 text NOT NULL,
            file_name            text NOT NULL,
            mime_type            text NOT NULL,
            source_url           text,
            size_bytes           bigint NOT NULL DEFAULT 0,
            content_hash         text NOT NULL,
            status               text NOT NULL DEFAULT 'queued'
                                 CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
            error                text,
            page_count           integer,
            chunk_count          integer NOT NULL DEFAULT 0,
            language             text,
            summary              text,
            suggested_questions  jsonb NOT NULL DEFAULT '[]'::jsonb,
            embedding_model      text,
            created_at           timestamptz NOT NULL DEFAULT now(),
            updated_at           timestamptz NOT NULL DEFAULT now(),
            UNIQUE (scope, content_hash)
        )
        """
    )
    op.execute("CREATE INDEX documents_scope_created_idx ON documents (scope, created_at DESC)")
    op.execute(
        """
        CREATE TABLE document_blobs (
            document_id  text PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
            data         bytea NOT NULL
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE knowledge_chunks (
            id           uuid PRIMARY KEY,
            content      text NOT NULL,
            embedding    vector({DEFAULT_DIMENSIONS}) NOT NULL,
            metadata     jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            scope        text NOT NULL,
            document_id  text NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            page         integer,
            section      text,
            position     integer NOT NULL,
            tsv          tsvector GENERATED ALWAYS AS (
                             to_tsvector('english', content) || to_tsvector('portuguese', content)
                         ) STORED
        )
        """
    )
    op.execute(
        "CREATE INDEX knowledge_chunks_embedding_idx ON knowledge_chunks "
        "USING hnsw (embedding vector_cosine_ops)"
    )
    op.execute("CREATE INDEX knowledge_chunks_tsv_idx ON knowledge_chunks USING gin (tsv)")
    op.execute("CREATE INDEX knowledge_chunks_scope_idx ON knowledge_chunks (scope)")
    op.execute(
        "CREATE INDEX knowledge_chunks_document_idx ON knowledge_chunks (document_id, position)"
    )
    op.execute(
        """
        CREATE TABLE knowledge_settings (
            only_row         boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            embedding_model  text,
            dimensions       integer NOT NULL
        )
        """
    )
    op.execute(f"INSERT INTO knowledge_settings (dimensions) VALUES ({DEFAULT_DIMENSIONS})")
    # Filtered HNSW scans (by scope) otherwise return fewer than k rows.
    op.execute(
        """
        DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I SET hnsw.iterative_scan = relaxed_order',
                           current_database());
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE knowledge_settings")
    op.execute("DROP TABLE knowledge_chunks")
    op.execute("DROP TABLE document_blobs")
    op.execute("DROP TABLE documents")
