"""Retrieval at scale: scoped query latency and recall@10 at 10k, 100k and 300k chunks.

One scope holds 3,000 chunks of real text (Debian's package docs, embedded with the
offline model) plus a document still being indexed, whose chunks sit right next to the
questions and must never be returned. The other chunks belong to other scopes: copies of
the real texts with their vectors moved by noise, so other people's documents crowd the
neighbourhood of every question, as they would on a shared server. Questions are the
opening words of held-out passages, embedded with the same model.

Measured per size, each over the same questions, in one run:
- exact: pgvector without the index (the ground truth for recall);
- raw HNSW: the bare pgvector query (scope and ready flag, ids only), the floor;
- vector: the bot's dense search (scope, ready flag, passage columns), exact for a small
  scope that is a small share of the table (`is_exact_better`); "HNSW forced" goes
  through the index whatever the scope;
- keyword: the bot's full-text search, for the questions and for common single words;
- hybrid: `ChunkIndex.search`, what the bot runs (query vectors looked up, not computed,
  so model time stays out; the embedding benchmarks measure it);
- query embedding: the offline MiniLM model embedding each question, on its own;
- RAG core: a question through `ChatService.handle` and the delivery layer, as the
  terminal chat's user who owns the scope: the question embedded by the model, hybrid
  retrieval, memory read and write in Redis, the grounded prompt, streamed by an instant
  fake model (chat_core's), so everything but the model's own time is in it.

Run: `.venv/bin/python -m benchmarks.retrieval_scale` (10k chunks) or with `--full` (10k,
100k, 300k). Uses BENCH_DATABASE_URL when `scripts/bench` provides a server, else starts
its own. Prints a table and writes benchmarks/results/retrieval_scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import numpy as np
import psycopg
from langchain_core.embeddings import Embeddings
from psycopg_pool import AsyncConnectionPool

from benchmarks import scale_corpus
from benchmarks.chat_core import InstantChatModel, NullMessenger, settings_for
from benchmarks.common import FULL_ENV, scratch_database, services
from benchmarks.machine import cpu_model
from bots.delivery import deliver_events
from core.deps import ModelRegistry
from core.knowledge.embeddings import MINILM_MODEL_NAME
from core.knowledge.index import EXACT_SEARCH_MAX_CHUNKS, ChunkIndex, is_exact_better
from core.service import ChatService
from core.settings import EmbeddingsProvider
from core.types import ChatRef, Identity, Incoming, Platform
from launcher.frontends import core_and_jobs

QUICK_SIZES = (10_000,)
FULL_SIZES = (10_000, 100_000, 300_000)
REAL_CHUNKS = 3_000
QUESTIONS = 200
COMMON_WORDS = 20
TOP_K = 10
WARM_UP_QUERIES = 10
# The private scope of the terminal chat's user `bench`, who asks in the RAG core path.
USER = Identity(Platform.CONSOLE, "bench")
SCOPE = USER.key
OTHER_SCOPE_CHUNKS = 10_000
CHUNKS_PER_DOCUMENT = 500
PENDING_CHUNKS = 100
# Per-dimension noise of the other scopes' copies (unit vectors, 384 dims): cosine 0.7-0.95
# to their original, so they crowd the questions' neighbourhoods without duplicating them.
NOISE_RANGE = (0.012, 0.035)
SEED = 11
MODEL_NAME = f"local:{MINILM_MODEL_NAME}"  # as the core records it
RESULTS_PATH = Path(__file__).parent / "results" / "retrieval_scale.json"


class LookedUpEmbeddings(Embeddings):
    """The questions' vectors, embedded once beforehand: search time without model time."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self._vectors = vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vectors[text] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vectors[text]


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in vector) + "]"


def copy_vectors(conn: psycopg.Connection, vectors: np.ndarray, first: int) -> None:
    """Binary COPY into bench_vectors: text-formatting 300k x 384 floats would take minutes."""
    rows, dims = vectors.shape
    record = np.dtype(
        [
            ("fields", ">i2"),
            ("i_len", ">i4"),
            ("i", ">i4"),
            ("v_len", ">i4"),
            ("dims", ">i2"),
            ("unused", ">i2"),
            ("v", ">f4", (dims,)),
        ]
    )
    data = np.zeros(rows, dtype=record)
    data["fields"], data["i_len"], data["v_len"], data["dims"] = 2, 4, 4 + 4 * dims, dims
    data["i"] = np.arange(first, first + rows)
    data["v"] = vectors
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") * 2
    with conn.cursor().copy("COPY bench_vectors (i, embedding) FROM STDIN (FORMAT binary)") as cp:
        cp.write(header + data.tobytes() + (-1).to_bytes(2, "big", signed=True))


