"""Re-embedding documents from their stored originals: `assistant reindex` and `/reindex`.

Everything at once may switch the chunk table to a new embedding model's dimension (the
way to move to another model); a part (one chat's documents) is re-embedded with the
model in use, which must be the one the index was built with.
"""

from __future__ import annotations

from core.jobs import INGEST_DOCUMENT, JobQueue
from core.knowledge.documents import DocumentStore
from core.knowledge.index import ChunkIndex
from core.knowledge.progress import JobTarget
from core.types import ChatRef, Platform


async def reindex(
    index: ChunkIndex,
    documents: DocumentStore,
    jobs: JobQueue,
    *,
    scopes: list[str] | None,
    locale: str,
) -> int:
    """Queue the documents of `scopes` (None: all, rebuilding the table) for re-embedding.

    Workers rebuild the chunks quietly (no status message per document); returns how
    many documents were queued. A part refuses to mix models (EmbeddingModelChanged).
    """
    if scopes is None:
        dimensions = len(await index.embeddings.aembed_query("dimension probe"))
        await index.rebuild(dimensions)
    else:
        await index.check_model()
    queued = await documents.requeue(scopes)
    silent = JobTarget(
        ChatRef(Platform.CONSOLE, "reindex", is_private=True),
        user_key="",
        locale=locale,
        is_silent=True,
    )
    for document_id in queued:
        await jobs.defer(
            INGEST_DOCUMENT,
            lock=f"ingest:{document_id}",
            document_id=document_id,
            **silent.as_kwargs(),
        )
    return len(queued)
