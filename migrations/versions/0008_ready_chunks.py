"""Ready chunks: a flag on each chunk, kept equal to its document's status by triggers.

Search used to keep unfinished documents out with `document_id IN (ready ids)`; the
planner misjudges such a list (780 rows estimated for 10,000) and answers with an exact
scan of the scope (47 ms against 1.6 ms through HNSW, BENCHMARKS.md). A boolean on the
chunk row is estimated right. The triggers keep it true exactly while the document is
ready, whoever changes the status, and the HNSW index covers ready chunks only: a chunk
enters the graph once, when its document becomes ready, not once when written and again
when the flag flips (the flip writes a new row version, which every index receives).
HNSW scans keep more candidates (ef_search), for recall@10 above 0.95 on real text.

Vectors are kept in the row (storage PLAIN): pgvector's type defaults to EXTERNAL, and a
chunk row (vector, text, tsvector: about 3.3 kB) is over the 2 kB TOAST threshold, so each
vector lived out of line and reading one cost three buffer reads (an exact scan of 3,000
chunks: 15 ms, 4 ms in the row). The large tsvector is compressed instead.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


# Candidates the HNSW scan keeps (pgvector's default is 40): recall@10 on real text rose from
# 0.93 to 0.99 at 10k chunks for 0.3 ms (benchmarks.retrieval_scale, BENCHMARKS.md).
EF_SEARCH = 100


def upgrade() -> None:
    op.execute("ALTER TABLE knowledge_chunks ADD COLUMN ready boolean NOT NULL DEFAULT false")
    op.execute("ALTER TABLE knowledge_chunks ALTER COLUMN embedding SET STORAGE PLAIN")
    # Rewrites every row: the flag, and each vector moved back into its row.
    op.execute(
        "UPDATE knowledge_chunks c SET ready = (d.status = 'ready'), "
        "embedding = c.embedding::real[]::vector FROM documents d WHERE d.id = c.document_id"
    )
    op.execute(
        """
        CREATE FUNCTION knowledge_chunks_ready_on_insert() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.ready := EXISTS (
                SELECT 1 FROM documents WHERE id = NEW.document_id AND status = 'ready'
            );
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER knowledge_chunks_ready_on_insert BEFORE INSERT ON knowledge_chunks "
        "FOR EACH ROW EXECUTE FUNCTION knowledge_chunks_ready_on_insert()"
    )
    op.execute(
        """
        CREATE FUNCTION documents_status_to_chunks() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE knowledge_chunks SET ready = (NEW.status = 'ready')
            WHERE document_id = NEW.id AND ready IS DISTINCT FROM (NEW.status = 'ready');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER documents_status_to_chunks AFTER UPDATE OF status ON documents "
        "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) "
        "EXECUTE FUNCTION documents_status_to_chunks()"
    )
    op.execute("DROP INDEX knowledge_chunks_embedding_idx")
    op.execute(
        "CREATE INDEX knowledge_chunks_embedding_idx ON knowledge_chunks "
        "USING hnsw (embedding vector_cosine_ops) WHERE ready"
    )
    # Search counts a scope's ready chunks first: an index-only scan with this index.
    op.execute("DROP INDEX knowledge_chunks_scope_idx")
    op.execute("CREATE INDEX knowledge_chunks_scope_idx ON knowledge_chunks (scope) WHERE ready")
    op.execute(
        f"""
        DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I SET hnsw.ef_search = {EF_SEARCH}',
                           current_database());
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I RESET hnsw.ef_search', current_database());
        END $$
        """
    )
    op.execute("DROP INDEX knowledge_chunks_scope_idx")
    op.execute("CREATE INDEX knowledge_chunks_scope_idx ON knowledge_chunks (scope)")
    op.execute("DROP INDEX knowledge_chunks_embedding_idx")
    op.execute(
        "CREATE INDEX knowledge_chunks_embedding_idx ON knowledge_chunks "
        "USING hnsw (embedding vector_cosine_ops)"
    )
    op.execute("DROP TRIGGER documents_status_to_chunks ON documents")
    op.execute("DROP FUNCTION documents_status_to_chunks()")
    op.execute("DROP TRIGGER knowledge_chunks_ready_on_insert ON knowledge_chunks")
    op.execute("DROP FUNCTION knowledge_chunks_ready_on_insert()")
    op.execute("ALTER TABLE knowledge_chunks ALTER COLUMN embedding SET STORAGE EXTERNAL")
    op.execute("ALTER TABLE knowledge_chunks DROP COLUMN ready")
