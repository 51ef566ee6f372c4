"""Chunks in pgvector through langchain-postgres, searched two ways and fused.

Vector search goes through `PGVectorStore` (HNSW, cosine); full-text search is SQL on the
generated `tsv` column (English and Portuguese stems; stop words of either language
dropped from the question, the remaining terms OR-ed so a question need not contain every
word); the two rankings are fused with langchain-postgres' reciprocal rank
fusion. Every query is filtered by scope in SQL and sees only documents marked ready.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from langchain_core.embeddings import Embeddings
from langchain_postgres import PGEngine, PGVectorStore
from langchain_postgres.v2.hybrid_search_config import reciprocal_rank_fusion
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import create_async_engine

from core.db import sqlalchemy_url
from core.errors import ReasonedError
from core.knowledge.splitting import ChunkDraft

TABLE = "knowledge_chunks"
METADATA_COLUMNS = ["scope", "document_id", "page", "section", "position", "start_seconds"]
# Each search path offers this many candidates per wanted passage before fusion. One: deeper
# full-text lists only push paraphrased answers that vector search found out of the top k
# (benchmarks.retrieval: Portuguese paraphrases hit@5 0.75 with 4, 0.83 with 1).
CANDIDATES_PER_RESULT = 1
RRF_K = 60


class EmbeddingModelChanged(ReasonedError):
    """The configured embedding model is not the one the stored chunks were embedded with."""

    def __init__(self, recorded: str, configured: str) -> None:
        super().__init__(
            "reindex_needed",
            f"chunks were embedded with {recorded}, EMBEDDINGS_* now says {configured}",
        )
        self.recorded = recorded
        self.configured = configured


class RankedRow(TypedDict):
    """A search hit as the rank fusion reads it (for full-text hits, `distance` is a rank)."""

    id: str
    distance: float


@dataclass(frozen=True)
class ReadyDocument:
    """What a citation needs of a ready document."""

    title: str
    file_name: str
    source_url: str | None


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with what a citation needs."""

    chunk_id: str
    document_id: str
    title: str
    file_name: str
    source_url: str | None
    page: int | None
    section: str | None
    position: int
    start_seconds: float | None
    text: str
    similarity: float | None  # cosine similarity when found by the vector search
    keyword_rank: float | None  # ts_rank_cd when found by full-text search
    score: float  # fused score, higher is better


