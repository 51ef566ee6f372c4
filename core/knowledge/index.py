"""Chunks in pgvector, written through langchain-postgres, searched two ways and fused.

Chunks are written through `PGVectorStore`; searches are plain SQL on the pool (BENCHMARKS.md:
the store's query cost more than the search itself). Vector search uses the HNSW index
(cosine); full-text search the generated `tsv` column (English and Portuguese stems; stop
words of either language dropped from the question, the remaining terms OR-ed so a question
need not contain every word, the ranked set bounded); the two rankings are fused by
reciprocal rank fusion. Every query is filtered by scope in SQL and
sees only chunks flagged ready, which triggers keep equal to their document's status.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from psycopg_pool import AsyncConnectionPool

from core.db import sqlalchemy_url
from core.errors import ReasonedError
from core.knowledge.splitting import ChunkDraft

if TYPE_CHECKING:
    from langchain_postgres import PGEngine, PGVectorStore

TABLE = "knowledge_chunks"
METADATA_COLUMNS = ["scope", "document_id", "page", "section", "position", "start_seconds"]
# Each search path offers this many candidates per wanted passage before fusion. One: deeper
# full-text lists only push paraphrased answers that vector search found out of the top k
# (benchmarks.retrieval: Portuguese paraphrases hit@5 0.75 with 4, 0.83 with 1).
CANDIDATES_PER_RESULT = 1
RRF_K = 60
# Full-text matches ranked per query, at most, in each of two tiers (every word, any
# word): ranking a common word's thousands of matches dominated p99 at 100k chunks.
KEYWORD_CANDIDATES = 100
PASSAGE_COLUMNS = (
    "c.id::text, c.document_id, d.title, d.file_name, d.source_url, "
    "c.page, c.section, c.position, c.start_seconds, c.content"
)


# Scopes with at most this many ready chunks, and under this share of the table, are
# searched exactly (about 1.3 ms a thousand chunks); others through HNSW (BENCHMARKS.md).
EXACT_SEARCH_MAX_CHUNKS = 5000
HNSW_MIN_SHARE = 0.1
# The inner query is the shape pgvector's HNSW index serves.
HNSW_SEARCH_SQL = """
    SELECT {columns}, 1 - c.distance
    FROM (
        SELECT *, embedding <=> %(vector)s::vector AS distance FROM {table}
        WHERE scope = %(scope)s AND ready
        ORDER BY distance LIMIT %(limit)s
    ) c JOIN documents d ON d.id = c.document_id
    ORDER BY c.distance
"""
# Materialised, so every chunk of the scope is measured: the index cannot be used.
EXACT_SEARCH_SQL = """
    WITH measured AS MATERIALIZED (
        SELECT id, embedding <=> %(vector)s::vector AS distance FROM {table}
        WHERE scope = %(scope)s AND ready
    ), nearest AS (
        SELECT * FROM measured ORDER BY distance LIMIT %(limit)s
    )
    SELECT {columns}, 1 - nearest.distance
    FROM nearest JOIN {table} c ON c.id = nearest.id JOIN documents d ON d.id = c.document_id
    ORDER BY nearest.distance
"""
# The question's words as two tsqueries: any word (English or Portuguese stem), every word.
QUERY_TERMS_SQL = """
    WITH words AS (
        SELECT unnest(tsvector_to_array(to_tsvector('simple', %(q)s))) AS word
    ), stems AS (
        SELECT ts_lexize('english_stem', word) AS en, ts_lexize('portuguese_stem', word) AS pt
        FROM words
    ), terms AS (
        -- A stop word in either language carries no meaning in the other.
        SELECT DISTINCT en[1] AS en, pt[1] AS pt FROM stems
        WHERE cardinality(en) > 0 AND cardinality(pt) > 0
    ), lexemes AS (
        SELECT en AS lexeme FROM terms UNION SELECT pt FROM terms
    )
    SELECT (SELECT count(*) FROM terms),
        (SELECT to_tsquery('simple', coalesce(string_agg(quote_literal(lexeme), ' | '), ''))
         FROM lexemes)::text,
        (SELECT to_tsquery('simple', coalesce(string_agg(
            '(' || quote_literal(en) || ' | ' || quote_literal(pt) || ')', ' & '), ''))
         FROM terms)::text
"""
KEYWORD_EVERY_TIER_SQL = """
    (SELECT id, ts_rank_cd(tsv, %(any)s::tsquery) AS rank FROM {table}
     WHERE scope = %(scope)s AND ready AND tsv @@ %(every)s::tsquery
     LIMIT %(candidates)s)
    UNION