def noisy_copies(corpus: scale_corpus.Corpus, count: int, rng: np.random.Generator) -> np.ndarray:
    picks = rng.integers(0, len(corpus.texts), count)
    noise = rng.normal(size=(count, corpus.vectors.shape[1])).astype(np.float32)
    noise *= rng.uniform(*NOISE_RANGE, size=(count, 1)).astype(np.float32)
    copies = corpus.vectors[picks] + noise
    return copies / np.linalg.norm(copies, axis=1, keepdims=True)


def add_documents(conn: psycopg.Connection, rows: list[tuple[str, str, str]]) -> None:
    """(id, scope, status) documents, enough columns for the chunks' foreign key."""
    with conn.cursor().copy(
        "COPY documents (id, scope, status, added_by, title, kind, file_name, mime_type, "
        "content_hash) FROM STDIN"
    ) as cp:
        for document_id, scope, status in rows:
            cp.write_row(
                (
                    document_id,
                    scope,
                    status,
                    "bench",
                    document_id,
                    "text",
                    "x.txt",
                    "text/plain",
                    document_id,
                )
            )


def load_target_scope(conn: psycopg.Connection, corpus: scale_corpus.Corpus) -> None:
    """The real chunks in ready documents, and a pending document beside the questions."""
    conn.execute("CREATE TABLE bench_texts (i integer PRIMARY KEY, content text NOT NULL)")
    with conn.cursor().copy("COPY bench_texts (i, content) FROM STDIN") as cp:
        for i, text in enumerate(corpus.texts):
            cp.write_row((i, text))
    conn.execute("CREATE TABLE bench_vectors (i integer, embedding vector)")
    documents = REAL_CHUNKS // 100
    add_documents(conn, [(f"real-{d}", SCOPE, "ready") for d in range(documents)])
    add_documents(conn, [("pending", SCOPE, "processing")])
    copy_vectors(conn, corpus.vectors, 0)
    conn.execute(
        "INSERT INTO knowledge_chunks (id, content, embedding, scope, document_id, position) "
        "SELECT gen_random_uuid(), t.content, v.embedding, %s, 'real-' || (v.i / 100), v.i "
        "FROM bench_vectors v JOIN bench_texts t USING (i)",
        (SCOPE,),
    )
    conn.execute("TRUNCATE bench_vectors")
    # Near-copies of the questions: any of them in a result is a leak of unready text.
    rng = np.random.default_rng(SEED)
    pending = corpus.query_vectors[rng.integers(0, len(corpus.queries), PENDING_CHUNKS)]
    copy_vectors(conn, pending, 0)
    conn.execute(
        "INSERT INTO knowledge_chunks (id, content, embedding, scope, document_id, position) "
        "SELECT gen_random_uuid(), t.content, v.embedding, %s, 'pending', v.i "
        "FROM bench_vectors v JOIN bench_texts t USING (i)",
        (SCOPE,),
    )
    conn.execute("TRUNCATE bench_vectors")


def grow(conn: psycopg.Connection, corpus: scale_corpus.Corpus, have: int, want: int) -> None:
    """Other scopes' chunks from `have` to `want` in all, the HNSW index built once after."""
    first = have - REAL_CHUNKS - PENDING_CHUNKS
    count = want - have
    rng = np.random.default_rng(SEED + want)
    first_doc, last_doc = first // CHUNKS_PER_DOCUMENT, (first + count - 1) // CHUNKS_PER_DOCUMENT
    add_documents(
        conn,
        [
            (f"other-{d}", f"bench:other-{d * CHUNKS_PER_DOCUMENT // OTHER_SCOPE_CHUNKS}", "ready")
            for d in range(first_doc, last_doc + 1)
            if d * CHUNKS_PER_DOCUMENT >= first
        ],
    )
    # Rebuilt as the migrations define it, once all rows are in: far faster than inserting.
    cur = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'knowledge_chunks_embedding_idx'"
    )
    (index_definition,) = cur.fetchone() or ("",)
    conn.execute("DROP INDEX knowledge_chunks_embedding_idx")
    for start in range(0, count, 50_000):
        copy_vectors(conn, noisy_copies(corpus, min(50_000, count - start), rng), first + start)
    conn.execute(
        "INSERT INTO knowledge_chunks (id, content, embedding, scope, document_id, position) "
        "SELECT gen_random_uuid(), t.content, v.embedding, "
        f"'bench:other-' || (v.i / {OTHER_SCOPE_CHUNKS}), "
        f"'other-' || (v.i / {CHUNKS_PER_DOCUMENT}), "
        f"v.i FROM bench_vectors v JOIN bench_texts t ON t.i = v.i % {REAL_CHUNKS}"
    )
    conn.execute("TRUNCATE bench_vectors")
    started = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute(index_definition)
    print(f"  HNSW index over {want:,} chunks built in {time.perf_counter() - started:.0f} s")
    conn.execute("VACUUM ANALYZE knowledge_chunks")
    conn.execute("ANALYZE documents")


