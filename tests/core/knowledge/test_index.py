"""The chunk index on real Postgres: ready flags follow their document, full text is bounded.

Vectors are written directly (the index stores what it is given), so these tests need no
model; the end-to-end tests in test_knowledge_base.py run the real one.
"""

from __future__ import annotations

import random

from core.deps import CoreDeps
from core.knowledge.documents import Document
from core.knowledge.index import KEYWORD_CANDIDATES
from core.knowledge.splitting import ChunkDraft

SCOPE = "tg:index-test"
DIMENSIONS = 384


def unit_vector(rng: random.Random) -> list[float]:
    vector = [rng.gauss(0, 1) for _ in range(DIMENSIONS)]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


async def new_document(deps: CoreDeps, name: str) -> Document:
    document, _ = await deps.knowledge.documents.add(
        scope=SCOPE,
        added_by="tg:1",
        title=name,
        kind="text",
        file_name=f"{name}.txt",
        mime_type="text/plain",
        data=name.encode(),
    )
    return document


async def write(deps: CoreDeps, document: Document, texts: list[str], seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return await deps.knowledge.index.write(
        scope=SCOPE,
        document_id=document.id,
        chunks=[ChunkDraft(text, None, None, i) for i, text in enumerate(texts)],
        vectors=[unit_vector(rng) for _ in texts],
    )


async def mark_ready(deps: CoreDeps, document: Document, chunk_ids: list[str]) -> None:
    await deps.knowledge.documents.mark_ready(
        document.id,
        title=document.title,
        page_count=None,
        chunk_count=len(chunk_ids),
        language="en",
        embedding_model=deps.knowledge.index.model_name,
        chunk_ids=chunk_ids,
    )


async def found(deps: CoreDeps, query: str, k: int = 5) -> set[str]:
    return {p.chunk_id for p in await deps.knowledge.index.search(SCOPE, query, k=k)}


async def test_chunks_are_searchable_exactly_while_their_document_is_ready(
    deps: CoreDeps,
) -> None:
    document = await new_document(deps, "harbour")
    ids = await write(deps, document, ["The harbour office prints tide tables on Thursdays."])
    assert await found(deps, "tide tables") == set()

    await mark_ready(deps, document, ids)
    assert await found(deps, "tide tables") == set(ids)

    # A chunk added to a document already ready is ready too (the insert trigger).
    more = await write(deps, document, ["Tide tables are also posted at the ferry."], seed=2)
    assert await found(deps, "tide tables") == {*ids, *more}

    await deps.knowledge.documents.requeue([SCOPE])
    assert await found(deps, "tide tables") == set()


async def test_a_common_word_ranks_a_bounded_set_and_keeps_chunks_with_every_word(
    deps: CoreDeps,
) -> None:
    document = await new_document(deps, "filler")
    texts = [f"Note {i}: the harbour was quiet today." for i in range(KEYWORD_CANDIDATES + 50)]
    # Last written, so a scan that stops at KEYWORD_CANDIDATES any-word matches misses it.
    texts.append("The harbour lighthouse was painted red in 1911.")
    ids = await write(deps, document, texts)
    await mark_ready(deps, document, ids)

    hits = await deps.knowledge.index._keyword_search(SCOPE, "harbour", limit=10, is_small=True)
    assert len(hits) == 10
    both = await deps.knowledge.index._keyword_search(
        SCOPE, "harbour lighthouse", limit=3, is_small=True
    )
    assert both[0].chunk_id == ids[-1]


async def test_vectors_stay_in_the_row_after_a_rebuild(deps: CoreDeps) -> None:
    """Out-of-line (TOASTed) vectors made an exact scan several times slower."""

    async def storage() -> str:
        async with deps.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT attstorage FROM pg_attribute "
                "WHERE attrelid = 'knowledge_chunks'::regclass AND attname = 'embedding'"
            )
            row = await cur.fetchone()
        return str(row[0]) if row else ""

    assert await storage() == "p"
    await deps.knowledge.index.rebuild(DIMENSIONS)
    assert await storage() == "p"