"""
# `{fence}` (`OFFSET 0`) makes the planner read a small scope's chunks by scope and check
# each against the any-word query, stopping at the candidates' count: unfenced, it ANDs the
# scope with the full-text index's matches for the words across every scope (84k rows, 36
# ms for a question of common words at 300k chunks; BENCHMARKS.md: retrieval at scale).
KEYWORD_SEARCH_SQL = """
    WITH matches AS (
        {every_tier}
        (SELECT id, ts_rank_cd(tsv, %(any)s::tsquery) AS rank
         FROM (SELECT id, tsv FROM {table} WHERE scope = %(scope)s AND ready {fence}) AS scoped
         WHERE tsv @@ %(any)s::tsquery LIMIT %(candidates)s)
    ), best AS (
        SELECT * FROM matches ORDER BY rank DESC LIMIT %(limit)s
    )
    SELECT {columns}, best.rank
    FROM best JOIN {table} c ON c.id = best.id JOIN documents d ON d.id = c.document_id
    ORDER BY best.rank DESC
"""


class EmbeddingModelChanged(ReasonedError):
    """The configured embedding model is not the one the stored chunks were embedded with."""

    def __init__(self, recorded: str, configured: str) -> None:
        super().__init__(
            "reindex_needed",
            f"chunks were embedded with {recorded}, EMBEDDINGS_* now says {configured}",
        )
        self.recorded = recorded
        self.configured = configured


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
    """Writes and searches chunks; one instance per process.

    The vector store that writes (langchain-postgres on its own SQLAlchemy pool) opens on
    the first write: bot processes only search, and loading it cost them about 50 MiB
    (BENCHMARKS.md: footprint).
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        database_url: str,
        embeddings: Embeddings,
        model_name: str,
        *,
        pool_size: int,
        connect_args: dict[str, Any] | None = None,
    ) -> None:
        self._pool = pool
        self._database_url = database_url
        self._pool_size = pool_size
        self._connect_args = connect_args or {}
        self._store: tuple[PGEngine, PGVectorStore] | None = None
        self._store_lock = asyncio.Lock()
        self.embeddings = embeddings
        self.model_name = model_name

    async def _vector_store(self) -> PGVectorStore:
        """The store, opened on its own SQLAlchemy pool of at most `pool_size` on first use."""
        async with self._store_lock:
            if self._store is None:
                from langchain_postgres import PGEngine, PGVectorStore
                from sqlalchemy.ext.asyncio import create_async_engine

                # The engine runs on the caller's event loop (only async methods are used),
                # with no overflow beyond `pool_size`.
                engine = PGEngine.from_engine(
                    create_async_engine(
                        sqlalchemy_url(self._database_url),
                        pool_size=self._pool_size,
                        max_overflow=0,
                        pool_pre_ping=True,
                        connect_args=self._connect_args,
                    )
                )
                try:
                    store = await PGVectorStore.create(
                        engine,
                        table_name=TABLE,
                        embedding_service=self.embeddings,
                        id_column="id",
                        content_column="content",
                        embedding_column="embedding",
                        metadata_columns=METADATA_COLUMNS,
                        metadata_json_column="metadata",
                    )
                except BaseException:
                    await engine.close()
                    raise
                self._store = engine, store
            return self._store[1]

    async def close(self) -> None:
        if self._store is not None:
            await self._store[0].close()

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
        store = await self._vector_store()
        await store.aadd_embeddings(
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
            # A new type brings its default storage back (migration 0008 says why not that).
            await conn.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding SET STORAGE PLAIN")
            await conn.execute(
                f"CREATE INDEX knowledge_chunks_embedding_idx ON {TABLE} "
                "USING hnsw (embedding vector_cosine_ops) WHERE ready"
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
        if not query.strip():
            return []
        chunks, table_chunks = await self._ready_chunks(scope)
        if not chunks:
            return []
        candidates = k * CANDIDATES_PER_RESULT
        # Full text needs no vector: it runs on a connection of its own meanwhile.
        keyword, dense = await asyncio.gather(
            self._keyword_search(
                scope, query, limit=candidates, is_small=chunks <= EXACT_SEARCH_MAX_CHUNKS
            ),
            self._embed_and_search(
                scope, query, limit=candidates, is_exact=is_exact_better(chunks, table_chunks)
            ),
        )
        # Both queries return their passages best first.
        fused = fuse_rankings([p.chunk_id for p in dense], [p.chunk_id for p in keyword], k=k)
        similarity = {p.chunk_id: p.similarity for p in dense}
        keyword_rank = {p.chunk_id: p.keyword_rank for p in keyword}
        found = {p.chunk_id: p for p in (*keyword, *dense)}
        return [
            replace(
                found[chunk_id],
                similarity=similarity.get(chunk_id),
                keyword_rank=keyword_rank.get(chunk_id),
                score=score,
            )
            for chunk_id, score in fused
        ]

    async def _ready_chunks(self, scope: str) -> tuple[int, float]:
        """The scope's ready chunks (counted up to one past EXACT_SEARCH_MAX_CHUNKS) and the
        table's estimated size; refuses vectors of another model. One round trip; an empty
        scope skips embedding its question.
        """
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT (SELECT embedding_model FROM knowledge_settings), "
                f"(SELECT count(*) FROM (SELECT FROM {TABLE} WHERE scope = %s AND ready "
                "LIMIT %s) AS counted), "
                f"(SELECT reltuples FROM pg_class WHERE oid = '{TABLE}'::regclass)",
                (scope, EXACT_SEARCH_MAX_CHUNKS + 1),
            )
            row = await cur.fetchone()
        recorded, chunks, table_chunks = row if row else (None, 0, -1.0)
        if recorded is not None and recorded != self.model_name:
            raise EmbeddingModelChanged(recorded, self.model_name)
        return int(chunks), float(table_chunks)

    async def _embed_and_search(
        self, scope: str, query: str, *, limit: int, is_exact: bool
    ) -> list[Passage]:
        vector = await self.embeddings.aembed_query(query)
        return await self._dense_search(scope, vector, limit=limit, is_exact=is_exact)

    async def _dense_search(
        self, scope: str, vector: Sequence[float], *, limit: int, is_exact: bool
    ) -> list[Passage]:
        """Nearest ready chunks of the scope by cosine distance: exact, or through HNSW.

        A small scope in a large table is a needle for HNSW: the graph walk meets mostly
        other scopes' chunks and missed a third of the true neighbours at 100k chunks
        (BENCHMARKS.md), so such scopes are scanned exactly (`is_exact_better`).
        Plain SQL rather than the store's query: no embedding column sent back, no
        SQLAlchemy layers. The outer sort restores exact order, which the iterative HNSW
        scan (relaxed_order) may not keep. Never prepared: a plan is made for each scope.
        """
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                (EXACT_SEARCH_SQL if is_exact else HNSW_SEARCH_SQL).format(
                    table=TABLE, columns=PASSAGE_COLUMNS
                ),
                {"vector": _vector_literal(vector), "scope": scope, "limit": limit},
                prepare=False,
            )
            return [_passage(row, similarity=row[-1]) for row in await cur.fetchall()]

    async def _keyword_search(
        self, scope: str, query: str, *, limit: int, is_small: bool
    ) -> list[Passage]:
        """Full-text matches, any term counting, ranked by cover density among a bounded set.

        Ranking reads every candidate's tsvector, so a common word (thousands of matching
        chunks) used to cost hundreds of milliseconds. Only chunks holding every word and,
        after them, chunks holding any word are ranked, KEYWORD_CANDIDATES of each at most;
        below that many matches nothing changes. The terms come first, in a query of their
        own, so the search is planned with them as constants: the planner then knows a
        common word from a rare one. Never prepared, for the same reason. In a small scope
        (`is_small`: at most EXACT_SEARCH_MAX_CHUNKS chunks) any-word matches are found by
        reading the scope, never through the index over every scope.
        """
        async with self._pool.connection() as conn:
            cur = await conn.execute(QUERY_TERMS_SQL, {"q": query})
            row = await cur.fetchone()
            words, any_term, every_term = row if row else (0, "", "")
            if not words:
                return []
            # One word: every-word and any-word matches are the same rows.
            every_tier = "" if words == 1 else KEYWORD_EVERY_TIER_SQL.format(table=TABLE)
            cur = await conn.execute(
                KEYWORD_SEARCH_SQL.format(
                    table=TABLE,
                    columns=PASSAGE_COLUMNS,
                    every_tier=every_tier,
                    fence="OFFSET 0" if is_small else "",
                ),
                {
                    "any": any_term,
                    "every": every_term,
                    "scope": scope,
                    "limit": limit,
                    "candidates": KEYWORD_CANDIDATES,
                },
                prepare=False,
            )
            return [_passage(row, keyword_rank=row[-1]) for row in await cur.fetchall()]