def common_words(conn: psycopg.Connection, texts: Sequence[str]) -> list[str]:
    """The words in most of the scope's chunks, stop words left out: full text's worst case."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({word for word in text.lower().split() if word.isalpha()})
    frequent = [word for word, _ in counts.most_common(10 * COMMON_WORDS)]
    cur = conn.execute(
        "SELECT w FROM unnest(%s::text[]) WITH ORDINALITY AS t(w, n) "
        "WHERE to_tsvector('english', w) <> '' AND to_tsvector('portuguese', w) <> '' "
        "ORDER BY n LIMIT %s",
        (frequent, COMMON_WORDS),
    )
    return [row[0] for row in cur.fetchall()]


async def timed(
    queries: Sequence[str], call: Callable[[str], Awaitable[list[str]]]
) -> tuple[list[float], list[list[str]]]:
    """Milliseconds per query and each query's ids, after a few warm-up queries."""
    for query in queries[:WARM_UP_QUERIES]:
        await call(query)
    latencies, results = [], []
    for query in queries:
        started = time.perf_counter()
        results.append(await call(query))
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, results


def percentile(samples: Sequence[float], percent: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1]


def recall(found: list[list[str]], truth: list[list[str]]) -> float:
    hits = sum(len(set(ids) & set(expected)) for ids, expected in zip(found, truth, strict=True))
    return hits / sum(len(expected) for expected in truth)


async def measure_size(
    url: str, corpus: scale_corpus.Corpus, size: int, words: list[str]
) -> list[dict[str, object]]:
    """Every path over the same questions at this table size."""
    vectors = {q: v.tolist() for q, v in zip(corpus.queries, corpus.query_vectors, strict=True)}
    literals = {q: vector_literal(v) for q, v in vectors.items()}
    pool = AsyncConnectionPool(url, min_size=2, max_size=4, open=False)
    await pool.open()
    index = ChunkIndex(pool, url, LookedUpEmbeddings(vectors), MODEL_NAME, pool_size=4)
    await index.check_model()

    async def ids(sql: str, params: tuple[object, ...]) -> list[str]:
        async with pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return [str(row[0]) for row in await cur.fetchall()]

    # `+ 0` keeps the ordering off the index: an exact scan of the scope, then a sort.
    exact_ready_sql = (
        "SELECT c.id FROM knowledge_chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE c.scope = %s AND c.ready AND d.status = 'ready' "
        "ORDER BY (c.embedding <=> %s::vector) + 0 LIMIT %s"
    )
    raw_sql = (
        "SELECT id FROM knowledge_chunks WHERE scope = %s AND ready "
        "ORDER BY embedding <=> %s::vector LIMIT %s"
    )
    pending = set(await ids("SELECT id FROM knowledge_chunks WHERE document_id = 'pending'", ()))

    # The index's two sides on their own (private: the bot only calls `search`).
    async def vector_only(q: str) -> list[str]:
        exact = is_exact_better(*await index._ready_chunks(SCOPE))
        found = await index._dense_search(SCOPE, vectors[q], limit=TOP_K, is_exact=exact)
        return [p.chunk_id for p in found]

    async def vector_hnsw(q: str) -> list[str]:
        found = await index._dense_search(SCOPE, vectors[q], limit=TOP_K, is_exact=False)
        return [p.chunk_id for p in found]

    # The scope's size is fixed at this table size: counted once, outside the timings.
    is_small = (await index._ready_chunks(SCOPE))[0] <= EXACT_SEARCH_MAX_CHUNKS

    async def keyword(q: str) -> list[str]:
        found = await index._keyword_search(SCOPE, q, limit=TOP_K, is_small=is_small)
        return [p.chunk_id for p in found]

    async def hybrid(q: str) -> list[str]:
        return [p.chunk_id for p in await index.search(SCOPE, q, k=TOP_K)]

    paths: dict[str, tuple[Sequence[str], Callable[[str], Awaitable[list[str]]]]] = {
        "exact": (corpus.queries, lambda q: ids(exact_ready_sql, (SCOPE, literals[q], TOP_K))),
        "raw HNSW": (corpus.queries, lambda q: ids(raw_sql, (SCOPE, literals[q], TOP_K))),
        "vector": (corpus.queries, vector_only),
        "vector, HNSW forced": (corpus.queries, vector_hnsw),
        "keyword, questions": (corpus.queries, keyword),
        "keyword, common words": (words, keyword),
        "hybrid": (corpus.queries, hybrid),
    }
    try:
        _, truth = await timed(
            corpus.queries, lambda q: ids(exact_ready_sql, (SCOPE, literals[q], TOP_K))
        )
        rows = []
        for name, (queries, call) in paths.items():
            latencies, found = await timed(queries, call)
            is_dense = name in ("exact", "raw HNSW", "vector", "vector, HNSW forced")
            rows.append(
                {
                    "chunks": size,
                    "path": name,
                    "queries": len(queries),
                    "p50_ms": statistics.median(latencies),
                    "p99_ms": percentile(latencies, 99),
                    "recall_at_10": recall(found, truth) if is_dense else None,
                    "unready_returned": sum(len(pending & set(ids_)) for ids_ in found),
                }
            )
    finally:
        await index.close()
        await pool.close()
    return rows