class ChunkIndex:
    """Writes and searches chunks; one instance per process."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        engine: PGEngine,
        store: PGVectorStore,
        embeddings: Embeddings,
        model_name: str,
    ) -> None:
        self._pool = pool
        self._engine = engine
        self._store = store
        self.embeddings = embeddings
        self.model_name = model_name

    @classmethod
    async def open(
        cls,
        pool: AsyncConnectionPool,
        database_url: str,
        embeddings: Embeddings,
        model_name: str,
        *,
        pool_size: int,
        connect_args: dict[str, Any] | None = None,
    ) -> ChunkIndex:
        """Open the vector store on its own SQLAlchemy pool of at most `pool_size`."""
        # langchain-postgres needs SQLAlchemy; the engine runs on the caller's event loop
        # (only async methods are used), with no overflow beyond `pool_size`.
        engine = PGEngine.from_engine(
            create_async_engine(
                sqlalchemy_url(database_url),
                pool_size=pool_size,
                max_overflow=0,
                pool_pre_ping=True,
                connect_args=connect_args or {},
            )
        )
        try:
            store = await PGVectorStore.create(
                engine,
                table_name=TABLE,
                embedding_service=embeddings,
                id_column="id",
                content_column="content",
                embedding_column="embedding",
                metadata_columns=METADATA_COLUMNS,
                metadata_json_column="metadata",
            )
        except BaseException:
            await engine.close()
            raise
        return cls(pool, engine, store, embeddings, model_name)

    async def close(self) -> None:
        await self._engine.close()

    async def check_model(self) -> None:
        """Refuse to mix embedding models: record the first one, reject a different one later."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE knowledge_settings SET embedding_model = COALESCE(embedding_model, %s) "
                "RETURNING embedding_model",
                (self.model_name,),
            )
            row = await cur.fetchone()
        recorded = row[0] if row else self.model_name
        if recorded != self.model_name:
            raise EmbeddingModelChanged(recorded, self.model_name)

    async def write(
        self,
        *,
        scope: str,
        document_id: str,
        chunks: Sequence[ChunkDraft],
        vectors: Sequence[list[float]],
    ) -> list[str]:
        """Store one batch of embedded chunks of a document; returns their ids."""
        ids = [str(uuid.uuid4()) for _ in chunks]
        await self._store.aadd_embeddings(
            texts=[chunk.text for chunk in chunks],
            embeddings=list(vectors),
            metadatas=[
                {
                    "scope": scope,
                    "document_id": document_id,
                    "page": chunk.page,
                    "section": chunk.section,
                    "position": chunk.position,
                    "start_seconds": chunk.start_seconds,
                }
                for chunk in chunks
            ],
            ids=ids,
        )
        return ids

    async def rebuild(self, dimensions: int) -> None:
        """Empty the chunks and switch the table to this model's dimension, in one transaction."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(f"DELETE FROM {TABLE}")
            await conn.execute("DROP INDEX IF EXISTS knowledge_chunks_embedding_idx")
            await conn.execute(
                f"ALTER TABLE {TABLE} ALTER COLUMN embedding TYPE vector({int(dimensions)})"
            )
            await conn.execute(
                f"CREATE INDEX knowledge_chunks_embedding_idx ON {TABLE} "
                "USING hnsw (embedding vector_cosine_ops)"
            )
            await conn.execute(
                "UPDATE knowledge_settings SET embedding_model = %s, dimensions = %s",
                (self.model_name, dimensions),
            )

    async def document_text(self, document_id: str) -> list[str]:
        """A document's chunks in reading order (overlaps included)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT content FROM {TABLE} WHERE document_id = %s ORDER BY position",
                (document_id,),
            )
            return [row[0] for row in await cur.fetchall()]

    async def search(self, scope: str, query: str, *, k: int) -> list[Passage]:
        """The k best passages for `query` among the ready documents of `scope`."""
        ready = await self._ready_documents(scope)
        if not ready or not query.strip():
            return []
        await self._refuse_another_model()
        candidates = k * CANDIDATES_PER_RESULT
        vector = await self.embeddings.aembed_query(query)
        dense = await self._store.asimilarity_search_with_score_by_vector(
            vector,
            k=candidates,
            filter={"scope": {"$eq": scope}, "document_id": {"$in": list(ready)}},
        )
        dense_rows = [RankedRow(id=str(doc.id), distance=distance) for doc, distance in dense]
        keyword_rows = await self._keyword_search(scope, query, limit=candidates)
        # The fusion only reads rows by key; plain dicts serve as its SQLAlchemy RowMappings.
        fused = reciprocal_rank_fusion(
            cast("Sequence[RowMapping]", dense_rows),
            cast("Sequence[RowMapping]", keyword_rows),
            rrf_k=RRF_K,
            fetch_top_k=k,
        )
        similarity = {str(doc.id): 1.0 - distance for doc, distance in dense}
        keyword_rank = {row["id"]: row["distance"] for row in keyword_rows}
        scores = {str(row["id"]): row["distance"] for row in fused}
        chunks = await self._chunks([str(row["id"]) for row in fused])
        return [
            Passage(
                chunk_id=chunk_id,
                document_id=chunk["document_id"],
                title=ready[chunk["document_id"]].title,
                file_name=ready[chunk["document_id"]].file_name,
                source_url=ready[chunk["document_id"]].source_url,
                page=chunk["page"],
                section=chunk["section"],
                position=chunk["position"],
                start_seconds=chunk["start_seconds"],
                text=chunk["content"],
                similarity=similarity.get(chunk_id),
                keyword_rank=keyword_rank.get(chunk_id),
                score=scores[chunk_id],
            )
            for chunk_id, chunk in chunks.items()
            if chunk["document_id"] in ready
        ]

    async def _refuse_another_model(self) -> None:
        """Vectors of two models may share a dimension yet not a space: never compare them."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT embedding_model FROM knowledge_settings")
            row = await cur.fetchone()
        recorded = row[0] if row else None
        if recorded is not None and recorded != self.model_name:
            raise EmbeddingModelChanged(recorded, self.model_name)

    async def _ready_documents(self, scope: str) -> dict[str, ReadyDocument]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, title, file_name, source_url FROM documents "
                "WHERE scope = %s AND status = 'ready'",
                (scope,),
            )
            rows = await cur.fetchall()
        return {row[0]: ReadyDocument(row[1], row[2], row[3]) for row in rows}

    async def _keyword_search(self, scope: str, query: str, *, limit: int) -> list[RankedRow]:
        """Full-text matches, any term counting, ranked by cover density."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"""
                WITH words AS (
                    SELECT unnest(tsvector_to_array(to_tsvector('simple', %(q)s))) AS word
                ), stems AS (
                    SELECT ts_lexize('english_stem', word) AS en,
                           ts_lexize('portuguese_stem', word) AS pt
                    FROM words
                ), terms AS (
                    -- A stop word in either language carries no meaning in the other.
                    SELECT en[1] AS lexeme FROM stems
                    WHERE cardinality(en) > 0 AND cardinality(pt) > 0
                    UNION
                    SELECT pt[1] FROM stems WHERE cardinality(en) > 0 AND cardinality(pt) > 0
                ), q AS (
                    SELECT to_tsquery('simple', coalesce(
                        string_agg(quote_literal(lexeme), ' | '), '')) AS query
                    FROM terms
                )
                SELECT c.id, ts_rank_cd(c.tsv, q.query) AS distance
                FROM {TABLE} c JOIN documents d ON d.id = c.document_id, q
                WHERE c.scope = %(scope)s AND d.status = 'ready'
                  AND c.tsv @@ q.query
                ORDER BY distance DESC
                LIMIT %(limit)s
                """,
                {"q": query, "scope": scope, "limit": limit},
            )
            rows = await cur.fetchall()
        return [RankedRow(id=str(row[0]), distance=float(row[1])) for row in rows]

    async def _chunks(self, chunk_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Chunk rows by id, in the order asked."""
        if not chunk_ids:
            return {}
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id::text, document_id, page, section, position, content, start_seconds "
                f"FROM {TABLE} "
                "WHERE id = ANY(%s::uuid[])",
                (chunk_ids,),
            )
            rows = {
                row[0]: {
                    "document_id": row[1],
                    "page": row[2],
                    "section": row[3],
                    "position": row[4],
                    "content": row[5],
                    "start_seconds": row[6],
                }
                for row in await cur.fetchall()
            }
        return {chunk_id: rows[chunk_id] for chunk_id in chunk_ids if chunk_id in rows}