def fuse_rankings(dense: list[str], keyword: list[str], *, k: int) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of two best-first lists of chunk ids: the `k` best, each with
    the sum of 1 / (rank + RRF_K) over the lists it is in, best first.

    langchain-postgres' `reciprocal_rank_fusion`, written out: importing it loads the
    vector store and SQLAlchemy (about 50 MiB) into bot processes, which only search.
    """
    scores: dict[str, float] = {}
    for ranking in (dense, keyword):
        for rank, chunk_id in enumerate(ranking):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (rank + RRF_K)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)[:k]


def is_exact_better(chunks: int, table_chunks: float) -> bool:
    """Exact search for a scope that is small and a small share of the table.

    HNSW's recall with a filter falls with the scope's share of the table (0.99 at 30%,
    0.68 at 3%); an exact scan's cost grows with the scope's size. `table_chunks` is the
    planner's estimate, negative before the table was first analysed.
    """
    return chunks <= EXACT_SEARCH_MAX_CHUNKS and chunks < HNSW_MIN_SHARE * table_chunks


def _vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form; psycopg needs no adapter for it."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def _passage(
    row: Sequence[Any], *, similarity: float | None = None, keyword_rank: float | None = None
) -> Passage:
    """A Passage from a row that starts with PASSAGE_COLUMNS; fused score filled in later."""
    chunk_id, document_id, title, file_name, source_url, page, section, position = row[:8]
    return Passage(
        chunk_id=chunk_id,
        document_id=document_id,
        title=title,
        file_name=file_name,
        source_url=source_url,
        page=page,
        section=section,
        position=position,
        start_seconds=row[8],
        text=row[9],
        similarity=similarity,
        keyword_rank=keyword_rank,
        score=0.0,
    )