async def measure_rag_core(
    url: str, redis_url: str, corpus: scale_corpus.Corpus, size: int
) -> list[dict[str, object]]:
    """The questions embedded by the model alone, then asked through the whole core."""
    settings = settings_for(url, redis_url).model_copy(
        update={
            "embeddings_provider": EmbeddingsProvider.LOCAL,
            "embeddings_model": MINILM_MODEL_NAME,
        }
    )
    async with core_and_jobs(settings) as (deps, _job_app):
        deps.models = ModelRegistry(settings, lambda _settings, _name: InstantChatModel())
        service = ChatService(deps)
        embeddings = deps.knowledge.index.embeddings

        async def embed(q: str) -> list[str]:
            await embeddings.aembed_query(q)
            return []

        async def ask(q: str) -> list[str]:
            incoming = Incoming(
                user=USER,
                chat=ChatRef(Platform.CONSOLE, USER.id, is_private=True),
                text=q,
                delivery_id=f"bench:{time.monotonic_ns()}",
            )
            await deliver_events(service.handle(incoming), NullMessenger())
            return []

        rows = []
        for name, call in (("query embedding", embed), ("RAG core", ask)):
            latencies, _ = await timed(corpus.queries, call)
            rows.append(
                {
                    "chunks": size,
                    "path": name,
                    "queries": len(corpus.queries),
                    "p50_ms": statistics.median(latencies),
                    "p99_ms": percentile(latencies, 99),
                    "recall_at_10": None,
                    "unready_returned": 0,
                }
            )
        return rows


def print_table(rows: list[dict[str, object]]) -> None:
    print(
        f"\n{'chunks':>8} | {'path':<22} | {'p50 ms':>7} | {'p99 ms':>7} | "
        f"{'recall@10':>9} | unready"
    )
    print("-" * 75)
    for row in rows:
        found = row["recall_at_10"]
        shown = f"{found:.3f}" if isinstance(found, float) else "-"
        print(
            f"{row['chunks']:>8,} | {row['path']:<22} | {row['p50_ms']:>7.1f} | "
            f"{row['p99_ms']:>7.1f} | {shown:>9} | {row['unready_returned']}"
        )


def run(sizes: Sequence[int]) -> list[dict[str, object]]:
    corpus = scale_corpus.load(chunks=REAL_CHUNKS, queries=QUESTIONS)
    rows: list[dict[str, object]] = []
    with (
        services() as (admin_url, redis_url),
        scratch_database(admin_url) as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        load_target_scope(conn, corpus)
        words = common_words(conn, corpus.texts)
        print(f"common words: {', '.join(words)}")
        have = REAL_CHUNKS + PENDING_CHUNKS
        for size in sizes:
            print(f"loading {size:,} chunks")
            grow(conn, corpus, have, size)
            have = size
            rows += asyncio.run(measure_size(url, corpus, size, words))
            rows += asyncio.run(measure_rag_core(url, redis_url, corpus, size))
            print_table([row for row in rows if row["chunks"] == size])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="10k, 100k and 300k chunks")
    parser.add_argument("--sizes", help="chunk counts instead, comma-separated: 100000,300000")
    args = parser.parse_args(argv)
    is_full = args.full or os.environ.get(FULL_ENV) == "1"
    sizes = FULL_SIZES if is_full else QUICK_SIZES
    rows = run([int(size) for size in args.sizes.split(",")] if args.sizes else sizes)
    if len({row["chunks"] for row in rows}) > 1:  # each size's table is printed as it ends
        print_table(rows)
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(
        json.dumps(
            {
                "machine": f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores",
                "model": MODEL_NAME,
                "scope_chunks": REAL_CHUNKS,
                "top_k": TOP_K,
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS_PATH}")


if __name__ == "__main__":
    main()
